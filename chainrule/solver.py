"""`Solver`: train a classifier with minibatch gradient descent (CS231n's Solver).

    data = cr.data.load_digits()
    model = cr.models.get("small_cnn")
    solver = cr.Solver(model, data, optimizer="adam", lr=1e-3, num_epochs=10,
                       preprocess=cr.data.transforms.PerChannelNormalize())
    solver.train()
    solver.check_accuracy(data.X_test, data.y_test)

The loop, one epoch at a time:

    for X_batch, y_batch in loader:          # shuffled, seeded, augmented (train only)
        loss = loss_fn(model(X_batch), y_batch)  # model in train mode
        optimizer.zero_grad(); loss.backward(); optimizer.step()
    train_acc, val_acc = ...                 # model in eval mode, no_grad, batched
    scheduler.step()                         # (ReduceLROnPlateau: step(val_acc))
    best params (by val_acc) kept; restored when training ends

Everything random comes from `seed`: the DataLoader's generator (shuffling and
augmentation) and chainrule's shared generator (dropout), seeded when training
starts. A checkpoint (`checkpoint_dir`) holds the complete state, so a run
resumed with `Solver.resume` ends with the same weights, bit for bit, as one
that was never interrupted.
"""
from __future__ import annotations

import copy
import signal
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from . import optim, rng
from .autograd import no_grad
from .checkpoint import CheckpointError, load_state, save_state
from .nn import functional as F
from .nn.module import Module
from .tensor import Tensor

__all__ = ["Solver", "NonFiniteLossError", "TrainingInterrupted", "build_optimizer", "build_scheduler",
           "OPTIMIZERS"]

CHECKPOINT_NAME = "last.safetensors"


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


# ----------------------------------------------------------------- optimisers
OPTIMIZERS: dict[str, Callable[..., optim.Optimizer]] = {
    "sgd": lambda p, lr, wd: optim.SGD(p, lr=lr, weight_decay=wd),
    "momentum": lambda p, lr, wd: optim.SGD(p, lr=lr, momentum=0.9, weight_decay=wd),
    "nesterov": lambda p, lr, wd: optim.SGD(p, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd),
    "adagrad": lambda p, lr, wd: optim.Adagrad(p, lr=lr, weight_decay=wd),
    "rmsprop": lambda p, lr, wd: optim.RMSprop(p, lr=lr, weight_decay=wd),
    "adam": lambda p, lr, wd: optim.Adam(p, lr=lr, weight_decay=wd),
    "adamw": lambda p, lr, wd: optim.AdamW(p, lr=lr, weight_decay=wd),
}


def build_optimizer(spec: str | optim.Optimizer | Callable, model: Module, lr: float,
                    weight_decay: float = 0.0) -> optim.Optimizer:
    """An optimiser for `model` from a name ("sgd", "momentum" (0.9), "nesterov", "adagrad",
    "rmsprop", "adam", "adamw"), an Optimizer built on the model's parameters, or a
    factory `f(params) -> Optimizer` (e.g. an optimizer class or functools.partial)."""
    if isinstance(spec, optim.Optimizer):
        own = {id(p) for p in model.parameters()}
        theirs = {id(p) for g in spec.param_groups for p in g["params"]}
        if not theirs <= own:
            raise ValueError("Solver: the optimizer given holds parameters that are not the model's")
        return spec
    if isinstance(spec, str):
        key = spec.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"Solver: unknown optimizer {spec!r}; expected one of {', '.join(OPTIMIZERS)}, "
                             "a cr.optim.Optimizer, or a factory params -> Optimizer")
        return OPTIMIZERS[key](model.parameters(), float(lr), float(weight_decay))
    if callable(spec):
        opt = spec(model.parameters())
        if not isinstance(opt, optim.Optimizer):
            raise TypeError(f"Solver: the optimizer factory returned {type(opt).__name__}, not an Optimizer")
        return opt
    raise TypeError(f"Solver: optimizer must be a name, an Optimizer or a factory, got {type(spec).__name__}")


