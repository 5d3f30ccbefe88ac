"""The lecture's weight-initialisation experiment: activation statistics through a deep net.

A 10-layer fully connected net (500 units per layer, no biases) is fed 1000 examples of
unit Gaussian data, 500 features each, and every layer's output is looked at:

    W = 0.01 * randn(fan_in, fan_out)              "small":  tanh activations collapse to 0
    W = randn(fan_in, fan_out) / sqrt(fan_in)      "xavier": tanh keeps a reasonable spread
    W = randn(fan_in, fan_out) / sqrt(fan_in / 2)  "he":     ReLU keeps its spread
    W = randn(fan_in, fan_out)                     "large":  tanh saturates at -1 and 1

(ReLU with "xavier" halves the variance at every layer: the std shrinks by 1/sqrt(2).)

The net is a plain `cr.nn.Sequential` of `Linear(500, 500, bias=False)` and the
nonlinearity, initialised with `cr.nn.init`, and the outputs are read by forward hooks
(`layer_activations`), as one would for any model.

    res = init_experiment("tanh", "xavier")
    res.stds        # one std per layer
    print(res)      # the lecture's table of per-layer means and stds
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import nn, rng
from ..tensor import Tensor
from .stats import layer_activations, saturated_fraction

__all__ = ["INITS", "ACTIVATIONS", "InitResult", "build_deep_net", "init_experiment"]

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def _small(w):
    return nn.init.normal_(w, std=0.01)


def _xavier(w):
    return nn.init.lecun_normal_(w)  # the lecture's "Xavier": std 1/sqrt(fan_in)


def _he(w):
    return nn.init.kaiming_normal_(w, nonlinearity="relu")  # std sqrt(2/fan_in)


def _large(w):
    return nn.init.normal_(w, std=1.0)


INITS = {"small": _small, "xavier": _xavier, "he": _he, "large": _large}


@dataclass
class InitResult:
    """Per-layer statistics of one run: means, stds, saturated (tanh/sigmoid) or dead (ReLU) fractions,
    and `values`: every layer's outputs (layers x (batch, width)) for the histograms."""

    activation: str
    init: str
    means: list[float]
    stds: list[float]
    saturated: list[float]
    zero: list[float]
    values: list[np.ndarray]
    input_std: float

    def __str__(self) -> str:
        lines = [f"{self.activation} activations, {self.init} init: input std {self.input_std:.3f}",
                 f"{'layer':>5}  {'mean':>10}  {'std':>9}  {'saturated':>9}  {'zero':>6}"]
        for i, (m, s, sat, z) in enumerate(zip(self.means, self.stds, self.saturated, self.zero), 1):
            lines.append(f"{i:>5}  {m:>+10.2e}  {s:>9.3e}  {_pct(sat):>9}  {_pct(z):>6}")
        return "\n".join(lines)


def _pct(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.0%}"


def build_deep_net(activation: str = "tanh", init: str = "xavier", layers: int = 10, width: int = 500,
                   in_features: int | None = None) -> nn.Sequential:
    """Linear(bias=False) + nonlinearity, `layers` times, initialised by name (see INITS)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"init_experiment: unknown activation {activation!r}; "
                         f"expected one of {', '.join(ACTIVATIONS)}")
    if init not in INITS:
        raise ValueError(f"init_experiment: unknown init {init!r}; expected one of {', '.join(INITS)}")
    if layers < 1 or width < 1:
        raise ValueError(f"init_experiment: layers and width must be positive, got layers={layers}, width={width}")
    mods: list[nn.Module] = []
    fan_in = in_features or width
    for _ in range(layers):
        lin = nn.Linear(fan_in, width, bias=False)
        INITS[init](lin.weight)
        mods += [lin, ACTIVATIONS[activation]()]
        fan_in = width
    return nn.Sequential(*mods)


def init_experiment(activation: str = "tanh", init: str = "xavier", layers: int = 10, width: int = 500,
                    batch: int = 1000, seed: int = 0, dtype: str = "float64") -> InitResult:
    """Run the experiment; returns InitResult (per-layer statistics of the nonlinearity outputs).

    Everything random (data and weights) comes from `seed` (chainrule's generator is reseeded
    and restored afterwards). dtype float64 keeps the tiny stds of the "small" init exact.
    """
    state = rng.get_rng_state()
    try:
        rng.manual_seed(seed)
        X = rng.get_generator().standard_normal((batch, width)).astype(dtype)
        net = build_deep_net(activation, init, layers, width).to(dtype)
        outs = layer_activations(net, Tensor(X))
    finally:
        rng.set_rng_state(state)
    act_name = type(ACTIVATIONS[activation]()).__name__
    values = [v for name, v in outs.items() if type(net[int(name)]).__name__ == act_name]
    return InitResult(
        activation, init,
        means=[float(v.mean()) for v in values], stds=[float(v.std()) for v in values],
        saturated=[saturated_fraction(v, act_name) if act_name != "ReLU" else float("nan") for v in values],
        zero=[float(np.mean(v == 0)) if act_name == "ReLU" else float("nan") for v in values],
        values=values, input_std=float(X.std()),
    )
