"""`Solver`: train a classifier with minibatch gradient descent (CS231n's Solver).

    data = cr.data.load_digits()
    model = cr.models.get("small_cnn")
    solver = cr.Solver(model, data, optimizer="adam", lr=1e-3, num_epochs=10,
                       preprocess=cr.data.transforms.PerChannelNormalize())
    solver.train()
    solver.check_accuracy(data.X_test, data.y_test)

The loop, one epoch at a time (`Solver.train`, as Keras' `fit`):

    for X_batch, y_batch in loader:          # shuffled, seeded, augmented (train only)
        loss = loss_fn(model(X_batch), y_batch)  # model in train mode
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        callbacks.on_batch_end(step, logs)
    train_acc, val_acc = ...                 # model in eval mode, no_grad, batched
    scheduler.step()                         # (ReduceLROnPlateau: step(val_acc))
    best params (by val_acc) kept; restored when training ends

The constructor only stores and prepares: it builds the optimizer
(`cr.optim.create`) and the schedule (`cr.optim.lr_scheduler.from_spec`),
preprocesses the data once and never modifies the caller's preprocessor (a
fitted one is used as it is, an unfitted one is copied and fitted on X_train;
the fitted one is `solver.preprocess_`). Evaluation is `chainrule.metrics`;
checkpoints and resuming are `chainrule.resume`.

Everything random comes from `seed`: the DataLoader's generator (shuffling and
augmentation) and chainrule's shared generator (dropout), seeded when training
starts. A checkpoint (`checkpoint_dir`) holds the complete state, so a run
resumed with `Solver.resume` ends with the same weights, bit for bit, as one
that was never interrupted.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from . import backend, optim, rng
from . import callbacks as cbs
from .checkpoint import load_state, save_state
from .data.loader import DataLoader
from .data.transforms.preprocess import is_fitted
from .model_contract import record as record_contract
from .interrupt import NonFiniteLossError, TrainingInterrupted, deferred_sigint
from .metrics import accuracy, param_dtype, predict_scores
from .nn import functional as F
from .nn.module import Module, kept_modes, module_device
from .ops.activation import softmax_array
from .resume import fingerprint, load_solver_state, resume, solver_state
from .tensor import Tensor

__all__ = ["Solver", "NonFiniteLossError", "TrainingInterrupted"]

CHECKPOINT_NAME = "last.safetensors"
LOSSES = {"cross_entropy": F.cross_entropy, "softmax": F.cross_entropy, "svm": F.svm_loss}


def _array(v: Any) -> np.ndarray:
    return np.asarray(backend.to_host(v.data if isinstance(v, Tensor) else v))  # the data stay on the host


def _as_arrays(data: Any) -> dict[str, np.ndarray]:
    """data's splits as arrays, X (N, ...) and y (N,) int64, checked."""
    if not isinstance(data, Mapping):
        raise TypeError(f"Solver: data must be a cr.data.Splits or a dict with X_train, y_train, X_val, "
                        f"y_val, got {type(data).__name__}")
    missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
    if missing:
        raise ValueError(f"Solver: data is missing {missing} (needs X_train, y_train, X_val, y_val)")
    out = {}
    for part in ("train", "val", "test"):
        if data.get("X_" + part) is None:
            continue
        X, y = (_array(data[k + part]) for k in ("X_", "y_"))
        if y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise ValueError(f"Solver: X_{part} {X.shape} and y_{part} {y.shape} do not match "
                             "(need X (N, ...) and y (N,))")
        out["X_" + part], out["y_" + part] = X, y.astype(np.int64, copy=False)
    return out


def _positive_int(name: str, v: Any) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ValueError(f"Solver: {name} must be a positive int, got {v!r}")
    return int(v)


