"""Elementwise ops. Each backward is "local gradient x upstream gradient";
broadcast inputs get their gradient summed back to shape by the engine.

NumPy's ufuncs (`np.add`, `np.exp`, ...) run on CuPy arrays too (CuPy implements
`__array_ufunc__`), so they serve both devices; other functions and array creation
go through `xp = backend.array_module(...)`. The threaded fast paths take NumPy
arrays only (`_threaded` checks for np.ndarray): device arrays take the plain path.
On real CuPy a few backward passes of several kernels run as one fused kernel
(`_fused`); anywhere else (NumPy, the tests' fake CuPy) they take the plain path."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, get_default_dtype
from .parallel import blocks as _blocks, num_parts as _num_parts

_CHUNK = 1 << 17  # elements per chunk (512 KiB of float32): a chunk's temporaries stay in L2


def _threaded(*arrays) -> bool:
    """Whether to split an op over threads: big (more than one part) C-contiguous arrays of one shape."""
    a = arrays[0]
    return (isinstance(a, np.ndarray) and _num_parts(a.size, a.size) > 1
            and all(isinstance(b, np.ndarray) and b.shape == a.shape and b.flags.c_contiguous for b in arrays))


def _over_elements(fn, n: int) -> None:
    """fn(lo, hi) over chunks [lo, hi) of n flat elements, the chunks split between the threads
    (NumPy releases the GIL in its loops, so memory-bound ops use every core)."""
    def block(i, lo, hi):
        for s in range(lo, hi, _CHUNK):
            fn(s, min(s + _CHUNK, hi))

    _blocks(block, n, n)


# --------------------------------------------------- fused kernels on a GPU
# name: (inputs, output, body): each is one pass over the elements instead of 2-7 kernels
_KERNEL_CODE = {
    "relu_grad": ("T g, T y", "T dx", "dx = y > (T)0 ? g : (T)0"),
    "sigmoid": ("T z", "T y", "T e = exp(-fabs(z)); y = z >= (T)0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e)"),
    "sigmoid_grad": ("T g, T s", "T dx", "dx = g * s * ((T)1 - s)"),
    "tanh_grad": ("T g, T t", "T dx", "dx = g * ((T)1 - t * t)"),
}


def _fused(name: str, *arrays: Any) -> Any:
    """The fused kernel `name` applied to `arrays` (CuPy floating arrays of one dtype), or None
    when there is none (`backend.fused`) or the arrays are not all floats of one dtype."""
    a = arrays[0]
    if not backend.is_device_array(a) or a.dtype.kind != "f" or any(b.dtype != a.dtype for b in arrays):
        return None
    return backend.fused(name, _KERNEL_CODE[name], *arrays)


# ------------------------------------------------------------------- binary
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        if _threaded(a, b) and a.dtype == b.dtype:  # residual adds of big activations
            out = np.empty_like(a)
            af, bf, of = a.reshape(-1), b.reshape(-1), out.reshape(-1)
            _over_elements(lambda lo, hi: np.add(af[lo:hi], bf[lo:hi], out=of[lo:hi]), a.size)
            return out
        return np.add(a, b)

    @staticmethod
    def backward(ctx, g):
        return g, g  # the add gate distributes the gradient unchanged


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        # keep only what a needed gradient uses (as PyTorch): x * 2.0 saves no copy of x, so an
        # in-place change of x afterwards is allowed
        need = ctx.needs_input_grad
        ctx.save_for_backward(a if need[1] else None, b if need[0] else None)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        # the multiply gate swaps its inputs
        return (g * b if ctx.needs_input_grad[0] else None,
                g * a if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return np.divide(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Maximum(Function):
    """max(a, b): the max gate routes the gradient to the larger input (half each on a tie)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wa = (a > b) + 0.5 * (a == b)
        return g * wa, g * (1.0 - wa)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wa = (a < b) + 0.5 * (a == b)
        return g * wa, g * (1.0 - wa)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        xp = backend.array_module(cond, a, b)
        cond = xp.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        return xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        return None, g * cond, g * ~cond


# -------------------------------------------------------------------- unary
class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """a ** p for a constant exponent p."""

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return np.power(a, p)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.p
        return g * p * np.power(a, p - 1), None


