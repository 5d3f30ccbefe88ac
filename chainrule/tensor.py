"""`Tensor`: a NumPy array that remembers how it was computed.

A tensor made by an op keeps a reference to the op's node (`grad_fn`); calling
`backward()` on a result walks those nodes in reverse topological order (see
`autograd.py`). Leaf tensors with `requires_grad=True` accumulate `.grad`.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from . import backend as _backend
from . import rng as _rng

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_dtype = float32


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype used for tensors built from Python floats (float32 or float64)."""
    global _default_dtype
    d = np.dtype(dtype)
    if d not in (float32, float64):
        raise ValueError(f"default dtype must be float32 or float64, got {d}")
    _default_dtype = d


def get_default_dtype() -> np.dtype:
    """The dtype of tensors built from Python floats (float32 unless changed)."""
    return _default_dtype


def _to_array(data: Any, dtype: Any = None, copy: bool = False) -> np.ndarray:
    """Convert data to an ndarray following PyTorch's rules for the dtype.

    Python floats (and lists of them) take the default dtype, Python ints int64,
    ndarrays keep theirs unless `dtype` is given.
    """
    if isinstance(data, Tensor):
        data = data.data
    if _backend.is_device_array(data):  # a CuPy array stays on its device
        return data.astype(np.dtype(dtype) if dtype is not None else data.dtype, copy=copy)
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype), copy=copy or None)
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        return np.array(data, copy=copy or None)
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        arr = arr.astype(_default_dtype)
    elif arr.dtype.kind in "iu" and arr.dtype != int64:
        arr = arr.astype(int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"cannot make a tensor from data of dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array with automatic differentiation.

    Attributes: `data` (the ndarray), `grad` (a Tensor of `data.shape`, or None),
    `requires_grad`, `grad_fn` (the node that made it, None for leaves).
    """

    __slots__ = ("data", "_grad", "requires_grad", "grad_fn", "_retain_grad", "__weakref__")
    # Make NumPy defer to our reflected operators (ndarray + Tensor -> Tensor.__radd__).
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, device: Any = None):
        self.data: np.ndarray = _to_array(data, dtype)
        if device is not None:
            self.data = _backend.to_device(self.data, device)
        self._grad: Tensor | None = None
        self.grad_fn = None
        self._retain_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ----------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def size(self, dim: int | None = None):
        """PyTorch's `size()`: the shape, or one dimension of it."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> _backend.Device:
        """Where the data lives: `device(type='cpu')` or `device(type='cuda', index=0)`."""
        return _backend.device_of(self.data)

    @property
    def is_cuda(self) -> bool:
        return _backend.is_device_array(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    # ------------------------------------------------------------- autograd
    @property
    def grad(self) -> "Tensor | None":
        """The gradient backward accumulated here: a Tensor of this shape (its `.data` the array),
        or None before any backward."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        # A bare array is accepted and wrapped (chainrule's arrays are its tensors' data);
        # anything else is an error, as in PyTorch.
        if value is not None:
            if not isinstance(value, Tensor):
                if not (isinstance(value, np.ndarray) or _backend.is_device_array(value)):
                    raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
                value = wrap(value)
            if value.data.shape != self.data.shape:
                raise RuntimeError(f"assigned grad has data of a different size: {value.data.shape} "
                                   f"for a tensor of shape {self.data.shape}")
        self._grad = value

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf tensor after backward (for inspecting a graph)."""
        self._retain_grad = True

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor; leaves accumulate into `.grad`.

        grad: upstream gradient of this tensor's shape; may be omitted for a scalar (1 is used).
        retain_graph: keep the graph so backward can run through it again.
        """
        from .autograd import backward

        backward(self, grad, retain_graph=retain_graph)

    def detach(self) -> "Tensor":
        """A new leaf tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad_(self) -> None:
        self.grad = None

    # ---------------------------------------------------------- conversions
    def numpy(self) -> np.ndarray:
        if self.is_cuda:
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        if self.requires_grad:
            raise RuntimeError("can't call numpy() on a tensor that requires grad; use .detach().numpy()")
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        if self.is_cuda:
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        if dtype is None:
            return self.data
        return self.data.astype(dtype, copy=False)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of one element can be converted to an index")
        return int(self.data.item())

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __format__(self, spec: str) -> str:
        # a 0-d tensor formats as its number (f"{loss:.4f}"), as in PyTorch
        return format(self.item(), spec) if self.data.ndim == 0 else format(repr(self), spec)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        body = np.array2string(_backend.to_host(self.data), separator=", ", prefix="tensor(", precision=4)
        extras = [f"device='{self.device}'"] if self.is_cuda else []
        if self.data.dtype not in (_default_dtype, int64, bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------- casting and devices
    def to(self, *args: Any, dtype: Any = None, device: Any = None, copy: bool = False) -> "Tensor":
        """PyTorch's `to`: `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other_tensor)`,
        or the keywords. Differentiable: the gradient goes back to this tensor's device and dtype.
        Returns self when nothing changes (and copy is False)."""
        device, dtype = to_arguments(args, device, dtype)
        out = self
        if device is not None and _backend.device(device) != self.device:
            out, copy = _ops.to_device(out, _backend.device(device)), False
        if dtype is not None and (np.dtype(dtype) != out.dtype or copy):
            out, copy = _ops.cast(out, dtype, copy=copy), False
        return _ops.cast(out, out.dtype, copy=True) if copy else out

    def astype(self, dtype: Any) -> "Tensor":
        return _ops.cast(self, dtype)

    def cpu(self) -> "Tensor":
        """This tensor on the CPU (itself when it is there)."""
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> "Tensor":
        """This tensor on a CUDA device (`cuda:0` unless an index is given)."""
        return self.to(_backend.Device("cuda", device) if isinstance(device, int) else (device or "cuda"))

    def float(self) -> "Tensor":
        return _ops.cast(self, float32)

    def double(self) -> "Tensor":
        return _ops.cast(self, float64)

    def long(self) -> "Tensor":
        return Tensor(self.data.astype(int64))

    def int(self) -> "Tensor":
        return Tensor(self.data.astype(int32))

    def bool(self) -> "Tensor":
        return Tensor(self.data.astype(bool_))

    def clone(self) -> "Tensor":
        return _ops.cast(self, self.dtype, copy=True)

    # ----------------------------------------------------------- arithmetic
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __pow__(self, exponent): return _ops.pow(self, exponent)
    def __rpow__(self, base): return _ops.rpow(base, self)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)

    # In-place updates of leaves are for optimisers and init, outside any graph.
    def _inplace(self) -> "Tensor":
        if self.requires_grad and _grad_enabled():
            raise RuntimeError("in-place operation on a tensor that requires grad; wrap it in cr.no_grad()")
        return self

    def zero_(self) -> "Tensor":
        """Fill with zeros in place (`x.grad.zero_()`)."""
        self._inplace().data[...] = 0
        return self

    def __iadd__(self, other):
        self._inplace().data += _unwrap(other)
        return self

    def __isub__(self, other):
        self._inplace().data -= _unwrap(other)
        return self

    def __imul__(self, other):
        self._inplace().data *= _unwrap(other)
        return self

    def __itruediv__(self, other):
        self._inplace().data /= _unwrap(other)
        return self

    # Comparisons give boolean tensors and are not differentiable.
    def __eq__(self, other): return Tensor(self.data == _unwrap(other))  # type: ignore[override]
    def __ne__(self, other): return Tensor(self.data != _unwrap(other))  # type: ignore[override]
    def __lt__(self, other): return Tensor(self.data < _unwrap(other))
    def __le__(self, other): return Tensor(self.data <= _unwrap(other))
    def __gt__(self, other): return Tensor(self.data > _unwrap(other))
    def __ge__(self, other): return Tensor(self.data >= _unwrap(other))

    # ----------------------------------------------------- elementwise math
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def relu(self): return _ops.relu(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def tanh(self): return _ops.tanh(self)

    def clip(self, min=None, max=None):  # noqa: A002 (PyTorch's names)
        return _ops.clip(self, min, max)

    clamp = clip

    # ------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    amax = max
    amin = min

    def var(self, axis=None, keepdims=False, *, dim=None, keepdim=None, correction=1, unbiased=None):
        return _ops.var(self, axis, keepdims, dim=dim, keepdim=keepdim,
                        correction=correction, unbiased=unbiased)

    def std(self, axis=None, keepdims=False, *, dim=None, keepdim=None, correction=1, unbiased=None):
        return self.var(axis, keepdims, dim=dim, keepdim=keepdim,
                        correction=correction, unbiased=unbiased).sqrt()

    def all(self, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None) -> "Tensor":
        """Whether every element (along `dim`) is nonzero: a bool tensor."""
        return _logical_reduce(self, "all", axis, keepdims, dim, keepdim, out)

    def any(self, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None) -> "Tensor":
        """Whether some element (along `dim`) is nonzero: a bool tensor."""
        return _logical_reduce(self, "any", axis, keepdims, dim, keepdim, out)

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> "Tensor":
        axis = dim if dim is not None else axis
        keepdims = keepdim if keepdim is not None else keepdims
        return Tensor(self.data.argmax(axis=axis, keepdims=keepdims).astype(int64))

    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> "Tensor":
        axis = dim if dim is not None else axis
        keepdims = keepdim if keepdim is not None else keepdims
        return Tensor(self.data.argmin(axis=axis, keepdims=keepdims).astype(int64))

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape): return _ops.reshape(self, _shape_args(shape))
    def view(self, *shape): return _ops.reshape(self, _shape_args(shape))

    def transpose(self, dim0: int | None = None, dim1: int | None = None):
        """PyTorch's `transpose(dim0, dim1)`; with no arguments, reverse all axes (NumPy's)."""
        if dim0 is None and dim1 is None:
            return _ops.permute(self, tuple(reversed(range(self.ndim))))
        if dim0 is None or dim1 is None:
            raise TypeError("transpose takes two dims (or none to reverse all axes)")
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return _ops.permute(self, tuple(axes))

    def permute(self, *dims): return _ops.permute(self, _shape_args(dims))

    @property
    def T(self):
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: int | None = None):
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return _ops.unsqueeze(self, dim)

    def __getitem__(self, index):
        return _ops.getitem(self, index)


def wrap(array: Any) -> Tensor:
    """A tensor around `array` as it is (no copy, no dtype rule): for arrays the library made."""
    t = Tensor.__new__(Tensor)
    t.data = array
    t._grad = None
    t._retain_grad = False
    t.requires_grad = False
    t.grad_fn = None
    return t


def to_arguments(args: tuple, device: Any = None, dtype: Any = None) -> tuple[Any, Any]:
    """(device, dtype) named by the positional arguments of PyTorch's `to(...)` (a device, a dtype,
    both, or a tensor whose device and dtype are meant), over the keywords' values."""
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif _backend.is_device_spec(a):
            device = a
        else:
            dtype = a
    return device, dtype


def _logical_reduce(t: Tensor, how: str, axis, keepdims, dim, keepdim, out) -> Tensor:
    if out is not None:  # NumPy's np.all(t) passes out=None; a real out= is not supported here
        raise TypeError(f"{how}(): out= is not supported")
    axis = dim if dim is not None else axis
    keepdims = keepdim if keepdim is not None else keepdims
    xp = _backend.array_module(t.data)
    return Tensor(getattr(xp, how)(t.data, axis=axis, keepdims=bool(keepdims)))


def _grad_enabled() -> bool:
    from .autograd import is_grad_enabled

    return is_grad_enabled()


def _unwrap(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _shape_args(shape: tuple) -> tuple[int, ...]:
    """Accept both `reshape(2, 3)` and `reshape((2, 3))`."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


# ------------------------------------------------------------------ factories
# Every factory takes PyTorch's `device=`; random draws come from chainrule's one generator
# on the host and are then copied, so a seed gives the same numbers on every device.
def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    """A new tensor holding a copy of `data` (PyTorch's `torch.tensor`)."""
    return Tensor(_to_array(data, dtype, copy=True), requires_grad=requires_grad, device=device)


def _dtype_or_default(dtype: Any) -> np.dtype:
    return _default_dtype if dtype is None else np.dtype(dtype)


def _size(shape: Sequence) -> tuple[int, ...]:
    return _shape_args(tuple(shape))


def _made(data: Any, requires_grad: bool, device: Any) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, device=device)


def zeros(*shape: int | Iterable[int], dtype: Any = None, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    """A tensor of zeros: `zeros(2, 3)` or `zeros((2, 3))`."""
    return Tensor(_backend.new_array("zeros", _size(shape), _dtype_or_default(dtype), device),
                  requires_grad=requires_grad)


def ones(*shape: int | Iterable[int], dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    """A tensor of ones: `ones(2, 3)` or `ones((2, 3))`."""
    return Tensor(_backend.new_array("ones", _size(shape), _dtype_or_default(dtype), device),
                  requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Zeros of t's shape, on t's device unless `device` says otherwise."""
    return Tensor(_backend.new_array("zeros", t.shape, dtype or t.dtype, t.device if device is None else device),
                  requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Ones of t's shape, on t's device unless `device` says otherwise."""
    return Tensor(_backend.new_array("ones", t.shape, dtype or t.dtype, t.device if device is None else device),
                  requires_grad=requires_grad)


def randn(*shape: int | Iterable[int], dtype: Any = None, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    """Standard normal draws from chainrule's seeded generator (`cr.manual_seed`)."""
    d = _dtype_or_default(dtype)
    data = _rng.get_generator().standard_normal(_size(shape)).astype(d)
    return _made(data, requires_grad, device)


def rand(*shape: int | Iterable[int], dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    """Uniform draws in [0, 1) from chainrule's seeded generator."""
    d = _dtype_or_default(dtype)
    data = _rng.get_generator().random(_size(shape)).astype(d)
    return _made(data, requires_grad, device)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: Any = None) -> Tensor:
    """PyTorch's `arange`: integers give int64, floats the default dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if is_int else _default_dtype
    return _made(np.arange(start, end, step, dtype=np.dtype(dtype)), False, device)


from . import ops as _ops  # noqa: E402  (ops build Tensors; Tensor's operators call ops)
