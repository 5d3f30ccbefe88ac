"""`cr.summary(model, input_shape)`: a layer-by-layer table of output shapes,
parameters, activations and multiply-adds, as in the lecture's VGG-16 walk-through:

    INPUT: [224x224x3]      memory: 224*224*3=150K    params: 0
    CONV3-64: [224x224x64]  memory: 224*224*64=3.2M   params: (3*3*3)*64 = 1,728
    ...

It runs one forward pass on a batch of one zero image with forward hooks on
the leaf modules. By default (`shapes_only=True`) the convolution, pooling and
linear layers do not compute: each returns zeros of the shape it would produce
(see `_shapes.py`): VGG-16 at 224x224 (15.5 G multiply-adds) is summarised in
~0.01 s instead of ~0.5 s, and a model too big to run still gets its table.

Counting (the lecture's): activations per image are the input plus every
layer's output, except layers that work in place or only re-view their input
(ReLU, Dropout, Flatten, Identity) and adaptive pools with nothing to do
(torchvision VGG's 7x7 pool on the 7x7 map). For VGG-16 this gives 15,237,608 numbers,
61 MB of float32 per image forward, ~122 MB with the backward pass. (The
lecture's slide says "24M * 4 bytes ~= 93MB", but its own per-layer lines add
up to 15.2M; see docs/models.md.) Multiply-adds count convolutions and linear
layers (VGG-16: 15.5 G). The params column counts weights and biases.
"""
from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from typing import Any, Sequence, TextIO

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..nn.module import kept_modes
from ..tensor import Tensor, get_default_dtype, zeros
from ..ops.geometry import pair
from . import _shapes

# Layers whose output the lecture does not count as new memory.
NOT_STORED = ("ReLU", "Dropout", "Flatten", "Identity")


class Summary(list):
    """The rows in call order, plus `totals` (a dict); `str()` gives the table.

    Each row is a dict: name, type (class name), output_shape (one example),
    params, activations (numbers per example), macs (multiply-adds per
    example), stored (counted in the activation total) and module."""

    def __init__(self, rows: list[dict], totals: dict, style: str = "table"):
        super().__init__(rows)
        self.totals = totals
        self.style = style

    def __str__(self) -> str:
        return format_lecture(self) if self.style == "lecture" else format_table(self)


