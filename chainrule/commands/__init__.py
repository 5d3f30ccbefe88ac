"""Subcommands of the `chainrule` CLI, one module each (see `chainrule/cli.py`)."""
