"""The dispatch seam (chainrule/ops/dispatch.py): one place picks each heavy op's implementation."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import fake_cupy
from chainrule import backend
from chainrule.nn import functional as F
from chainrule.ops import dispatch, jit

HEAVY = ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm"]


@pytest.mark.parametrize("op", HEAVY)
def test_every_heavy_op_has_a_reference_and_a_device_implementation(op):
    impls = dispatch.implementations(op)
    assert {"numpy", "cupy"} <= set(impls)
    assert all(impl.name == name for name, impl in impls.items())


def test_an_unknown_op_is_named_in_the_error():
    with pytest.raises(KeyError, match="no op 'conv3d'"):
        dispatch.implementations("conv3d")


def test_where_batch_norm_runs(monkeypatch):
    x = np.zeros((2, 3, 4, 4), np.float32)
    monkeypatch.setattr(jit, "is_enabled", lambda: True)
    assert dispatch.where("batch_norm", x, None, None) == "numba"
    assert dispatch.where("batch_norm", x.reshape(2, 48), None, None) == "numpy"  # (N, C): NumPy is as fast
    assert dispatch.where("batch_norm", x.astype(np.float16), None, None) == "numpy"  # no compiled float16
    monkeypatch.setattr(jit, "is_enabled", lambda: False)  # CHAINRULE_JIT=0
    assert dispatch.where("batch_norm", x, None, None) == "numpy"
    assert dispatch.where("conv2d", x) == "numpy"


@pytest.mark.parametrize("op", HEAVY)
def test_device_arrays_go_to_the_cupy_implementation(op):
    with fake_cupy.installed():
        x = backend.cupy().asarray(np.zeros((2, 3, 4, 4), np.float32))
        assert dispatch.where(op, x, None, None) == "cupy"
        assert dispatch.on_device(x) and not dispatch.on_device(np.zeros(1))


def test_backward_runs_the_implementation_forward_chose(monkeypatch):
    """The choice is made once per call: switching the compiled kernels off between forward and
    backward does not send backward down another path (its saved state belongs to forward's)."""
    rng = np.random.default_rng(0)
    x = cr.Tensor(rng.standard_normal((4, 3, 5, 5)), requires_grad=True)
    w = cr.Tensor(np.ones(3), requires_grad=True)
    monkeypatch.setattr(jit, "is_enabled", lambda: True)
    y = F.batch_norm(x, None, None, w, None, training=True)
    assert y.grad_fn is not None
    seen = []
    real = dispatch.backward
    monkeypatch.setattr(dispatch, "backward", lambda ctx, g: seen.append(ctx.impl.name) or real(ctx, g))
    monkeypatch.setattr(jit, "is_enabled", lambda: False)
    (y * y).sum().backward()
    assert seen == ["numba"]
    with jit.enabled(False):
        x2 = cr.Tensor(x.data, requires_grad=True)
        y2 = F.batch_norm(x2, None, None, cr.Tensor(np.ones(3), requires_grad=True), None, training=True)
        (y2 * y2).sum().backward()
    np.testing.assert_allclose(x.grad.data if hasattr(x.grad, "data") else x.grad,
                               x2.grad.data if hasattr(x2.grad, "data") else x2.grad, rtol=1e-9, atol=1e-12)


def test_the_kernel_cache_builds_each_kernel_once():
    cache = dispatch.KernelCache()
    built = []
    a = cache.get(("conv2d", "im2col", 3), lambda: built.append(1) or object())
    b = cache.get(("conv2d", "im2col", 3), lambda: built.append(1) or object())
    c = cache.get(("pool", "max_fwd", 3), lambda: built.append(1) or object())
    assert a is b and a is not c and built == [1, 1] and len(cache) == 2
    cache.clear()
    assert len(cache) == 0
