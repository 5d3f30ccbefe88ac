"""Watching a network learn: per-layer activation/gradient statistics and update/weight ratios.

The lecture's babysitting advice, as numbers recorded while training:

- activations: each layer's mean and std, the fraction of *dead* ReLUs (units whose
  output is 0 for every example of the batch: they get no gradient and never recover)
  and the fraction of *saturated* tanh/sigmoid outputs (|tanh| > 0.99, sigmoid < 0.01
  or > 0.99: their local gradient is almost 0);
- gradients: the mean and std of dL/d(output) of each layer (vanishing or exploding);
- update/weight ratio: ||w_after - w_before|| / ||w_before|| per parameter. The rule of
  thumb is about 1e-3: far above (> 1e-2) the learning rate is too high, far below
  (< 1e-5) too low.

    mon = [ActivationStats(every=50), UpdateRatio(every=10)]
    cr.Solver(model, data, callbacks=mon).train()
    mon[0].history[-1]  # {"step": ..., "layer": "2", "kind": "ReLU", "mean": ..., "dead_frac": ...}
    mon[1].history[-1]  # {"step": ..., "param": "0.weight", "ratio": 1.2e-3, ...}

Both record into `.history` (a list of dicts, one per layer/parameter per recorded step)
and warn (`warnings.warn`, once per layer/parameter) when something looks wrong.
`layer_activations(model, X)` gives one forward pass's outputs per leaf layer without a Solver.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, Iterable

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..callbacks import Callback
from ..nn.module import Module, kept_modes, module_device
from ..tensor import Tensor

__all__ = ["ActivationStats", "UpdateRatio", "DiagnosticWarning", "activation_summary", "dead_fraction",
           "saturated_fraction", "layer_activations", "leaf_modules"]

SATURATION = 0.99  # |tanh| above this (sigmoid within 0.01 of 0 or 1) counts as saturated


class DiagnosticWarning(UserWarning):
    """Something in the training statistics looks wrong (dead ReLUs, a bad update ratio)."""


# ------------------------------------------------------------ statistics
def dead_fraction(out: np.ndarray) -> float:
    """Fraction of units that are 0 for every example of the batch.

    out: (N, ...) a ReLU's output; a unit is one position of the non-batch axes
    (a feature of (N, D), a channel at one pixel of (N, C, H, W)).
    """
    out = np.asarray(out)
    if out.ndim < 2 or out.shape[0] == 0:
        return float("nan")
    alive = np.any(out.reshape(out.shape[0], -1) != 0, axis=0)
    return float(1.0 - alive.mean())


def saturated_fraction(out: np.ndarray, kind: str) -> float:
    """Fraction of tanh outputs with |x| > 0.99, or sigmoid outputs < 0.01 or > 0.99."""
    out = np.asarray(out)
    if kind == "Tanh":
        return float(np.mean(np.abs(out) > SATURATION))
    if kind == "Sigmoid":
        return float(np.mean((out < 1 - SATURATION) | (out > SATURATION)))
    return float("nan")


def activation_summary(out: np.ndarray, kind: str) -> dict[str, float]:
    """mean, std, dead_frac (ReLU only, else nan) and saturated_frac (Tanh/Sigmoid only) of one output."""
    out = np.asarray(out, dtype=np.float64)
    return {"mean": float(out.mean()) if out.size else float("nan"),
            "std": float(out.std()) if out.size else float("nan"),
            "dead_frac": dead_fraction(out) if kind == "ReLU" else float("nan"),
            "saturated_frac": saturated_fraction(out, kind)}


def leaf_modules(model: Module) -> list[tuple[str, Module]]:
    """(name, module) of every module without children, in registration order
    (a bare layer passed as `model` is its own leaf, named by its class)."""
    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    return [(n or type(m).__name__, m) for n, m in leaves]


def layer_activations(model: Module, X: Any, train: bool = False) -> "OrderedDict[str, np.ndarray]":
    """Run one forward pass of `model` on X (no graph) and return each leaf layer's output.

    train: run in training mode (batch statistics, dropout); the model's modes are restored.
    Layers called more than once keep their last output.
    """
    outs: OrderedDict[str, np.ndarray] = OrderedDict()
    handles = []
    for name, m in leaf_modules(model):
        def hook(mod, inputs, out, name=name):
            if isinstance(out, Tensor):
                outs[name] = np.array(backend.to_host(out.data))  # host copies on either device
        handles.append(m.register_forward_hook(hook))
    try:
        with kept_modes(model), no_grad():
            model.train(train)
            model((X if isinstance(X, Tensor) else Tensor(np.asarray(X))).to(module_device(model)))
    finally:
        for h in handles:
            h.remove()
    return outs


def _warn_once(owner: Any, key: str, message: str) -> None:
    if key in owner._warned:
        return
    owner._warned.add(key)
    owner.warnings.append(message)
    if owner.warn:
        warnings.warn(message, DiagnosticWarning, stacklevel=3)


# ----------------------------------------------------- ActivationStats
class ActivationStats(Callback):
    """Record every leaf layer's output statistics (and its gradient's) every `every` iterations.

    Forward hooks on the leaf modules look at the training batch of each recorded iteration
    (not at evaluation passes): the output's mean/std, dead-ReLU fraction and tanh/sigmoid
    saturation; the output is kept in the graph (`retain_grad`) so that after backward
    the gradient dL/d(output) is summarised too.

    every: record iterations 1, 1 + every, 1 + 2 every, ... (the Solver's iteration numbers,
        counted from 1). A module called twice in one forward pass (a shared ReLU) keeps its last output.
    dead_threshold: warn when a ReLU layer has more than this fraction of dead units.
    keep_values: keep up to this many output values per layer of the last recorded batch
        in `last_values` (for histograms; 0 keeps none).
    warn: issue `DiagnosticWarning`s (they are always collected in `.warnings`).

    history: list of {"step", "layer", "kind", "shape", "mean", "std", "dead_frac",
        "saturated_frac", "grad_mean", "grad_std"} (nan where not applicable).
    """

    def __init__(self, every: int = 100, dead_threshold: float = 0.5, keep_values: int = 20000,
                 warn: bool = True):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"ActivationStats: every must be a positive int, got {every!r}")
        self.every, self.dead_threshold, self.warn = every, float(dead_threshold), warn
        self.keep_values = int(keep_values)
        self.history: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.last_values: OrderedDict[str, np.ndarray] = OrderedDict()
        self._warned: set[str] = set()
        self._handles: list = []
        self._armed = False
        self._outputs: OrderedDict[str, tuple[str, Tensor]] = OrderedDict()

    # ---- hooks: attach/detach work without a Solver too (call record(step) after backward)
    def attach(self, model: Module) -> None:
        self.detach()
        for name, m in leaf_modules(model):
            self._handles.append(m.register_forward_hook(self._hook(name)))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def arm(self) -> None:
        """Capture the outputs of the next training forward pass."""
        self._armed = True
        self._outputs.clear()

    def _hook(self, name: str):
        def hook(module: Module, inputs: tuple, out: Any) -> None:
            # Evaluation passes (model.eval()) between training steps are not the batch we watch.
            if not self._armed or not module.training or not isinstance(out, Tensor):
                return
            if out.requires_grad:
                out.retain_grad()
            self._outputs[name] = (type(module).__name__, out)
        return hook

    def record(self, step: int) -> list[dict[str, Any]]:
        """Summarise the captured outputs (and their gradients, if backward ran); disarm."""
        rows = []
        keep = OrderedDict()
        for name, (kind, out) in self._outputs.items():
            row = {"step": int(step), "layer": name, "kind": kind, "shape": list(out.shape)}
            row.update(activation_summary(backend.to_host(out.data), kind))
            g = None if out.grad is None else backend.to_host(out.grad.data)
            row["grad_mean"] = float(np.mean(g)) if g is not None else float("nan")
            row["grad_std"] = float(np.std(g)) if g is not None else float("nan")
            rows.append(row)
            if self.keep_values:
                flat = np.asarray(backend.to_host(out.data)).reshape(-1)
                keep[name] = flat[:: max(1, flat.size // self.keep_values)][: self.keep_values].copy()
            if kind == "ReLU" and row["dead_frac"] > self.dead_threshold:
                _warn_once(self, f"dead:{name}",
                           f"ActivationStats: layer {name} (ReLU) has {row['dead_frac']:.0%} dead units at "
                           f"iteration {step} (more than {self.dead_threshold:.0%}): the learning rate may be "
                           "too high or the initialisation/bias pushes pre-activations below 0")
            if kind in ("Tanh", "Sigmoid") and row["saturated_frac"] > 0.5:
                _warn_once(self, f"sat:{name}",
                           f"ActivationStats: layer {name} ({kind}) has {row['saturated_frac']:.0%} saturated "
                           f"outputs at iteration {step}: gradients through it are almost 0 (weights too large?)")
        if keep:
            self.last_values = keep
        self.history.extend(rows)
        self._armed = False
        self._outputs.clear()
        return rows

    # ---- Solver callback
    def _due(self, step: int) -> bool:
        return (step - 1) % self.every == 0

    def on_train_begin(self, logs):
        self.attach(self.solver.model)
        if self._due(self.solver.step + 1):
            self.arm()

    def on_batch_end(self, step, logs):
        if self._armed:
            self.record(step)
        if self._due(step + 1):
            self.arm()

    def on_train_end(self, logs):
        self._armed = False
        self._outputs.clear()
        self.detach()


# --------------------------------------------------------- UpdateRatio
class UpdateRatio(Callback):
    """The update/weight ratio ||w_after - w_before|| / ||w_before|| of every parameter, measured
    on iterations 1, 1 + every, ... from the values just before and just after the optimiser step
    (so it includes momentum, Adam's scaling and weight decay: the update actually applied).

    low, high: warn (once per parameter) when the median of a weight matrix's last `window`
        measured ratios leaves [low, high] (the rule of thumb: about 1e-3). The median of a few
        measurements, because single steps are noisy and Adam's first steps are lr-sized in every
        coordinate. Only parameters with 2 or more dimensions (Linear and Conv weights) are
        warned about; biases and BatchNorm scales are recorded too.
    history: list of {"step", "param", "ratio", "update_norm", "weight_norm", "grad_norm", "lr"}.
    """

    def __init__(self, every: int = 10, low: float = 1e-5, high: float = 1e-2, window: int = 5, warn: bool = True):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"UpdateRatio: every must be a positive int, got {every!r}")
        if not 0 <= low < high:
            raise ValueError(f"UpdateRatio: need 0 <= low < high, got low={low}, high={high}")
        self.every, self.low, self.high, self.warn = every, float(low), float(high), warn
        self.window = max(1, int(window))
        self._recent: dict[str, list[float]] = {}
        self.history: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._before: dict[str, np.ndarray] | None = None

    def snapshot(self, named_params: Iterable[tuple[str, Tensor]]) -> None:
        """Remember the parameters' values before an optimiser step."""
        self._before = {n: np.array(backend.to_host(p.data), dtype=np.float64) for n, p in named_params}

    def measure(self, named_params: Iterable[tuple[str, Tensor]], step: int, lr: float = float("nan")
                ) -> list[dict[str, Any]]:
        """Compare the parameters now with the last snapshot; record and return one row per parameter."""
        if self._before is None:
            raise RuntimeError("UpdateRatio.measure: call snapshot() before the optimiser step")
        rows = []
        for name, p in named_params:
            if name not in self._before:
                continue
            w0 = self._before[name]
            w = np.asarray(backend.to_host(p.data), np.float64)
            wn, un = float(np.linalg.norm(w0)), float(np.linalg.norm(w - w0))
            ratio = un / wn if wn > 0 else float("nan")
            gn = float(np.linalg.norm(backend.to_host(p.grad.data))) if p.grad is not None else float("nan")
            rows.append({"step": int(step), "param": name, "ratio": ratio, "update_norm": un,
                         "weight_norm": wn, "grad_norm": gn, "lr": float(lr)})
            if p.data.ndim >= 2 and np.isfinite(ratio):
                recent = self._recent.setdefault(name, [])
                recent.append(ratio)
                del recent[:-self.window]
                med = float(np.median(recent))
                if len(recent) == self.window and not self.low <= med <= self.high:
                    which = "high: lower the learning rate" if med > self.high else "low: raise the learning rate"
                    _warn_once(self, name, f"UpdateRatio: {name} update/weight ratio {med:.2e} (median of the last "
                                           f"{self.window} measurements, iteration {step}) is far from ~1e-3 "
                                           f"(outside [{self.low:g}, {self.high:g}]; too {which})")
        self.history.extend(rows)
        self._before = None
        return rows

    def ratios(self, param: str) -> tuple[list[int], list[float]]:
        """(steps, ratios) of one parameter, for plotting."""
        rows = [r for r in self.history if r["param"] == param]
        return [r["step"] for r in rows], [r["ratio"] for r in rows]

    def _due(self, step: int) -> bool:
        return (step - 1) % self.every == 0

    def on_train_begin(self, logs):
        if self._due(self.solver.step + 1):
            self.snapshot(self.solver.model.named_parameters())

    def on_batch_end(self, step, logs):
        if self._before is not None:
            self.measure(self.solver.model.named_parameters(), step, logs.get("lr", float("nan")))
        if self._due(step + 1):
            self.snapshot(self.solver.model.named_parameters())
