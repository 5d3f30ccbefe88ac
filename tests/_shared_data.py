"""Where the real dataset copies are for the tests that use them (skipped when absent).

The repository's sibling folder shared/data; from a git worktree nested deeper (../wt/NAME)
it sits further up, so every ancestor of the repository is looked in.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    for d in [ROOT.parent, *ROOT.parent.parents]:
        if (d / "shared" / "data").is_dir():
            return d / "shared" / "data"
    return ROOT.parent / "shared" / "data"
