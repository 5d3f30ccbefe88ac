"""A Solver's complete training state, and continuing a run from it.

`TrainState` is the one object that holds a run's progress (counters, histories,
the best epoch, the stop flag): the Solver owns it (`solver.state`), callbacks
read it (`callback.state`), and a checkpoint saves and loads it.
`solver_state(solver)` is what a checkpoint holds (nested dicts of arrays and
JSON values, written by `chainrule.checkpoint.save_state`): the weights, the
best weights, the optimizer's and the schedule's state, chainrule's random
generator, the DataLoader's position in its epoch, the histories, the
callbacks' state, the JSON-able Solver settings, the architecture config, the
fitted preprocessing and a fingerprint of the training data.
`load_solver_state(solver, state)` puts it back into a Solver built with the
same model, data and settings, and `resume(Solver, path, data)` builds that
Solver from the file alone; the resumed run ends with the same weights, bit
for bit, as one that was never interrupted.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import backend, rng
from .checkpoint import CheckpointError, load_state
from .data.transforms.preprocess import preprocessor_from_state, preprocessor_to_state
from .nn.config import module_from_config, module_to_config

__all__ = ["TrainState", "solver_state", "load_solver_state", "resume", "fingerprint"]

HISTORIES = ("loss_history", "train_acc_history", "val_acc_history", "lr_history")


@dataclass
class TrainState:
    """A run's progress; everything here is saved in a checkpoint and loaded back.

    epoch: epochs completed; step: optimizer steps completed (over the whole run);
    epoch_start_step: the step at which the current epoch began (its mean loss starts there);
    seeded: chainrule's generator was seeded for this run (a resumed run must not reseed);
    stop_training: set by a callback (EarlyStopping) to stop after the current epoch;
    best_val_acc, best_epoch, best_params: the epoch with the highest validation accuracy
    and its weights (host arrays), restored when training ends.
    """

    epoch: int = 0
    step: int = 0
    epoch_start_step: int = 0
    seeded: bool = False
    stop_training: bool = False
    loss_history: list = field(default_factory=list)
    train_acc_history: list = field(default_factory=list)
    val_acc_history: list = field(default_factory=list)
    lr_history: list = field(default_factory=list)
    best_val_acc: float = -1.0
    best_epoch: int = 0
    best_params: dict | None = None

    @property
    def history(self) -> dict[str, list[float]]:
        return {name: list(getattr(self, name)) for name in HISTORIES}

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint's keys (the same names as before TrainState existed, so old files load)."""
        return {"best_params": None if self.best_params is None else dict(self.best_params),
                "seeded": self.seeded, "epoch": self.epoch, "step": self.step,
                "epoch_start_step": self.epoch_start_step, "history": self.history,
                "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
                "stop_training": self.stop_training}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seeded = bool(state.get("seeded", True))
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.epoch_start_step = int(state["epoch_start_step"])
        for name in HISTORIES:
            setattr(self, name, [float(v) for v in state["history"][name]])
        self.best_val_acc, self.best_epoch = float(state["best_val_acc"]), int(state["best_epoch"])
        best = state.get("best_params")
        self.best_params = None if best is None else {k: np.array(backend.to_host(v)) for k, v in best.items()}
        self.stop_training = bool(state.get("stop_training", False))

# Solver arguments stored as JSON in "settings" that `resume` passes again as they were
_PLAIN_SETTINGS = ("lr", "weight_decay", "batch_size", "num_epochs", "seed", "checkpoint_every",
                   "train_acc_samples", "eval_batch_size")


