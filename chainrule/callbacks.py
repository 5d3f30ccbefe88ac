"""Keras-style callbacks for `cr.Solver`: the interface, and the callbacks chainrule ships.

The interface (stable; other modules, e.g. a TensorBoard writer, build on it), Keras' with
the Solver's training state. A callback is any object with these methods (subclass
`Callback` and override what you need); what it may read is what it is given:

    set_model(model)                     the model being trained (the Solver's constructor)
    set_params(params)                   when train() starts: {"config" (the run config),
                                         "num_epochs", "batches_per_epoch", "batch_size",
                                         "eval_batch_size", "classes", "verbose",
                                         "val_data" (X, y prepared), "example_input" (1, ...)}
    set_state(state)                     when train() starts: the run's chainrule.resume.
                                         TrainState (epoch, step, histories, best_val_acc, ...),
                                         read-only but for `state.stop_training`
    on_train_begin(logs)                 logs: {"epoch" (epochs already done), "step", "num_epochs"}
    on_epoch_begin(epoch, logs)          logs: {"epoch", "lr", "batch" (batches of this epoch
                                         already done: > 0 in a run resumed mid-epoch)}
    on_batch_end(step, logs)             after every optimizer step; step counts from 1 over
                                         the whole run; logs: {"epoch", "loss" (this batch),
                                         "lr", "batch_size", "correct" (examples of the batch
                                         classified right, train mode, before the step)}
    on_epoch_end(epoch, logs)            logs: {"epoch", "loss" (mean over the epoch),
                                         "train_acc", "val_acc", "lr", "step"; "ema_val_acc"
                                         with Solver(ema=)}
    on_train_end(logs)                   logs: {"epoch", "best_val_acc", "best_epoch"}

Epochs are counted from 1 (on_epoch_end(3, logs) runs after the third epoch); "lr" is the
learning rate the epoch's steps used. Set `self.state.stop_training = True` to stop after the
current epoch. An exception raised in a callback propagates out of `Solver.train()` unchanged.
`set_solver(solver)` (the base class calls set_model with it) gives a callback that must act
on the Solver itself (ModelCheckpoint saves through it) the Solver as `self.solver`.
In a data-parallel run (several ranks) a callback with `rank_zero_only = True` (the ones
that write or print: loggers, ModelCheckpoint, ProgressBar, TensorBoard) runs on rank 0
only; the others run on every rank and see the same all-reduced logs.
Callbacks with state that matters for a resumed run (EarlyStopping's counters) implement
`state_dict()` / `load_state_dict()`; the Solver stores it in its checkpoints.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "CSVLogger", "JSONLLogger", "ProgressBar",
           "LambdaCallback"]


class Callback:
    """Base class: override the hooks you need (all do nothing here)."""

    solver: Any = None
    rank_zero_only = False  # True: only rank 0 of a data-parallel run calls it (it writes or prints)
    model: Any = None
    params: dict[str, Any] = {}
    state: Any = None

    def set_solver(self, solver: Any) -> None:
        self.solver = solver
        self.set_model(solver.model)

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_state(self, state: Any) -> None:
        self.state = state

    def on_train_begin(self, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, logs: dict[str, Any]) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_batch_end(self, step: int, logs: dict[str, Any]) -> None: ...


class LambdaCallback(Callback):
    """Callback from plain functions, e.g. LambdaCallback(on_epoch_end=lambda e, logs: print(e))."""

    def __init__(self, **hooks: Any):
        names = {"on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_end"}
        unknown = set(hooks) - names
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hooks {sorted(unknown)}; known: {sorted(names)}")
        for k, fn in hooks.items():
            setattr(self, k, fn)


def _mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "min" if "loss" in monitor else "max"
    return mode


def _improved(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


def _monitored(logs: dict[str, Any], monitor: str, who: str) -> float:
    if monitor not in logs:
        raise KeyError(f"{who}: monitor {monitor!r} is not in the epoch logs {sorted(logs)}")
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    mode: "max" for accuracies, "min" for losses, "auto" picks from the name.
    restore_best is the Solver's job (it always restores the best val_acc parameters).
    """

    def __init__(self, monitor: str = "val_acc", patience: int = 5, min_delta: float = 0.0, mode: str = "auto"):
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative int, got {patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(float(min_delta))
        self.mode = _mode(monitor, mode)
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch = 0

    def on_epoch_end(self, epoch, logs):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.state.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait, self.stopped_epoch = state["best"], int(state["wait"]), int(state["stopped_epoch"])


class ModelCheckpoint(Callback):
    """Write a resumable checkpoint (the Solver's complete state, `Solver.save_checkpoint`) after each epoch.

    path_or_dir: a file path, which may contain "{epoch}" / "{val_acc:.3f}" style fields, or a
        folder (no .safetensors suffix), where files are named "epoch{epoch:03d}.safetensors".
    save_best_only: write only when `monitor` improves (the file then holds the best epoch).
    `cr.load` reads these files too (the model, preprocessing and class names inside).
    """

    rank_zero_only = True

    def __init__(self, path_or_dir: str | Path, monitor: str = "val_acc", save_best_only: bool = False,
                 mode: str = "auto"):
        p = Path(path_or_dir)
        self.pattern = str(p / "epoch{epoch:03d}.safetensors") if p.suffix != ".safetensors" else str(p)
        self.monitor, self.save_best_only = monitor, bool(save_best_only)
        self.mode = _mode(monitor, mode)
        self.best: float | None = None
        self.saved: list[Path] = []

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not _improved(value, self.best, self.mode, 0.0):
                return
            self.best = value
        path = Path(self.pattern.format(**logs))
        self.solver.save_checkpoint(path)
        self.saved.append(path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]


class _EpochLogger(Callback):
    """Appends one record per epoch; a resumed run keeps the records of the epochs it already has
    and drops any written after its checkpoint (which the resumed run will write again)."""

    rank_zero_only = True

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_train_begin(self, logs):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rewrite_keep(int(logs.get("epoch", 0) or 0))

    def _rewrite_keep(self, done: int) -> None:
        raise NotImplementedError


class JSONLLogger(_EpochLogger):
    """One JSON object per line per epoch (the run folder's metrics.jsonl)."""

    def _rewrite_keep(self, done):
        lines = []
        if done > 0 and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    if int(json.loads(line).get("epoch", 0)) <= done:
                        lines.append(line)
                except (ValueError, AttributeError):
                    continue
        self.path.write_text("".join(line + "\n" for line in lines))

    def on_epoch_end(self, epoch, logs):
        rec = {k: v for k, v in logs.items()}
        rec["time"] = round(time.time(), 3)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")


class CSVLogger(_EpochLogger):
    """A CSV file with a header and one row per epoch."""

    fields = ("epoch", "loss", "train_acc", "val_acc", "lr", "step")

    def _rewrite_keep(self, done):
        rows = []
        if done > 0 and self.path.exists():
            with open(self.path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if r.get("epoch", "").isdigit() and int(r["epoch"]) <= done]
        with open(self.path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.fields)
            w.writeheader()
            w.writerows(rows)

    def on_epoch_end(self, epoch, logs):
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore").writerow(
                {k: logs.get(k) for k in self.fields})