def build_scheduler(spec: Any, optimizer: optim.Optimizer, num_epochs: int):
    """A per-epoch learning-rate schedule from a string, a scheduler, a factory or None.

    Strings: "step:STEP[:GAMMA]" (StepLR, gamma 0.1), "multistep:E1,E2[:GAMMA]",
    "exp:GAMMA" (ExponentialLR), "cosine[:ETA_MIN]" (CosineAnnealingLR over num_epochs),
    "plateau[:PATIENCE[:FACTOR]]" (ReduceLROnPlateau on val accuracy; patience 2, factor 0.1),
    "inverse:K" (lr / (1 + K t)), "warmup:N[+REST]" (N epochs of linear warm-up, then REST).
    """
    sched = optim.lr_scheduler
    if spec is None or spec == "" or spec == "none":
        return None
    if isinstance(spec, (sched.LRScheduler, sched.ReduceLROnPlateau)):
        if spec.optimizer is not optimizer:
            raise ValueError("Solver: the lr scheduler given is built on another optimizer; pass the "
                             "optimizer too, or a factory optimizer -> scheduler")
        return spec
    if not isinstance(spec, str):
        if callable(spec):
            out = spec(optimizer)
            if not isinstance(out, (sched.LRScheduler, sched.ReduceLROnPlateau)):
                raise TypeError(f"Solver: the lr_schedule factory returned {type(out).__name__}")
            return out
        raise TypeError(f"Solver: lr_schedule must be a string, a scheduler or a factory, got {type(spec).__name__}")
    name, _, rest = spec.partition(":")
    name = name.lower()
    try:
        if name == "warmup":
            n, _, after = rest.partition("+")
            inner = build_scheduler(after, optimizer, max(num_epochs - int(n), 1)) if after else None
            return sched.LinearWarmup(optimizer, warmup_steps=int(n), after=inner)
        args = rest.split(":") if rest else []
        if name == "step":
            return sched.StepLR(optimizer, step_size=int(args[0]), gamma=float(args[1]) if len(args) > 1 else 0.1)
        if name == "multistep":
            return sched.MultiStepLR(optimizer, milestones=[int(m) for m in args[0].split(",")],
                                     gamma=float(args[1]) if len(args) > 1 else 0.1)
        if name == "exp":
            return sched.ExponentialLR(optimizer, gamma=float(args[0]))
        if name == "cosine":
            return sched.CosineAnnealingLR(optimizer, T_max=max(int(num_epochs), 1),
                                           eta_min=float(args[0]) if args else 0.0)
        if name == "plateau":
            return sched.ReduceLROnPlateau(optimizer, mode="max", patience=int(args[0]) if args else 2,
                                           factor=float(args[1]) if len(args) > 1 else 0.1)
        if name == "inverse":
            return sched.InverseTimeLR(optimizer, k=float(args[0]))
    except (IndexError, ValueError) as e:
        raise ValueError(f"Solver: bad lr_schedule {spec!r} ({e}); e.g. 'step:5:0.1', 'cosine', "
                         "'exp:0.95', 'plateau', 'warmup:2+cosine'") from None
    raise ValueError(f"Solver: unknown lr_schedule {spec!r}; expected step:N[:G], multistep:A,B[:G], "
                     "exp:G, cosine[:MIN], plateau[:P[:F]], inverse:K, warmup:N[+REST]")


LOSSES = {"cross_entropy": F.cross_entropy, "softmax": F.cross_entropy, "svm": F.svm_loss}


# ----------------------------------------------------------------- helpers
def _as_arrays(data: Any) -> dict[str, np.ndarray]:
    if not isinstance(data, Mapping):
        raise TypeError(f"Solver: data must be a cr.data.Splits or a dict with X_train, y_train, X_val, "
                        f"y_val, got {type(data).__name__}")
    missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
    if missing:
        raise ValueError(f"Solver: data is missing {missing} (needs X_train, y_train, X_val, y_val)")
    out = {}
    for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        if k in data and data[k] is not None:
            v = data[k]
            out[k] = np.asarray(v.data if isinstance(v, Tensor) else v)
    for part in ("train", "val", "test"):
        if "X_" + part in out:
            X, y = out["X_" + part], out["y_" + part]
            if y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise ValueError(f"Solver: X_{part} {X.shape} and y_{part} {y.shape} do not match "
                                 "(need X (N, ...) and y (N,))")
            out["y_" + part] = y.astype(np.int64, copy=False)
    return out