def _numel(shape: Sequence[int]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def first_tensor(out: Any) -> Tensor | None:
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            t = first_tensor(o)
            if t is not None:
                return t
    return None


def _macs(m: nn.Module, in_shape: tuple, out_shape: tuple) -> int:
    """Multiply-adds per example: each output of a conv sums C_in * kh * kw
    products, each output of a linear layer in_features products."""
    per_example = _numel(out_shape[1:])
    if isinstance(m, nn.Conv2d):
        kh, kw = pair(m.kernel_size)
        return per_example * (m.in_channels // getattr(m, "groups", 1)) * kh * kw
    if isinstance(m, nn.Linear):
        return per_example * m.in_features
    return 0


def _stores_output(m: nn.Module, in_shape: tuple, out_shape: tuple) -> bool:
    """False for layers the lecture does not count: in place or views, and an
    adaptive pool that has nothing to do (VGG's 7x7 pool on a 7x7 map)."""
    if type(m).__name__ in NOT_STORED:
        return False
    return not (isinstance(m, nn.AdaptiveAvgPool2d) and in_shape == out_shape)


def _shape_only_forward(name: str):
    def forward(self, x, *args, **kwargs):
        shape = _shapes.output_shape(self, name, tuple(x.shape))
        return zeros(shape, dtype=x.dtype)
    return forward


def leaf_modules(model: nn.Module) -> list[nn.Module]:
    """Modules without children, in registration order."""
    return [m for m in model.modules() if next(iter(m.children()), None) is None]


@contextmanager
def forward_hooks(model: nn.Module, hook, shapes_only: bool = True):
    """Within the block: `hook(module, inputs, output)` on every leaf, the model in
    eval mode under no_grad, and (shapes_only) conv/pool/linear leaves returning
    zeros of their output shape. Everything is restored on exit."""
    names = {id(m): n for n, m in model.named_modules()}
    leaves = leaf_modules(model)
    handles = [m.register_forward_hook(hook) for m in leaves]
    patched = []
    try:
        if shapes_only:
            for m in leaves:
                if _shapes.window(m) is not None or isinstance(m, (nn.Linear, nn.AdaptiveAvgPool2d)):
                    # An instance attribute shadows the class's forward for this call only.
                    m.__dict__["forward"] = types.MethodType(_shape_only_forward(names[id(m)]), m)
                    patched.append(m)
        with kept_modes(model), no_grad():
            model.eval()
            yield
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)
        for h in handles:
            h.remove()


def summary(model: nn.Module, input_shape: Sequence[int], print_table: bool = True, *,
            shapes_only: bool = True, style: str = "table", dtype: Any = None,
            file: TextIO | None = None) -> Summary:
    """Describe `model` layer by layer for one example of `input_shape`.

    input_shape: the shape of ONE example, without the batch axis, e.g. (3, 224, 224).
    shapes_only: skip the arithmetic of conv/pool/linear layers (only shapes are needed).
    style: "table" (columns) or "lecture" (the lecture's one line per layer).
    Returns a `Summary`: a list of row dicts with `.totals`. The model is run in
    eval mode under no_grad and left in the modes it had.
    """
    if style not in ("table", "lecture"):
        raise ValueError(f"summary: style must be 'table' or 'lecture', got {style!r}")
    input_shape = tuple(int(s) for s in input_shape)
    names = {id(m): n for n, m in model.named_modules()}
    rows: list[dict] = [{"name": "input", "type": "Input", "output_shape": input_shape, "params": 0,
                         "activations": _numel(input_shape), "macs": 0, "stored": True, "module": None}]
    seen: set[int] = set()

    def hook(module, inputs, output):
        out = first_tensor(output)
        if out is None:
            return
        first = id(module) not in seen  # a module called twice counts its parameters once
        seen.add(id(module))
        x = first_tensor(inputs)
        in_shape = tuple(x.shape) if x is not None else ()
        rows.append({
            "name": names.get(id(module), type(module).__name__),
            "type": type(module).__name__,
            "output_shape": tuple(out.shape[1:]),
            "params": sum(p.numel() for p in module.parameters()) if first else 0,
            "activations": _numel(out.shape[1:]),
            "macs": _macs(module, in_shape, tuple(out.shape)),
            "stored": _stores_output(module, in_shape, tuple(out.shape)),
            "module": module,
        })

    with forward_hooks(model, hook, shapes_only):
        model(zeros((1, *input_shape), dtype=dtype or get_default_dtype()))

    itemsize = np.dtype(dtype or get_default_dtype()).itemsize
    stored = sum(r["activations"] for r in rows if r["stored"])
    params = list(model.parameters())
    totals = {
        "params": sum(p.numel() for p in params),
        "trainable_params": sum(p.numel() for p in params if p.requires_grad),
        "activations": stored,
        "forward_bytes": stored * itemsize,
        "forward_backward_bytes": 2 * stored * itemsize,
        "macs": sum(r["macs"] for r in rows),
        "itemsize": itemsize,
    }
    result = Summary(rows, totals, style)
    if print_table:
        print(str(result), file=file or sys.stdout)
    return result


# ------------------------------------------------------------------ printing
def _human(n: float) -> str:
    """3211264 -> '3.2M', 150528 -> '151K', 4096 -> '4096' (the lecture's rounding)."""
    if n >= 1e9:
        return f"{n / 1e9:.1f}G"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}K"
    return f"{n:g}"


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:g} B"


