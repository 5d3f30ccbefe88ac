"""In-place changes recorded in the graph, as PyTorch records them.

`x.add_(y)`, `x += y`, `x[idx] = v`, `x.relu_()`: x's memory is overwritten, and, when the change
needs a gradient, x's place in the graph moves on. The op is computed out of place on a stand-in
for x's old value (a new Tensor object holding x's old `grad_fn`), its result written into x's
memory, and x takes the op's node as its `grad_fn`; x remembers the stand-in (`x._prior`), so a
node that used x before the change still sends its gradient to the old value (`Node.inputs`).

Rules, PyTorch's:
- a leaf that requires grad refuses in-place changes while grad mode is on ("a leaf Variable
  that requires grad is being used in an in-place operation"); so does a view of one;
- every change bumps the version counter that x shares with its views; a node made before the
  change that saved that memory raises at backward time ("... modified by an inplace operation");
- an op that needs x's old value for its own backward (mul_, div_, pow_...) saves a copy of it;
- a change to a view (`y = x[0]; y.mul_(2)`) changes the base too: the base's new value is
  `CopySlices(old base, new view value)`, and the view is re-derived from it.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import backend
from ..autograd import Context, Function, Node, _seq, facts, is_grad_enabled, no_grad, note_change, same_memory
from ..tensor import Tensor, wrap


# ------------------------------------------------------------ views, replayed on arrays
def replay(a: Any, steps: tuple) -> Any:
    """The view of array `a` that `steps` (("getitem", index) | ("reshape", shape) | ("permute", axes))
    describe."""
    for kind, arg in steps:
        a = a[arg] if kind == "getitem" else a.reshape(arg) if kind == "reshape" else a.transpose(arg)
    return a


def _put(a: Any, steps: tuple, value: Any) -> None:
    """Write `value` into the part of array `a` that `steps` select (the last getitem may use
    integer or boolean arrays: it is an assignment, not a view)."""
    *views, (kind, arg) = steps
    a = replay(a, tuple(views))
    if kind == "getitem":
        a[arg] = value
    else:
        replay(a, ((kind, arg),))[...] = value


def _take(a: Any, steps: tuple) -> Any:
    """The values of the part of `a` that `steps` select, as a new array."""
    return backend.array_module(a).array(replay(a, steps), copy=True)


class CopySlices(Function):
    """`base` with the part that `steps` select replaced by `value` (broadcast to it): item
    assignment `x[idx] = v`, and a base whose view was changed in place.

    backward: the base gets the gradient with that part zeroed (it was overwritten); value
    gets the gradient of that part (summed back to value's shape by the engine)."""

    node_name = "CopySlices"

    @staticmethod
    def forward(ctx, base, value, steps):
        ctx.steps = steps
        out = backend.array_module(base).array(base, copy=True)
        _put(out, steps, value)
        return out

    @staticmethod
    def backward(ctx, g):
        gb = None
        if ctx.needs_input_grad[0]:
            gb = backend.array_module(g).array(g, copy=True)
            _put(gb, ctx.steps, 0)
        gv = _take(g, ctx.steps) if ctx.needs_input_grad[1] else None
        return gb, gv, None


# ------------------------------------------------------------ the in-place protocol
def _stand_in(x: Tensor) -> Tensor:
    """A new Tensor for x's current value in the graph: same memory, node, history and counter."""
    s = wrap(x.data)
    s.requires_grad, s.grad_fn, s._prior, s._vc = x.requires_grad, x.grad_fn, x._prior, x._vc
    return s


def _check_allowed(x: Tensor) -> None:
    if not is_grad_enabled():
        return
    if x.requires_grad and x.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation. "
                           "(Change a parameter's values under cr.no_grad(), or work on its .data.)")
    if x._view is not None and x._view[0].requires_grad and x._view[0].grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                           "operation. (Use cr.no_grad(), or clone() the view first.)")


