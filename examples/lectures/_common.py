"""What every lecture script shares: its command line, the notes-vs-chainrule table, saving plots.

    args = parse(__doc__, argv)          # --out DIR (plots), --quick (the tests' short mode)
    table([("SVM loss, cat", "2.9", f"{l:.1f}")])
    save(fig, args, "knn_regions.png")
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def parse(doc: str | None, argv: Sequence[str] | None = None, data: bool = False) -> argparse.Namespace:
    """--out DIR (where the plots go, default runs/lectures), --quick (smaller runs, for the tests),
    and with data=True --data-dir (a folder holding e.g. fashion-mnist/; default: the built-in digits)."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    p.add_argument("--out", type=Path, default=Path("runs/lectures"), help="folder for the plots")
    p.add_argument("--quick", action="store_true", help="a shorter run (the tests use it)")
    if data:
        p.add_argument("--data-dir", default=None, help="folder with fashion-mnist/ (default: built-in digits)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def table(rows: Iterable[tuple[str, str, str]], title: str = "") -> None:
    """Print rows of (what, the notes' figure, chainrule's figure) as an aligned table."""
    rows = [("", "notes", "chainrule")] + [tuple(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    if title:
        print(title)
    for r in rows:
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    sys.stdout.flush()


def save(fig, args: argparse.Namespace, name: str) -> Path:
    """Save a matplotlib figure under args.out and close it; returns the path."""
    path = args.out / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"  plot: {path}")
    return path
