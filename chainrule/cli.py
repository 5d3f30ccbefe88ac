"""The `chainrule` command: `chainrule COMMAND [options]`, one module per command in
chainrule/commands/ (listed in `commands.COMMANDS`).

Errors a user can fix (CLIError, the library's ValueError / OSError, whose messages
name what was expected, and the ImportError saying how to install CuPy) are printed
as one line with exit code 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from . import __version__, backend
from .commands import COMMANDS, CLIError


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
    try:
        return int(args._run(args) or 0)
    except (CLIError, ValueError, OSError) as e:
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        if backend.INSTALL_HINT not in str(e):  # CuPy missing is the user's to fix; others are bugs
            raise
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
