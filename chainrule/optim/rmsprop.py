"""`RMSprop`: Adagrad with a leaky (moving-average) sum of squares."""
from __future__ import annotations

from typing import Any, Iterable

from .. import backend

from ..tensor import Tensor
from .optimizer import Optimizer, lerp_


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton, 2012).

    The lecture's rule (decay_rate is PyTorch's alpha):

        grad_squared = decay_rate * grad_squared + (1 - decay_rate) * dx * dx
        x -= learning_rate * dx / (np.sqrt(grad_squared) + 1e-7)

    Unlike Adagrad the squares leak away, so steps do not shrink for ever.
    PyTorch's form (this class):

        g = dx + weight_decay * x
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        centered:  grad_avg = lerp(grad_avg, g, 1 - alpha)
                   avg = sqrt(square_avg - grad_avg ** 2) + eps   (a variance estimate)
        else:      avg = sqrt(square_avg) + eps
        momentum > 0:  buf = momentum * buf + g / avg;  x -= lr * buf
        else:          x -= lr * g / avg

    Note eps is added outside the square root (as in the lecture) and PyTorch's
    default eps is 1e-8. Numbers equal `torch.optim.RMSprop` step for step.

    state[p]: "step" (int), "square_avg", and "momentum_buffer" / "grad_avg"
    when momentum > 0 / centered (ndarrays of p's shape).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    @classmethod
    def _check(cls, s: dict[str, Any]) -> None:
        super()._check(s)
        if not 0.0 <= s["momentum"]:
            raise ValueError(f"Invalid momentum value: {s['momentum']}")
        if not 0.0 <= s["alpha"]:
            raise ValueError(f"Invalid alpha value: {s['alpha']}")

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps, wd = group["lr"], group["alpha"], group["eps"], group["weight_decay"]
        mu = group["momentum"]
        for p, g in self._grads(group):
            xp = backend.array_module(p.data)  # numpy, or cupy for a parameter on a GPU
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = xp.zeros_like(p.data)
                if mu > 0:
                    state["momentum_buffer"] = xp.zeros_like(p.data)
                if group["centered"]:
                    state["grad_avg"] = xp.zeros_like(p.data)
            state["step"] += 1
            if group["maximize"]:
                g = -g
            if wd != 0:
                g = g + wd * p.data

            sq = state["square_avg"]
            sq *= alpha
            sq += (1 - alpha) * g * g
            if group["centered"]:
                ga = state["grad_avg"]
                lerp_(ga, g, 1 - alpha)
                avg = xp.sqrt(sq + -1 * ga * ga)
            else:
                avg = xp.sqrt(sq)
            avg += eps

            if mu > 0:
                buf = state["momentum_buffer"]
                buf *= mu
                buf += g / avg
                p.data += -lr * buf
            else:
                p.data += -lr * g / avg

