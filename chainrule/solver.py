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

The constructor checks and stores: it builds the optimizer (`cr.optim.create`)
and the schedule (`cr.optim.lr_scheduler.from_spec`), and moves the model when
`device` is given. The data are prepared when training (or evaluation) first
needs them: the preprocessor is fitted on X_train then, never modifying the
caller's (a fitted one is used as it is, an unfitted one is copied and fitted;
the fitted one is `solver.preprocess_`), and every split is preprocessed once.

What the Solver owns, each in one place:
    solver.config   the run's settings as JSON (what a checkpoint and Solver.resume reuse)
    solver.state    the run's progress (chainrule.resume.TrainState): epoch, step, histories,
                    the best epoch; saved and loaded by checkpoints, read by callbacks
    solver.ema      the one exponential moving average of the weights (ema=), or None
Callbacks (chainrule.callbacks) get the model, the params (`callback_params`), the state
and a `logs` dict per hook. Evaluation is `chainrule.metrics`; checkpoints and resuming
are `chainrule.resume`.

Data parallel (docs/distributed.md): under `mpiexec -n N` with a process group
(cr.distributed.init_process_group), every rank draws the same global batch from the same
seeded loader and trains on its contiguous share through DistributedDataParallel (the
gradients averaged, so the step is the one of a single process on the whole batch); the
loss, the accuracies and the Ctrl-C flag are all-reduced, and only rank 0 writes checkpoints
and runs the callbacks marked `rank_zero_only` (loggers, progress bar, TensorBoard). The
checkpoint is the global state, so a run resumes on any number of ranks.

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
from . import distributed as dist
from .checkpoint import load_state, save_state
from .data.loader import DataLoader
from .data.transforms.preprocess import is_fitted
from .model_contract import record as record_contract
from .interrupt import NonFiniteLossError, TrainingInterrupted, deferred_sigint
from .metrics import accuracy, param_dtype, predict_scores
from .nn import functional as F
from .nn.module import Module, kept_modes, module_device
from .ops.activation import softmax_array
from .optim.swa_utils import EMA
from .resume import TrainState, fingerprint, load_solver_state, resume, solver_state
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


def _is_dataset(x: Any) -> bool:
    """A map-style dataset: samples by index and a length, not batches, arrays or splits."""
    return (hasattr(x, "__getitem__") and hasattr(x, "__len__") and not hasattr(x, "__iter__")
            and not isinstance(x, (Mapping, np.ndarray, Tensor, str, bytes, tuple, list)))


def _is_batches(x: Any) -> bool:
    """An iterable of (X, y) batches (a DataLoader), not arrays or a mapping of splits."""
    return hasattr(x, "__iter__") and not isinstance(x, (Mapping, np.ndarray, Tensor, str, bytes, tuple, list))


def _sources(data: Any, val_data: Any, preprocess: Any, augment: Any) -> tuple[Any, Any, Any]:
    """(arrays by split, training batches, validation batches or (X, y)): what `data` and
    `val_data` give, checked."""
    if isinstance(data, Mapping):
        if val_data is not None:
            raise ValueError("Solver: val_data goes with training batches; with splits, put X_val/y_val in data")
        return _as_arrays(data), None, None
    if not _is_batches(data):
        raise TypeError(f"Solver: data must be a cr.data.Splits, a dict with X_train, y_train, X_val, y_val, "
                        f"or an iterable of (X, y) batches (a DataLoader), got {type(data).__name__}")
    if preprocess is not None or augment is not None:
        raise ValueError("Solver: with batches as data, preprocess and augment belong to the loader's dataset "
                         "(its transform); pass them there")
    if val_data is None:
        raise ValueError("Solver: with batches as data, pass val_data= (validation batches or (X_val, y_val))")
    if isinstance(val_data, (tuple, list)) and len(val_data) == 2 and not _is_batches(val_data[0]):
        X, y = _array(val_data[0]), _array(val_data[1]).astype(np.int64, copy=False)
        if y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise ValueError(f"Solver: val_data X {X.shape} and y {y.shape} do not match (need X (N, ...), y (N,))")
        return None, data, (X, y)
    if not _is_batches(val_data):
        raise TypeError(f"Solver: val_data must be (X_val, y_val) or an iterable of batches, got "
                        f"{type(val_data).__name__}")
    return None, data, val_data


def _position(loader: Any) -> int:
    """Batches of the current epoch already served (a resumable loader's state_dict()["batch"]), else 0."""
    state = loader.state_dict() if hasattr(loader, "state_dict") else None
    return int(state.get("batch", 0) or 0) if isinstance(state, dict) else 0


