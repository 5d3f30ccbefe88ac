"""`Adam` and `AdamW`: momentum plus RMSprop, with bias correction."""
from __future__ import annotations

from typing import Any, Iterable

from .. import backend

from ..tensor import Tensor
from . import fused
from .optimizer import Optimizer, lerp_


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015).

    The lecture's rule, t = 1, 2, ... the step number:

        first_moment = beta1 * first_moment + (1 - beta1) * dx          # momentum
        second_moment = beta2 * second_moment + (1 - beta2) * dx * dx   # RMSprop
        first_unbias = first_moment / (1 - beta1 ** t)                  # bias correction:
        second_unbias = second_moment / (1 - beta2 ** t)                #   moments start at 0
        x -= learning_rate * first_unbias / (np.sqrt(second_unbias) + 1e-7)

    PyTorch's form (this class) is the same algebra with the corrections folded
    into the step size, so the operation order (hence rounding) matches torch:

        g = dx + weight_decay * x                 (L2 penalty; see AdamW for the decoupled form)
        m = lerp(m, g, 1 - beta1)                 (= beta1 * m + (1 - beta1) * g)
        v = beta2 * v + (1 - beta2) * g * g
        amsgrad:  v_max = max(v_max, v), used in place of v below
        denom = sqrt(v) / sqrt(1 - beta2 ** t) + eps
        x -= (lr / (1 - beta1 ** t)) * m / denom

    Defaults lr=1e-3, betas=(0.9, 0.999), eps=1e-8 (the lecture's good
    starting point). Numbers equal `torch.optim.Adam` step for step.

    bias_correction=False drops the two corrections: the update is the notes' first
    form, `x += -lr * m / (sqrt(v) + eps)`, whose first steps are tiny because m and
    v start at zero (not in torch; the default True is torch's Adam).

    state[p]: "step" (int), "exp_avg", "exp_avg_sq", and "max_exp_avg_sq" with amsgrad.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, bias_correction: bool = True):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        if not bias_correction:  # the key only when off: the default layout stays torch's
            defaults["bias_correction"] = False
        super().__init__(params, defaults)

    @classmethod
    def _check(cls, s: dict[str, Any]) -> None:
        super()._check(s)
        betas = s["betas"]
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        for p, g in self._grads(group):
            xp = backend.array_module(p.data)  # numpy, or cupy for a parameter on a GPU
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = xp.zeros_like(p.data)
                state["exp_avg_sq"] = xp.zeros_like(p.data)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = xp.zeros_like(p.data)
            state["step"] += 1
            step = state["step"]
            if group.get("bias_correction", True):
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
            else:
                bias_correction1 = bias_correction2 = 1.0
            if fused.adam(p.data, g, state, group, bias_correction1, bias_correction2 ** 0.5):
                continue  # on a GPU: the whole update in one kernel (optim/fused.py)
            if group["maximize"]:
                g = -g
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.data *= 1 - lr * wd
                else:
                    g = g + wd * p.data

            m, v = state["exp_avg"], state["exp_avg_sq"]
            lerp_(m, g, 1 - beta1)
            v *= beta2
            v += (1 - beta2) * g * g

            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2 ** 0.5
            if group["amsgrad"]:
                v_max = state["max_exp_avg_sq"]
                xp.maximum(v_max, v, out=v_max)
                denom = xp.sqrt(v_max) / bias_correction2_sqrt
            else:
                denom = xp.sqrt(v) / bias_correction2_sqrt
            denom += eps
            p.data += -step_size * m / denom


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay.

    Adam's L2 penalty goes through the adaptive denominator, so heavily-updated
    weights are barely decayed. AdamW shrinks the weights directly instead:

        x *= 1 - lr * weight_decay        (then the Adam step, with g = dx)

    i.e. the lecture's `x -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * x)`
    with the decay applied first, as PyTorch does. Default weight_decay=1e-2.
    Numbers equal `torch.optim.AdamW` step for step.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 bias_correction: bool = True):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, bias_correction=bias_correction)
