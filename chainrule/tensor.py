"""`Tensor`: a NumPy array that remembers how it was computed.

A tensor made by an op keeps a reference to the op's node (`grad_fn`); calling
`backward()` on a result walks those nodes in reverse topological order (see
`autograd.py`). Leaf tensors with `requires_grad=True` accumulate `.grad`.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from . import backend as _backend
from . import dtypes as _dtypes
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

    # _vc: the Version shared with views (None until needed); _prior: (seq, stand-in for the value
    # before the last in-place change); _view: (base, steps) when the data is a view of base's.
    __slots__ = ("data", "_grad", "requires_grad", "grad_fn", "_retain_grad", "_vc", "_prior", "_view",
                 "__weakref__")
    # Make NumPy defer to our reflected operators (ndarray + Tensor -> Tensor.__radd__).
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, device: Any = None):
        self.data: np.ndarray = _to_array(data, dtype)
        if device is not None:
            self.data = _backend.to_device(self.data, device)
        self._grad: Tensor | None = None
        self.grad_fn = None
        self._retain_grad = False
        self._vc = self._prior = self._view = None
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
        """PyTorch's `size()`: the shape as a `Size` (a tuple), or one dimension of it."""
        return _dtypes.Size(self.data.shape) if dim is None else self.data.shape[dim]

    def nelement(self) -> int:
        return int(self.data.size)

    def element_size(self) -> int:
        return self.data.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

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

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Any = None, *, grad: Any = None) -> None:
        """Backpropagate from this tensor; leaves accumulate into `.grad`.

        gradient: upstream gradient of this tensor's shape (a Tensor or array); may be omitted for
            a scalar (1 is used). `grad=` is accepted as its old name.
        retain_graph: keep the graph so backward can run through it again.
        create_graph / inputs: not supported (no higher-order gradients here): a clear error.
        """
        from .autograd import backward

        if create_graph or inputs is not None:
            raise NotImplementedError("backward(create_graph=..., inputs=...) is not supported by chainrule "
                                      "(no higher-order gradients); call backward() without them")
        backward(self, gradient if gradient is not None else grad, retain_graph=retain_graph)

    def detach(self) -> "Tensor":
        """A new leaf tensor sharing this one's data (and its version counter), cut from the graph."""
        t = wrap(self.data)
        t._vc = self._version_counter()
        return t

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph, in place (it becomes a leaf)."""
        if self._view is not None and self._view[0].requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn, self.requires_grad, self._prior = None, False, None
        return self

    def _version_counter(self):
        from .autograd import Version

        if self._vc is None:
            self._vc = Version()
        return self._vc

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has had (PyTorch's counter)."""
        return 0 if self._vc is None else len(self._vc.seqs)

    @property
    def _base(self) -> "Tensor | None":
        """The tensor this one is a view of (None if it is not a view)."""
        return None if self._view is None else self._view[0]

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
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
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

    def half(self) -> "Tensor":
        return _ops.cast(self, np.float16)

    # integer and boolean results carry no gradient (as in PyTorch)
    def long(self) -> "Tensor":
        return Tensor(self.data.astype(int64))

    def int(self) -> "Tensor":
        return Tensor(self.data.astype(int32))

    def bool(self) -> "Tensor":
        return Tensor(self.data.astype(bool_))

    def byte(self) -> "Tensor":
        return Tensor(self.data.astype(uint8))

    def type(self, dtype: Any = None) -> "Any":
        """With no argument the type's name ('chainrule.FloatTensor'); with a dtype (or such a
        name, 'torch.LongTensor' too) this tensor cast to it."""
        if dtype is None:
            return f"chainrule.{_TYPE_NAMES.get(self.data.dtype, str(self.data.dtype))}Tensor"
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            names = {v: k for k, v in _TYPE_NAMES.items()}
            key = dtype.rsplit(".", 1)[-1][:-len("Tensor")]
            if key not in names:
                raise ValueError(f"invalid type: {dtype!r}")
            dtype = names[key]
        d = np.dtype(dtype)
        if d == self.data.dtype:
            return self
        return _ops.cast(self, d) if d.kind == "f" else Tensor(self.data.astype(d))

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.type(other.dtype)

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

    def __floordiv__(self, other): return _nograd(np.floor_divide, self, other)
    def __rfloordiv__(self, other): return _nograd(np.floor_divide, other, self)
    def __mod__(self, other): return _nograd(np.mod, self, other)
    def __abs__(self): return _ops.abs(self)
    def __invert__(self): return _nograd(np.invert, self)
    def __and__(self, other): return _nograd(np.bitwise_and, self, other)
    def __or__(self, other): return _nograd(np.bitwise_or, self, other)
    def __xor__(self, other): return _nograd(np.bitwise_xor, self, other)
    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    # PyTorch's method names for the same ops
    def add(self, other, *, alpha=1): return _ops.add(self, _scaled(other, alpha))
    def sub(self, other, *, alpha=1): return _ops.sub(self, _scaled(other, alpha))
    def mul(self, other): return _ops.mul(self, other)
    def div(self, other): return _ops.div(self, other)
    def pow(self, exponent): return _ops.pow(self, exponent)
    def neg(self): return _ops.neg(self)
    def matmul(self, other): return _ops.matmul(self, other)
    multiply, divide, true_divide, subtract, negative = mul, div, div, sub, neg

    def mm(self, other):
        """2-D matrix product (PyTorch's mm)."""
        if self.ndim != 2 or np.ndim(other) != 2:
            raise RuntimeError(f"mm: both operands must be 2-D, got {list(self.shape)} and {list(np.shape(other))}")
        return _ops.matmul(self, other)

    def bmm(self, other):
        """Batched (b, n, k) @ (b, k, m) product."""
        if self.ndim != 3 or np.ndim(other) != 3:
            raise RuntimeError(f"bmm: both operands must be 3-D, got {list(self.shape)} and {list(np.shape(other))}")
        return _ops.matmul(self, other)

    def dot(self, other):
        if self.ndim != 1 or np.ndim(other) != 1:
            raise RuntimeError("dot: 1D tensors expected")
        return _ops.matmul(self, other)

    # ------------------------------------------------------ in-place forms
    # Each is recorded in the graph when it needs a gradient (ops/inplace.py); direct: the same
    # change on the array itself, for the no-graph case (optimisers under no_grad, .grad.zero_()).
    def _change(self, fn, *operands, direct=None) -> "Tensor":
        return _ops.apply_inplace(self, lambda t: fn(t, *operands), direct,
                                  any(isinstance(o, Tensor) and o.requires_grad for o in operands))

    def add_(self, other, *, alpha=1):
        other = _scaled(other, alpha)
        return self._change(_ops.add, other, direct=lambda: np.add(self.data, _unwrap(other), out=self.data))

    def sub_(self, other, *, alpha=1):
        other = _scaled(other, alpha)
        return self._change(_ops.sub, other, direct=lambda: np.subtract(self.data, _unwrap(other), out=self.data))

    def mul_(self, other):
        return self._change(_ops.mul, other, direct=lambda: np.multiply(self.data, _unwrap(other), out=self.data))

    def div_(self, other):
        return self._change(_ops.div, other, direct=lambda: np.divide(self.data, _unwrap(other), out=self.data))

    def pow_(self, exponent): return self._change(_ops.pow, exponent)
    def neg_(self): return self._change(_ops.neg)
    def exp_(self): return self._change(_ops.exp)
    def log_(self): return self._change(_ops.log)
    def sqrt_(self): return self._change(_ops.sqrt)
    def abs_(self): return self._change(_ops.abs)
    def relu_(self): return self._change(_ops.relu)
    def sigmoid_(self): return self._change(_ops.sigmoid)
    def tanh_(self): return self._change(_ops.tanh)
    def sin_(self): return self._change(_ops.sin)
    def cos_(self): return self._change(_ops.cos)

    def clamp_(self, min=None, max=None):  # noqa: A002
        return self._change(_ops.clip, min, max)

    clip_ = clamp_
    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def __ipow__(self, exponent): return self.pow_(exponent)

    def fill_(self, value) -> "Tensor":
        """Set every element to value (a number or a 0-d tensor)."""
        return self.__setitem__(Ellipsis, value) or self

    def zero_(self) -> "Tensor":
        """Fill with zeros in place (`x.grad.zero_()`)."""
        return self.fill_(0)

    def copy_(self, src) -> "Tensor":
        """Copy src's values (broadcast to this shape, cast to this dtype) into this tensor."""
        if isinstance(src, Tensor) and src.device != self.device:
            src = src.to(self.device)
        return self.fill_(src)

    def masked_fill_(self, mask, value) -> "Tensor":
        """Set the elements where mask (broadcast to this shape) is True to value."""
        m = _broadcast_mask(self, mask)
        return self.__setitem__(m, value) or self

    def masked_fill(self, mask, value) -> "Tensor":
        """A copy with the elements where mask is True set to value (differentiable elsewhere)."""
        out = _ops.where(_broadcast_mask(self, mask), value, self)
        return out if out.dtype == self.dtype else _ops.cast(out, self.dtype)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> "Tensor":
        """Fill with uniform draws in [a, b) from chainrule's seeded generator."""
        return self.copy_(Tensor(_rng.get_generator().uniform(a, b, self.shape).astype(self.dtype)))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        """Fill with normal draws from chainrule's seeded generator."""
        return self.copy_(Tensor(_rng.get_generator().normal(mean, std, self.shape).astype(self.dtype)))

    def __setitem__(self, index, value) -> None:
        """`x[idx] = value`, recorded in the graph when it needs a gradient (CopySlices)."""
        index = _ops.shape.index_for(self, index)
        v = value
        if isinstance(v, Tensor) and v.device != self.device:
            v = v.to(self.device)
        raw = _unwrap(v)
        if isinstance(raw, (list, tuple)):
            raw = np.asarray(raw)

        def direct():
            self.data[index] = raw

        _ops.apply_inplace(self, lambda t: _ops.CopySlices.apply(t, v, (("getitem", index),)), direct,
                           isinstance(v, Tensor) and v.requires_grad)

    # Comparisons give boolean tensors and are not differentiable.
    def __eq__(self, other): return _ops.eq(self, other)  # type: ignore[override]
    def __ne__(self, other): return _ops.ne(self, other)  # type: ignore[override]
    def __lt__(self, other): return _ops.lt(self, other)
    def __le__(self, other): return _ops.le(self, other)
    def __gt__(self, other): return _ops.gt(self, other)
    def __ge__(self, other): return _ops.ge(self, other)
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

    def equal(self, other) -> bool: return _ops.equal(self, other)
    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
        return _ops.allclose(self, other, rtol, atol, equal_nan)
    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False): return _ops.isclose(self, other, rtol, atol, equal_nan)
    def isnan(self): return _ops.isnan(self)
    def isinf(self): return _ops.isinf(self)
    def isfinite(self): return _ops.isfinite(self)
    def logical_not(self): return _ops.logical_not(self)
    def logical_and(self, other): return _ops.logical_and(self, other)
    def logical_or(self, other): return _ops.logical_or(self, other)
    def sign(self): return _ops.sign(self)
    def floor(self): return _ops.floor(self)
    def ceil(self): return _ops.ceil(self)
    def round(self, decimals: int = 0): return _ops.round(self, decimals)

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

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """PyTorch's max: of everything (a 0-d tensor); over an int `dim`, the named tuple
        (values, indices); with a tensor, the elementwise maximum. NumPy's `axis=` (or a tuple
        of dims) gives the values only, as `amax`."""
        return _max_min(self, "max", dim, keepdim, axis, keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """PyTorch's min (see `max`)."""
        return _max_min(self, "min", dim, keepdim, axis, keepdims)

    def amax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Max values over dim(s); the gradient is split between ties (torch.amax)."""
        return _ops.max(self, axis, bool(keepdims), dim=dim, keepdim=keepdim)

    def amin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.min(self, axis, bool(keepdims), dim=dim, keepdim=keepdim)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        return _ops.sort(self, dim, descending)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        return _ops.argsort(self, dim, descending)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        return _ops.topk(self, k, dim, largest, sorted)

    def gather(self, dim: int, index):
        return _ops.gather(self, dim, index)

    def norm(self, p=2, dim=None, keepdim: bool = False):
        """The p-norm over everything or over dim(s): p = 2 (default), 1, inf, or any positive number."""
        return _ops.reduce.norm(self, p, dim, keepdim)

    def prod(self, dim=None, keepdim: bool = False):
        """Product over dim (or everything), as exp(sum(log|x|)) with signs: differentiable."""
        return _ops.prod(self, dim, keepdim)

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

    def t(self):
        """Transpose a tensor of at most 2 dims."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose() if self.ndim == 2 else self

    def view_as(self, other): return _ops.reshape(self, other.shape)
    def reshape_as(self, other): return _ops.reshape(self, other.shape)
    def expand(self, *sizes): return _ops.expand(self, *sizes)
    def expand_as(self, other): return _ops.expand(self, other.shape)
    def repeat(self, *reps): return _ops.repeat(self, *reps)
    def chunk(self, chunks: int, dim: int = 0): return _ops.chunk(self, chunks, dim)
    def split(self, split_size, dim: int = 0): return _ops.split(self, split_size, dim)
    def unbind(self, dim: int = 0): return _ops.unbind(self, dim)
    def narrow(self, dim: int, start: int, length: int): return _ops.narrow(self, dim, start, length)
    def index_select(self, dim: int, index): return _ops.index_select(self, dim, index)
    def sin(self): return _ops.sin(self)
    def cos(self): return _ops.cos(self)
    def tan(self): return _ops.tan(self)

    def contiguous(self) -> "Tensor":
        """Itself when its memory is C-ordered, else a C-ordered copy (in the graph)."""
        return self if self.data.flags.c_contiguous else self.clone()

    def where(self, condition, other) -> "Tensor":
        """self where condition holds, else other (PyTorch's Tensor.where)."""
        return _ops.where(condition, self, other)

    def clamp_min(self, min): return _ops.clip(self, min, None)  # noqa: A002
    def clamp_max(self, max): return _ops.clip(self, None, max)  # noqa: A002

    def softmax(self, dim: int):
        from .ops.activation import softmax

        return softmax(self, dim)

    def log_softmax(self, dim: int):
        from .ops.activation import log_softmax

        return log_softmax(self, dim)

    # new tensors like this one (same dtype and device unless told)
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def wrap(array: Any) -> Tensor:
    """A tensor around `array` as it is (no copy, no dtype rule): for arrays the library made."""
    t = Tensor.__new__(Tensor)
    t.data = array
    t._grad = None
    t._retain_grad = False
    t.requires_grad = False
    t.grad_fn = None
    t._vc = t._prior = t._view = None
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


_TYPE_NAMES = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double", np.dtype(np.float16): "Half",
               np.dtype(np.int64): "Long", np.dtype(np.int32): "Int", np.dtype(np.int16): "Short",
               np.dtype(np.int8): "Char", np.dtype(np.uint8): "Byte", np.dtype(np.bool_): "Bool"}


