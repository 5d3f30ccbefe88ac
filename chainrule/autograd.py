"""The computational graph: `Function`, its `ctx`, `no_grad`, and the backward pass.

Every op is a `Function` with a static `forward(ctx, *args)` working on NumPy
arrays and a static `backward(ctx, grad_output)` returning one gradient per
forward argument (None where there is none). `Function.apply` runs forward
and, when any input requires grad, records a `Node` on the output. Backward
is the lecture's rule, applied in reverse topological order:

    input gradient = local gradient x upstream gradient
"""
from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import numpy as np

from . import backend
from .tensor import Tensor, wrap

_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring it on exit."""

    mode = True

    def __enter__(self) -> None:
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Disable graph recording: `with cr.no_grad(): ...` or `@cr.no_grad()`."""

    mode = False


class enable_grad(_GradMode):
    """Re-enable graph recording inside a `no_grad` block."""

    mode = True


class Context:
    """What forward leaves for backward: `save_for_backward(*arrays)`, then
    `saved_tensors`; any other attribute may be set freely (shapes, flags).
    `needs_input_grad[i]` says whether argument i needs a gradient."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self._saved: tuple | None = ()

    def save_for_backward(self, *arrays: Any) -> None:
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (its saved values were "
                "freed after the first backward). Pass retain_graph=True to the first backward."
            )
        return self._saved


class Node:
    """One recorded op in the graph: the Function, its ctx and its inputs."""

    __slots__ = ("fn", "ctx", "inputs", "released")

    def __init__(self, fn: type, ctx: Context, inputs: tuple):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs
        self.released = False

    @property
    def name(self) -> str:
        return self.fn.__name__ + "Backward"

    def release(self) -> None:
        # Drop everything forward saved so the memory goes back at once.
        self.ctx._saved = None
        self.ctx.__dict__ = {"_saved": None, "needs_input_grad": self.ctx.needs_input_grad}
        self.released = True


class Function:
    """Base class of every op. Subclasses define two static methods:

    forward(ctx, *args, **kwargs) -> ndarray   (Tensor arguments arrive as ndarrays)
    backward(ctx, grad_output) -> gradient or tuple of gradients, one per positional arg

    and are called as `MyOp.apply(*args, **kwargs)`.
    """

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = Context(needs)
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        if backend._cupy is not None:  # only a program that has used a GPU can mix devices
            _check_one_device(cls, raw)
        out = cls.forward(ctx, *raw, **kwargs)
        if not isinstance(out, np.ndarray) and not backend.is_device_array(out):
            out = np.asarray(out)
        result = wrap(out)
        if _grad_enabled and any(needs):
            result.requires_grad = True
            result.grad_fn = Node(cls, ctx, args)
        return result


def _check_one_device(fn: type, arrays: list) -> None:
    """PyTorch's error when one op is given arrays on two devices (names both)."""
    devices = {backend.device_of(a) for a in arrays if isinstance(a, np.ndarray) or backend.is_device_array(a)}
    if len(devices) > 1:
        a, b = sorted(str(d) for d in devices)[:2]
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two "
                           f"devices, {a} and {b}! (in {fn.__name__}; move them with .to(device))")


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient computed in a broadcast shape back to an input's `shape`."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"gradient of shape {grad.shape} cannot belong to an input of shape {shape}")
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    g = grad.sum(axis=axes, keepdims=True) if axes else grad
    return g.reshape(shape)


def _own(g: np.ndarray) -> np.ndarray:
    """g itself when nothing else can see it (PyTorch's AccumulateGrad steals it the same way),
    else a copy: `.grad` must never alias an array another tensor or op still holds."""
    # 3 references: the caller's variable, this argument, and getrefcount's own.
    if backend.owns_data(g) and sys.getrefcount(g) <= 3:
        return g
    return g.copy()


def topological_order(root: Tensor) -> list[Tensor]:
    """Tensors of the graph behind `root`, inputs before outputs (iterative DFS:
    deep networks would overflow Python's recursion limit)."""
    order, visited = [], set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t.grad_fn is not None:
            for inp in t.grad_fn.inputs:
                if isinstance(inp, Tensor) and inp.requires_grad and id(inp) not in visited:
                    stack.append((inp, False))
    return order


def backward(root: Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """Backpropagate from `root` (see `Tensor.backward`)."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad (no graph behind it)")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar output, got shape {root.shape}; "
                "pass grad= of that shape"
            )
        grad = backend.array_module(root.data).ones_like(root.data)
    else:
        grad = grad.data if isinstance(grad, Tensor) else grad
        if (isinstance(grad, np.ndarray) or backend.is_device_array(grad)) and backend.device_of(grad) != root.device:
            raise RuntimeError(f"backward(grad=...) is on {backend.device_of(grad)}, the output on {root.device}")
        grad = backend.array_module(root.data).asarray(grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward(grad=...) expects shape {root.shape}, got {grad.shape}")

    grads: dict[int, np.ndarray] = {id(root): grad}
    del grad  # so the engine alone holds the root's gradient
    for t in reversed(topological_order(root)):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        if t.grad_fn is None:  # a leaf: accumulate
            _accumulate(t, _own(g) if t.grad is None else g)
            continue
        if t._retain_grad:
            _accumulate(t, g.copy() if t.grad is None else g)
        _propagate(t.grad_fn, g, grads, retain_graph)


def _accumulate(t: Tensor, g: np.ndarray) -> None:
    """Add g into t.grad: the first gradient becomes a new Tensor around g (the caller owns g);
    later ones replace the data of the same Tensor with the sum (so `x.grad` keeps its identity
    across backward calls, as PyTorch's, and an array a user took from it is never written)."""
    if t.grad is None:
        t.grad = wrap(g)
    else:
        t.grad.data = t.grad.data + g


def _propagate(node: Node, g: np.ndarray, grads: dict[int, np.ndarray], retain_graph: bool) -> None:
    """Run one node's backward and add its input gradients into `grads`.
    (A function of its own so its temporaries are gone before a leaf takes its gradient.)"""
    if node.released:
        node.ctx.saved_tensors  # raises the "second time" error
    in_grads = node.fn.backward(node.ctx, g)
    if not isinstance(in_grads, tuple):
        in_grads = (in_grads,)
    for inp, ig in zip(node.inputs, in_grads):
        if ig is None or not (isinstance(inp, Tensor) and inp.requires_grad):
            continue
        ig = unbroadcast(backend.array_module(inp.data).asarray(ig), inp.shape)
        if ig.dtype != inp.dtype:
            ig = ig.astype(inp.dtype)
        prev = grads.get(id(inp))
        if prev is None:
            grads[id(inp)] = ig
        # a second use: add in place when only `grads` holds prev (as in `_own`; 3 references:
        # the dict, `prev` and getrefcount's argument), else a new array
        elif backend.owns_data(prev) and sys.getrefcount(prev) <= 3:
            prev += ig
        else:
            grads[id(inp)] = prev + ig
    if not retain_graph:
        node.release()


def __getattr__(name: str):  # `cr.autograd.functional` (issue 26) lives in autograd_functional.py
    if name == "functional": from . import autograd_functional; return autograd_functional  # noqa: E702
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
