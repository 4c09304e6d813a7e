from symconv.cli.app import main

__all__ = ["main"]
