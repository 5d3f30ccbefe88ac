"""`Adadelta`: RMSprop whose step size comes from a running average of the past steps themselves."""
from __future__ import annotations

from typing import Any, Iterable

from .. import backend
from ..tensor import Tensor
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), equal to `torch.optim.Adadelta` step for step.

        g = dx + weight_decay * x                      (-dx first with maximize=True)
        square_avg = rho * square_avg + (1 - rho) * g * g
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta * delta
        x -= lr * delta

    The ratio of the two root-mean-squares gives the step the units of x, so lr=1.0 (PyTorch's
    default) is a sensible start. eps sits inside both square roots, as in PyTorch.

    state[p]: "step" (int), "square_avg" and "acc_delta" (arrays of p's shape).
    foreach: accepted (one loop either way). capturable / differentiable (CUDA graphs,
    differentiating through the step) are not supported: True raises ValueError.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False, differentiable: bool = False):
        if capturable or differentiable:
            raise ValueError("Adadelta: capturable=True and differentiable=True are not supported")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    @classmethod
    def _check(cls, s: dict[str, Any]) -> None:
        super()._check(s)
        if not 0.0 <= s["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {s['rho']}")

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        for p, g in self._grads(group):
            xp = backend.array_module(p.data)  # numpy, or cupy for a parameter on a GPU
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = xp.zeros_like(p.data)
                state["acc_delta"] = xp.zeros_like(p.data)
            state["step"] += 1
            if group["maximize"]:
                g = -g
            if wd != 0:
                g = g + wd * p.data
            sq, acc = state["square_avg"], state["acc_delta"]
            sq *= rho
            sq += (1 - rho) * g * g
            delta = xp.sqrt(acc + eps) / xp.sqrt(sq + eps) * g
            acc *= rho
            acc += (1 - rho) * delta * delta
            p.data += -lr * delta
