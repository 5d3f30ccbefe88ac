"""Print pip requirements that pin every declared dependency to its declared minimum.

    python .ci/lowest.py [EXTRA ...]  > lowest.txt     # no EXTRA: every optional extra

Reads pyproject.toml's `dependencies` and the optional extras (all of them unless some are
named, so that a new extra is tested without editing CI) and turns each
`name[extra]>=X,<Y` into `name[extra]==X`, so CI can install the oldest versions we
claim to support (as scikit-learn's CI does) and the declared range cannot drift from
the truth. A dependency without a `>=` lower bound is an error: the range must say
where it starts.
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
LOWER = re.compile(r">=\s*([^,;\s]+)")
NAME = re.compile(r"^\s*([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)")


def pin_lowest(requirement: str) -> str:
    """'numpy>=2.0,<3' -> 'numpy==2.0'; environment markers (after ';') are kept."""
    spec, _, marker = requirement.partition(";")
    name, lower = NAME.match(spec), LOWER.search(spec)
    if name is None or lower is None:
        raise SystemExit(f"{requirement!r}: expected 'name>=X' with a lower bound")
    pinned = f"{name.group(1)}=={lower.group(1)}"
    return f"{pinned}; {marker.strip()}" if marker else pinned


def main(extras: list[str]) -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    extras = extras or list(optional)
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"unknown extras {unknown}; pyproject.toml has {sorted(optional)}")
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += optional[extra]
    for pinned in dict.fromkeys(pin_lowest(r) for r in requirements):  # once each, in order
        print(pinned)


if __name__ == "__main__":
    main(sys.argv[1:])
