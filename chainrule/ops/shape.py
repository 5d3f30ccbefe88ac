"""Ops that move values without computing new ones: reshape, permute, indexing,
concatenation, stacking, padding. Their backward moves the gradient back.
Each takes its array module from its inputs, so it runs on NumPy and CuPy arrays."""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


class Reshape(Function):
    view_step = staticmethod(lambda shape: ("reshape", shape))

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) to {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    view_step = staticmethod(lambda axes: ("permute", axes))

    @staticmethod
    def forward(ctx, a, axes):
        nd = np.ndim(a)
        if len(axes) != nd or sorted(x % max(nd, 1) for x in axes) != list(range(nd)):
            raise ValueError(f"permute: {axes} is not a permutation of the {np.ndim(a)} axes of shape {np.shape(a)}")
        ctx.axes = axes
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(tuple(int(i) for i in np.argsort(ctx.axes))), None


class GetItem(Function):
    """Basic slicing and integer-array indexing (e.g. `scores[np.arange(N), y]`).

    Backward scatters the gradient into zeros; with integer-array indices the same
    element may be picked twice, so `backend.scatter_add` (NumPy's `np.add.at`,
    cupyx's `scatter_add`) accumulates instead of assigning; slices, ints and boolean
    masks pick each element once, so a plain assignment does. On a GPU the index
    arrays must live there too: `getitem` moves host ones.
    """

    view_step = staticmethod(lambda index: ("getitem", index))

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        if _all_ints(index, a.ndim):  # x[0, 1]: a 0-d view (NumPy would give a scalar copy)
            return a[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
        return backend.array_module(a).asarray(a[index])

    @staticmethod
    def backward(ctx, g):
        out = backend.array_module(g).zeros(ctx.shape, dtype=g.dtype)
        if _picks_once(ctx.index):
            out[ctx.index] = g
        else:
            backend.scatter_add(out, ctx.index, g)
        return out, None


def _all_ints(index: Any, ndim: int) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return len(parts) == ndim and all(isinstance(p, (int, np.integer)) for p in parts)


def _picks_once(index: Any) -> bool:
    """Whether `index` picks no element twice: slices, ints, None, Ellipsis and boolean masks
    (NumPy or CuPy) only, no integer arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice))
               or ((isinstance(p, np.ndarray) or backend.is_device_array(p)) and p.dtype == bool) for p in parts)


def _index_on(index: Any, device: backend.Device) -> Any:
    """`index` with its arrays (NumPy arrays, lists, tensors' data) on `device`. A lone boolean
    mask picks each element at most once, so it stays as is; next to integer arrays
    it becomes the integer arrays of its nonzero places (CuPy's scatter-add wants integers)."""
    parts = index if isinstance(index, tuple) else (index,)

    def move(p):
        if isinstance(p, list) or isinstance(p, np.ndarray) or backend.is_device_array(p):
            return backend.to_device(np.asarray(p) if isinstance(p, list) else p, device)
        return p

    moved = [move(p) for p in parts]
    arrays = [p for p in moved if backend.is_device_array(p)]
    if any(p.dtype == bool for p in arrays) and any(p.dtype != bool for p in arrays):
        moved = [q for p in moved for q in (p.nonzero() if backend.is_device_array(p) and p.dtype == bool else (p,))]
    return tuple(moved) if isinstance(index, tuple) else moved[0]


class Cat(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        ctx.bounds = list(itertools.accumulate(x.shape[axis] for x in arrays))[:-1]
        return backend.array_module(*arrays).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return (None, *backend.array_module(g).split(g, ctx.bounds, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        return backend.array_module(*arrays).stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return (None, *backend.array_module(g).moveaxis(g, ctx.axis, 0))


class Pad(Function):
    """Constant padding; backward slices the padding off again."""

    @staticmethod
    def forward(ctx, a, pad_width, value):
        ctx.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, a.shape))
        return backend.array_module(a).pad(a, pad_width, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.slices], None, None


# ------------------------------------------------------------ user-facing
def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    """View `a` with a new shape (one entry may be -1)."""
    return Reshape.apply(a, tuple(int(s) for s in shape))


view = reshape


def permute(a: Tensor, axes: Sequence[int]) -> Tensor:
    """Reorder axes: `permute(x, (0, 2, 3, 1))` turns NCHW into NHWC."""
    return Permute.apply(a, tuple(int(x) for x in axes))


def transpose(a: Tensor, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two axes (the last two by default)."""
    return a.transpose(dim0, dim1)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) with start_dim=1."""
    shape = a.shape
    if len(shape) == 0:
        return reshape(a, (1,))
    s, e = start_dim % len(shape), end_dim % len(shape)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {shape}")
    merged = int(np.prod(shape[s:e + 1], dtype=np.int64))
    return reshape(a, shape[:s] + (merged,) + shape[e + 1:])


def squeeze(a: Tensor, dim: int | None = None) -> Tensor:
    """Remove axes of length 1 (all of them, or only `dim` if it has length 1)."""
    shape = a.shape
    if dim is None:
        return reshape(a, tuple(n for n in shape if n != 1))
    d = dim % len(shape)
    return reshape(a, shape[:d] + shape[d + 1:]) if shape[d] == 1 else a


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    """Insert an axis of length 1 at `dim`."""
    shape = a.shape
    d = dim % (len(shape) + 1)
    return reshape(a, shape[:d] + (1,) + shape[d:])


def getitem(a: Tensor, index: Any) -> Tensor:
    """`a[index]` with slices, ints, None, Ellipsis and integer or boolean arrays."""
    return GetItem.apply(a, index_for(a, index))


def index_for(a: Tensor, index: Any) -> Any:
    """An index as the arrays take it: tensors' data, lists as arrays, on a's device."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = np.asarray(index)
    if isinstance(a, Tensor) and a.is_cuda:  # host index arrays follow a to its GPU (as in PyTorch)
        index = _index_on(index, a.device)
    elif backend.is_device_array(index) or (isinstance(index, tuple) and any(map(backend.is_device_array, index))):
        raise RuntimeError("indices on cuda for a tensor on cpu: move the index (or the tensor) with .to(device)")
    return index


def cat(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Concatenate along an existing axis (`dim` accepted as in PyTorch)."""
    axis = dim if dim is not None else axis
    if len(tensors) == 0:
        raise ValueError("cat needs at least one tensor")
    shapes = [np.shape(t) for t in tensors]
    nd = len(shapes[0])
    ax = axis % nd
    for s in shapes:
        if len(s) != nd or s[:ax] + s[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:]:
            raise ValueError(f"cat along axis {axis}: shapes {shapes} differ outside that axis")
    return Cat.apply(ax, *tensors)


concatenate = cat


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Stack equal-shaped tensors along a new axis."""
    axis = dim if dim is not None else axis
    shapes = [np.shape(t) for t in tensors]
    if len(shapes) == 0 or any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack needs one or more tensors of equal shape, got {shapes}")
    return Stack.apply(axis % (len(shapes[0]) + 1), *tensors)


def pad(a: Tensor, pad: Sequence, value: float = 0.0) -> Tensor:
    """Constant padding.

    pad: NumPy style, one (before, after) pair per axis, e.g. ((0, 0), (0, 0), (1, 1), (1, 1));
         or PyTorch style, a flat tuple starting from the last axis, e.g. (1, 1, 1, 1)
         pads W then H by one on each side.
    """
    shape = np.shape(a)
    pad = list(pad)
    if pad and all(np.ndim(p) == 0 for p in pad):  # PyTorch's flat form
        if len(pad) % 2 or len(pad) // 2 > len(shape):
            raise ValueError(f"pad {tuple(pad)} needs an even length of at most 2 * ndim ({2 * len(shape)})")
        pairs = [(0, 0)] * len(shape)
        for i in range(len(pad) // 2):
            pairs[len(shape) - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    else:
        pairs = [tuple(int(v) for v in p) for p in pad]
        if len(pairs) != len(shape):
            raise ValueError(f"pad needs one (before, after) pair per axis of shape {shape}, got {len(pairs)}")
    if any(v < 0 for p in pairs for v in p):
        raise ValueError("pad widths must be non-negative")
    return Pad.apply(a, tuple(pairs), value)


class Expand(Function):
    """Broadcast to a bigger shape (a read-only view); the engine sums the gradient back."""

    @staticmethod
    def forward(ctx, a, shape):
        return backend.array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return g, None


class Repeat(Function):
    """PyTorch's repeat (NumPy's tile): backward sums the gradient over the copies."""

    @staticmethod
    def forward(ctx, a, reps):
        ctx.shape = a.shape
        return backend.array_module(a).tile(a, reps)

    @staticmethod
    def backward(ctx, g):
        shape = (1,) * (g.ndim - len(ctx.shape)) + tuple(ctx.shape)
        reps = [gs // s for gs, s in zip(g.shape, shape)]
        split = [v for r, s in zip(reps, shape) for v in (r, s)]  # each axis as (copies, size)
        g = g.reshape(split).sum(axis=tuple(range(0, 2 * len(shape), 2)))
        return g.reshape(ctx.shape), None


def expand(a: Tensor, *sizes: Any) -> Tensor:
    """Broadcast a to `sizes` (-1 keeps a dimension), as PyTorch's expand; no copy."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    shape = np.shape(a)
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes ({len(sizes)}) must be at least the tensor's dims ({len(shape)})")
    full = tuple(shape[i - lead] if s == -1 and i >= lead else int(s) for i, s in enumerate(sizes))
    for i, n in enumerate(shape):
        if n != 1 and n != full[i + lead]:
            raise RuntimeError(f"The expanded size of the tensor ({full[i + lead]}) must match the existing size "
                               f"({n}) at non-singleton dimension {i + lead}. Target sizes: {list(sizes)}. "
                               f"Tensor sizes: {list(shape)}")
    return Expand.apply(a, full)


def repeat(a: Tensor, *reps: Any) -> Tensor:
    """Tile a: `repeat(2, 3)` makes 2 copies along dim 0 and 3 along dim 1 (PyTorch's repeat)."""
    reps = tuple(reps[0]) if len(reps) == 1 and isinstance(reps[0], (tuple, list)) else reps
    if len(reps) < np.ndim(a):
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    return Repeat.apply(a, tuple(int(r) for r in reps))


def _axis_slices(a: Tensor, dim: int, bounds: list[tuple[int, int]]) -> tuple:
    d = dim % max(np.ndim(a), 1)
    return tuple(getitem(a, (slice(None),) * d + (slice(lo, hi),)) for lo, hi in bounds)


def split(a: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple:
    """Pieces of a along dim: each of `split_size` (the last may be shorter), or of the listed sizes."""
    n = np.shape(a)[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split_size must be positive, got {step}")
        bounds = [(lo, min(lo + step, n)) for lo in range(0, n, step)] or [(0, 0)]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (dim {dim}), got {sizes}")
        ends = list(itertools.accumulate(sizes))
        bounds = list(zip([0] + ends[:-1], ends))
    return _axis_slices(a, dim, bounds)


def chunk(a: Tensor, chunks: int, dim: int = 0) -> tuple:
    """a split into `chunks` pieces along dim (each ceil(n / chunks) long; fewer if n is small)."""
    n = np.shape(a)[dim]
    return split(a, max(-(-n // int(chunks)), 1), dim)


def unbind(a: Tensor, dim: int = 0) -> tuple:
    """The slices of a along dim, that dim removed."""
    d = dim % max(np.ndim(a), 1)
    return tuple(getitem(a, (slice(None),) * d + (i,)) for i in range(np.shape(a)[d]))


def narrow(a: Tensor, dim: int, start: int, length: int) -> Tensor:
    return _axis_slices(a, dim, [(start, start + length)])[0]


def index_select(a: Tensor, dim: int, index: Any) -> Tensor:
    """The entries at `index` (1-D integers) along dim."""
    index = index.data if isinstance(index, Tensor) else np.asarray(index)
    d = dim % max(np.ndim(a), 1)
    return getitem(a, (slice(None),) * d + (index,))