def fingerprint(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Enough to tell that a resumed run got the same training data."""
    return {"shape": list(X.shape), "dtype": str(X.dtype),
            "crc32": zlib.crc32(np.ascontiguousarray(X).tobytes()) ^ zlib.crc32(y.tobytes())}


def solver_state(s: Any) -> dict[str, Any]:
    """Everything a resumed run needs, as nested dicts of arrays and JSON values."""
    try:
        model_config = module_to_config(s.model)
    except (ValueError, TypeError):
        model_config = None  # a custom module: resume needs model= then
    return {
        "model": dict(s.model.state_dict()),
        "optim": s.optimizer.state_dict(),
        "scheduler": None if s.scheduler is None else s.scheduler.state_dict(),
        "rng": rng.get_rng_state(),
        "loader": s.loader.state_dict() if hasattr(s.loader, "state_dict") else None,
        **s.state.state_dict(),
        "ema": None if s.ema is None else s.ema.state_dict(),
        "callbacks": [c.state_dict() if hasattr(c, "state_dict") else None for c in s.callbacks],
        "callback_names": [type(c).__name__ for c in s.callbacks],
        "settings": s.config, "model_config": model_config,
        "preprocess": preprocessor_to_state(s.preprocess_), "classes": s.classes,
        "data": s.data_fingerprint,
    }


def load_solver_state(s: Any, state: dict[str, Any], where: str = "checkpoint") -> None:
    """Put `solver_state`'s dict back into Solver `s` (built with the same model, data, settings)."""
    fp, mine = state.get("data"), s.data_fingerprint
    if fp is not None and (mine is None or fp["shape"] != mine["shape"] or fp["crc32"] != mine["crc32"]):
        raise ValueError(f"{where} was trained on other data (X_train {fp['shape']}); a resumed Solver "
                         "needs the same data it was trained on")
    try:
        s.model.load_state_dict(state["model"])
        s.optimizer.load_state_dict(state["optim"])
        if (state["scheduler"] is None) != (s.scheduler is None):
            raise ValueError("the checkpoint and this Solver differ in having an lr_schedule")
        if s.scheduler is not None:
            s.scheduler.load_state_dict(state["scheduler"])
        _load_position(s.loader, state.get("loader"))
        rng.set_rng_state(state["rng"])
        s.state.load_state_dict(state)
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{where} does not fit this Solver: {e}") from None
    ema = _ema_state(state)
    if s.ema is not None and ema is not None:
        s.ema.load_state_dict(ema)
    for c, cs in _callback_states(s.callbacks, state):
        if cs is not None and hasattr(c, "load_state_dict"):
            c.load_state_dict(cs)
    if s.classes is None:
        s.classes = state.get("classes")


def _load_position(loader: Any, saved: dict[str, Any] | None) -> None:
    """The training loader's position back; a loader without load_state_dict can only start an epoch."""
    if hasattr(loader, "load_state_dict") and saved is not None:
        loader.load_state_dict(saved)
    elif saved is not None and int(saved.get("batch", 0) or 0) > 0:
        raise ValueError(f"the checkpoint was written mid-epoch (batch {saved['batch']}) and this Solver's "
                         f"loader ({type(loader).__name__}) has no load_state_dict to continue there")


def _ema_state(state: dict[str, Any]) -> dict[str, Any] | None:
    """The weight average's state: its own key, or (checkpoints written when the EMA was a
    callback) the state of the callback named EMA."""
    if state.get("ema") is not None:
        return state["ema"]
    for name, cs in zip(state.get("callback_names") or [], state.get("callbacks") or []):
        if name == "EMA":
            return cs
    return None


def _callback_states(callbacks: list, state: dict[str, Any]) -> list[tuple[Any, Any]]:
    """Pair each callback with the saved state of a callback of the same class (in order), so a
    resumed Solver with its callbacks in another order, or without one of them, gets no wrong
    state; checkpoints without class names pair by position."""
    states = list(state.get("callbacks") or [])
    names = state.get("callback_names")
    if names is None:
        return list(zip(callbacks, states))
    free = list(zip(names, states))
    pairs = []
    for c in callbacks:
        i = next((k for k, (n, _) in enumerate(free) if n == type(c).__name__), None)
        if i is not None:
            pairs.append((c, free.pop(i)[1]))
    return pairs


def resume(solver_cls: type, path: str | Path, data: Any, model: Any = None, **overrides: Any) -> Any:
    """A `solver_cls` (the Solver) that continues the run saved in checkpoint `path`.

    data: the same data the run was trained on (checked by a fingerprint).
    model: rebuilt from the checkpoint's architecture config if not given.
    overrides: Solver arguments; settings stored as JSON (optimizer name, lr, schedule string,
        loss name, batch size, epochs, seed, ...) are reused unless given here. Objects that a
        checkpoint cannot hold must be passed again: augment, callbacks, an optimizer/scheduler
        factory, a loss callable. num_epochs may be raised to train longer.
    """
    state, _ = load_state(path, kind="checkpoint")
    s = state["settings"]
    if model is None:
        if state.get("model_config") is None:
            raise ValueError(f"{path}: the model's architecture could not be stored (custom module); "
                             "pass model= to Solver.resume")
        model = module_from_config(state["model_config"])
    if s.get("augment") is not None and "augment" not in overrides:
        raise ValueError(f"{path} was trained with augment={s['augment']}; pass augment= again to Solver.resume")
    kwargs: dict[str, Any] = {k: s[k] for k in _PLAIN_SETTINGS}
    if _ema_state(state) is not None and "ema" not in overrides:  # the run's average goes on
        kwargs["ema"] = float(s.get("ema") or _ema_state(state)["decay"])
    for k in ("optimizer", "lr_schedule", "loss"):
        if s.get(k) is not None:
            kwargs[k] = s[k]
        elif k not in overrides and (k != "lr_schedule" or s.get("custom_schedule")):
            raise ValueError(f"{path}: the run used a custom {k} object; pass {k}= to Solver.resume")
    if "preprocess" not in overrides:
        kwargs["preprocess"] = preprocessor_from_state(state.get("preprocess"))
    if "checkpoint_dir" not in overrides:
        kwargs["checkpoint_dir"] = Path(path).parent
    kwargs.update(overrides)
    solver = solver_cls(model, data, **kwargs)
    load_solver_state(solver, state, where=str(path))
    solver.resumed_from = Path(path)
    return solver