def _nograd(fn, *args: Any) -> Tensor:
    """fn on the arrays, as a tensor without gradient (integer and bitwise ops)."""
    return Tensor(fn(*[_unwrap(a) for a in args]))


def _scaled(other: Any, alpha: Any) -> Any:
    return other if alpha == 1 else other * alpha


def _broadcast_mask(t: Tensor, mask: Any) -> Any:
    """mask as a boolean array of t's shape, on t's device."""
    m = _unwrap(mask)
    xp = _backend.array_module(t.data)
    m = _backend.to_device(np.asarray(m), t.device) if not (isinstance(m, np.ndarray) or _backend.is_device_array(m)) \
        else (m if _backend.device_of(m) == t.device else _backend.to_device(m, t.device))
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill only supports boolean masks, but got mask with dtype {m.dtype}")
    return xp.broadcast_to(m, t.shape)


def _max_min(t: Tensor, how: str, dim, keepdim, axis, keepdims):
    if isinstance(dim, Tensor):  # max(other): elementwise
        return (_ops.maximum if how == "max" else _ops.minimum)(t, dim)
    if axis is not None or dim is None or isinstance(dim, (tuple, list)):
        reduce = _ops.max if how == "max" else _ops.min
        return reduce(t, axis if axis is not None else dim, bool(keepdims if keepdims is not None else keepdim))
    return (_ops.max_dim if how == "max" else _ops.min_dim)(t, int(dim), bool(keepdim))


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


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing `array`'s memory (PyTorch's from_numpy): changes show in both."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return wrap(array)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """data as a tensor, without a copy where it already is one (or an array) of that dtype/device."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (dtype is not None or device is not None) else data
    return Tensor(_to_array(data, dtype), device=device)


