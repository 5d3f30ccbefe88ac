"""Where dataset files are looked for.

In order: an explicit `root`; `$CHAINRULE_DATA/<name>`; the user cache folder
`$XDG_CACHE_HOME/chainrule/<name>` (default `~/.cache/chainrule/<name>`); then
system folders some distributions install datasets into (Debian's
`dataset-fashion-mnist` package: /usr/share/datasets/fashion-mnist/).
Downloads go to the first of root, `$CHAINRULE_DATA/<name>`, the cache folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

SYSTEM_DIRS = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
}


def cache_home() -> Path:
    """chainrule's user cache folder (respects XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


def search_dirs(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for dataset `name`, in order."""
    if root is not None:
        return [Path(root).expanduser()]
    dirs = []
    if os.environ.get("CHAINRULE_DATA"):
        dirs.append(Path(os.environ["CHAINRULE_DATA"]).expanduser() / name)
    dirs.append(cache_home() / name)
    dirs.extend(SYSTEM_DIRS.get(name, []))
    return dirs


def download_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where `download=True` puts the files of dataset `name`."""
    return search_dirs(name, root)[0]


def locate(name: str, root, has_files: Callable[[Path], bool], how_to_get: str,
           extra: Sequence[str] = ()) -> Path:
    """The first search folder (or one of its `extra` subfolders) where `has_files` holds.

    Raises FileNotFoundError listing every folder looked in and how to get the data.
    """
    looked = []
    for d in search_dirs(name, root):
        for cand in [d, *(d / e for e in extra)]:
            looked.append(str(cand))
            if cand.is_dir() and has_files(cand):
                return cand
    where = "\n  ".join(looked)
    raise FileNotFoundError(
        f"{name} not found. Looked in:\n  {where}\n{how_to_get}\n"
        f"(set root=..., or $CHAINRULE_DATA to a folder holding '{name}/')")