class ProgressBar(Callback):
    """A tqdm bar per epoch with the loss, the running training accuracy of the epoch's batches
    (train mode, augmented), the learning rate, images per second and the last validation
    accuracy; and one summary line per epoch (the Solver adds one when verbose=True).

    file: where the bar goes (tqdm's default: stderr); the summary line goes to `file` or stdout.
    bar: draw the bar; None (default): only when its stream is a terminal, so a log file gets
        one plain line per epoch instead of carriage-return frames.
    """

    rank_zero_only = True

    def __init__(self, file: Any = None, mininterval: float = 0.1, bar: bool | None = None):
        self.file, self.mininterval, self.bar = file, float(mininterval), bar
        self._bar = None
        self._t0, self._images, self._correct = time.perf_counter(), 0, 0

    def _draws_bar(self) -> bool:
        if self.bar is not None:
            return bool(self.bar)
        stream = self.file if self.file is not None else sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())

    def on_epoch_begin(self, epoch, logs):
        p = self.params
        self._t0, self._images, self._correct = time.perf_counter(), 0, 0
        if self._draws_bar():
            self._bar = tqdm(total=p["batches_per_epoch"], initial=logs.get("batch", 0),
                             desc=f"epoch {epoch}/{p['num_epochs']}", unit="batch", leave=False, file=self.file,
                             dynamic_ncols=True, mininterval=self.mininterval)

    def on_batch_end(self, step, logs):
        self._images += logs["batch_size"]
        self._correct += logs.get("correct", 0)
        if self._bar is None:
            return
        ips = self._images / max(time.perf_counter() - self._t0, 1e-9)
        post = {"loss": f"{logs['loss']:.4f}", "acc": f"{self._correct / self._images:.3f}",
                "lr": f"{logs['lr']:.3g}", "img/s": f"{ips:.0f}"}
        if self.state.val_acc_history:
            post["val_acc"] = f"{self.state.val_acc_history[-1]:.3f}"
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(1)

    def on_epoch_end(self, epoch, logs):
        secs = time.perf_counter() - self._t0
        ips = self._images / max(secs, 1e-9)
        self._close()
        tqdm.write(f"(Epoch {epoch} / {self.params['num_epochs']}) loss {logs['loss']:.4f}  "
                   f"train acc {logs['train_acc']:.4f}  val acc {logs['val_acc']:.4f}  lr {logs['lr']:.3g}  "
                   f"{secs:.1f}s  {ips:.0f} img/s", file=self.file)

    def on_train_end(self, logs):
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def __getattr__(name: str) -> Any:
    """cr.callbacks.TensorBoard, imported on first use (it needs tensorboard; `import chainrule` stays light)."""
    if name == "TensorBoard":
        from .viz.tensorboard import TensorBoard
        return TensorBoard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
