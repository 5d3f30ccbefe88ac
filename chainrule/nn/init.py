"""Weight initialisation (PyTorch's `torch.nn.init`, same fans and gains).

Every function fills `t.data` in place with draws from chainrule's shared
generator (so `cr.manual_seed` makes them reproducible) and returns `t`.

The lecture's "small random numbers" is `normal_(w, std=0.01)`; its "Xavier"
(std = 1/sqrt(fan_in)) is `lecun_normal_`; Glorot & Bengio's Xavier
(std = gain * sqrt(2 / (fan_in + fan_out))) is `xavier_normal_`; He et al.
(std = sqrt(2 / fan_in) for ReLU) is `kaiming_normal_(w, nonlinearity="relu")`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend, rng
from ..tensor import Tensor


def _array(t: Any) -> np.ndarray:
    if isinstance(t, Tensor):
        return t.data
    if isinstance(t, np.ndarray) or backend.is_device_array(t):
        return t
    raise TypeError(f"init expects a Tensor (or ndarray), got {type(t).__name__}")


def _fill(t: Any, values: np.ndarray) -> Any:
    a = _array(t)
    # in place, keeping the dtype (optimisers hold this very array); drawn on the host, so a
    # seed gives the same weights on either device, then copied to the tensor's device
    a[...] = backend.to_device(values, backend.device_of(a)) if backend.is_device_array(a) else values
    return t


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(t: Any) -> tuple[int, int]:
    """fan_in = in_features * receptive field, fan_out = out_features * receptive field.
    Linear weight (out, in); conv weight (out, in, kh, kw)."""
    shape = _array(t).shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape {shape})")
    receptive = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(t: Any, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


def zeros_(t: Any) -> Any:
    return _fill(t, 0)


def ones_(t: Any) -> Any:
    return _fill(t, 1)


def constant_(t: Any, val: float) -> Any:
    return _fill(t, val)


def normal_(t: Any, mean: float = 0.0, std: float = 1.0) -> Any:
    """N(mean, std^2) draws."""
    return _fill(t, rng.get_generator().normal(mean, std, _array(t).shape))


def uniform_(t: Any, a: float = 0.0, b: float = 1.0) -> Any:
    """U(a, b) draws."""
    return _fill(t, rng.get_generator().uniform(a, b, _array(t).shape))


def xavier_uniform_(t: Any, gain: float = 1.0) -> Any:
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a)


def xavier_normal_(t: Any, gain: float = 1.0) -> Any:
    """Glorot normal: std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def lecun_normal_(t: Any) -> Any:
    """std = 1 / sqrt(fan_in): the lecture's "Xavier" initialisation."""
    fan_in, _ = calculate_fan_in_and_fan_out(t)
    return normal_(t, 0.0, 1.0 / math.sqrt(fan_in))


def kaiming_normal_(t: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Any:
    """He normal: std = gain / sqrt(fan); with nonlinearity="relu", sqrt(2 / fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode))
    return normal_(t, 0.0, std)


def kaiming_uniform_(t: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Any:
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan). PyTorch's Linear/Conv default uses a=sqrt(5)."""
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode))
    return uniform_(t, -bound, bound)
