"""`SGD`: stochastic gradient descent, with momentum and Nesterov momentum."""
from __future__ import annotations

from typing import Any, Iterable

from .. import backend
from ..tensor import Tensor
from . import fused
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    The lecture's rules, with `dx` the gradient and `mu` the momentum:

        plain:     x += -lr * dx
        momentum:  v = mu * v - lr * dx
                   x += v
        Nesterov:  v_prev = v
                   v = mu * v - lr * dx
                   x += -mu * v_prev + (1 + mu) * v

    PyTorch (and this class) keeps a velocity without the learning rate in it:

        g = dx + weight_decay * x            (L2 regularisation folded into the gradient)
        v = g                                 on the first step, then
        v = mu * v + (1 - dampening) * g
        g = g + mu * v  (Nesterov)   or   g = v
        x -= lr * g

    For a constant lr and no dampening it is the same trajectory as the
    lecture's form (its v is -lr times PyTorch's v); when a scheduler changes
    lr, PyTorch's form applies the new lr to the whole velocity at once.
    Numbers equal `torch.optim.SGD` step for step (tests/test_optim.py).

    params: iterable of Tensors or of dicts with per-group settings.
    lr: learning rate. momentum: mu in [0, 1). dampening: scales the new
    gradient in the velocity. weight_decay: L2 penalty coefficient.
    nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
    maximize: ascend instead of descend.

    state[p]: "momentum_buffer" (ndarray of p's shape) once p has taken a step with momentum.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    @classmethod
    def _check(cls, s: dict[str, Any]) -> None:
        super()._check(s)
        if s["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {s['momentum']}")
        if s["nesterov"] and (s["momentum"] <= 0 or s["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        for p, g in self._grads(group):
            if mu != 0 and self._fused_step(p, g, group):
                continue
            if group["maximize"]:
                g = -g
            if wd != 0:
                g = g + wd * p.data  # a new array: never touch p.grad
            if mu != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy()
                else:
                    buf *= mu
                    buf += (1 - group["dampening"]) * g
                g = g + mu * buf if group["nesterov"] else buf
            p.data += -lr * g

    def _fused_step(self, p: Tensor, g, group: dict[str, Any]) -> bool:
        """On a GPU, the whole momentum update in one kernel (optim/fused.py); False elsewhere."""
        if not backend.is_device_array(p.data):  # before allocating a buffer the kernel may not fill
            return False
        state = self.state[p]
        buf = state.get("momentum_buffer")
        first = buf is None
        if first:
            buf = backend.array_module(p.data).empty_like(p.data)
        if not fused.sgd_momentum(p.data, g, buf, first, group):
            return False
        state["momentum_buffer"] = buf
        return True
