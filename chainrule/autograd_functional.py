"""`cr.autograd.functional`: derivatives of a whole function, with PyTorch's signatures.

    jacobian(func, inputs)      J[i][j] = d out_i / d in_j, shape out_i.shape + in_j.shape
    hessian(func, inputs)       H[i][j] = d^2 f / d in_i d in_j for a scalar f
    vjp(func, inputs, v)        (func(*inputs), v^T J)     one backward pass
    jvp(func, inputs, v)        (func(*inputs), J v)
    hvp / vhp(func, inputs, v)  (func(*inputs), H v) / (func(*inputs), v^T H)

`inputs` is a Tensor or a tuple of Tensors; `func` returns a Tensor or a tuple of Tensors; the
results nest the same way as in PyTorch (a tuple level only where the caller used a tuple).

How each is computed, and why. chainrule's backward runs each op's gradient on NumPy arrays and
builds no graph of its own (there is no `create_graph`), so the engine gives first derivatives
exactly and second derivatives not at all:
  - jacobian, vjp, jvp are exact: one reverse pass per output element (vjp: one pass in all);
    jvp contracts the exact Jacobian with v (PyTorch uses the double-vjp trick, which needs
    create_graph), so it costs one backward pass per output element.
  - hessian, hvp, vhp differentiate the exact gradient numerically along v: central differences
    with one Richardson step, error O(h^4) + O(eps/h), about 1e-11 relative in float64 (exact up to
    rounding for quadratics). Inputs are promoted to float64 for this and the result is cast back.
    Within 1e-4 of a kink (relu at 0, max ties) the difference straddles it: PyTorch would give
    the one-sided second derivative there, this gives their mean.
`create_graph=True` (differentiating the results again) is refused with a clear error.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from .autograd import enable_grad
from .tensor import Tensor

__all__ = ["jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"]

_STRATEGIES = ("reverse-mode", "forward-mode")


# ----------------------------------------------------------------------------- plumbing
def _as_tuple(x: Any, arg: str, fn: str) -> tuple[bool, tuple[Tensor, ...]]:
    """(was it a tuple, the tensors as a tuple); PyTorch's error for anything else."""
    is_tuple = isinstance(x, tuple)
    items = x if is_tuple else (x,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            where = f"{arg} (element {i})" if is_tuple else arg
            raise TypeError(f"The {where} given to {fn} must be either a Tensor or a tuple of Tensors "
                            f"but got {type(t).__name__}.")
    return is_tuple, items


def _nest(items: Any, *tuple_levels: bool) -> Any:
    """Drop the tuple levels the caller did not use (PyTorch's _tuple_postprocess)."""
    if len(tuple_levels) == 2:
        outer, inner = tuple_levels
        if not inner:
            items = tuple(row[0] for row in items)
        return items if outer else items[0]
    return items if tuple_levels[0] else items[0]


def _no_create_graph(create_graph: bool, fn: str) -> None:
    if create_graph:
        raise NotImplementedError(
            f"{fn}(create_graph=True): chainrule's backward runs on NumPy arrays and records no graph, "
            "so its results cannot be differentiated again; call it without create_graph")


def _leaves(inputs: tuple[Tensor, ...], fn: str, dtype: Any = None) -> tuple[Tensor, ...]:
    """Fresh leaves holding copies of the inputs: the caller's tensors and their .grad are never touched."""
    out = []
    for i, t in enumerate(inputs):
        if t.dtype.kind != "f":
            raise TypeError(f"{fn}: input {i} has dtype {t.dtype}; only floating-point inputs can be "
                            "differentiated")
        data = t.data.astype(dtype or t.dtype, copy=True)
        out.append(Tensor(data, requires_grad=True))
    return tuple(out)


def _call(func: Callable, leaves: tuple[Tensor, ...], fn: str) -> tuple[bool, tuple[Tensor, ...]]:
    with enable_grad():
        out = func(*leaves)
    return _as_tuple(out, "outputs of the user-provided function", fn)


def _pull(out: Tensor, grad: np.ndarray, leaves: tuple[Tensor, ...], i: int, strict: bool,
          fn: str) -> list[np.ndarray]:
    """d<out, grad>/d leaf for each leaf (zeros where out does not depend on it), by one backward."""
    for leaf in leaves:
        leaf.grad = None
    if out.requires_grad:
        out.backward(grad.astype(out.dtype, copy=False), retain_graph=True)
    grads = []
    for j, leaf in enumerate(leaves):
        if leaf.grad is None:
            if strict:
                raise RuntimeError(f"Output {i} of the user-provided function is independent of input {j}. "
                                   "This is not allowed in strict mode.")
            grads.append(np.zeros(leaf.shape, dtype=leaf.dtype))
        else:
            grads.append(np.array(np.asarray(leaf.grad), dtype=leaf.dtype))
    return grads


def _check_v(v: Any, like: tuple[Tensor, ...], is_tuple: bool, what: str, fn: str) -> tuple[np.ndarray, ...]:
    """v as arrays, one per tensor of `like`; None only where `like` is one single-element tensor."""
    if v is None:
        if len(like) == 1 and like[0].numel() == 1:
            return (np.ones(like[0].shape, dtype=like[0].dtype),)
        raise RuntimeError(f"The vector v can only be None if the {what} to the user-provided function "
                           "is a single Tensor with a single element.")
    v_tuple, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(like):
        raise RuntimeError(f"v has {len(vs)} tensors but the {what} has {len(like)}: they must match")
    for k, (a, b) in enumerate(zip(vs, like)):
        if a.shape != b.shape:
            raise RuntimeError(f"Mismatch in shape: v (element {k}) has shape {tuple(a.shape)} but the {what} "
                               f"has shape {tuple(b.shape)}")
    return tuple(np.asarray(a.data, dtype=b.dtype) for a, b in zip(vs, like))


def _detached(outs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return tuple(o.detach() for o in outs)


# ----------------------------------------------------------------------------- first order, exact
def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """The Jacobian of func at inputs: J[i][j] of shape outputs[i].shape + inputs[j].shape.

    Exact: one backward pass per output element (`vectorize` and `strategy` are accepted for
    PyTorch's signature; both strategies give the same numbers here).
    """
    _no_create_graph(create_graph, "jacobian")
    if strategy not in _STRATEGIES:
        raise ValueError(f"Expected strategy to be either \"forward-mode\" or \"reverse-mode\", got {strategy!r}")
    in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    leaves = _leaves(inputs, "jacobian")
    out_tuple, outs = _call(func, leaves, "jacobian")
    rows = []
    for i, out in enumerate(outs):
        blocks = [np.zeros(out.shape + leaf.shape, dtype=leaf.dtype) for leaf in leaves]
        flat = [b.reshape((out.numel(),) + leaf.shape) for b, leaf in zip(blocks, leaves)]
        onehot = np.zeros(out.numel(), dtype=out.dtype if out.dtype.kind == "f" else np.float64)
        for k in range(out.numel()):
            onehot[k] = 1.0
            for f, g in zip(flat, _pull(out, onehot.reshape(out.shape), leaves, i, strict, "jacobian")):
                f[k] = g
            onehot[k] = 0.0
        rows.append(tuple(Tensor(b) for b in blocks))
    return _nest(tuple(rows), out_tuple, in_tuple)


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False):
    """(func(*inputs), v^T J): the vector-Jacobian product, one backward pass (exact).
    v has the outputs' shapes; it may be None when the output is a single-element tensor."""
    _no_create_graph(create_graph, "vjp")
    in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    leaves = _leaves(inputs, "vjp")
    out_tuple, outs = _call(func, leaves, "vjp")
    vs = _check_v(v, outs, out_tuple, "output", "vjp")
    total = [np.zeros(leaf.shape, dtype=leaf.dtype) for leaf in leaves]
    for i, (out, vi) in enumerate(zip(outs, vs)):
        for acc, g in zip(total, _pull(out, vi, leaves, i, strict, "vjp")):
            acc += g
    return _nest(_detached(outs), out_tuple), _nest(tuple(Tensor(t) for t in total), in_tuple)


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False):
    """(func(*inputs), J v): the Jacobian-vector product (exact; one backward pass per output
    element). v has the inputs' shapes; it may be None when the input is a single-element tensor."""
    _no_create_graph(create_graph, "jvp")
    in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    leaves = _leaves(inputs, "jvp")
    vs = _check_v(v, leaves, in_tuple, "input", "jvp")
    out_tuple, outs = _call(func, leaves, "jvp")
    results = []
    for i, out in enumerate(outs):
        flat = np.zeros(out.numel(), dtype=out.dtype)
        onehot = np.zeros(out.numel(), dtype=out.dtype if out.dtype.kind == "f" else np.float64)
        for k in range(out.numel()):
            onehot[k] = 1.0
            grads = _pull(out, onehot.reshape(out.shape), leaves, i, strict, "jvp")
            flat[k] = sum(float(np.vdot(g, vj)) for g, vj in zip(grads, vs))
            onehot[k] = 0.0
        results.append(Tensor(flat.reshape(out.shape)))
    return _nest(_detached(outs), out_tuple), _nest(tuple(results), out_tuple)