def full(size: Sequence[int] | int, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    """A tensor of `size` filled with fill_value (its dtype follows the value, as PyTorch's)."""
    if dtype is None:
        dtype = bool_ if isinstance(fill_value, bool) else int64 if isinstance(fill_value, (int, np.integer)) \
            else _default_dtype
    shape = _size((size,)) if not isinstance(size, (int, np.integer)) else (int(size),)
    return _made(np.full(shape, fill_value, dtype=np.dtype(dtype)), requires_grad, device)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad,
                device=t.device if device is None else device)


def empty(*shape: int | Iterable[int], dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """An uninitialised tensor in PyTorch; here zeros (NumPy's empty would leak old memory into results)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad, device=device)


def empty_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return zeros_like(t, dtype=dtype, requires_grad=requires_grad, device=device)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """The n x m identity matrix."""
    return _made(np.eye(n, m, dtype=_dtype_or_default(dtype)), requires_grad, device)


def linspace(start: float, end: float, steps: int, dtype: Any = None, requires_grad: bool = False,
             device: Any = None) -> Tensor:
    """`steps` evenly spaced values from start to end, both included."""
    return _made(np.linspace(start, end, int(steps)).astype(_dtype_or_default(dtype)), requires_grad, device)


def randint(low: int, high: int | None = None, size: Sequence[int] = None, *, dtype: Any = None,
            device: Any = None, requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high) (`randint(high, size)` too), int64 by default."""
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing the size argument (a tuple)")
    data = _rng.get_generator().integers(low, high, size=_size((size,)))
    return _made(data.astype(int64 if dtype is None else np.dtype(dtype)), requires_grad, device)


def randperm(n: int, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0 .. n-1."""
    return _made(_rng.get_generator().permutation(int(n)).astype(int64 if dtype is None else np.dtype(dtype)),
                 requires_grad, device)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return rand(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device if device is None else device)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return randn(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device if device is None else device)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> int:
    return t.numel()


from . import ops as _ops  # noqa: E402  (ops build Tensors; Tensor's operators call ops)
