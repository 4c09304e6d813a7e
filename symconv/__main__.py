"""``python -m symconv`` runs the command line."""

from symconv.cli import main

main()