# ----------------------------------------------------------------------------- second order
def _scalar_output(func: Callable, leaves: tuple[Tensor, ...], fn: str) -> Tensor:
    out_tuple, outs = _call(func, leaves, fn)
    if out_tuple and len(outs) != 1:
        raise RuntimeError(f"The function given to {fn} should return a single Tensor")
    if outs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain a single "
                           f"element, got shape {tuple(outs[0].shape)}")
    return outs[0]


def _gradient(func: Callable, xs: list[np.ndarray], strict: bool, fn: str) -> list[np.ndarray]:
    """The exact gradient of the scalar func at the float64 arrays xs (one backward pass)."""
    leaves = tuple(Tensor(x, requires_grad=True) for x in xs)
    out = _scalar_output(func, leaves, fn)
    if not out.requires_grad and strict:
        raise RuntimeError("The output of the user-provided function is independent of the inputs. "
                           "This is not allowed in strict mode.")
    return _pull(out, np.ones(out.shape), leaves, 0, strict, fn)


def _directional(func: Callable, xs: list[np.ndarray], vs: list[np.ndarray], strict: bool,
                 fn: str) -> list[np.ndarray]:
    """H v: the derivative of the exact gradient along v, by central differences plus one
    Richardson step (D(h/2) and D(h) combined cancel the h^2 error term)."""
    vmax = max((float(np.abs(v).max()) for v in vs if v.size), default=0.0)
    if vmax == 0.0:
        return [np.zeros_like(x) for x in xs]
    xmax = max((float(np.abs(x).max()) for x in xs if x.size), default=0.0)
    h = 1e-4 * (1.0 + xmax) / vmax

    def central(step: float) -> list[np.ndarray]:
        plus = _gradient(func, [x + step * v for x, v in zip(xs, vs)], strict, fn)
        minus = _gradient(func, [x - step * v for x, v in zip(xs, vs)], strict, fn)
        return [(p - m) / (2 * step) for p, m in zip(plus, minus)]

    coarse, fine = central(h), central(h / 2)
    return [(4 * f - c) / 3 for f, c in zip(fine, coarse)]


