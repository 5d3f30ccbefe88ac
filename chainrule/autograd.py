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
import itertools
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


_seq = itertools.count()  # every Node and every in-place change takes the next number: their order
# the number of the latest in-place change: nodes made after it need no history lookups (fast path)
_last_change = -1


def note_change(seq: int) -> None:
    """Record that an in-place change numbered `seq` happened (ops/inplace.py calls this)."""
    global _last_change
    _last_change = seq


class Version:
    """The in-place changes made to one block of memory (a tensor and its views share it): the
    sequence number of each. `len(seqs)` is PyTorch's `_version`; a node made before the last
    change that saved this memory would compute a wrong gradient."""

    __slots__ = ("seqs",)

    def __init__(self) -> None:
        self.seqs: list[int] = []

    def bump(self, seq: int) -> None:
        self.seqs.append(seq)

    def since(self, seq: int) -> int:
        """Changes made after sequence number `seq`."""
        return sum(1 for s in self.seqs if s > seq)


def storage(a: Any) -> Any:
    """The NumPy array that owns `a`'s memory (a itself, or the base its views lead to)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def same_memory(a: Any, b: Any) -> bool:
    """Whether arrays a and b are views of one block of memory (PyTorch: the same storage).
    NumPy: the same owner; device arrays: overlapping memory (CuPy's may_share_memory)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and storage(a) is storage(b)
    if backend.is_device_array(a) and backend.is_device_array(b):
        return bool(backend.array_module(a).may_share_memory(a, b))
    return False


def _as_of(t: Tensor, seq: int) -> Tensor:
    """The tensor that stood for t's value when node `seq` was made: an in-place change
    after it left the earlier value in a stand-in (`t._prior` = (change's seq, stand-in))."""
    while t._prior is not None and t._prior[0] > seq:
        t = t._prior[1]
    return t


class Node:
    """One recorded op in the graph (`grad_fn`): the Function, its ctx and its inputs.

    PyTorch's view of it: `name()` ("MulBackward0"), `next_functions` (the nodes the
    gradient goes to next: a producer's Node, an `AccumulateGrad` for a leaf, or None)."""

    __slots__ = ("fn", "ctx", "_inputs", "released", "seq", "dirty")

    def __init__(self, fn: type, ctx: Context, inputs: tuple):
        self.fn = fn
        self.ctx = ctx
        self._inputs = inputs
        self.released = False
        self.seq = next(_seq)
        self.dirty: tuple | None = None  # (tensor facts, role) once an in-place change overwrote its saved output

    @property
    def inputs(self) -> tuple:
        """The positional arguments as they were when the op ran (a tensor changed in place since
        is replaced by the stand-in for its earlier value)."""
        ins = self._inputs
        if self.seq > _last_change or not any(isinstance(a, Tensor) and a._prior is not None for a in ins):
            return ins
        return tuple(_as_of(a, self.seq) if isinstance(a, Tensor) else a for a in ins)

    def name(self) -> str:
        return getattr(self.fn, "node_name", None) or self.fn.__name__ + "Backward0"

    @property
    def next_functions(self) -> tuple:
        """((node, 0), ...) for each Tensor argument: its grad_fn, an AccumulateGrad for a leaf
        that requires grad, None for a constant."""
        out = []
        for a in self.inputs:
            if isinstance(a, Tensor):
                nxt = a.grad_fn if a.grad_fn is not None else (AccumulateGrad(a) if a.requires_grad else None)
                out.append((nxt, 0))
        return tuple(out)

    @property
    def metadata(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    def release(self) -> None:
        # Drop everything forward saved so the memory goes back at once.
        self.ctx._saved = None
        self.ctx.__dict__ = {"_saved": None, "needs_input_grad": self.ctx.needs_input_grad}
        self.released = True


class AccumulateGrad:
    """Where a leaf's gradient goes (PyTorch's name): `variable` is the leaf."""

    next_functions: tuple = ()

    def __init__(self, variable: Tensor):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


class Function:
    """Base class of every op. Subclasses define two static methods:

    forward(ctx, *args, **kwargs) -> ndarray   (Tensor arguments arrive as ndarrays)
    backward(ctx, grad_output) -> gradient or tuple of gradients, one per positional arg

    and are called as `MyOp.apply(*args, **kwargs)`.

    A backward may return its upstream gradient, arrays it saved, its inputs, views of those, or
    new arrays it keeps no reference to (never a cached or global array): the engine adds into
    the new ones in place and copies the others before it keeps them.

    View ops (`view_step` defined) return arrays that share their first input's memory; the
    result remembers its base and the steps from it, so an in-place change to the view also
    changes the base's value in the graph (as PyTorch's views).
    """

    view_step: Callable | None = None  # view ops: (args after the first) -> ("getitem"|"reshape"|"permute", arg)

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
        if cls.view_step is not None and isinstance(args[0], Tensor) and same_memory(out, raw[0]):
            _track_view(result, args[0], cls.view_step(*args[1:]))
        if _grad_enabled and any(needs):
            result.requires_grad = True
            result.grad_fn = Node(cls, ctx, args)
        return result


def _track_view(view: Tensor, src: Tensor, step: tuple) -> None:
    """`view` shares `src`'s memory: it shares its version counter and remembers (base, steps)."""
    if src._vc is None:
        src._vc = Version()
    view._vc = src._vc
    view._view = (src._view[0], src._view[1] + (step,)) if src._view is not None else (src, (step,))


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


# ---- callbacks queued during a backward pass (torch's Variable._execution_engine.queue_callback):
# DistributedDataParallel averages the gradients once they are all accumulated
_queued: list[Callable[[], None]] = []


def queue_callback(fn: Callable[[], None]) -> None:
    """Run fn() once, when the backward pass now running ends (call it from a Function's backward)."""
    _queued.append(fn)


# ------------------------------------------------------------ the backward pass
# The engine owns its gradients explicitly. `grads` maps each tensor to the gradient summed so
# far; `owned` holds the tensors whose array the engine itself allocated (a sum, an unbroadcast,
# a cast, a copy, the root's ones): only those may be added into in place or handed to a leaf
# as they are. An array a backward returned may be its upstream gradient, a saved value or a
# view of an input, so it is copied before anything writes to it or a leaf keeps it.
def backward(root: Tensor, gradient: Any = None, retain_graph: bool | None = None) -> None:
    """Backpropagate from `root` (see `Tensor.backward`)."""
    try:
        _backward(root, gradient, retain_graph)
    finally:  # (an error mid-way drops the queue: half-accumulated gradients are not synchronised)
        queued, _queued[:] = list(_queued), []
    for fn in queued:
        fn()


def _backward(root: Tensor, gradient: Any, retain_graph: bool | None) -> None:
    if not root.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn "
                           "(backward() on a tensor with no graph behind it)")
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs: backward() on shape {root.shape} "
                "needs gradient= of that shape"
            )
        grad, mine = backend.array_module(root.data).ones_like(root.data), True
    else:
        user = gradient.data if isinstance(gradient, Tensor) else gradient
        if (isinstance(user, np.ndarray) or backend.is_device_array(user)) and backend.device_of(user) != root.device:
            raise RuntimeError(f"backward(gradient=...) is on {backend.device_of(user)}, the output on {root.device}")
        grad = backend.array_module(root.data).asarray(user, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward(gradient=...) expects shape {root.shape}, got {grad.shape}")
        mine = grad is not user and backend.owns_data(grad)  # asarray made a new array
    grads: dict[int, np.ndarray] = {id(root): grad}
    owned: set[int] = {id(root)} if mine else set()
    del grad
    for t in reversed(topological_order(root)):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        mine = id(t) in owned
        owned.discard(id(t))
        if t.grad_fn is None:  # a leaf: accumulate
            _accumulate(t, g if mine or t.grad is not None else g.copy())
            continue
        if t._retain_grad:
            _accumulate(t, g.copy() if t.grad is None else g)
        _propagate(t.grad_fn, g, grads, owned, bool(retain_graph))


def _accumulate(t: Tensor, g: np.ndarray) -> None:
    """Add g into t.grad: the first gradient becomes a new Tensor around g (the caller owns g);
    later ones replace the data of the same Tensor with the sum (so `x.grad` keeps its identity
    across backward calls, as PyTorch's, and an array a user took from it is never written)."""
    if t.grad is None:
        t.grad = wrap(g)
    else:
        t.grad.data = _sum(t.grad.data, g)


def _propagate(node: Node, g: np.ndarray, grads: dict[int, np.ndarray], owned: set[int],
               retain_graph: bool) -> None:
    """Run one node's backward and add its input gradients into `grads`."""
    if node.released:
        node.ctx.saved_tensors  # raises the "second time" error
    _check_saved(node)
    in_grads = node.fn.backward(node.ctx, g)
    if not isinstance(in_grads, tuple):
        in_grads = (in_grads,)
    fresh = _fresh_arrays(node, g, in_grads)
    for inp, ig in zip(node.inputs, in_grads):
        if ig is None or not (isinstance(inp, Tensor) and inp.requires_grad):
            continue
        arr = backend.array_module(inp.data).asarray(ig)
        mine = id(ig) in fresh or arr is not ig
        ig = unbroadcast(arr, inp.shape)
        mine = mine or ig is not arr
        if ig.dtype != inp.dtype:
            ig, mine = ig.astype(inp.dtype), True
        key = id(inp)
        prev = grads.get(key)
        if prev is None:
            grads[key] = ig
            if mine:
                owned.add(key)
        elif key in owned:  # the engine made prev: add in place
            prev += ig
        else:
            grads[key] = _sum(prev, ig)
            owned.add(key)
    if not retain_graph:
        node.release()


def _sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b as a new array (NumPy turns the sum of two 0-d arrays into a scalar)."""
    out = a + b
    return out if isinstance(out, np.ndarray) or backend.is_device_array(out) else np.asarray(out)


def _fresh_arrays(node: Node, g: np.ndarray, in_grads: tuple) -> set[int]:
    """ids of the arrays in in_grads that the backward made and let go of: ones that own their
    memory, appear once, and are none of what the node knows (upstream, saved, inputs, ctx)."""
    cands = [a for a in in_grads if type(a) is np.ndarray and a.flags.owndata and a.flags.writeable
             or backend.is_device_array(a) and a.flags.owndata]
    if not cands:
        return set()
    ctx = node.ctx
    known = [g, *(ctx._saved or ()), *ctx.__dict__.values(), *(a.data if isinstance(a, Tensor) else a for a in node._inputs)]
    if len(cands) == 1:
        a = cands[0]
        return set() if any(a is k for k in known) else {id(a)}
    return {id(a) for a in cands
            if sum(1 for b in cands if b is a) == 1 and not any(a is k for k in known)}


def _check_saved(node: Node) -> None:
    """PyTorch's error when an in-place change overwrote memory this node saved for backward."""
    if node.dirty is not None:
        raise RuntimeError(modified_message(*node.dirty))
    saved = node.ctx._saved
    if not saved or node.seq > _last_change:
        return
    for a in node._inputs:
        if isinstance(a, Tensor) and a._vc is not None and a._vc.seqs and a._vc.seqs[-1] > node.seq:
            if any(same_memory(s, a.data) for s in saved):
                raise RuntimeError(modified_message(*facts(a), f"an input of {node.name()}", node.seq))


def facts(t: Tensor) -> tuple:
    """What the in-place error names of a tensor (no reference to it: nodes keep these)."""
    return t.dtype, tuple(t.shape), t._version_counter()


def modified_message(dtype: Any, shape: tuple, vc: Version, role: str, seq: int) -> str:
    """PyTorch's words for a saved value changed in place before backward used it."""
    now = len(vc.seqs)
    return (f"one of the variables needed for gradient computation has been modified by an inplace "
            f"operation: [{dtype} {list(shape)}], which is {role}, is at version {now}; expected "
            f"version {now - vc.since(seq)} instead. Hint: clone() it before the in-place change, "
            "or use the out-of-place form (x = x + y instead of x += y).")


def __getattr__(name: str):  # `cr.autograd.functional` (issue 26) lives in autograd_functional.py
    if name == "functional": from . import autograd_functional; return autograd_functional  # noqa: E702
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
