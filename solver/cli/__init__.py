"""The command line (`prunecert`): one module per command group; `main` is the entry point."""

from solver.cli.app import main

__all__ = ["main"]
