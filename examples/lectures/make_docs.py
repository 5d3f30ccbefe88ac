"""Write docs/lectures.md's sections from the lecture scripts' own runs.

    python examples/lectures/make_docs.py                 # run every script (full mode), splice all
    python examples/lectures/make_docs.py centering init  # only these
    python examples/lectures/make_docs.py --from DIR      # splice sections already written to DIR

Each script, run with --out docs/img/lectures, saves its plots there and writes its section
(<script>.md, headed by the script's SHA-256); this moves the section into docs/lectures.md
between its markers, replacing the old one (a new script's section goes at the end).
tests/test_lectures.py fails when a section's hash is not its script's, so the docs cannot drift
from the code unnoticed.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOCS = ROOT / "docs" / "lectures.md"
IMG = ROOT / "docs" / "img" / "lectures"


def scripts() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem != "make_docs")


def block_pattern(name: str) -> re.Pattern:
    return re.compile(rf"<!-- lecture:{re.escape(name)}[ >].*?<!-- /lecture:{re.escape(name)} -->\n?", re.S)


def sections(text: str) -> dict[str, str]:
    """name -> the whole marked block, for every section in a docs text."""
    return {m.group(1): m.group(0) for m in re.finditer(r"<!-- lecture:(\w+)[ >].*?<!-- /lecture:\1 -->\n?", text, re.S)}


def splice(doc: str, name: str, block: str) -> str:
    block = block if block.endswith("\n") else block + "\n"
    pat = block_pattern(name)
    if pat.search(doc):
        return pat.sub(lambda _: block, doc, count=1)
    return doc.rstrip("\n") + "\n\n" + block


def run_script(name: str, extra: list[str]) -> Path:
    sys.path.insert(0, str(HERE))
    try:
        spec = importlib.util.spec_from_file_location(f"lecture_{name}", HERE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.main(["--out", str(IMG), *extra])
    finally:
        sys.path.remove(str(HERE))
    return IMG / f"{name}.md"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="scripts to run (default: all)")
    p.add_argument("--from", dest="src", type=Path, help="splice the <name>.md sections found in this folder")
    p.add_argument("--data-dir", help="passed to the scripts that take real data")
    args = p.parse_args(argv)
    names = args.names or scripts()
    doc = DOCS.read_text()
    for name in names:
        if args.src:
            md = args.src / f"{name}.md"
        else:
            takes_data = "data=True" in (HERE / f"{name}.py").read_text()
            md = run_script(name, ["--data-dir", args.data_dir] if args.data_dir and takes_data else [])
        doc = splice(doc, name, md.read_text())
        if not args.src:
            md.unlink()
        print(f"docs/lectures.md: section {name} written")
    DOCS.write_text(doc)


if __name__ == "__main__":
    main()
