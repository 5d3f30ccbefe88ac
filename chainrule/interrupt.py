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

    @classmethod
    def at(cls, loss: float, iteration: int, epoch: int, lr: float, checkpoint: Path | None,
           checkpoint_dir: Path | None) -> "NonFiniteLossError":
        """The error for a non-finite `loss` at `iteration`; `checkpoint`: the last good one, or None."""
        where = (f"last good checkpoint: {checkpoint}" if checkpoint is not None else
                 "no checkpoint was written yet" + ("" if checkpoint_dir else " (checkpoint_dir is None)"))
        return cls(f"loss is {loss} at iteration {iteration} (epoch {epoch}, lr {lr:g}); training stopped; "
                   f"{where}. Try a smaller learning rate.", iteration=iteration, epoch=epoch, loss=loss,
                   checkpoint=checkpoint)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `train()`: raised after the state was saved. `checkpoint` is the file (or None)."""

    def __init__(self, message: str, checkpoint: Path | None):
        super().__init__(message)
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def after(cls, iteration: int, epoch: int, checkpoint: Path | None) -> "TrainingInterrupted":
        """The error for a run stopped after `iteration`, saved to `checkpoint` (None: not saved)."""
        if checkpoint is None:
            return cls(f"training interrupted after iteration {iteration} (epoch {epoch}); no checkpoint "
                       "written (checkpoint_dir is None)", None)
        return cls(f"training interrupted after iteration {iteration}; checkpoint saved to {checkpoint}; "
                   f"resume with: chainrule train --resume {checkpoint}  (or cr.Solver.resume(path, data))",
                   checkpoint)


@contextlib.contextmanager
def deferred_sigint(on_first: Callable[[], None], saves: bool = True) -> Iterator[None]:
    """Within the block, the first Ctrl-C calls `on_first()`, the second raises KeyboardInterrupt.
    saves: whether stopping writes a checkpoint (what the first Ctrl-C's message says)."""
    fired = False
    what = ("saving a checkpoint after this step" if saves else
            "stopping after this step (no checkpoint_dir: nothing is saved)")

    def handler(signum, frame):
        nonlocal fired
        if fired:
            raise KeyboardInterrupt
        fired = True
        print(f"\nInterrupted: {what} (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)
        on_first()

    installed, old = False, None
    if threading.current_thread() is threading.main_thread():
        try:
            old = signal.signal(signal.SIGINT, handler)
            installed = True
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        if installed:  # `old` is None when the previous handler was installed from C
            signal.signal(signal.SIGINT, signal.default_int_handler if old is None else old)
