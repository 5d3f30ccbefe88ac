"""A failure on one rank ends the whole job, with that rank's error, instead of a hang.

Every collective waits for every rank: a rank that raises and exits leaves the others blocked
in their next all_reduce. With more than one process, init_process_group installs an
excepthook that prints the traceback as "[rank R] ..." and calls MPI_Abort, which makes
mpiexec end every rank within seconds (and exit non-zero). A rank killed by a signal
(SIGKILL included) is noticed by mpiexec itself, which ends the others. Checkpoints are
written by rank 0 only, to a temporary file renamed into place (chainrule.checkpoint), so
an abort never leaves a half-written one.
"""
from __future__ import annotations

import sys
import traceback
from typing import Any

__all__ = ["install_abort_on_error", "uninstall_abort_on_error", "abort"]

_previous: Any = None


def abort(group: Any, message: str, code: int = 1) -> None:
    """Print `message` as this rank's and end every rank of the job (MPI_Abort)."""
    sys.stderr.write("".join(f"[rank {group.rank}] {line}\n" for line in message.rstrip("\n").splitlines()))
    sys.stderr.flush()
    sys.stdout.flush()
    group.comm.Abort(code)


def install_abort_on_error(group: Any) -> None:
    """sys.excepthook: an uncaught exception on this rank aborts the job with its traceback."""
    global _previous
    if _previous is not None:
        return
    _previous = sys.excepthook

    def hook(kind: type, value: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        abort(group, f"{text}(rank {group.rank} of {group.size} failed: ending the job)",
              130 if issubclass(kind, KeyboardInterrupt) else 1)

    sys.excepthook = hook


def uninstall_abort_on_error() -> None:
    global _previous
    if _previous is not None:
        sys.excepthook, _previous = _previous, None