class RPow(Function):
    """c ** a for a constant base c: d/da = c**a * log(c)."""

    @staticmethod
    def forward(ctx, c, a):
        out = np.power(c, a)
        ctx.save_for_backward(out)
        ctx.logc = np.log(c)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return None, g * out * ctx.logc


class PowTensor(Function):
    """a ** b with both operands arrays (broadcast): d/da = b a^(b-1), d/db = a^b log(a)."""

    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        ga = g * b * np.power(a, b - 1) if ctx.needs_input_grad[0] else None
        # log(a) where a > 0; PyTorch gives 0 where a == 0 (and nan for a < 0, as here)
        gb = g * out * np.log(np.where(a == 0, 1, a)) if ctx.needs_input_grad[1] else None
        return ga, gb


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * np.sin(a)


class Tan(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tan(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        return g * (1 + t * t)


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.sign(a)  # PyTorch's subgradient: 0 at 0


class Clip(Function):
    """clip(a, lo, hi): gradient passes where lo <= a <= hi (PyTorch's clamp)."""

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a)
        ctx.lo, ctx.hi = lo, hi
        return backend.array_module(a).clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        mask = backend.array_module(a).ones(a.shape, dtype=bool)
        if ctx.lo is not None:
            mask &= a >= ctx.lo
        if ctx.hi is not None:
            mask &= a <= ctx.hi
        return g * mask, None, None


class ReLU(Function):
    """max(a, 0); backward passes g where the output is positive. Big arrays are split
    between threads, and backward makes its mask chunk by chunk, in the cache."""

    @staticmethod
    def forward(ctx, a):
        if _threaded(a) and a.dtype.kind == "f":
            out = np.empty_like(a)
            af, of = a.reshape(-1), out.reshape(-1)
            _over_elements(lambda lo, hi: np.maximum(af[lo:hi], 0, out=of[lo:hi]), a.size)
        else:
            out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        if not (_threaded(g, out) and g.dtype.kind == "f"):
            if backend.is_device_array(g):
                dx = _fused("relu_grad", g, out)
                if dx is not None:
                    return dx
            return g * (out > 0)  # multiply by a mask: far faster than np.where
        dx = np.empty_like(g)
        gf, of, df = g.reshape(-1), out.reshape(-1), dx.reshape(-1)
        _over_elements(lambda lo, hi: np.multiply(gf[lo:hi], of[lo:hi] > 0, out=df[lo:hi]), g.size)
        return dx


def sigmoid_array(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) of a NumPy or CuPy array without overflow for either sign of z (exp of
    a non-positive number never overflows); the losses use it too."""
    if backend.is_device_array(z):
        out = _fused("sigmoid", z)
        if out is not None:
            return out
    e = np.exp(-np.abs(z))
    return backend.array_module(z).where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        out = sigmoid_array(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        dx = _fused("sigmoid_grad", g, s) if backend.is_device_array(g) else None
        return g * s * (1 - s) if dx is None else dx


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        dx = _fused("tanh_grad", g, t) if backend.is_device_array(g) else None
        return g * (1 - t * t) if dx is None else dx


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    @staticmethod
    def forward(ctx, a, dtype, copy=False):
        ctx.in_dtype = a.dtype
        return a.astype(dtype, copy=copy)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.in_dtype), None, None


# ------------------------------------------------------------ user-facing
def add(a, b) -> Tensor: return Add.apply(*_promoted(a, b))
def sub(a, b) -> Tensor: return Sub.apply(*_promoted(a, b))
def mul(a, b) -> Tensor: return Mul.apply(*_promoted(a, b))


def div(a, b) -> Tensor:
    a, b = _promoted(a, b)
    if _kind(a) in "biu" and _kind(b) in "biu":  # true division of integers gives floats (PyTorch's default)
        a = cast(a, get_default_dtype()) if isinstance(a, Tensor) else np.asarray(a, get_default_dtype())
        a, b = _promoted(a, b)
    return Div.apply(a, b)


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def _kind(x) -> str:
    return x.dtype.kind if isinstance(x, Tensor) or hasattr(x, "dtype") else ("b" if isinstance(x, bool) else
                                                                            "i" if isinstance(x, int) else "f")


def _promoted(a, b) -> tuple:
    """a and b cast to the dtype PyTorch's promotion gives: a float tensor with an integer or
    boolean one is that float's dtype (NumPy would widen float32 + int64 to float64), and a
    dimensioned tensor's dtype wins over a 0-d one's of the same kind. Python numbers are left
    to NumPy (its weak-scalar rule is PyTorch's), except an int tensor with a float number."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb and a.data.dtype == b.data.dtype:
        return a, b  # the common case: nothing to decide
    want = _result_dtype(a, b)
    if want is None:
        return a, b
    return _as(a, want), _as(b, want)


def _result_dtype(a, b):
    parts = [(x, np.ndim(x.data if isinstance(x, Tensor) else x)) for x in (a, b)]
    arrays = [(x.dtype, nd) for x, nd in parts if isinstance(x, Tensor) or isinstance(x, np.ndarray)]
    if not arrays:
        return None
    cat = max(_CATEGORY.get(_kind(x), 2) for x, _ in parts)
    for group in ([d for d, nd in arrays if nd > 0], [d for d, nd in arrays if nd == 0]):
        same = [d for d in group if _CATEGORY.get(d.kind, 2) == cat]
        if same:
            return np.result_type(*same)
    # only a Python number has the top kind: float -> the default float, int -> int64
    return get_default_dtype() if cat == 2 else np.dtype(np.int64) if cat == 1 else None


def _as(x, dtype):
    if isinstance(x, Tensor):
        if x.data.dtype == dtype:
            return x
        return cast(x, dtype) if dtype.kind == "f" and x.data.dtype.kind == "f" else Tensor(x.data.astype(dtype)) \
            if not x.requires_grad else cast(x, dtype)
    if isinstance(x, np.ndarray) and x.dtype != dtype:
        return x.astype(dtype)
    return x
def neg(a) -> Tensor: return Neg.apply(a)
def exp(a) -> Tensor: return Exp.apply(a)
def log(a) -> Tensor: return Log.apply(a)
def sqrt(a) -> Tensor: return Sqrt.apply(a)
def abs(a) -> Tensor: return Abs.apply(a)  # noqa: A001
def relu(a) -> Tensor: return ReLU.apply(a)
def sigmoid(a) -> Tensor: return Sigmoid.apply(a)
def tanh(a) -> Tensor: return Tanh.apply(a)


def sin(a) -> Tensor: return Sin.apply(a)
def cos(a) -> Tensor: return Cos.apply(a)
def tan(a) -> Tensor: return Tan.apply(a)


def pow(a, exponent) -> Tensor:  # noqa: A001
    """a ** exponent: a scalar exponent, or a tensor (array) one broadcast against a."""
    if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
        if not isinstance(a, Tensor):  # number ** tensor
            return rpow(a, exponent) if np.ndim(a) == 0 else PowTensor.apply(np.asarray(a), exponent)
        return PowTensor.apply(a, exponent)
    return Pow.apply(a, exponent)


def rpow(base, a) -> Tensor:
    """base ** a for a scalar base (an array base broadcasts as in `pow`)."""
    if np.ndim(base) != 0:
        return PowTensor.apply(np.asarray(base), a)
    return RPow.apply(base, a)


def clip(a, min=None, max=None) -> Tensor:  # noqa: A002
    """Clamp to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max")
    return Clip.apply(a, min, max)


clamp = clip


def maximum(a, b) -> Tensor:
    """Elementwise max; the gradient goes to the larger input."""
    return Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    """Elementwise min; the gradient goes to the smaller input."""
    return Minimum.apply(a, b)


def where(condition, a, b) -> Tensor:
    """`a` where `condition` holds, else `b`; differentiable in `a` and `b`."""
    if isinstance(condition, Tensor):
        condition = condition.data
    for t in (a, b):  # a host condition (a NumPy mask, a list) follows the values to their device
        if isinstance(t, Tensor) and t.is_cuda:
            condition = backend.to_device(np.asarray(condition) if isinstance(condition, list) else condition,
                                          t.device)
            break
    return Where.apply(condition, a, b)


def cast(a, dtype, copy: bool = False) -> Tensor:
    return Cast.apply(a, np.dtype(dtype), copy)
