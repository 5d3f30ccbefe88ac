"""Subcommands of the `chainrule` CLI, one module each (see `chainrule/cli.py`).

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
To add a command, write commands/NAME.py and add NAME to COMMANDS (the order of `--help`).
"""

COMMANDS = ("train", "evaluate", "predict", "report", "export", "tune", "sanity", "knn", "linear", "demo",
            "gradcheck", "init_stats", "convert_weights")


from ..errors import UsageError


class CLIError(UsageError):
    """An error the user can fix, in the command line's terms (its options), shown as one line with
    exit code 2 (`chainrule CMD: error: ...`)."""
