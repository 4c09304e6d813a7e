"""The `symconv` command line: a click group and one module per command."""

from symconv.cli.app import cli, main

__all__ = ["cli", "main"]
