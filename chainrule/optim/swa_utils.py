"""Averages of the weights along training (torch.optim.swa_utils): EMA and SWA.

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    for x, y in loader:
        ...; opt.step()
        ema.update_parameters(model)       # after every step
    ema(x_test)                            # evaluate the averaged weights

The notes' "model ensembles" tip: a running (exponentially decaying) average of
the weights often evaluates better than the final weights, an ensemble for free.
`get_ema_*`: ema = decay * ema + (1 - decay) * w; `get_swa_*` (the default): the
plain mean of every weight seen (stochastic weight averaging; recompute batch-norm
statistics afterwards with `update_bn`).

Same numbers as torch step by step, buffers included: with use_buffers=False the
averaged copy's buffers (batch-norm running statistics) are copied from the model
at every update; with use_buffers=True they are averaged like the parameters
(integer buffers such as num_batches_tracked too, truncated back to integers, as torch).

`EMA(decay)` is the same average as `cr.Solver(ema=...)` keeps it: updated after every step,
scored on the validation split after every epoch (logs["ema_val_acc"]), and kept in
the Solver's checkpoints, so a resumed run continues the same average.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..nn.module import Module, module_device
from ..tensor import Tensor
from .optimizer import lerp_

__all__ = ["AveragedModel", "get_ema_multi_avg_fn", "get_ema_avg_fn", "get_swa_multi_avg_fn",
           "get_swa_avg_fn", "update_bn", "EMA"]

MultiAvgFn = Callable[[list, list, Any], None]
AvgFn = Callable[[np.ndarray, np.ndarray, Any], np.ndarray]


def _is_float(a: np.ndarray) -> bool:
    return a.dtype.kind in "fc"


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """In place on lists of arrays: ema = lerp(ema, current, 1 - decay)."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    def ema_update(ema_list: list, current_list: list, _n: Any) -> None:
        if _is_float(ema_list[0]):
            for e, c in zip(ema_list, current_list):
                lerp_(e, c, 1 - decay)
        else:  # integer buffers: computed in float32 (torch's default dtype), truncated back
            d, f = np.float32(decay), np.float32(1 - decay)
            for e, c in zip(ema_list, current_list):
                e[...] = (e.astype(np.float32) * d + c.astype(np.float32) * f).astype(e.dtype)
    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """In place on lists of arrays: avg += (current - avg) / (n + 1), the running mean."""
    def swa_update(avg_list: list, current_list: list, n: Any) -> None:
        n = int(n)
        if _is_float(avg_list[0]):
            for a, c in zip(avg_list, current_list):
                lerp_(a, c, 1 / (n + 1))
        else:  # (torch's addcdiv refuses integers; here: the float mean, truncated back)
            for a, c in zip(avg_list, current_list):
                a[...] = (a + (c - a) / (n + 1)).astype(a.dtype)
    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """One array at a time: returns decay * ema + (1 - decay) * current."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    def ema_update(ema: np.ndarray, current: np.ndarray, _n: Any) -> np.ndarray:
        return decay * ema + (1 - decay) * current
    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """One array at a time: returns avg + (current - avg) / (n + 1)."""
    def swa_update(avg: np.ndarray, current: np.ndarray, n: Any) -> np.ndarray:
        return avg + (current - avg) / (int(n) + 1)
    return swa_update


def _group_by_dtype(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[tuple[list, list]]:
    groups: dict[np.dtype, tuple[list, list]] = {}
    for a, c in pairs:
        g = groups.setdefault(a.dtype, ([], []))
        g[0].append(a)
        g[1].append(c)
    return list(groups.values())


class AveragedModel(Module):
    """A copy of `model` whose weights are an average of `model`'s along training.

    avg_fn(avg, current, n) -> new average, per array; multi_avg_fn(avg_list, current_list, n)
    updates lists in place (the arrays of one dtype together). Neither: the SWA mean.
    use_buffers: average the buffers too (else copy them from the model at each update).
    state_dict: "module.<name>" for the copy's weights and "n_averaged", as torch's.
    """

    def __init__(self, model: Module, avg_fn: AvgFn | None = None, multi_avg_fn: MultiAvgFn | None = None,
                 use_buffers: bool = False):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be a cr.nn.Module, got {type(model).__name__}")
        self.module = copy.deepcopy(model)
        self.register_buffer("n_averaged", np.array(0, dtype=np.int64))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, bool(use_buffers)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def _arrays(self, m: Module) -> list[np.ndarray]:
        params = [p.data for p in m.parameters()]
        return params + [b for b in m.buffers() if b is not None] if self.use_buffers else params

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        """Fold `model`'s current weights into the average (the first call copies them)."""
        mine, theirs = self._arrays(self.module), self._arrays(model)
        if len(mine) != len(theirs):
            raise ValueError(f"AveragedModel.update_parameters: the model has {len(theirs)} arrays to "
                             f"average, the averaged copy {len(mine)}: not the same architecture")
        for a, c in zip(mine, theirs):
            if a.shape != c.shape:
                raise ValueError(f"AveragedModel.update_parameters: shapes differ, {a.shape} vs {c.shape}")
        # the average may live on another device than the model (kept on the host to spare a GPU)
        theirs = [backend.to_device(c, backend.device_of(a)) for a, c in zip(mine, theirs)]
        n = int(self.n_averaged)
        if n == 0:
            for a, c in zip(mine, theirs):
                a[...] = c
        elif self.multi_avg_fn is not None or self.avg_fn is None:
            fn = self.multi_avg_fn or get_swa_multi_avg_fn()
            for group in _group_by_dtype(list(zip(mine, theirs))):
                fn(group[0], group[1], n)
        else:
            for a, c in zip(mine, theirs):
                a[...] = self.avg_fn(a, c, n)
        if not self.use_buffers:  # keep the buffers in sync with the source model
            for b, c in zip(self.module.buffers(), model.buffers()):
                b[...] = backend.to_device(c, backend.device_of(b))
        self.n_averaged[...] = n + 1