def _fingerprint(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Enough to tell that a resumed run got the same training data."""
    return {"shape": list(X.shape), "dtype": str(X.dtype),
            "crc32": zlib.crc32(np.ascontiguousarray(X).tobytes()) ^ zlib.crc32(y.tobytes())}


def _is_fitted(pre: Any) -> bool:
    try:
        pre.state_dict()
    except (RuntimeError, AttributeError, TypeError):
        return False
    return True


def _apply(pre: Any, X: np.ndarray) -> np.ndarray:
    return pre.transform(X) if hasattr(pre, "transform") and not callable(pre) else pre(X)


def preprocess_to_state(pre: Any) -> dict[str, Any] | None:
    """A fitted cr.data.transforms preprocessor as {"config": JSON, "state": arrays} (or None)."""
    if pre is None:
        return None
    if not (hasattr(pre, "to_config") and hasattr(pre, "state_dict")):
        raise ValueError(f"preprocess {type(pre).__name__} cannot be saved: it needs to_config() and "
                         "state_dict() (use a cr.data.transforms preprocessor)")
    return {"config": pre.to_config(), "state": {k: np.asarray(v) for k, v in pre.state_dict().items()}}


def preprocess_from_state(state: dict[str, Any] | None) -> Any:
    if state is None:
        return None
    from .data.transforms import preprocessor_from_config

    return preprocessor_from_config(state["config"], state["state"])


def _training_flags(model: Module) -> list[tuple[Module, bool]]:
    return [(m, m.training) for m in model.modules()]


def _restore_flags(flags: list[tuple[Module, bool]]) -> None:
    for m, mode in flags:
        m.__dict__["training"] = mode


# ------------------------------------------------------------------- Solver
class Solver:
    """Trains `model` on `data`; see the module docstring and docs/training.md.

    model: a cr.nn.Module mapping X (N, C, H, W) to class scores (N, K).
    data: cr.data.Splits or dict with X_train, y_train, X_val, y_val (X_test, y_test optional).
    optimizer: "sgd" | "momentum" | "nesterov" | "adagrad" | "rmsprop" | "adam" | "adamw",
        a cr.optim.Optimizer on model's parameters, or a factory params -> Optimizer.
    lr, weight_decay: used when `optimizer` is a name (weight decay: L2 in the gradient;
        decoupled for adamw).
    lr_schedule: per-epoch schedule, see `build_scheduler` ("step:5:0.1", "cosine", "exp:0.95",
        "plateau", "warmup:2+cosine"), a scheduler on `optimizer`, or a factory optimizer -> scheduler.
    loss: "cross_entropy" (softmax) | "svm" (multiclass hinge) | callable(scores, y) -> Tensor.
    augment: batch transform for training batches only, called as augment(X, rng=...) after
        preprocessing (e.g. cr.data.transforms.Compose([RandomCrop(8, padding=1), ...])).
    preprocess: a cr.data.transforms preprocessor (PerChannelNormalize, MeanImage, ...), fitted on
        X_train here if it is not fitted yet, applied once to every split; without one X is cast
        to float32 as it is.
    seed: seeds shuffling, augmentation, dropout and the train-accuracy subsample.
    checkpoint_dir: if set, `last.safetensors` is written there after every epoch (and every
        `checkpoint_every` iterations if that is set) and when training is interrupted.
    callbacks: cr.callbacks.Callback objects. verbose: progress bar and one line per epoch.
    train_acc_samples: size of the fixed training subsample used for train accuracy (CS231n: 1000).
    eval_batch_size: batch size of check_accuracy / predict.
    """

    def __init__(self, model: Module, data: Any, optimizer: Any = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, lr_schedule: Any = None, loss: Any = "cross_entropy",
                 batch_size: int = 128, num_epochs: int = 10, augment: Any = None, preprocess: Any = None,
                 seed: int = 0, checkpoint_dir: str | Path | None = None,
                 callbacks: Iterable[Any] = (), verbose: bool = True, *,
                 checkpoint_every: int | None = None, train_acc_samples: int = 1000,
                 eval_batch_size: int = 256, classes: list[str] | None = None, prefetch: bool = False):
        from .data.loader import DataLoader

        if not isinstance(model, Module):
            raise TypeError(f"Solver: model must be a cr.nn.Module, got {type(model).__name__}")
        for name, v in (("batch_size", batch_size), ("num_epochs", num_epochs),
                        ("train_acc_samples", train_acc_samples), ("eval_batch_size", eval_batch_size)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Solver: {name} must be a positive int, got {v!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"Solver: seed must be a non-negative int, got {seed!r}")
        if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or checkpoint_every < 1):
            raise ValueError(f"Solver: checkpoint_every must be a positive int or None, got {checkpoint_every!r}")
        self.model = model
        self.num_epochs, self.batch_size, self.seed = int(num_epochs), int(batch_size), int(seed)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_every = checkpoint_every
        self.verbose = bool(verbose)
        self.eval_batch_size = int(eval_batch_size)
        self.classes = list(classes) if classes is not None else (
            list(data.classes) if hasattr(data, "classes") else None)

        # ---- data: preprocess once (fitted on train only), keep the raw fingerprint for resume
        arrays = _as_arrays(data)
        self.data_fingerprint = _fingerprint(arrays["X_train"], arrays["y_train"])
        if preprocess is not None and not _is_fitted(preprocess):
            preprocess.fit(arrays["X_train"])
        self.preprocess = preprocess
        self.data = {k: (self._prepare(v) if k.startswith("X_") else v) for k, v in arrays.items()}
        self.augment = augment
        self.loader = DataLoader(self.data["X_train"], self.data["y_train"], batch_size=self.batch_size,
                                 shuffle=True, transform=augment, seed=self.seed, prefetch=prefetch)
        n = self.data["X_train"].shape[0]
        sub = np.random.default_rng(self.seed).choice(n, size=min(int(train_acc_samples), n), replace=False)
        self._train_subsample = np.sort(sub)

        # ---- loss, optimiser, schedule
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f"Solver: unknown loss {loss!r}; expected one of {', '.join(LOSSES)} or a callable")
            self.loss_fn = LOSSES[loss]
        elif callable(loss):
            self.loss_fn = loss
        else:
            raise TypeError(f"Solver: loss must be a name or a callable, got {type(loss).__name__}")
        self.optimizer = build_optimizer(optimizer, model, lr, weight_decay)
        self.scheduler = build_scheduler(lr_schedule, self.optimizer, self.num_epochs)
        # JSON-able settings: what Solver.resume rebuilds (None marks an object it cannot)
        self.settings = {
            "optimizer": optimizer if isinstance(optimizer, str) else None, "lr": float(lr),
            "weight_decay": float(weight_decay),
            "lr_schedule": lr_schedule if isinstance(lr_schedule, str) or lr_schedule is None else None,
            "custom_schedule": not (isinstance(lr_schedule, str) or lr_schedule is None),
            "loss": loss if isinstance(loss, str) else None, "batch_size": self.batch_size,
            "num_epochs": self.num_epochs, "seed": self.seed, "checkpoint_every": checkpoint_every,
            "train_acc_samples": int(train_acc_samples), "eval_batch_size": self.eval_batch_size,
            "augment": None if augment is None else repr(augment),
        }

        # ---- callbacks (a progress bar when verbose)
        from . import callbacks as _cb

        self.callbacks = list(callbacks)
        if self.verbose and not any(isinstance(c, _cb.ProgressBar) for c in self.callbacks):
            self.callbacks.append(_cb.ProgressBar())
        for c in self.callbacks:
            c.set_solver(self) if hasattr(c, "set_solver") else setattr(c, "solver", self)

        # ---- progress and histories
        self.epoch = 0                 # epochs completed
        self.step = 0                  # iterations completed
        self._epoch_start_step = 0     # iteration at which the current epoch began
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.lr_history: list[float] = []
        self.best_val_acc = -1.0
        self.best_epoch = 0
        self.best_params: dict[str, np.ndarray] | None = None
        self.stop_training = False
        self.resumed_from: Path | None = None
        self._seeded = False
        self._interrupt = False
        self.last_checkpoint: Path | None = None

    # --------------------------------------------------------------- data
    def _prepare(self, X: np.ndarray) -> np.ndarray:
        """Raw images -> what the model eats: preprocessed (or cast) float arrays."""
        X = np.asarray(X.data if isinstance(X, Tensor) else X)
        if self.preprocess is not None:
            X = _apply(self.preprocess, X)
        dtype = self._param_dtype()
        return X if X.dtype == dtype else X.astype(dtype)

    def _param_dtype(self) -> np.dtype:
        for p in self.model.parameters():
            return p.data.dtype
        return np.dtype(np.float32)

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
        flags = _training_flags(self.model)
        logs = {"epoch": self.epoch, "num_epochs": self.num_epochs}
        for c in self.callbacks:
            c.on_train_begin(logs)
        old_handler = self._install_sigint()
        try:
            while self.epoch < self.num_epochs and not self.stop_training:
                self._train_epoch()
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            _restore_flags(flags)
        if self.best_params is not None:
            self.model.load_state_dict(self.best_params)
        logs = {"epoch": self.epoch, "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch}
        for c in self.callbacks:
            c.on_train_end(logs)
        return self

    def _train_epoch(self) -> None:
        epoch = self.epoch + 1  # epochs are counted from 1 in logs and callbacks
        if self.loader.state_dict()["batch"] == 0:
            self._epoch_start_step = self.step
        for c in self.callbacks:
            c.on_epoch_begin(epoch, {"epoch": epoch, "lr": self.lr})
        lr = self.lr
        self.model.train()
        for X_batch, y_batch in self.loader:
            loss = self._train_step(X_batch, y_batch)
            self.step += 1
            self.loss_history.append(loss)
            blogs = {"epoch": epoch, "loss": loss, "lr": lr, "batch_size": int(y_batch.shape[0])}
            for c in self.callbacks:
                c.on_batch_end(self.step, blogs)
            if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                self._autosave()
            if self._interrupt:
                self._on_interrupt()
        self._end_epoch(epoch, lr)

    def _train_step(self, X_batch: np.ndarray, y_batch: np.ndarray) -> float:
        scores = self.model(Tensor(X_batch))
        loss = self.loss_fn(scores, y_batch)
        value = float(loss.data)
        if not np.isfinite(value):
            self._nonfinite(value)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return value

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
        if self.scheduler is not None:
            if isinstance(self.scheduler, optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(val_acc)
            else:
                self.scheduler.step()
        self.epoch = epoch
        self._epoch_start_step = self.step
        logs = {"epoch": epoch, "loss": epoch_loss, "train_acc": train_acc, "val_acc": val_acc, "lr": lr,
                "step": self.step}
        for c in self.callbacks:
            c.on_epoch_end(epoch, logs)
        self._autosave()
        if self._interrupt:
            self._on_interrupt()

    # --------------------------------------------------------- evaluation
    def _scores(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Class scores of already-prepared X, in eval mode, without a graph."""
        bs = int(batch_size or self.eval_batch_size)
        flags = _training_flags(self.model)
        self.model.eval()
        try:
            with no_grad():
                out = [np.asarray(self.model(Tensor(X[i:i + bs])).data) for i in range(0, X.shape[0], bs)]
        finally:
            _restore_flags(flags)
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def _accuracy(self, X: np.ndarray, y: np.ndarray, batch_size: int | None = None) -> float:
        if X.shape[0] == 0:
            return float("nan")
        return float(np.mean(self._scores(X, batch_size).argmax(axis=1) == y))

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, batch_size: int | None = None,
                       num_samples: int | None = None) -> float:
        """Fraction of X (raw, like data's arrays) classified as y; eval mode, no_grad, batched.
        num_samples: evaluate a seeded random subsample of that size (CS231n)."""
        y = np.asarray(y)
        if num_samples is not None and X.shape[0] > num_samples:
            idx = np.random.default_rng(self.seed).choice(X.shape[0], num_samples, replace=False)
            X, y = X[idx], y[idx]
        return self._accuracy(self._prepare(X), y, batch_size)

    def predict(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Predicted class labels (int64, (N,)) for raw X."""
        return self._scores(self._prepare(X), batch_size).argmax(axis=1).astype(np.int64)

    def predict_proba(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Softmax class probabilities (N, K) for raw X."""
        s = self._scores(self._prepare(X), batch_size).astype(np.float64)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    @property
    def history(self) -> dict[str, list[float]]:
        return {"loss_history": list(self.loss_history), "train_acc_history": list(self.train_acc_history),
                "val_acc_history": list(self.val_acc_history), "lr_history": list(self.lr_history)}

    # -------------------------------------------------- failure handling
    def _nonfinite(self, value: float) -> None:
        it = self.step + 1
        ck = self.last_checkpoint if self.last_checkpoint is not None and self.last_checkpoint.exists() else None
        where = (f"last good checkpoint: {ck}" if ck is not None else
                 "no checkpoint was written yet" + ("" if self.checkpoint_dir else " (checkpoint_dir is None)"))
        raise NonFiniteLossError(
            f"loss is {value} at iteration {it} (epoch {self.epoch + 1}, lr {self.lr:g}); training stopped; "
            f"{where}. Try a smaller learning rate.", iteration=it, epoch=self.epoch + 1, loss=value,
            checkpoint=ck)

    def _install_sigint(self):
        """First Ctrl-C: finish the current step, save, stop. Second: stop at once."""
        if threading.current_thread() is not threading.main_thread():
            return None
        self._interrupt = False

        def handler(signum, frame):
            if self._interrupt:
                raise KeyboardInterrupt
            self._interrupt = True
            print("\nInterrupted: saving a checkpoint after this step (Ctrl-C again to stop at once)",
                  file=sys.stderr, flush=True)

        try:
            return signal.signal(signal.SIGINT, handler)
        except (ValueError, OSError):
            return None

    def _on_interrupt(self) -> None:
        self._interrupt = False
        path = self._autosave()
        if path is None:
            msg = (f"training interrupted after iteration {self.step} (epoch {self.epoch + 1}); no checkpoint "
                   "written (checkpoint_dir is None)")
        else:
            msg = (f"training interrupted after iteration {self.step}; checkpoint saved to {path}; "
                   f"resume with: chainrule train --resume {path}  (or cr.Solver.resume(path, data))")
        raise TrainingInterrupted(msg, path)

    # ------------------------------------------------------- checkpoints
    def _autosave(self) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        return self.save_checkpoint(self.checkpoint_dir / CHECKPOINT_NAME)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as nested dicts of arrays and JSON values."""
        from .nn.config import module_to_config

        try:
            model_config = module_to_config(self.model)
        except (ValueError, TypeError):
            model_config = None  # a custom module: Solver.resume needs model= then
        return {
            "model": dict(self.model.state_dict()),
            "best_params": None if self.best_params is None else dict(self.best_params),
            "optim": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": rng.get_rng_state(), "seeded": self._seeded,
            "loader": self.loader.state_dict(),
            "epoch": self.epoch, "step": self.step, "epoch_start_step": self._epoch_start_step,
            "history": self.history, "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
            "stop_training": self.stop_training,
            "callbacks": [c.state_dict() if hasattr(c, "state_dict") else None for c in self.callbacks],
            "settings": self.settings, "model_config": model_config,
            "preprocess": preprocess_to_state(self.preprocess), "classes": self.classes,
            "data": self.data_fingerprint,
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the complete training state to a safetensors file (atomically)."""
        path = Path(path)
        save_state(path, self.state_dict(), kind="checkpoint")
        self.last_checkpoint = path
        return path

    def load_checkpoint(self, path_or_state: str | Path | dict[str, Any], where: str = "checkpoint") -> "Solver":
        """Load a checkpoint into this Solver (built with the same model, data and settings)."""
        if isinstance(path_or_state, dict):
            state = path_or_state
        else:
            where = str(path_or_state)
            state, _ = load_state(path_or_state, kind="checkpoint")
        fp = state.get("data")
        if fp is not None and (fp["shape"] != self.data_fingerprint["shape"]
                               or fp["crc32"] != self.data_fingerprint["crc32"]):
            raise ValueError(f"{where} was trained on other data (X_train {fp['shape']}); a resumed Solver "
                             "needs the same data it was trained on")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optim"])
            if (state["scheduler"] is None) != (self.scheduler is None):
                raise ValueError("the checkpoint and this Solver differ in having an lr_schedule")
            if self.scheduler is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            self.loader.load_state_dict(state["loader"])
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{where} does not fit this Solver: {e}") from None
        rng.set_rng_state(state["rng"])
        self._seeded = bool(state.get("seeded", True))
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self._epoch_start_step = int(state["epoch_start_step"])
        h = state["history"]
        self.loss_history = [float(v) for v in h["loss_history"]]
        self.train_acc_history = [float(v) for v in h["train_acc_history"]]
        self.val_acc_history = [float(v) for v in h["val_acc_history"]]
        self.lr_history = [float(v) for v in h["lr_history"]]
        self.best_val_acc, self.best_epoch = float(state["best_val_acc"]), int(state["best_epoch"])
        best = state.get("best_params")
        self.best_params = None if best is None else {k: np.array(v) for k, v in best.items()}
        self.stop_training = bool(state.get("stop_training", False))
        for c, cs in zip(self.callbacks, state.get("callbacks") or []):
            if cs is not None and hasattr(c, "load_state_dict"):
                c.load_state_dict(cs)
        if self.classes is None:
            self.classes = state.get("classes")
        if not isinstance(path_or_state, dict):
            self.resumed_from = Path(path_or_state)
        return self

    @classmethod
    def resume(cls, path: str | Path, data: Any, model: Module | None = None, **overrides: Any) -> "Solver":
        """A Solver that continues the run saved in checkpoint `path`; call `.train()` on it.

        data: the same data the run was trained on (checked by a fingerprint).
        model: rebuilt from the checkpoint's architecture config if not given.
        overrides: Solver arguments; settings stored as JSON (optimizer name, lr, schedule string,
            loss name, batch size, epochs, seed, ...) are reused unless given here. Objects that a
            checkpoint cannot hold must be passed again: augment, callbacks, an optimizer/scheduler
            factory, a loss callable. num_epochs may be raised to train longer.
        """
        from .nn.config import module_from_config

        state, _ = load_state(path, kind="checkpoint")
        s = state["settings"]
        if model is None:
            if state.get("model_config") is None:
                raise ValueError(f"{path}: the model's architecture could not be stored (custom module); "
                                 "pass model= to Solver.resume")
            model = module_from_config(state["model_config"])
        if s.get("augment") is not None and "augment" not in overrides:
            raise ValueError(f"{path} was trained with augment={s['augment']}; pass augment= again to "
                             "Solver.resume")
        kwargs: dict[str, Any] = {k: s[k] for k in ("lr", "weight_decay", "batch_size", "num_epochs", "seed",
                                                     "checkpoint_every", "train_acc_samples", "eval_batch_size")}
        for k in ("optimizer", "lr_schedule", "loss"):
            if s.get(k) is not None:
                kwargs[k] = s[k]
            elif k not in overrides and (k != "lr_schedule" or s.get("custom_schedule")):
                raise ValueError(f"{path}: the run used a custom {k} object; pass {k}= to Solver.resume")
        if "preprocess" not in overrides:
            kwargs["preprocess"] = preprocess_from_state(state.get("preprocess"))
        if "checkpoint_dir" not in overrides:
            kwargs["checkpoint_dir"] = Path(path).parent
        kwargs.update(overrides)
        solver = cls(model, data, **kwargs)
        solver.load_checkpoint(state, where=str(path))
        solver.resumed_from = Path(path)
        return solver
