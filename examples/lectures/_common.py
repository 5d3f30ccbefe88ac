"""What every lecture script shares: its command line, the claims table, saving plots, and the
docs section the script writes for docs/lectures.md.

    args = parse(__doc__, argv)          # --out DIR (plots), --quick (the tests' short mode)
    table([("SVM loss, cat", "2.9", f"{l:.1f}", l == 2.9)])    # claim, notes, measured, shown?
    note(f"the run used {n} images")     # prose with the run's own numbers
    save(fig, args, "knn_regions.png")
    done(args)                           # writes OUT/<script>.md: this run's section of the docs

A row's fourth item says whether this run shows the notes' claim: True ("yes"), False ("no"),
or left out when the row is only a measurement. docs/lectures.md is made of the sections the
scripts write (`python examples/lectures/make_docs.py`), each headed by the script's SHA-256,
so tests/test_lectures.py fails when a script changes and its section was not regenerated.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_section: list[str] = []          # the markdown of the running script's docs section


def parse(doc: str | None, argv: Sequence[str] | None = None, data: bool = False) -> argparse.Namespace:
    """--out DIR (where the plots go, default runs/lectures), --quick (smaller runs, for the tests),
    and with data=True --data-dir (a folder holding the real datasets: fashion-mnist/,
    cifar-10-subset-batches-py/; default $CHAINRULE_DATA). args.script is the calling script."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    p.add_argument("--out", type=Path, default=Path("runs/lectures"), help="folder for the plots")
    p.add_argument("--quick", action="store_true", help="a shorter run (the tests use it)")
    if data:
        p.add_argument("--data-dir", default=None, help="folder holding fashion-mnist/ and the CIFAR-10 subset")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.script = Path(sys._getframe(1).f_globals["__file__"])  # the script that called parse
    _section.clear()
    return args


def load_real(args: argparse.Namespace, name: str, subsample: int | None = None):
    """The dataset `name` (cifar10 or fashion-mnist) from args.data_dir (the folder holding the
    datasets' folders, or the dataset's own folder), else from chainrule's default places; the
    built-in digits when it is found nowhere (said on the console and in the docs section)."""
    import chainrule as cr

    folders = {"cifar10": "cifar-10-subset-batches-py", "fashion-mnist": "fashion-mnist"}
    roots = [Path(args.data_dir) / folders[name], Path(args.data_dir)] if args.data_dir else [None]
    for root in roots:
        try:
            return cr.data.load(name, root=root, subsample=subsample), name
        except (FileNotFoundError, ValueError, OSError):
            continue
    note(f"{name} was not found (--data-dir {args.data_dir}): this run used the built-in digits instead.")
    return cr.data.load_digits(subsample=subsample), "digits"


def shown(flag: bool | None) -> str:
    return "" if flag is None else ("yes" if flag else "**no**")


def table(rows: Iterable[tuple], title: str = "") -> None:
    """Print rows of (what, the notes' figure, chainrule's figure[, shown]) as an aligned table
    and add them to the script's docs section as a markdown table."""
    rows = [tuple(r) + (None,) * (4 - len(r)) for r in rows]
    cells = [("", "notes", "chainrule", "shown")] + [(str(a), str(b), str(c), shown(d).strip("*")) for a, b, c, d in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(4)]
    if title:
        print(title)
    for r in cells:
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    sys.stdout.flush()
    md = ([f"**{title}**", ""] if title else []) + ["| | notes | chainrule | shown by this run |", "|---|---|---|---|"]
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731  (a | would end the cell)
    md += [f"| {cell(a)} | {cell(b)} | {cell(c)} | {shown(d)} |" for a, b, c, d in rows]
    _section.append("\n".join(md))


def note(text: str) -> None:
    """A paragraph of the docs section (print it too): say what the run shows and what it does not."""
    print("  " + text)
    _section.append(text)


def save(fig, args: argparse.Namespace, name: str) -> Path:
    """Save a matplotlib figure under args.out and close it; returns the path."""
    path = args.out / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"  plot: {path}")
    _section.append(f"![{Path(name).stem}](img/lectures/{name})")
    return path


def source_hash(script: Path) -> str:
    """The first 12 hex digits of the script's SHA-256 (what its docs section was made from)."""
    return hashlib.sha256(Path(script).read_bytes()).hexdigest()[:12]


def done(args: argparse.Namespace) -> Path:
    """Write this run's docs section to OUT/<script>.md, marked with the script's name, hash and mode."""
    name = args.script.stem
    mode = "quick" if args.quick else "full"
    head = f"<!-- lecture:{name} sha:{source_hash(args.script)} mode:{mode} -->"
    body = "\n\n".join(_section)
    path = args.out / f"{name}.md"
    path.write_text(f"{head}\n{body}\n<!-- /lecture:{name} -->\n")
    return path
