"""`steering-workbench`'s subcommands: the headless entry point on the same core as the window."""

from workbench.cli.main import COMMANDS, main

__all__ = ["COMMANDS", "main"]
