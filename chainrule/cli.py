"""The `chainrule` command: `chainrule COMMAND [options]`, one module per command in
chainrule/commands/ (listed in `commands.COMMANDS`).

Errors a user can fix are printed as one line with exit code 2: `cr.UsageError` (CLIError is
one, in the options' terms), the library's file errors (a corrupt checkpoint or dataset file,
OSError) and a missing optional dependency (the line names the pip install). Anything else,
a plain ValueError from NumPy included, is a bug and keeps its traceback.
A closed stdout (`chainrule train | head -2`) never stops a command (commands/output.py).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from . import __version__, backend
from .checkpoint import CheckpointError
from .commands import COMMANDS
from .commands.output import safe_console
from .data.errors import DataFileError
from .errors import MissingDependencyError, UsageError
from .nn.module import StateDictError

# Errors the user can fix: a wrong option or input, a file that is not what it should be.
USER_ERRORS = (UsageError, OSError, CheckpointError, DataFileError, StateDictError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="chainrule: a readable deep-learning toolkit for visual recognition, on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"chainrule.commands.{name}")
        p = sub.add_parser(name.replace("_", "-"), help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 1
    with safe_console():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as e:
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        # a missing optional dependency (or CuPy) is the user's to fix; other ImportErrors are bugs
        if not isinstance(e, MissingDependencyError) and backend.INSTALL_HINT not in str(e):
            raise
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