def _shape_str(shape: tuple) -> str:
    return "x".join(str(s) for s in shape)


def _totals_lines(totals: dict) -> list[str]:
    t = totals
    return [
        f"Total params: {t['params']:,} (trainable: {t['trainable_params']:,})",
        f"Activations per image: {t['activations']:,} ({_human(t['activations'])}) x {t['itemsize']} bytes = "
        f"{_bytes(t['forward_bytes'])} forward, {_bytes(t['forward_backward_bytes'])} forward+backward",
        f"Multiply-adds per image: {t['macs']:,} ({_human(t['macs'])})",
    ]


def format_table(rows: Summary) -> str:
    header = f"{'Layer (type)':<40} {'Output shape':>16} {'Activations':>13} {'Params':>13} {'MACs':>16}"
    lines = [header, "-" * len(header)]
    for r in rows:
        label = f"{r['name']} ({r['type']})"
        acts = f"{r['activations']:,}" if r["stored"] else f"({r['activations']:,})"
        lines.append(f"{label:<40} {_shape_str(r['output_shape']):>16} {acts:>13} {r['params']:>13,} "
                     f"{r['macs']:>16,}")
    lines.append("-" * len(header))
    lines += _totals_lines(rows.totals)
    lines.append("(Activations in parentheses are in place or pass-through: not in the total, as in the lecture.)")
    return "\n".join(lines)


def _hwc(shape: tuple) -> tuple:
    """(C, H, W) -> (H, W, C), the lecture's order; (D,) -> (1, 1, D)."""
    if len(shape) == 3:
        return (shape[1], shape[2], shape[0])
    if len(shape) == 1:
        return (1, 1, shape[0])
    return shape


def lecture_line(row: dict, prev_shape: tuple | None = None) -> str:
    """One row in the lecture's form. Its params ignore biases, as the lecture does."""
    m, shape = row["module"], row["output_shape"]
    hwc = _hwc(shape)
    memory = f"{'*'.join(str(s) for s in hwc if s != 1) or '1'}={_human(row['activations'])}" \
        if len(shape) > 1 else f"{row['activations']}"
    if isinstance(m, nn.Conv2d):
        kh, kw = pair(m.kernel_size)
        label = f"CONV{kh}-{m.out_channels}" if kh == kw else f"CONV{kh}x{kw}-{m.out_channels}"
        weights = f"({kh}*{kw}*{m.in_channels})*{m.out_channels} = {m.weight.numel():,}"
    elif isinstance(m, nn.Linear):
        label = "FC"
        if prev_shape is not None and len(prev_shape) == 3 and _numel(prev_shape) == m.in_features:
            fan_in = "*".join(str(s) for s in _hwc(prev_shape))
        else:
            fan_in = str(m.in_features)
        weights = f"{fan_in}*{m.out_features} = {m.weight.numel():,}"
    elif _shapes.window(m) is not None:
        k = pair(m.kernel_size)[0]
        label, weights = f"POOL{k}", "0"
    elif row["type"] == "Input":
        label, weights = "INPUT", "0"
    else:
        label, weights = row["type"].upper(), f"{row['params']:,}"
    return f"{label}: [{_shape_str(hwc)}]  memory: {memory}  params: {weights}"


def format_lecture(rows: Summary) -> str:
    lines, prev = [], None
    for r in rows:
        if not r["stored"]:
            continue
        lines.append(lecture_line(r, prev))
        prev = r["output_shape"]
    t = rows.totals
    lines.append(f"TOTAL memory: {_human(t['activations'])} * {t['itemsize']} bytes ~= "
                 f"{t['forward_bytes'] / 1e6:.0f}MB / image (only forward! ~*2 for bwd)")
    lines.append(f"TOTAL params: {_human(t['params'])} parameters ({t['params']:,})")
    lines.append(f"TOTAL multiply-adds: {_human(t['macs'])} per image ({t['macs']:,})")
    return "\n".join(lines)
