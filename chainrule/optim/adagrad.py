"""`Adagrad`: per-coordinate step sizes from the sum of squared gradients."""
from __future__ import annotations

from typing import Any, Iterable

from .. import backend

from ..tensor import Tensor
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011).

    The lecture's rule:

        grad_squared += dx * dx
        x -= learning_rate * dx / (np.sqrt(grad_squared) + 1e-7)

    Coordinates with large past gradients take small steps; the steps only
    ever shrink, which is why Adagrad tends to stop early on deep nets.
    PyTorch's form (this class) adds weight decay and a decaying lr:

        g = dx + weight_decay * x
        lr_t = lr / (1 + (t - 1) * lr_decay)          t = 1, 2, ... (this parameter's steps)
        sum += g * g
        x -= lr_t * g / (sqrt(sum) + eps)

    Numbers equal `torch.optim.Adagrad` step for step.

    state[p]: "step" (int), "sum" (ndarray, starts at initial_accumulator_value);
    like PyTorch, created for every parameter at construction.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-2,
                 lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    @classmethod
    def _check(cls, s: dict[str, Any]) -> None:
        super()._check(s)
        if not 0.0 <= s["lr_decay"]:
            raise ValueError(f"Invalid lr_decay value: {s['lr_decay']}")
        if not 0.0 <= s["initial_accumulator_value"]:
            raise ValueError(f"Invalid initial_accumulator_value value: {s['initial_accumulator_value']}")

    def _init_group_state(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> None:
        xp = backend.array_module(p.data)
        self.state[p] = {"step": 0, "sum": xp.full_like(p.data, group["initial_accumulator_value"])}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        for p, g in self._grads(group):
            xp = backend.array_module(p.data)  # numpy, or cupy for a parameter on a GPU
            if "sum" not in self.state[p]:  # a loaded state dict that lacked this parameter
                self._init_state(p, group)
            state = self.state[p]
            state["step"] += 1
            if group["maximize"]:
                g = -g
            if wd != 0:
                g = g + wd * p.data
            clr = lr / (1 + (state["step"] - 1) * group["lr_decay"])
            total = state["sum"]
            total += g * g
            std = xp.sqrt(total)
            std += eps
            p.data += -clr * g / std