def _second_order_setup(func: Callable, inputs: Any, create_graph: bool, fn: str):
    _no_create_graph(create_graph, fn)
    in_tuple, inputs = _as_tuple(inputs, "inputs", fn)
    leaves = _leaves(inputs, fn, dtype=np.float64)
    out = _scalar_output(func, leaves, fn)
    return in_tuple, inputs, [leaf.data for leaf in leaves], out


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of the scalar func at inputs: H[i][j] of shape inputs[i].shape + inputs[j].shape.

    Differentiates the exact gradient numerically (see the module's docstring), one direction per
    input element, then symmetrises (H + H^T) / 2, as the true Hessian of a C^2 function is."""
    if outer_jacobian_strategy not in _STRATEGIES:
        raise ValueError(f"Expected strategy to be either \"forward-mode\" or \"reverse-mode\", "
                         f"got {outer_jacobian_strategy!r}")
    in_tuple, inputs, xs, _ = _second_order_setup(func, inputs, create_graph, "hessian")
    sizes = [x.size for x in xs]
    n = sum(sizes)
    full = np.zeros((n, n))
    for col in range(n):
        e = np.zeros(n)
        e[col] = 1.0
        vs = [part.reshape(x.shape) for part, x in zip(np.split(e, np.cumsum(sizes)[:-1]), xs)]
        full[:, col] = np.concatenate([g.ravel() for g in _directional(func, xs, vs, strict, "hessian")])
    full = (full + full.T) / 2
    edges = np.cumsum([0] + sizes)
    rows = tuple(
        tuple(Tensor(full[edges[i]:edges[i + 1], edges[j]:edges[j + 1]]
                     .reshape(xs[i].shape + xs[j].shape).astype(inputs[j].dtype))
              for j in range(len(xs)))
        for i in range(len(xs)))
    return _nest(rows, in_tuple, in_tuple)


def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False):
    """(func(*inputs), H v) for a scalar func; v has the inputs' shapes (None for one
    single-element input). The exact gradient differentiated numerically along v."""
    in_tuple, inputs, xs, out = _second_order_setup(func, inputs, create_graph, "hvp")
    vs = _check_v(v, tuple(Tensor(x) for x in xs), in_tuple, "input", "hvp")
    hv = _directional(func, xs, list(vs), strict, "hvp")
    result = tuple(Tensor(g.astype(t.dtype)) for g, t in zip(hv, inputs))
    return Tensor(out.data.astype(inputs[0].dtype)), _nest(result, in_tuple)


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False):
    """(func(*inputs), v^T H): equal to hvp, the Hessian of a twice continuously differentiable
    function being symmetric."""
    return hvp(func, inputs, v, create_graph=create_graph, strict=strict)


# `from chainrule.autograd.functional import jacobian` works once this module is loaded (autograd.py
# is a module, not a package, so the name is registered here).
sys.modules.setdefault("chainrule.autograd.functional", sys.modules[__name__])
