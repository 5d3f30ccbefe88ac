"""`chainrule gradcheck`: numerically check the gradient of every layer, loss and core op."""
from __future__ import annotations

import argparse
import fnmatch

from ..diagnostics.gradcheck_suite import CASES, TOLERANCE, format_table, run_gradchecks
from . import CLIError

HELP = "gradient-check every layer, loss and core op on tiny float64 inputs (exit 0 if all pass)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", default=None, metavar="GLOB",
                   help="check only the cases whose name matches, e.g. 'Conv*' or '*loss*'")
    p.add_argument("--tol", type=float, default=TOLERANCE,
                   help=f"largest relative error that passes (default {TOLERANCE:g})")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")


def run(args: argparse.Namespace) -> int:
    if args.list:
        for c in CASES:
            print(f"{c.kind:<6} {c.name}")
        return 0
    if args.only is not None and not any(fnmatch.fnmatch(c.name.lower(), args.only.lower()) for c in CASES):
        raise CLIError(f"--only {args.only!r} matches no case; cases: {', '.join(c.name for c in CASES)}")
    results = run_gradchecks(args.only, seed=args.seed, tol=args.tol)
    print(format_table(results, tol=args.tol))
    return 0 if all(r.passed for r in results) else 1
