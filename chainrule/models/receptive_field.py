"""The receptive field of a network's units: how large a patch of the input one
unit sees, how far apart neighbouring units' patches are (the jump, i.e. the
product of strides) and where the first patch is centred.

For a layer with kernel k, stride s, padding p, dilation d, composed after
layers with receptive field r, jump j and first centre c:

    r' = r + d (k - 1) j        j' = j s        c' = c + ((d (k - 1)) / 2 - p) j

so three stacked 3x3 convolutions (stride 1) see 1 + 2 + 2 + 2 = 7 pixels per
axis: the same field as one 7x7 convolution, with fewer parameters and more
non-linearities (the lecture's VGG argument).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .. import nn
from ..tensor import Tensor, zeros
from . import _shapes
from .summary import first_tensor, forward_hooks, leaf_modules

# Layers that end the spatial part of a network: every unit after them sees the whole input.
_GLOBAL = (nn.Linear, nn.Flatten, nn.AdaptiveAvgPool2d)


@dataclass
class Field:
    """Receptive field along both axes (height, width)."""
    size: tuple = (1, 1)
    jump: tuple = (1, 1)
    start: tuple = (0.5, 0.5)  # centre of the first unit's field, in input pixels (pixel i spans [i, i+1))

    def through(self, m: nn.Module) -> "Field":
        win = _shapes.window(m)
        if win is None:
            return self  # elementwise layers (batch norm, relu, dropout) keep the field
        k, s, p, d, _ = win
        size = tuple(r + dd * (kk - 1) * j for r, kk, dd, j in zip(self.size, k, d, self.jump))
        start = tuple(c + (dd * (kk - 1) / 2 - pp) * j for c, kk, dd, pp, j in zip(self.start, k, d, p, self.jump))
        jump = tuple(j * ss for j, ss in zip(self.jump, s))
        return Field(size, jump, start)


@dataclass
class ReceptiveField:
    """`size` and `jump` (per axis: height, width) of the last spatial layer's
    units; `layer` names it; `rows` lists (name, type, size, jump, start) per layer."""
    size: tuple
    jump: tuple
    start: tuple
    layer: str
    rows: list = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{'layer':<32} {'type':<18} {'field':>9} {'jump':>6}"]
        for name, typ, size, jump, _ in self.rows:
            lines.append(f"{name:<32} {typ:<18} {_hw(size):>9} {_hw(jump):>6}")
        lines.append(f"receptive field of {self.layer!r} units: {_hw(self.size)} pixels, jump {_hw(self.jump)}")
        return "\n".join(lines)


def _hw(t: tuple) -> str:
    return f"{t[0]}x{t[1]}" if t[0] != t[1] else str(t[0])


def receptive_field(model: nn.Module, input_size: int | Sequence[int] | None = None) -> ReceptiveField:
    """Receptive field of the units of the last convolution/pooling layer of `model`.

    input_size=None walks the leaf modules in registration order, which is the
    forward order for sequential models. With `input_size` ((C, H, W), or an
    int for a square 3-channel image) one shape-only forward pass (no
    arithmetic) follows the tensors instead, so branches and shortcuts count
    correctly: a tensor made outside a layer (a residual sum, a concatenation)
    takes the largest field among the earlier layer outputs of the same height
    and width, i.e. its longest path.
    """
    if input_size is None:
        return _sequential(model)
    return _traced(model, input_size)


def _sequential(model: nn.Module) -> ReceptiveField:
    names = {id(m): n for n, m in model.named_modules()}
    f, rows, last = Field(), [], "input"
    for m in leaf_modules(model):
        if isinstance(m, _GLOBAL):
            break
        if _shapes.window(m) is None:
            continue
        f = f.through(m)
        last = names[id(m)]
        rows.append((last, type(m).__name__, f.size, f.jump, f.start))
    return ReceptiveField(f.size, f.jump, f.start, last, rows)


def _traced(model: nn.Module, input_size) -> ReceptiveField:
    shape = (3, int(input_size), int(input_size)) if isinstance(input_size, int) else tuple(input_size)
    names = {id(m): n for n, m in model.named_modules()}
    known: dict[int, tuple[Tensor, Field]] = {}  # id(tensor) -> (tensor kept alive, field)
    rows: list = []
    state = {"done": False, "last": "input", "field": Field()}

    def field_of(x: Tensor) -> Field:
        if id(x) in known:
            return known[id(x)][1]
        same = [f for t, f in known.values() if t.shape[-2:] == x.shape[-2:]]
        return max(same, key=lambda f: f.size) if same else state["field"]

    def hook(module, inputs, output):
        x, out = first_tensor(inputs), first_tensor(output)
        if state["done"] or x is None or out is None:
            return
        if isinstance(module, _GLOBAL):
            state["done"] = True  # the first global layer ends the spatial part
            return
        f = field_of(x).through(module)
        known[id(out)] = (out, f)
        if _shapes.window(module) is not None:
            name = names[id(module)]
            rows.append((name, type(module).__name__, f.size, f.jump, f.start))
            if f.size >= state["field"].size:
                state["field"], state["last"] = f, name

    x0 = zeros((1, *shape))
    known[id(x0)] = (x0, Field())
    with forward_hooks(model, hook, shapes_only=True):
        model(x0)
    f = state["field"]
    return ReceptiveField(f.size, f.jump, f.start, state["last"], rows)

