"""Numerical gradient checking: the proof that every backward is right.

`gradcheck` compares the analytic gradient of a random projection of the
output, L = sum(fn(*inputs) * R), with central differences
(L(x + eps) - L(x - eps)) / 2 eps, element by element, in float64. Checking a
random projection tests the whole vector-Jacobian product at the cost of one
backward pass (Chainer's `check_backward` does the same).

Inputs may live on a GPU: the function runs there, the gradients come back to
the host for the comparison (each perturbation is a tiny copy, fine for the
small inputs a gradient check uses).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import backend
from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree."""


def _as_output(out) -> Tensor:
    if isinstance(out, (tuple, list)):
        raise TypeError("gradcheck: fn must return one Tensor")
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    return out


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check `fn`'s gradients with respect to every input that requires grad.

    fn: takes `*inputs`, returns a Tensor of any shape.
    inputs: Tensors (float64; float32 ones are checked on float64 copies) and other arguments.
    Returns True, or raises `GradcheckError` naming the input, the worst index and both values.
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = [
        Tensor(x.data.astype(np.float64), requires_grad=True)
        if isinstance(x, Tensor) and x.requires_grad else x
        for x in inputs
    ]
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")

    pairs = compare_gradients(lambda: fn(*inputs), [inputs[i] for i in checked], eps=eps, seed=seed)
    for i, (analytic, numeric) in zip(checked, pairs):
        x = inputs[i]
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if np.any(err > 0) or not np.all(np.isfinite(analytic)):
            worst = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(err), err, np.inf))), x.shape)
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {x.shape}) at index {tuple(int(v) for v in worst)}: "
                f"analytic {analytic[worst]:.8g}, numerical {numeric[worst]:.8g} "
                f"(atol={atol}, rtol={rtol})"
            )
    return True


def compare_gradients(fn: Callable[[], Tensor], tensors: Sequence[Tensor], eps: float = 1e-6,
                      seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(analytic, numerical) gradient of L = sum(fn() * R) for each tensor, R a fixed random array.

    fn: takes no arguments and computes its output from `tensors` (and anything else it closes over).
    The numerical gradient is the central difference (L(x + eps) - L(x - eps)) / 2eps per element;
    each tensor is perturbed in place and restored.
    """
    out = _as_output(fn())
    R = np.random.default_rng(seed).standard_normal(out.shape)
    if out.is_cuda:  # the same projection, on the output's device
        R = backend.to_device(R, out.device)
    xp = backend.array_module(R)
    for t in tensors:
        t.grad = None
    (out * Tensor(R)).sum().backward()

    def loss() -> float:
        with no_grad():
            return float(xp.sum(_as_output(fn()).data * R))

    pairs = []
    for x in tensors:
        analytic = backend.to_host(x.grad.data) if x.grad is not None else np.zeros(x.shape, x.dtype)
        numeric = np.zeros(x.shape, x.dtype)
        flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
        on_device = backend.is_device_array(flat)
        for j in range(flat.size):
            orig = flat[j].copy() if on_device else flat[j]  # CuPy's flat[j] is a view, not a scalar
            flat[j] = orig + eps
            plus = loss()
            flat[j] = orig - eps
            minus = loss()
            flat[j] = orig
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        pairs.append((analytic, numeric))
    return pairs


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function of an array, for teaching:

        df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h

    x is perturbed in place and restored.
    """
    x = np.asarray(x)
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        orig = x[ix]
        x[ix] = orig + h
        fp = f(x)
        x[ix] = orig - h
        fm = f(x)
        x[ix] = orig
        grad[ix] = (float(fp) - float(fm)) / (2 * h)
        it.iternext()
    return grad
