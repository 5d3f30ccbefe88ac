"""The `chainrule` command. Each subcommand lives in `chainrule/commands/NAME.py`
and defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Errors a user can fix are raised as `CLIError` and printed as one line."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from . import commands as _commands


class CLIError(Exception):
    """An error shown to the user as one line, with exit code 2."""


def _subcommands() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(_commands.__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="chainrule: a readable deep-learning toolkit for visual recognition, on NumPy.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _subcommands():
        module = importlib.import_module(f"{_commands.__name__}.{name}")
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
    try:
        return int(args._run(args) or 0)
    except CLIError as e:
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, OSError, TypeError) as e:
        # Errors from the library already name what was expected: show them as one line.
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run through the package's own module so CLIError is one class (not a copy in __main__).
    from chainrule.cli import main as _main

    sys.exit(_main())
