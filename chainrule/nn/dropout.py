"""`Dropout`, `Dropout2d`: inverted dropout at train time, the identity in eval mode."""
from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability p (masks from chainrule.rng) and scale the rest
    by 1/(1-p) while training; identity after `.eval()`. `inplace` is accepted and ignored."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p, self.inplace = float(p), inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels: each (example, channel) map of x: (N, C, H, W) is dropped
    with probability p and the rest scaled by 1/(1-p) while training (neighbouring pixels are
    correlated, so dropping single ones regularises little); identity after `.eval()`."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)