class Solver:
    """Trains `model` on `data`; see the module docstring and docs/training.md.

    model: a cr.nn.Module mapping X (N, C, H, W) to class scores (N, K).
    data: cr.data.Splits or dict with X_train, y_train, X_val, y_val (X_test, y_test optional).
    optimizer: a name for cr.optim.create ("sgd", "momentum", "nesterov", "adagrad", "rmsprop",
        "adam", "adamw"), a cr.optim.Optimizer on model's parameters, or a factory params -> Optimizer.
    lr, weight_decay: used when `optimizer` is a name (weight decay: L2 in the gradient;
        decoupled for adamw).
    lr_schedule: per-epoch schedule: a string for cr.optim.lr_scheduler.from_spec ("step:5:0.1",
        "cosine", "inverse:0.5", "plateau", "warmup:2+cosine", ...), a scheduler on `optimizer`,
        or a factory optimizer -> scheduler.
    loss: "cross_entropy" (softmax) | "svm" (multiclass hinge) | callable(scores, y) -> Tensor.
    augment: batch transform for training batches only, called as augment(X, rng=...) after
        preprocessing (e.g. cr.data.transforms.Compose([RandomCrop(8, padding=1), ...])).
    preprocess: a cr.data.transforms preprocessor (PerChannelNormalize, MeanImage, ...), applied
        once to every split and never modified: used as it is if fitted, else a copy is fitted on
        X_train; the fitted one is `preprocess_`. Without one X is cast to the parameters' dtype.
    seed: seeds shuffling, augmentation, dropout and the train-accuracy subsample.
    checkpoint_dir: if set, `last.safetensors` is written there after every epoch (and every
        `checkpoint_every` iterations if that is set) and when training is interrupted.
    callbacks: cr.callbacks.Callback objects. verbose: progress bar and one line per epoch.
    train_acc_samples: size of the fixed training subsample used for train accuracy (CS231n: 1000).
    eval_batch_size: batch size of check_accuracy / predict.
    ema: keep an exponential moving average of the weights with this decay (e.g. 0.999), updated
        after every step: `solver.ema` (cr.optim.swa_utils.EMA; `.model` the averaged copy),
        scored each epoch (logs["ema_val_acc"]), saved in the checkpoints beside the raw weights.
    device: "cpu", "cuda", "cuda:N" or "auto" (cuda when cr.cuda.is_available()): the model is
        moved there (in place); None (default) keeps it where it is. The data stay host arrays
        and each batch is moved to `solver.device`; losses and accuracies are Python floats,
        predictions host arrays, and checkpoints hold host arrays (resumable on either device).
    """

    def __init__(self, model: Module, data: Any, optimizer: Any = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, lr_schedule: Any = None, loss: Any = "cross_entropy",
                 batch_size: int = 128, num_epochs: int = 10, augment: Any = None, preprocess: Any = None,
                 seed: int = 0, checkpoint_dir: str | Path | None = None,
                 callbacks: Iterable[Any] = (), verbose: bool = True, *,
                 checkpoint_every: int | None = None, train_acc_samples: int = 1000,
                 eval_batch_size: int = 256, classes: list[str] | None = None, prefetch: bool = False,
                 ema: float | None = None, device: Any = None):
        if not isinstance(model, Module):
            raise TypeError(f"Solver: model must be a cr.nn.Module, got {type(model).__name__}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"Solver: seed must be a non-negative int, got {seed!r}")
        if checkpoint_every is not None:
            _positive_int("checkpoint_every", checkpoint_every)
        if isinstance(loss, str) and loss not in LOSSES:
            raise ValueError(f"Solver: unknown loss {loss!r}; expected one of {', '.join(LOSSES)} or a callable")
        if not (isinstance(loss, str) or callable(loss)):
            raise TypeError(f"Solver: loss must be a name or a callable, got {type(loss).__name__}")
        self.model, self.preprocess, self.augment = model, preprocess, augment
        self.batch_size, self.num_epochs = _positive_int("batch_size", batch_size), _positive_int("num_epochs", num_epochs)
        self.eval_batch_size = _positive_int("eval_batch_size", eval_batch_size)
        train_acc_samples = _positive_int("train_acc_samples", train_acc_samples)
        self.seed, self.checkpoint_every, self.verbose = int(seed), checkpoint_every, bool(verbose)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.classes = list(classes) if classes is not None else (
            list(data.classes) if hasattr(data, "classes") else None)
        self.loss_fn = LOSSES[loss] if isinstance(loss, str) else loss
        if device is not None:
            model.to(backend.device(device))  # in place, before the optimizer and EMA see it
        self.device = module_device(model)
        self.optimizer = optim.factory.resolve(optimizer, model.parameters(), lr, weight_decay=float(weight_decay))
        self.scheduler = optim.factory.resolve_schedule(lr_schedule, self.optimizer, self.num_epochs)

        # ---- data: preprocessed once (fitted on train only); the raw fingerprint is kept for resume
        arrays = _as_arrays(data)
        self.data_fingerprint = fingerprint(arrays["X_train"], arrays["y_train"])
        self.preprocess_ = preprocess
        if preprocess is not None and not is_fitted(preprocess):
            self.preprocess_ = copy.deepcopy(preprocess).fit(arrays["X_train"])
        record_contract(model, data, self.preprocess_, self.classes)  # so cr.save(model) carries it (h-21cli)
        self.data = {k: (self._prepare(v) if k.startswith("X_") else v) for k, v in arrays.items()}
        self.loader = DataLoader(self.data["X_train"], self.data["y_train"], batch_size=self.batch_size,
                                 shuffle=True, transform=augment, seed=self.seed, prefetch=prefetch)
        n = self.data["X_train"].shape[0]
        sub = np.random.default_rng(self.seed).choice(n, size=min(train_acc_samples, n), replace=False)
        self._train_subsample = np.sort(sub)

        # JSON-able settings: what Solver.resume rebuilds (None marks an object it cannot)
        custom_schedule = not (isinstance(lr_schedule, str) or lr_schedule is None)
        self.settings = {
            "optimizer": optimizer if isinstance(optimizer, str) else None, "lr": float(lr),
            "weight_decay": float(weight_decay), "lr_schedule": None if custom_schedule else lr_schedule,
            "custom_schedule": custom_schedule, "loss": loss if isinstance(loss, str) else None,
            "batch_size": self.batch_size, "num_epochs": self.num_epochs, "seed": self.seed,
            "checkpoint_every": checkpoint_every, "train_acc_samples": train_acc_samples,
            "eval_batch_size": self.eval_batch_size, "augment": None if augment is None else repr(augment),
            "ema": None if ema is None else float(ema),
        }

        self.callbacks = list(callbacks)
        self.ema = None
        if ema is not None:  # first, so that loggers see ema_val_acc
            from .optim.swa_utils import EMA
            self.ema = EMA(ema)
            self.callbacks.insert(0, self.ema)
        if self.verbose and not any(isinstance(c, cbs.ProgressBar) for c in self.callbacks):
            self.callbacks.append(cbs.ProgressBar())
        for c in self.callbacks:
            c.set_solver(self) if hasattr(c, "set_solver") else setattr(c, "solver", self)

        self.epoch = 0                 # epochs completed
        self.step = 0                  # iterations completed
        self._epoch_start_step = 0     # iteration at which the current epoch began
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.lr_history: list[float] = []
        self.best_val_acc, self.best_epoch = -1.0, 0
        self.best_params: dict[str, np.ndarray] | None = None
        self.stop_training = False
        self.resumed_from: Path | None = None
        self.last_checkpoint: Path | None = None
        self._seeded = self._interrupt = False

    # --------------------------------------------------------------- data
    def _prepare(self, X: Any) -> np.ndarray:
        """Raw images -> what the model eats: preprocessed (or cast) float arrays."""
        X = _array(X)
        if self.preprocess_ is not None:
            X = self.preprocess_(X)
        dtype = param_dtype(self.model)
        return X if X.dtype == dtype else X.astype(dtype)

    @property
    def batches_per_epoch(self) -> int:
        return len(self.loader)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ------------------------------------------------------------ training
    def train(self) -> "Solver":
        """Train until `num_epochs` epochs are done (or a callback sets `stop_training`);
        then load the parameters with the best validation accuracy. Returns self."""
        if not self._seeded:
            if self.step == 0 and self.epoch == 0:
                rng.manual_seed(self.seed)   # dropout and other shared draws start from `seed`
            self._seeded = True
        self._callback("on_train_begin", {"epoch": self.epoch, "num_epochs": self.num_epochs})
        self._interrupt = False
        # Ctrl-C: finish the step, save, then stop; the model's train/eval flags come back as they were
        with kept_modes(self.model), deferred_sigint(self._request_stop):
            while self.epoch < self.num_epochs and not self.stop_training:
                self._train_epoch()
        if self.best_params is not None:
            self.model.load_state_dict(self.best_params)
        self._callback("on_train_end", {"epoch": self.epoch, "best_val_acc": self.best_val_acc,
                                        "best_epoch": self.best_epoch})
        return self

    def _callback(self, hook: str, *args: Any) -> None:
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def _train_epoch(self) -> None:
        epoch, lr = self.epoch + 1, self.lr  # epochs are counted from 1 in logs and callbacks
        if self.loader.state_dict()["batch"] == 0:
            self._epoch_start_step = self.step
        self._callback("on_epoch_begin", epoch, {"epoch": epoch, "lr": lr})
        self.model.train()
        for X_batch, y_batch in self.loader:
            loss, correct = self._train_step(X_batch, y_batch)
            self.step += 1
            self.loss_history.append(loss)
            self._callback("on_batch_end", self.step, {"epoch": epoch, "loss": loss, "lr": lr,
                                                       "batch_size": int(y_batch.shape[0]), "correct": correct})
            if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                self._autosave()
            if self._interrupt:
                self._on_interrupt()
        self._end_epoch(epoch, lr)

    def _train_step(self, X_batch: np.ndarray, y_batch: np.ndarray) -> tuple[float, int]:
        """One SGD step -> (loss, number of batch examples classified right before the step).
        The host batch goes to the model's device (a no-op on the CPU)."""
        y = backend.to_device(y_batch, self.device)
        scores = self.model(Tensor(X_batch).to(self.device))
        loss = self.loss_fn(scores, y)
        value = float(loss.data)  # .item(): a Python float on either device
        if not np.isfinite(value):
            self._nonfinite(value)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self._after_optimizer_step()
        return value, int((scores.data.argmax(axis=1) == y).sum())

    def _after_optimizer_step(self) -> None:
        """Per-step hook, run right after every optimizer.step() (e.g. to update averaged weights)."""

    def _end_epoch(self, epoch: int, lr: float) -> None:
        sub = self._train_subsample
        train_acc = self._accuracy(self.data["X_train"][sub], self.data["y_train"][sub])
        val_acc = self._accuracy(self.data["X_val"], self.data["y_val"])
        losses = self.loss_history[self._epoch_start_step:self.step]
        epoch_loss = float(np.mean(losses)) if losses else float("nan")
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.lr_history.append(lr)
        if val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch = val_acc, epoch
            self.best_params = self.model.state_dict()
        if isinstance(self.scheduler, optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(val_acc)
        elif self.scheduler is not None:
            self.scheduler.step()
        self.epoch, self._epoch_start_step = epoch, self.step
        self._callback("on_epoch_end", epoch, {"epoch": epoch, "loss": epoch_loss, "train_acc": train_acc,
                                               "val_acc": val_acc, "lr": lr, "step": self.step})
        self._autosave()
        if self._interrupt:
            self._on_interrupt()

    # --------------------------------------------------------- evaluation
    def _scores(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Class scores (N, K) of already-prepared X (see chainrule.metrics.predict_scores)."""
        return predict_scores(self.model, X, int(batch_size or self.eval_batch_size))

    def _accuracy(self, X: np.ndarray, y: np.ndarray, batch_size: int | None = None) -> float:
        return accuracy(self._scores(X, batch_size), y) if X.shape[0] else float("nan")

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, batch_size: int | None = None,
                       num_samples: int | None = None) -> float:
        """Fraction of X (raw, like data's arrays) classified as y; eval mode, no_grad, batched.
        num_samples: evaluate a seeded random subsample of that size (CS231n)."""
        X, y = _array(X), np.asarray(backend.to_host(y))
        if num_samples is not None and X.shape[0] > num_samples:
            idx = np.random.default_rng(self.seed).choice(X.shape[0], num_samples, replace=False)
            X, y = X[idx], y[idx]
        return self._accuracy(self._prepare(X), y, batch_size)

    def predict(self, X: np.ndarray, batch_size: int | None = None, mc_samples: int | None = None) -> np.ndarray:
        """Predicted class labels (int64, (N,)) for raw X (mc_samples: see predict_proba)."""
        if mc_samples:
            return self.predict_proba(X, batch_size, mc_samples).argmax(axis=1).astype(np.int64)
        return self._scores(self._prepare(X), batch_size).argmax(axis=1).astype(np.int64)

    def predict_proba(self, X: np.ndarray, batch_size: int | None = None,
                      mc_samples: int | None = None) -> np.ndarray:
        """Softmax class probabilities (N, K), float64, for raw X. mc_samples=N: Monte-Carlo
        dropout, the mean of N passes with dropout on (cr.models.mc_dropout_predict)."""
        if mc_samples:
            from .models.ensemble import mc_dropout_predict
            return mc_dropout_predict(self.model, self._prepare(X), mc_samples,
                                      int(batch_size or self.eval_batch_size))
        return softmax_array(self._scores(self._prepare(X), batch_size).astype(np.float64), axis=1)

    @property
    def history(self) -> dict[str, list[float]]:
        return {"loss_history": list(self.loss_history), "train_acc_history": list(self.train_acc_history),
                "val_acc_history": list(self.val_acc_history), "lr_history": list(self.lr_history)}

    # -------------------------------------------------- failure handling
    def _nonfinite(self, value: float) -> None:
        ck = self.last_checkpoint if self.last_checkpoint is not None and self.last_checkpoint.exists() else None
        raise NonFiniteLossError.at(value, self.step + 1, self.epoch + 1, self.lr, ck, self.checkpoint_dir)

    def _request_stop(self) -> None:
        self._interrupt = True

    def _on_interrupt(self) -> None:
        self._interrupt = False
        raise TrainingInterrupted.after(self.step, self.epoch + 1, self._autosave())

    # ------------------------------------------------------- checkpoints
    def _autosave(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.save_checkpoint(self.checkpoint_dir / CHECKPOINT_NAME)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs (see chainrule.resume.solver_state)."""
        return solver_state(self)

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the complete training state to a safetensors file (atomically)."""
        self.last_checkpoint = save_state(Path(path), self.state_dict(), kind="checkpoint")
        return self.last_checkpoint

    def load_checkpoint(self, path_or_state: str | Path | dict[str, Any], where: str = "checkpoint") -> "Solver":
        """Load a checkpoint into this Solver (built with the same model, data and settings)."""
        if isinstance(path_or_state, dict):
            load_solver_state(self, path_or_state, where)
        else:
            load_solver_state(self, load_state(path_or_state, kind="checkpoint")[0], str(path_or_state))
            self.resumed_from = Path(path_or_state)
        return self

    @classmethod
    def resume(cls, path: str | Path, data: Any, model: Module | None = None, **overrides: Any) -> "Solver":
        """A Solver that continues the run saved in checkpoint `path`; call `.train()` on it.
        See chainrule.resume.resume for `model` and `overrides`."""
        return resume(cls, path, data, model, **overrides)