def _share(total: int, rank: int, size: int) -> tuple[int, int]:
    """Rank `rank`'s contiguous slice [lo, hi) of `total` items split as evenly as possible."""
    q, r = divmod(total, size)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (rank < r)


def _rank_seed(seed: int, step: int, rank: int) -> int:
    """The dropout seed of a rank's step in a data-parallel run: different ranks draw
    different masks, and a resumed run the same ones (it depends on the step only)."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


def _state_field(name: str) -> property:
    """solver.<name> as a view of solver.state.<name>."""
    return property(lambda self: getattr(self.state, name), lambda self, v: setattr(self.state, name, v),
                    doc=f"solver.state.{name}")


def _one_ema(ema: Any, callbacks: list) -> EMA | None:
    """The run's one weight average: `ema` (a decay or an EMA) or an EMA among `callbacks`
    (removed from them: the Solver updates and scores it itself)."""
    found = [c for c in callbacks if isinstance(c, EMA)]
    if len(found) > 1 or (found and isinstance(ema, EMA) and ema is not found[0]):
        raise ValueError("Solver: more than one EMA given; a run keeps one weight average")
    for c in found:
        callbacks.remove(c)
    if found:
        return found[0]  # (a decay given beside it, e.g. by Solver.resume, is the checkpoint's anyway)
    if ema is None or isinstance(ema, EMA):
        return ema
    return EMA(float(ema))


class Solver:
    """Trains `model` on `data`; see the module docstring and docs/training.md.

    model: a cr.nn.Module mapping X (N, C, H, W) to class scores (N, K).
    data: cr.data.Splits or dict with X_train, y_train, X_val, y_val (X_test, y_test optional);
        or a map-style Dataset of (x, y) samples (chainrule.utils.data: loaded by a DataLoader
        with batch_size, shuffled with a Generator seeded by `seed`, augment applied to each batch
        by cr.data.TransformCollate, `num_workers` worker processes);
        or the training batches: an iterable of (X, y) batches, such as a DataLoader (with
        state_dict/load_state_dict, a checkpoint resumes it mid-epoch), used as it is (its own
        shuffling, transforms and batch size; batch_size here is then unused).
    val_data: with a Dataset or batches as `data`: the validation Dataset, batches (an iterable
        of (X, y)) or (X, y) arrays; the train accuracy is then the running one of the epoch's
        batches (train mode).
    num_workers: worker processes of the DataLoader built for a Dataset.
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
        An EMA object may be given as `ema=` or among `callbacks` (it is then taken out of them:
        the Solver updates and scores it, before any callback runs). `choose_weights()` says
        whether the average or the raw weights score better on validation.
    device: "cpu", "cuda", "cuda:N" or "auto" (cuda when cr.cuda.is_available()): the model is
        moved there (in place); None (default) keeps it where it is. The data stay host arrays
        and each batch is moved to `solver.device`; losses and accuracies are Python floats,
        predictions host arrays, and checkpoints hold host arrays (resumable on either device).
    sync_batchnorm: in a data-parallel run, batch-norm statistics over the global batch
        (nn.parallel.sync_batchnorm_in_place; the default, so that N ranks train as one process
        on the whole batch); False: each rank's share (less communication, other numbers).
    """

    def __init__(self, model: Module, data: Any, optimizer: Any = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, lr_schedule: Any = None, loss: Any = "cross_entropy",
                 batch_size: int = 128, num_epochs: int = 10, augment: Any = None, preprocess: Any = None,
                 seed: int = 0, checkpoint_dir: str | Path | None = None,
                 callbacks: Iterable[Any] = (), verbose: bool = True, *,
                 checkpoint_every: int | None = None, train_acc_samples: int = 1000,
                 eval_batch_size: int = 256, classes: list[str] | None = None, prefetch: bool = False,
                 ema: float | None = None, device: Any = None, sync_batchnorm: bool = True,
                 val_data: Any = None, num_workers: int = 0):
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

        # checked now; prepared by _setup_data when first needed
        if not isinstance(num_workers, (int, np.integer)) or isinstance(num_workers, bool) or num_workers < 0:
            raise ValueError(f"Solver: num_workers must be a non-negative int, got {num_workers!r}")
        self._num_workers = int(num_workers)
        augment_in_loader = _is_dataset(data)  # (then applied by the loader built here)
        self._contract_source = data  # what the model's input contract is read from (model_contract.record)
        data, val_data = self._loaders_for_datasets(data, val_data, augment)
        self._raw, self._batches, self._val_batches = _sources(data, val_data, preprocess,
                                                                None if augment_in_loader else augment)
        self._prefetch, self._train_acc_samples = bool(prefetch), train_acc_samples
        self._prepared: dict[str, Any] | None = None

        # the run config: JSON-able settings, what Solver.resume rebuilds (None marks an object it cannot)
        custom_schedule = not (isinstance(lr_schedule, str) or lr_schedule is None)
        self.callbacks = list(callbacks)
        self.ema = _one_ema(ema, self.callbacks)
        self.config = {
            "optimizer": optimizer if isinstance(optimizer, str) else None, "lr": float(lr),
            "weight_decay": float(weight_decay), "lr_schedule": None if custom_schedule else lr_schedule,
            "custom_schedule": custom_schedule, "loss": loss if isinstance(loss, str) else None,
            "batch_size": self.batch_size, "num_epochs": self.num_epochs, "seed": self.seed,
            "checkpoint_every": checkpoint_every, "train_acc_samples": train_acc_samples,
            "eval_batch_size": self.eval_batch_size, "augment": None if augment is None else repr(augment),
            "ema": None if self.ema is None else self.ema.decay,
        }
        if self.ema is not None:
            self.ema.attach(model)
        if self.verbose and not any(isinstance(c, cbs.ProgressBar) for c in self.callbacks):
            self.callbacks.append(cbs.ProgressBar())

        self.state = TrainState()
        self.sync_batchnorm = bool(sync_batchnorm)
        self._ddp: Any = None  # the DistributedDataParallel wrapper, made when training starts
        self.resumed_from: Path | None = None
        self.last_checkpoint: Path | None = None
        self._interrupt = False
        for c in self.callbacks:  # the model now; the params and the state when train() starts
            if hasattr(c, "set_solver"):
                c.set_solver(self)
            elif hasattr(c, "set_model"):
                c.set_model(model)
            else:  # a duck-typed callback of the older interface
                c.solver = self

    # --------------------------------------------------------------- data
    def _loaders_for_datasets(self, data: Any, val_data: Any, augment: Any) -> tuple[Any, Any]:
        """Datasets become DataLoaders (batches as they are stay): training shuffled by a Generator
        seeded with `seed` (resumable mid-epoch), validation in order, eval_batch_size at a time."""
        if not (_is_dataset(data) or _is_dataset(val_data)):
            return data, val_data
        from .data.batch_collate import TransformCollate
        from .utils.data import DataLoader as TorchStyleLoader
        from .utils.data import Generator

        workers = self._num_workers
        if _is_dataset(data):
            data = TorchStyleLoader(data, batch_size=self.batch_size, shuffle=True, num_workers=workers,
                                    persistent_workers=workers > 0, generator=Generator().manual_seed(self.seed),
                                    collate_fn=TransformCollate(augment) if augment is not None else None)
        if _is_dataset(val_data):
            val_data = TorchStyleLoader(val_data, batch_size=self.eval_batch_size, shuffle=False)
        return data, val_data

    def _setup_data(self) -> dict[str, Any]:
        """Fit the preprocessor on X_train (a copy, unless already fitted), preprocess every split
        once, build the seeded training loader and the fixed train-accuracy subsample. Runs once,
        when training or evaluation first needs the data. (Batches given as data: used as they are.)"""
        if self._prepared is None and self._raw is None:
            val = self._val_batches
            data = None if not isinstance(val, tuple) else {"X_val": self._cast(val[0], None), "y_val": val[1]}
            self._prepared = {"preprocess_": None, "fingerprint": None, "data": data, "loader": self._batches,
                              "train_subsample": None}
            record_contract(self.model, self._contract_source, None, self.classes)  # so cr.save(model) carries it
        elif self._prepared is None:
            raw, pre = self._raw, self.preprocess
            if pre is not None and not is_fitted(pre):
                pre = copy.deepcopy(pre).fit(raw["X_train"])
            record_contract(self.model, self._contract_source, pre, self.classes)  # so cr.save(model) carries it
            self._prepared = {"preprocess_": pre, "fingerprint": fingerprint(raw["X_train"], raw["y_train"])}
            data = {k: (self._cast(v, pre) if k.startswith("X_") else v) for k, v in raw.items()}
            loader = DataLoader(data["X_train"], data["y_train"], batch_size=self.batch_size, shuffle=True,
                                transform=self.augment, seed=self.seed, prefetch=self._prefetch)
            n = data["X_train"].shape[0]
            sub = np.random.default_rng(self.seed).choice(n, size=min(self._train_acc_samples, n), replace=False)
            self._prepared.update(data=data, loader=loader, train_subsample=np.sort(sub))
        return self._prepared

    def _val_accuracy(self, model: Module | None = None) -> float:
        """Validation accuracy of `model` (default: the trained one): the val arrays (split over
        the ranks of a data-parallel run) or every validation batch."""
        model = self.model if model is None else model
        data = self._setup_data()["data"]
        if data is not None:
            if model is self.model:
                return self._accuracy(data["X_val"], data["y_val"])
            return accuracy(predict_scores(model, data["X_val"], self.eval_batch_size), data["y_val"]) \
                if len(data["y_val"]) else float("nan")
        right = seen = 0
        for X, y in self._val_batches:
            X, y = self._cast(X, None), _array(y)
            right += int((predict_scores(model, X, self.eval_batch_size).argmax(axis=1) == y).sum())
            seen += len(y)
        return right / seen if seen else float("nan")

    @property
    def data(self) -> dict[str, np.ndarray]:
        """The prepared splits (X preprocessed, as the model eats them; y int64)."""
        return self._setup_data()["data"]

    @property
    def loader(self) -> DataLoader:
        """The training batches: seeded, shuffled, augmented; its state_dict is its position."""
        return self._setup_data()["loader"]

    @property
    def preprocess_(self) -> Any:
        """The fitted preprocessor (None without one)."""
        return self._setup_data()["preprocess_"]

    @property
    def data_fingerprint(self) -> dict[str, Any]:
        return self._setup_data()["fingerprint"]

    @property
    def _train_subsample(self) -> np.ndarray:
        return self._setup_data()["train_subsample"]

    @property
    def settings(self) -> dict[str, Any]:
        """The run config (`config`), by its older name."""
        return self.config

    def callback_params(self) -> dict[str, Any]:
        """What callbacks get in `set_params` (Keras' `params`): the run config and the sizes."""
        data = self.data
        if data is None:  # batches given: the first validation batch shows the input
            first = next(iter(self._val_batches), (np.zeros((0,)), None)) if not isinstance(
                self._val_batches, tuple) else self._val_batches
            example, val = self._cast(first[0], None)[:1], None
        else:
            example = data["X_train"][:1] if "X_train" in data else data["X_val"][:1]
            val = (data["X_val"], data["y_val"])
        try:
            per_epoch = self.batches_per_epoch
        except TypeError:  # a stream without a length
            per_epoch = None
        return {"config": self.config, "num_epochs": self.num_epochs, "batches_per_epoch": per_epoch,
                "batch_size": self.batch_size, "eval_batch_size": self.eval_batch_size, "classes": self.classes,
                "verbose": self.verbose, "val_data": val, "example_input": example}

    def _prepare(self, X: Any) -> np.ndarray:
        """Raw images -> what the model eats: preprocessed (or cast) float arrays."""
        return self._cast(X, self.preprocess_)

    def _cast(self, X: Any, pre: Any) -> np.ndarray:
        X = _array(X)
        if pre is not None:
            X = pre(X)
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
        then load the parameters with the best validation accuracy, unless an EMA is kept (the
        model then keeps its final weights, the end-of-training candidate beside the average:
        see choose_weights). Returns self."""
        st = self.state
        if not st.seeded:
            if st.step == 0 and st.epoch == 0:
                rng.manual_seed(self.seed)   # dropout and other shared draws start from `seed`
            st.seeded = True
        self._setup_parallel()
        params = self.callback_params()
        for c in self.callbacks:  # Keras' fit: the params and the state, before on_train_begin
            if hasattr(c, "set_params"):
                c.set_params(params)
            if hasattr(c, "set_state"):
                c.set_state(st)
        self._callback("on_train_begin", {"epoch": st.epoch, "step": st.step, "num_epochs": self.num_epochs})
        self._interrupt = False
        # Ctrl-C: finish the step, save, then stop; the model's train/eval flags come back as they were
        with kept_modes(self.model), deferred_sigint(self._request_stop, saves=self.checkpoint_dir is not None):
            while self.epoch < self.num_epochs and not self.stop_training:
                self._train_epoch()
        if self.best_params is not None and self.ema is None:  # (with an average: both stay final)
            self.model.load_state_dict(self.best_params)
        self._callback("on_train_end", {"epoch": self.epoch, "best_val_acc": self.best_val_acc,
                                        "best_epoch": self.best_epoch})
        return self

    def _setup_parallel(self) -> None:
        """With more than one rank: wrap the model in DistributedDataParallel (every rank then
        holds rank 0's weights); a collective, so every rank calls train() together."""
        if dist.get_world_size() > 1 and self._ddp is None:
            from .nn.parallel import DistributedDataParallel
            self._ddp = DistributedDataParallel(self.model, sync_batchnorm=self.sync_batchnorm)

    def _callback(self, hook: str, *args: Any) -> None:
        rank0 = dist.get_rank() == 0
        for c in self.callbacks:
            if rank0 or not getattr(c, "rank_zero_only", False):
                getattr(c, hook)(*args)

    def _train_epoch(self) -> None:
        epoch, lr = self.epoch + 1, self.lr  # epochs are counted from 1 in logs and callbacks
        done = _position(self.loader)  # > 0: resumed within the epoch
        if done == 0:
            self.state.epoch_start_step = self.step
        self._callback("on_epoch_begin", epoch, {"epoch": epoch, "lr": lr, "batch": done})
        self.model.train()
        self._epoch_counts = [0, 0]  # (right, seen) over the epoch's training batches
        for X_batch, y_batch in self.loader:
            X_batch, y_batch = _array(X_batch), _array(y_batch)
            if self._raw is None:  # batches given as they come: the parameters' dtype
                X_batch = self._cast(X_batch, None)
            loss, correct = self._train_step(X_batch, y_batch)
            self._epoch_counts[0] += correct
            self._epoch_counts[1] += int(y_batch.shape[0])
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
        The host batch goes to the model's device (a no-op on the CPU). With several ranks each
        trains on its share of the global batch and the numbers are summed over the ranks."""
        total = int(y_batch.shape[0])
        if self._ddp is not None:
            lo, hi = _share(total, dist.get_rank(), dist.get_world_size())
            X_batch, y_batch = X_batch[lo:hi], y_batch[lo:hi]
            rng.manual_seed(_rank_seed(self.seed, self.step, dist.get_rank()))  # dropout: its own masks
        n = int(y_batch.shape[0])
        self.optimizer.zero_grad()
        if n:
            y = backend.to_device(y_batch, self.device)
            scores = (self._ddp or self.model)(Tensor(X_batch).to(self.device))
            loss = self.loss_fn(scores, y)
            value, correct = float(loss.data), int((scores.data.argmax(axis=1) == y).sum())
        else:  # a share of nothing (a last batch smaller than the number of ranks)
            loss, value, correct = None, 0.0, 0
        if self._ddp is not None:
            value, correct, self._interrupt = self._sum_over_ranks(value, n, total, correct)
        if not np.isfinite(value):
            self._nonfinite(value)
        if loss is not None:
            if self._ddp is not None and n * dist.get_world_size() != total:
                loss = loss * (n * dist.get_world_size() / total)  # unequal shares: the global mean's gradient
            loss.backward()
        else:
            self._ddp.reduce_gradients()
        self.optimizer.step()
        self._after_optimizer_step()
        return value, correct

    def _sum_over_ranks(self, value: float, n: int, total: int, correct: int) -> tuple[float, int, bool]:
        """The global batch's mean loss, its correct count, and whether any rank got Ctrl-C."""
        loss_sum, correct_sum, stop = dist.all_reduce_scalars([value * n, correct, float(self._interrupt)])
        return loss_sum / total, int(correct_sum), bool(stop)

    def _after_optimizer_step(self) -> None:
        """Per-step hook, run right after every optimizer.step(): the weight average follows."""
        if self.ema is not None:
            self.ema.update(self.model)

    def _end_epoch(self, epoch: int, lr: float) -> None:
        if self._raw is not None:
            sub = self._train_subsample
            train_acc = self._accuracy(self.data["X_train"][sub], self.data["y_train"][sub])
        else:  # batches: the running accuracy of this epoch's (train mode) batches
            right, seen = getattr(self, "_epoch_counts", (0, 0))
            train_acc = right / seen if seen else float("nan")
        val_acc = self._val_accuracy()
        losses = self.loss_history[self.state.epoch_start_step:self.step]
        epoch_loss = float(np.mean(losses)) if losses else float("nan")
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.lr_history.append(lr)
        if val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch = val_acc, epoch
            self.best_params = self.model.state_dict()
        if isinstance(self.scheduler, optim.lr_scheduler.ReduceLROnPlateau):
            # a "max" schedule watches the accuracy, a "min" one the error rate
            self.scheduler.step(val_acc if self.scheduler.mode == "max" else 1.0 - val_acc)
        elif self.scheduler is not None:
            self.scheduler.step()
        self.epoch, self.state.epoch_start_step = epoch, self.step
        logs = {"epoch": epoch, "loss": epoch_loss, "train_acc": train_acc, "val_acc": val_acc, "lr": lr,
                "step": self.step}
        if self.ema is not None:  # scored before the callbacks, so loggers see it
            logs["ema_val_acc"] = self._val_accuracy(self.ema.model)
            self.ema.val_acc_history.append(logs["ema_val_acc"])
        self._callback("on_epoch_end", epoch, logs)
        self._autosave()
        if self._interrupt:
            self._on_interrupt()

    # --------------------------------------------------------- evaluation
    def _scores(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Class scores (N, K) of already-prepared X (see chainrule.metrics.predict_scores)."""
        return predict_scores(self.model, X, int(batch_size or self.eval_batch_size))

    def _accuracy(self, X: np.ndarray, y: np.ndarray, batch_size: int | None = None, split: bool = True) -> float:
        """Accuracy of prepared X; in a data-parallel run (split) each rank scores its share and the
        counts are summed: a collective, every rank calls it."""
        if not X.shape[0]:
            return float("nan")
        if self._ddp is None or not split:
            return accuracy(self._scores(X, batch_size), y)
        lo, hi = _share(X.shape[0], dist.get_rank(), dist.get_world_size())
        right = int((self._scores(X[lo:hi], batch_size).argmax(axis=1) == y[lo:hi]).sum()) if hi > lo else 0
        return dist.all_reduce_scalars([right])[0] / X.shape[0]

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, batch_size: int | None = None,
                       num_samples: int | None = None) -> float:
        """Fraction of X (raw, like data's arrays) classified as y; eval mode, no_grad, batched.
        num_samples: evaluate a seeded random subsample of that size (CS231n)."""
        X, y = _array(X), np.asarray(backend.to_host(y))
        if num_samples is not None and X.shape[0] > num_samples:
            idx = np.random.default_rng(self.seed).choice(X.shape[0], num_samples, replace=False)
            X, y = X[idx], y[idx]
        return self._accuracy(self._prepare(X), y, batch_size, split=False)  # whole, on any rank alone

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
        return self.state.history

    def choose_weights(self) -> tuple[str, Module]:
        """Which weights to keep after training with an EMA: ("ema", the averaged copy) when the
        average scored at least as well on validation as the raw weights after the last epoch,
        else ("raw", the model, which then holds those final weights: with an EMA, train() does
        not swap in the best epoch's). Both candidates are end-of-training weights, compared on
        the same epoch: the best epoch's score is a maximum over noisy epochs, biased up, and its
        mid-training snapshot is the fragile choice. An average that has not yet forgotten the
        initial weights (one short epoch) scores far below the raw ones: kept blindly it loses.
        Without an EMA: ("raw", the model with the best epoch's weights)."""
        if self.ema is None or not self.ema.val_acc_history or not self.val_acc_history:
            return "raw", self.model
        if self.ema.val_acc_history[-1] >= self.val_acc_history[-1]:
            return "ema", self.ema.model
        return "raw", self.model

    # -------------------------------------------------- failure handling
    def _nonfinite(self, value: float) -> None:
        ck = self.last_checkpoint if self.last_checkpoint is not None and self.last_checkpoint.exists() else None
        raise NonFiniteLossError.at(value, self.step + 1, self.epoch + 1, self.lr, ck, self.checkpoint_dir)

    # the progress lives in self.state (TrainState); these names read and write it
    epoch = _state_field("epoch")
    step = _state_field("step")
    loss_history = _state_field("loss_history")
    train_acc_history = _state_field("train_acc_history")
    val_acc_history = _state_field("val_acc_history")
    lr_history = _state_field("lr_history")
    best_val_acc = _state_field("best_val_acc")
    best_epoch = _state_field("best_epoch")
    best_params = _state_field("best_params")
    stop_training = _state_field("stop_training")

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
        """Write the complete training state to a safetensors file (atomically: a temporary file
        renamed into place). In a data-parallel run only rank 0 writes (the state is global)."""
        if dist.get_rank() == 0:
            self.last_checkpoint = save_state(Path(path), self.state_dict(), kind="checkpoint")
        else:
            self.last_checkpoint = Path(path)
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
