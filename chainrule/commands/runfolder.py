"""One run per folder, and write faults said in the user's terms.

`claim(folder, command)` is held for the life of a command that writes a run folder
(`chainrule train`, `chainrule tune`):

- before anything is written it checks that the folder can be made and written (not a file,
  not too long a name, a writable parent), and makes it; a refused claim removes what it made;
- it holds FOLDER/run.lock, opened with O_CREAT and locked with fcntl.flock (the kernel drops
  the lock when the process ends, kill -9 included). A second command on the same folder finds
  the lock held and refuses in one line naming the first one's process id, touching nothing.
  A lock file whose lock is free was left by a process that is gone: it is taken over, with a
  line saying so (where fcntl is missing: O_EXCL and a check that the process is alive);
- an OSError "no space left" (or quota) inside the block becomes a CLIError that names the file
  that could not be written, the last checkpoint that is intact (with its epoch) and the
  command that continues the run once space is freed.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator

from ..checkpoint import CheckpointError, atomic_path, load_state
from . import CLIError

try:
    import fcntl
except ImportError:  # Windows: O_EXCL and a liveness check instead of flock
    fcntl = None

LOCK_NAME = "run.lock"
LAST_CHECKPOINT = Path("checkpoints") / "last.safetensors"
DISK_FULL = tuple(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, n))  # full disk, quota, file too big
_LONGEST_INSIDE = len("/checkpoints/.last.safetensors.12345678.tmp.safetensors")  # the longest name we write


@contextlib.contextmanager
def claim(folder: str | os.PathLike, command: str, fresh: bool = False) -> Iterator[Path]:
    """Hold `folder` for `chainrule COMMAND` for the block (see the module's docstring).

    fresh: the folder must not hold a run yet (checked again under the lock: two runs started
    at once both pass any check made before it). Yields the folder as a Path."""
    folder = Path(folder)
    made = _make_folder(folder)
    try:
        fd = _lock(folder, command)
    except BaseException:
        _remove_made(made)
        raise
    try:
        if fresh and (folder / "config.json").exists():
            raise CLIError(f"run folder {folder} already exists (another run wrote it meanwhile); choose another --out")
        with _disk_full_explained(folder, command):
            yield folder
    finally:
        _unlock(folder, fd)
        _remove_made(made)


# ------------------------------------------------------------ writability
def check_writable(folder: Path, what: str = "run folder") -> None:
    """A one-line CLIError if `folder` cannot be a run folder: a name too long, a file on the way,
    or no folder it could be made in that may be written (checked before anything is made).
    `what` names the folder in the message."""
    name_max, path_max = _limit(folder, "PC_NAME_MAX", 255), _limit(folder, "PC_PATH_MAX", 4096)
    for part in folder.parts:
        if len(os.fsencode(part)) > name_max:
            raise CLIError(f"{what} {_short(folder)}: the name {_short(Path(part))!r} is "
                           f"{len(os.fsencode(part))} bytes long; this file system allows {name_max} (choose another --out)")
    if len(os.fsencode(str(folder))) + _LONGEST_INSIDE > path_max:
        raise CLIError(f"{what} {_short(folder)}: the path is {len(os.fsencode(str(folder)))} bytes long; the files "
                       f"inside it would pass this system's limit of {path_max} bytes (choose a shorter --out)")
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise CLIError(f"{what} {folder} is a file, not a folder (choose another --out)" if existing == folder
                       else f"cannot make the {what} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(_cannot_write(folder, existing, errno.EROFS if _read_only(existing) else errno.EACCES, what))


def check_output(path: str | os.PathLike) -> Path:
    """A one-line CLIError, before any work is done, if the file `path` cannot be written: it is
    a folder, its name is too long, or its folder cannot be made or written. Returns it as a Path."""
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"--out {path} is a folder; give a file name, e.g. --out {path / 'NAME'}")
    check_writable(path.parent, "output folder")
    if len(os.fsencode(path.name)) > _limit(path.parent, "PC_NAME_MAX", 255):
        raise CLIError(f"--out {_short(path)}: the file name is {len(os.fsencode(path.name))} bytes long; "
                       f"this file system allows {_limit(path.parent, 'PC_NAME_MAX', 255)}")
    return path


def _make_folder(folder: Path) -> list[Path]:
    """Check, then make `folder` and its missing parents; returns those made (deepest last)."""
    check_writable(folder)
    made = [p for p in reversed([folder, *folder.parents]) if not p.exists()]
    try:
        for p in made:
            p.mkdir()
    except FileExistsError:  # made by a concurrent command between the check and here: fine
        pass
    except OSError as e:
        _remove_made(made)
        raise CLIError(_cannot_write(folder, Path(e.filename or folder), e.errno)) from None
    return made


def _remove_made(made: list[Path]) -> None:
    """Remove the folders a claim made, deepest first, where they are still empty."""
    for p in reversed(made):
        try:
            p.rmdir()
        except FileNotFoundError:
            continue  # never made (a failed claim) or already gone
        except OSError:
            return  # not empty (the run wrote into it): keep it and its parents


def _cannot_write(folder: Path, where: Path, err: int | None, what: str = "run folder") -> str:
    why = {errno.EROFS: "is on a read-only file system", errno.ENOTDIR: "has a file where a folder should be",
           errno.ENAMETOOLONG: "is too long a path for this system", errno.ENOSPC: "is on a full disk"}
    reason = why.get(err, "is not writable by you (no write permission)")
    at = f": it {reason}" if where == folder else f": {where} {reason}"
    return f"cannot write the {what} {folder}{at} (choose another --out)"


def _nearest_existing(folder: Path) -> Path:
    for p in [folder, *folder.parents]:
        if os.path.lexists(p):
            return p
    return Path(".")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _limit(folder: Path, name: str, default: int) -> int:
    """os.pathconf's limit `name` where `folder` would be made (`default` where it has none)."""
    try:
        return os.pathconf(_nearest_existing(folder), name)
    except (OSError, ValueError, AttributeError):
        return default


def _short(p: Path, n: int = 60) -> str:
    s = str(p)
    return s if len(s) <= n else s[:n // 2] + "..." + s[-n // 2:]


# ------------------------------------------------------------------- lock
def _holder_text(command: str) -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": f"chainrule {command}",
                       "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n"


def _read_holder(fd: int) -> dict:
    """The lock file's JSON ({} when empty or unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _lock(folder: Path, command: str) -> int:
    """The open, locked descriptor of folder/run.lock, with this process's details written in."""
    path = folder / LOCK_NAME
    for _ in range(10):  # retried when the file was replaced between open and lock (see below)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
        except FileExistsError:  # (no fcntl) held, or left by a process that is gone
            fd = _take_over_without_flock(path, folder, command)
        except OSError as e:
            raise CLIError(_cannot_write(folder, folder, e.errno)) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held by a live process
                holder = _wait_for_holder(fd)
                os.close(fd)
                raise CLIError(_in_use(folder, holder, command)) from None
            # The holder unlinks the file before it unlocks: a lock won on an unlinked file is no lock.
            if not _same_file(fd, path):
                os.close(fd)
                continue
            holder = _read_holder(fd)
            if holder:
                _say_taken_over(folder, holder, command)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, _holder_text(command).encode())
        return fd
    raise CLIError(f"could not lock the run folder {folder}: {path} keeps being replaced")


def _wait_for_holder(fd: int) -> dict:
    """The holder's details; a holder that has just locked the file writes them within moments."""
    for _ in range(20):
        holder = _read_holder(fd)
        if holder:
            return holder
        time.sleep(0.05)
    return {}


def _take_over_without_flock(path: Path, folder: Path, command: str) -> int:
    fd = os.open(path, os.O_RDWR)
    holder = _read_holder(fd)
    if holder.get("host") in (None, socket.gethostname()) and _alive(holder.get("pid")):
        os.close(fd)
        raise CLIError(_in_use(folder, holder, command))
    _say_taken_over(folder, holder, command)
    return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _in_use(folder: Path, holder: dict, command: str) -> str:
    pid = holder.get("pid", "?")
    who = holder.get("command", "another chainrule command")
    since = f", started {holder['started']}" if holder.get("started") else ""
    host = f" on {holder['host']}" if holder.get("host") and holder["host"] != socket.gethostname() else ""
    return (f"run folder {folder} is in use by process {pid}{host} ({who}{since}); wait for it to end "
            f"(or stop it: kill {pid}), or choose another --out")


def _say_taken_over(folder: Path, holder: dict, command: str) -> None:
    pid = holder.get("pid", "?")
    since = f", started {holder['started']}" if holder.get("started") else ""
    print(f"chainrule {command}: run folder {folder}: taking over the lock of process {pid} "
          f"({holder.get('command', 'chainrule')}{since}), which ended without releasing it", file=sys.stderr)


def _unlock(folder: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(folder / LOCK_NAME)  # first: a waiter that locks the old file then sees it is gone
    os.close(fd)  # releases the flock


# ------------------------------------------------------------ outputs
def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> str:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it over `path`
    (checkpoint.atomic_path): a crash or a full disk leaves the old file or none, never half."""
    with atomic_path(path, keep_suffix=True) as tmp:  # the suffix: savefig picks the format by it
        write(tmp)
    return os.fspath(path)


# -------------------------------------------------------------- disk full
@contextlib.contextmanager
def _disk_full_explained(folder: Path, command: str) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        raise CLIError(disk_full_message(folder, command, failed_file(e))) from None


def disk_full_message(folder: Path, command: str, failed: str | None) -> str:
    """What a full disk cost and what is safe: the file not written, the intact last checkpoint
    (with its epoch), and the command that continues once space is freed."""
    what = f"could not write {failed}" if failed else "could not write to the run folder"
    head = f"no space left on the device: {what}"
    if command != "train":  # tune: the study's journal is appended trial by trial
        return (f"{head}; the trials finished so far are in the study; free some space and run the same "
                f"`chainrule {command}` command again to continue")
    ck = folder / LAST_CHECKPOINT
    done = _checkpoint_progress(ck)
    if done is None:
        return (f"{head}; no checkpoint was written yet, so nothing can be resumed: free some space, remove "
                f"{folder} and start again")
    return (f"{head}; the last checkpoint {ck} ({done}) is intact; free some space and continue with: "
            f"chainrule train --resume {shlex.quote(str(ck))}")


def _checkpoint_progress(ck: Path) -> str | None:
    """'epoch E, iteration I' of a readable checkpoint, else None."""
    if not ck.is_file():
        return None
    try:
        state = load_state(ck, kind="checkpoint")[0]
    except (CheckpointError, OSError, ValueError, KeyError):
        return None
    return f"after epoch {state.get('epoch')}, iteration {state.get('step')}"


def failed_file(e: OSError) -> str | None:
    """The file an OSError was about: its filename, else (a write or close of an open file, which
    Python reports without a name) the file object or `path` in the innermost frame that has one."""
    if e.filename:
        return str(e.filename)
    for frame, _ in reversed(list(traceback.walk_tb(e.__traceback__))):
        for value in frame.f_locals.values():
            name = getattr(value, "name", None)
            if hasattr(value, "write") and isinstance(name, str):
                return name
        path = frame.f_locals.get("path")
        if isinstance(path, (str, os.PathLike)):
            return os.fspath(path)
    return None
