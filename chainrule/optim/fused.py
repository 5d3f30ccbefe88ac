"""One CUDA kernel per parameter update on a GPU, for SGD with momentum and Adam.

Written with array expressions, an update is several kernels per parameter (SGD with
momentum 5, Adam about 13); a ResNet-20 has 65 parameters, so most of a GPU step's
launches would be the optimiser's. Each kernel below is the same arithmetic as the
class's plain update, in the same order, one pass over the parameter, gradient and
state: only the rounding of a fused multiply-add may differ. They run on real CuPy
only (`backend.fused`); elsewhere, or when a kernel fails to build, the plain update
runs (`sgd_momentum` / `adam` return False).
"""
from __future__ import annotations

from typing import Any

from .. import backend

__all__ = ["sgd_momentum", "adam", "SGD_MOMENTUM", "ADAM", "ADAM_AMSGRAD"]

# d = the gradient after maximize and L2 weight decay; then SGD's velocity and step
SGD_MOMENTUM = (
    "T g, float64 lr, float64 mu, float64 damp, float64 wd, float64 nesterov, float64 first, float64 sign",
    "T p, T buf",
    "T d = (T)sign * g; if (wd != 0) d = d + (T)wd * p;"
    " buf = first != 0 ? d : (T)mu * buf + (T)(1 - damp) * d;"
    " if (nesterov != 0) d = d + (T)mu * buf; else d = buf;"
    " p = p + (T)(-lr) * d",
)

_ADAM_IN = ("T g, float64 lr, float64 beta1, float64 beta2, float64 eps, float64 wd, float64 decoupled,"
            " float64 bc1, float64 bc2_sqrt, float64 sign")
_ADAM_MOMENTS = (
    "T d = (T)sign * g;"
    " if (wd != 0) { if (decoupled != 0) p = p * (T)(1 - lr * wd); else d = d + (T)wd * p; }"
    " double w = 1 - beta1;"  # lerp_(m, d, w), both of its branches
    " if (fabs(w) < 0.5) m = m + (T)w * (d - m); else m = d - (d - m) * (T)(1 - w);"
    " v = v * (T)beta2; v = v + (T)(1 - beta2) * d * d;"
)
_ADAM_STEP = " T denom = sqrt({v}) / (T)bc2_sqrt + (T)eps; p = p + (T)(-(lr / bc1)) * m / denom"
ADAM = (_ADAM_IN, "T p, T m, T v", _ADAM_MOMENTS + _ADAM_STEP.format(v="v"))
ADAM_AMSGRAD = (_ADAM_IN, "T p, T m, T v, T vmax",
                _ADAM_MOMENTS + " vmax = vmax < v ? v : vmax;" + _ADAM_STEP.format(v="vmax"))


def sgd_momentum(p: Any, g: Any, buf: Any, first: bool, group: dict) -> bool:
    """SGD with momentum on a CuPy parameter in one kernel: p, buf (the velocity, any values
    when `first`) updated in place. False when it did not run (the caller's plain update runs)."""
    if not backend.is_device_array(p):
        return False
    return backend.fused("sgd_momentum", SGD_MOMENTUM, g, group["lr"], group["momentum"], group["dampening"],
                         group["weight_decay"], float(group["nesterov"]), float(first),
                         -1.0 if group["maximize"] else 1.0, p, buf) is not None


def adam(p: Any, g: Any, state: dict, group: dict, bc1: float, bc2_sqrt: float) -> bool:
    """Adam's (or AdamW's) step on a CuPy parameter in one kernel, p and state's moments updated
    in place. False when it did not run (the caller's plain update runs)."""
    if not backend.is_device_array(p):  # the CPU: one check, no argument tuple
        return False
    beta1, beta2 = group["betas"]
    args = (g, group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
            float(group["decoupled_weight_decay"]), bc1, bc2_sqrt, -1.0 if group["maximize"] else 1.0,
            p, state["exp_avg"], state["exp_avg_sq"])
    if group["amsgrad"]:
        return backend.fused("adam_amsgrad", ADAM_AMSGRAD, *args, state["max_exp_avg_sq"]) is not None
    return backend.fused("adam", ADAM, *args) is not None
