"""Maxout's non-linearity on its own (Goodfellow et al. 2013): max(w1.x + b1, ..., wk.x + bk), the
lecture's activation that generalises ReLU and leaky ReLU (never saturates, never dies) at k times
the parameters.

`nn.Maxout(in, out, k)` is a whole fully connected maxout unit (its own Linear). `GroupMax(k)` is
only the max, so any layer can feed it, a convolution or a Linear followed by batch norm: that
layer produces k * C features (channels for images) and GroupMax keeps, for each of the C
outputs, the max over its k consecutive ones. fc_net and small_cnn widen the layer before for you
(`activation="maxout"` or "maxout:k").
"""
from __future__ import annotations

from .. import nn


class GroupMax(nn.Module):
    """(N, k * C, ...) -> (N, C, ...): output c is the max of inputs c*k ... c*k + k - 1.
    The gradient goes to the piece that won (ties: shared as in torch's amax)."""

    def __init__(self, pieces: int = 2):
        super().__init__()
        if not isinstance(pieces, int) or pieces < 2:
            raise ValueError(f"GroupMax: pieces must be an integer >= 2, got {pieces!r}")
        self.pieces = pieces

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] % self.pieces:
            raise ValueError(f"GroupMax({self.pieces}): the input's dimension 1 must be a multiple of {self.pieces}, "
                             f"got shape {tuple(x.shape)}")
        n, c = x.shape[0], x.shape[1] // self.pieces
        grouped = x.reshape(n, c, self.pieces, *x.shape[2:])
        return grouped.max(axis=2)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


def parse_activation(name: str) -> tuple[str, int]:
    """"maxout" -> ("maxout", 2), "maxout:4" -> ("maxout", 4), any other name -> (name, 1)."""
    base, _, k = name.partition(":")
    if base != "maxout":
        if k:
            raise ValueError(f"activation {name!r}: only maxout takes a ':k' (the number of pieces)")
        return name, 1
    try:
        pieces = int(k) if k else 2
    except ValueError:
        raise ValueError(f"activation {name!r}: expected maxout:K with an integer K >= 2") from None
    if pieces < 2:
        raise ValueError(f"activation {name!r}: maxout needs at least 2 pieces")
    return base, pieces
