"""PyTorch's functions of tensors (`torch.add`, `torch.max`, `torch.mm`, ...) spelled as
`cr.add`, ...: each calls the op or the Tensor method of the same name; `out=` writes the
result into a given tensor (no graph, as PyTorch refuses `out=` where a gradient is needed)."""
from __future__ import annotations

from typing import Any

from ..autograd import is_grad_enabled, no_grad
from ..tensor import Tensor, tensor
from . import elementwise, matmul as _matmul


def _as_t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else tensor(x)


def into(out: Tensor | None, result: Any) -> Any:
    """result written into `out` (resized to its shape if needed), or result when out is None."""
    if out is None:
        return result
    if isinstance(result, tuple):  # (values, indices) into a pair of tensors
        for o, r in zip(out, result):
            into(o, r)
        return out
    if result.requires_grad and is_grad_enabled():
        raise RuntimeError("functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")
    if out.shape != result.shape:
        out.data = result.data.astype(out.dtype, copy=True)
        return out
    with no_grad():
        out.copy_(result)
    return out


def add(input, other, *, alpha=1, out=None): return into(out, _as_t(input).add(other, alpha=alpha))
def sub(input, other, *, alpha=1, out=None): return into(out, _as_t(input).sub(other, alpha=alpha))
def mul(input, other, *, out=None): return into(out, elementwise.mul(input, other))
def div(input, other, *, out=None): return into(out, elementwise.div(input, other))
def pow(input, exponent, *, out=None): return into(out, elementwise.pow(input, exponent))  # noqa: A001
def neg(input, *, out=None): return into(out, elementwise.neg(input))
def mm(input, mat2, *, out=None): return into(out, _as_t(input).mm(mat2))
def bmm(input, mat2, *, out=None): return into(out, _as_t(input).bmm(mat2))
def dot(input, other, *, out=None): return into(out, _as_t(input).dot(other))
def clone(input): return input.clone()
def t(input): return input.t()
def softmax(input, dim, dtype=None): return input.softmax(dim) if dtype is None else input.to(dtype).softmax(dim)


def log_softmax(input, dim, dtype=None):
    return input.log_softmax(dim) if dtype is None else input.to(dtype).log_softmax(dim)


def max(input, dim=None, keepdim=False, *, out=None):  # noqa: A001
    """torch.max: of everything; (values, indices) over dim; or the elementwise max of two tensors."""
    return into(out, input.max(dim, keepdim))


def min(input, dim=None, keepdim=False, *, out=None):  # noqa: A001
    return into(out, input.min(dim, keepdim))


def argmax(input, dim=None, keepdim=False): return input.argmax(dim=dim, keepdim=keepdim)
def argmin(input, dim=None, keepdim=False): return input.argmin(dim=dim, keepdim=keepdim)
def all(input, dim=None, keepdim=False): return input.all(dim=dim, keepdim=keepdim)  # noqa: A001
def any(input, dim=None, keepdim=False): return input.any(dim=dim, keepdim=keepdim)  # noqa: A001


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    corr = 1 if correction is None else correction
    return input.std(dim=dim, keepdim=keepdim, correction=corr, unbiased=unbiased)


def matmul(input, other, *, out=None):
    return into(out, _matmul.matmul(input, other))
