"""How training stops early: Ctrl-C (saved, then `TrainingInterrupted`) and a
non-finite loss (`NonFiniteLossError`).

`deferred_sigint(on_first)` is the Solver's Ctrl-C policy: the first Ctrl-C only
calls `on_first()` (the Solver sets a flag, finishes the current step, saves a
checkpoint and raises TrainingInterrupted); a second one raises
KeyboardInterrupt at once. Outside the main thread signals cannot be caught,
and it does nothing.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["NonFiniteLossError", "TrainingInterrupted", "deferred_sigint"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite. Attributes: iteration, epoch, loss, checkpoint."""

    def __init__(self, message: str, iteration: int, epoch: int, loss: float, checkpoint: Path | None):
        super().__init__(message)
        self.iteration, self.epoch, self.loss, self.checkpoint = iteration, epoch, loss, checkpoint


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `train()`: raised after the state was saved. `checkpoint` is the file (or None)."""

    def __init__(self, message: str, checkpoint: Path | None):
        super().__init__(message)
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        return str(self.args[0])


@contextlib.contextmanager
def deferred_sigint(on_first: Callable[[], None]) -> Iterator[None]:
    """Within the block, the first Ctrl-C calls `on_first()`, the second raises KeyboardInterrupt."""
    fired = False

    def handler(signum, frame):
        nonlocal fired
        if fired:
            raise KeyboardInterrupt
        fired = True
        print("\nInterrupted: saving a checkpoint after this step (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)
        on_first()

    old = None
    if threading.current_thread() is threading.main_thread():
        try:
            old = signal.signal(signal.SIGINT, handler)
        except (ValueError, OSError):
            old = None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
