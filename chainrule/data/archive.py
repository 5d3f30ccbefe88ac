"""Safe extraction of a downloaded .tar.gz archive.

A tar member may be named '/etc/passwd' or '../../x', or be a link pointing out
of the target folder; extracting such an archive blindly writes outside it.
Every member is checked before anything is written.
"""
from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

from .errors import DataFileError


def safe_extract(archive: str | Path, dest: str | Path) -> None:
    """Extract `archive` into `dest`, refusing absolute paths, '..', links and special files."""
    dest = Path(dest).resolve()
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            p = PurePosixPath(m.name)
            if p.is_absolute() or m.name.startswith(("/", "\\")) or ".." in p.parts:
                raise DataFileError(f"{archive}: refusing unsafe member path {m.name!r}")
            if not (m.isfile() or m.isdir()):
                raise DataFileError(f"{archive}: refusing member {m.name!r} (links and special "
                                    "files are not allowed)")
            if not (dest / m.name).resolve().is_relative_to(dest):
                raise DataFileError(f"{archive}: member {m.name!r} would land outside {dest}")
        for m in members:
            if m.isdir():
                (dest / m.name).mkdir(parents=True, exist_ok=True)
                continue
            target = dest / m.name
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            tmp = target.with_name(target.name + ".part")
            with open(tmp, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            tmp.replace(target)  # a crash mid-member never leaves a half file under the real name
