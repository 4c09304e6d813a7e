"""``python -m symconv`` runs the command line."""

from symconv.cli.app import main

main()