def _mark_overwritten(x: Tensor) -> None:
    """Nodes that saved x's memory as their output (x's producer, its base's producer) can no
    longer run backward: mark them, PyTorch raises when backward reaches them."""
    for t in (x, x._view[0] if x._view is not None else None):
        node = t.grad_fn if t is not None else None
        if node is None or node.dirty is not None or not node.ctx._saved:
            continue
        if any(same_memory(s, x.data) for s in node.ctx._saved):
            node.dirty = (*facts(t), f"output 0 of {node.name()}", node.seq)


def _write(x: Tensor, values: Any) -> None:
    """values into x's memory, with PyTorch's shape and dtype rules."""
    if values.shape != x.data.shape:
        raise RuntimeError(f"output with shape {list(x.data.shape)} doesn't match the broadcast shape "
                           f"{list(values.shape)} (an in-place op cannot grow its tensor)")
    if values.dtype != x.data.dtype and not np.can_cast(values.dtype, x.data.dtype, "same_kind"):
        raise RuntimeError(f"result type {values.dtype} can't be cast to the desired output type {x.data.dtype}")
    if values is x.data:
        return
    try:
        x.data[...] = values
    except ValueError as e:  # a broadcast (expand) view is read-only
        raise RuntimeError(f"in-place change of a read-only tensor (an expand()/broadcast view?): {e}; "
                           "clone() it first") from None


def _protect_own_saved(node: Node, x: Tensor) -> None:
    """The in-place op's own node may have saved x's old value (mul_ saves self): keep a copy,
    as x's memory is about to be overwritten."""
    saved = node.ctx._saved
    if not saved:
        return
    node.ctx._saved = tuple(backend.array_module(s).array(s, copy=True) if same_memory(s, x.data) else s
                            for s in saved)


def _change() -> int:
    """The number of a new in-place change (after every node made so far), noted in the engine."""
    seq = next(_seq)
    note_change(seq)
    return seq


def apply_inplace(x: Tensor, compute: Callable[[Tensor], Tensor],
                  direct: Callable[[], None] | None = None, operands_need_grad: bool = True) -> Tensor:
    """Change x in place to `compute(x)` (an out-of-place op on Tensors), recording the change
    in the graph when it needs a gradient. direct(): the same change done on x.data itself,
    used when no graph is recorded (grad mode off, or neither x nor the other operands require
    grad: optimisers' updates, `.grad.zero_()`). Returns x."""
    _check_allowed(x)
    _mark_overwritten(x)
    vc = x._version_counter()
    if not is_grad_enabled() or (direct is not None and not x.requires_grad and not operands_need_grad):
        if direct is not None:
            direct()
        else:
            with no_grad():
                _write(x, compute(x).data)
        vc.bump(_change())
        return x
    old = _stand_in(x)
    r = compute(old)
    node = r.grad_fn
    if node is None:  # nothing requires grad after all
        _write(x, r.data)
        vc.bump(_change())
        return x
    _protect_own_saved(node, x)
    _write(x, r.data)
    seq = _change()
    vc.bump(seq)
    if x._view is None:
        x.grad_fn, x.requires_grad, x._prior = node, True, (seq, old)
        return x
    base, steps = x._view
    base_old = _stand_in(base)
    ctx = Context((base_old.requires_grad, True, False))
    ctx.steps = steps
    base.grad_fn, base.requires_grad, base._prior = Node(CopySlices, ctx, (base_old, r, steps)), True, (seq, base_old)
    x.grad_fn, x.requires_grad, x._prior = _rederive(base, steps).grad_fn, True, (seq, old)
    return x


def _rederive(base: Tensor, steps: tuple) -> Tensor:
    """The view `steps` of base, as recorded ops (so its gradient flows to base's new value)."""
    from . import shape

    t = base
    for kind, arg in steps:
        t = shape.GetItem.apply(t, arg) if kind == "getitem" else shape.Reshape.apply(t, arg) \
            if kind == "reshape" else shape.Permute.apply(t, arg)
    return t
