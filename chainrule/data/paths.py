"""Where dataset files are looked for: one rule for every dataset.

An explicit `root` (`--data-dir DIR` on the command line) is either the dataset's own folder
(the files are in DIR) or the folder that holds it (the files are in DIR/<name>/, as under
`$CHAINRULE_DATA`): both are looked in, in that order. <name> is the dataset's folder name,
`mnist`, `fashion-mnist` or `cifar-10` (`cifar10` also works). Without a root: `$CHAINRULE_DATA/<name>`;
the user cache folder `$XDG_CACHE_HOME/chainrule/<name>` (default `~/.cache/chainrule/<name>`);
then system folders some distributions install datasets into (Debian's `dataset-fashion-mnist`
package: /usr/share/datasets/fashion-mnist/).
Downloads go to the first of root, `$CHAINRULE_DATA/<name>`, the cache folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

SYSTEM_DIRS = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
}
# other names a dataset's folder may have inside a parent root (the command line's names)
ALIASES = {"cifar-10": ("cifar10",)}


def cache_home() -> Path:
    """chainrule's user cache folder (respects XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


def search_dirs(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for dataset `name`, in order."""
    if root is not None:  # the dataset's folder, or the folder that holds it
        root = Path(root).expanduser()
        return [root, *(root / n for n in (name, *ALIASES.get(name, ())))]
    dirs = []
    if os.environ.get("CHAINRULE_DATA"):
        dirs.append(Path(os.environ["CHAINRULE_DATA"]).expanduser() / name)
    dirs.append(cache_home() / name)
    dirs.extend(SYSTEM_DIRS.get(name, []))
    return dirs


def download_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where `download=True` puts the files of dataset `name`."""
    return search_dirs(name, root)[0]


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the folders looked in. The message (the library's
    terms: download=True, root=) lists them; `cli_message()` says the same in the command
    line's terms (--download, --data-dir)."""

    def __init__(self, name: str, looked: Sequence[str], how_to_get: str):
        self.name, self.looked, self.how_to_get = name, list(looked), how_to_get
        super().__init__(self._text("download=True", "root=DIR"))

    def _text(self, download: str, root: str) -> str:
        where = "\n  ".join(self.looked)
        how = self.how_to_get.replace("download=True", download)
        return (f"{self.name} not found. Looked in:\n  {where}\n{how}\n"
                f"(set {root} (the dataset's folder, or the folder holding '{self.name}/'), "
                f"or $CHAINRULE_DATA to a folder holding '{self.name}/')")

    def cli_message(self) -> str:
        return self._text("--download", "--data-dir DIR")

    def __str__(self) -> str:
        return str(self.args[0])


def locate(name: str, root, has_files: Callable[[Path], bool], how_to_get: str,
           extra: Sequence[str] = ()) -> Path:
    """The first search folder (or one of its `extra` subfolders) where `has_files` holds.

    Raises DataNotFoundError (a FileNotFoundError) listing every folder looked in and how to get the data.
    """
    looked = []
    for d in search_dirs(name, root):
        for cand in [d, *(d / e for e in extra)]:
            looked.append(str(cand))
            if cand.is_dir() and has_files(cand):
                return cand
    raise DataNotFoundError(name, looked, how_to_get)