@no_grad()
def update_bn(loader: Iterable, model: Module) -> None:
    """Recompute the batch-norm running statistics of `model` with one pass over `loader`
    (batches X or (X, y)): after SWA the averaged weights need their own statistics.
    Uses cumulative averages (momentum None) as torch's update_bn, then restores the momenta."""
    from ..nn.normalization import BatchNorm1d, BatchNorm2d

    bns = [m for m in model.modules() if isinstance(m, (BatchNorm1d, BatchNorm2d))]
    if not bns:
        return
    momenta = {}
    for m in bns:
        m.running_mean[...] = 0
        m.running_var[...] = 1
        if getattr(m, "num_batches_tracked", None) is not None:
            m.num_batches_tracked[...] = 0
        momenta[m] = m.momentum
        m.momentum = None
    was_training = model.training
    model.train()
    dev = module_device(model)
    for batch in loader:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = x if isinstance(x, Tensor) else Tensor(x if backend.is_device_array(x) else np.asarray(x))
        model(x.to(dev))  # host batches go to the model's device
    for m in bns:
        m.momentum = momenta[m]
    model.train(was_training)


class EMA:
    """The exponential moving average of a model's weights during training, as `cr.Solver` keeps it.

        solver = cr.Solver(model, data, ema=0.999)   # or ema=EMA(0.999, warmup=True)
        solver.train()
        solver.ema.model            # the averaged copy (a Module), e.g. for cr.save
        solver.ema.val_acc_history  # its validation accuracy after each epoch
        solver.choose_weights()     # ("ema" | "raw", model): the better on validation

    decay: ema = decay * ema + (1 - decay) * w after every step; it remembers about
        1 / (1 - decay) steps (0.999: ~1000), so short runs want a smaller decay.
    warmup: use min(decay, (1 + n) / (10 + n)) at the n-th update, as timm's ModelEmaV3's
        warmup does, so that the first (random) weights fade in a short run.
    use_buffers: average batch-norm statistics too (default, torch's advice for EMA);
        False copies the model's.
    The Solver attaches it to the model, updates it after every optimizer step, scores it on
    the validation split after every epoch (logs["ema_val_acc"]) and saves it in checkpoints.
    """

    def __init__(self, decay: float = 0.999, use_buffers: bool = True, warmup: bool = False):
        get_ema_multi_avg_fn(decay)  # validates decay
        self.decay, self.use_buffers, self.warmup = float(decay), bool(use_buffers), bool(warmup)
        self.averaged: AveragedModel | None = None
        self.val_acc_history: list[float] = []
        self._pending: dict | None = None

    def attach(self, model: Module) -> None:
        """Start averaging `model` (a copy of it; the first update copies its weights)."""
        self.averaged = AveragedModel(model, multi_avg_fn=self._avg_fn, use_buffers=self.use_buffers)
        if self._pending is not None:  # load_state_dict came first
            self.load_state_dict(self._pending)

    def _avg_fn(self, avg: list, current: list, n: Any) -> None:
        """The EMA step for the n-th update (n >= 1: the first update copies)."""
        decay = min(self.decay, (1 + int(n)) / (10 + int(n))) if self.warmup else self.decay
        get_ema_multi_avg_fn(decay)(avg, current, n)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        n = 0 if self.averaged is None else int(self.averaged.n_averaged)
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @property
    def model(self) -> Module:
        """The averaged weights as a plain copy of the model (what to save or evaluate)."""
        if self.averaged is None:
            raise RuntimeError("EMA: not attached to a model yet (give it to a cr.Solver, or call attach)")
        return self.averaged.module

    def update(self, model: Module) -> None:
        """Fold `model`'s current weights into the average (after an optimizer step)."""
        if self.averaged is None:
            raise RuntimeError("EMA: not attached to a model yet (give it to a cr.Solver, or call attach)")
        self.averaged.update_parameters(model)

    def accuracy(self, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
        """Accuracy of the averaged weights on prepared X (cr.metrics: eval mode, no_grad, batched)."""
        from ..metrics import accuracy, predict_scores

        if len(X) == 0:
            return float("nan")
        return accuracy(predict_scores(self.model, X, int(batch_size)), y)

    def state_dict(self) -> dict[str, Any]:
        return {"averaged": None if self.averaged is None else dict(self.averaged.state_dict()),
                "val_acc_history": list(self.val_acc_history), "decay": self.decay, "warmup": self.warmup}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.averaged is None:
            self._pending = state
            return
        if state.get("averaged") is not None:
            self.averaged.load_state_dict(state["averaged"])  # copied onto the model's device
        if state.get("decay") is not None:  # a resumed run keeps the average it was computing
            self.decay = float(state["decay"])
        self.warmup = bool(state.get("warmup", False))
        self.val_acc_history = [float(v) for v in state.get("val_acc_history", [])]
        self._pending = None
