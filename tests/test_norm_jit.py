"""Batch norm's compiled passes (ops/norm_jit.py) against its NumPy reference (ops/norm.py).

Each comparison runs twice: with the kernels compiled by Numba (skipped without it), and
with the kernels' plain Python loops, so the kernels' logic is checked in every CI job,
Numba or not. Both split even tiny inputs over two threads, so block merges are exercised.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import jit, norm, norm_jit, parallel
from chainrule.ops.norm import batch_norm

KERNELS = ("_stats_kernel", "_affine_kernel", "_backward_sums_kernel", "_affine2_kernel")


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setattr(parallel, "num_parts", lambda n, work: min(2, n))
    monkeypatch.setattr(parallel, "_num_threads", 2)
    monkeypatch.setattr(parallel, "_pool", None)


@pytest.fixture(params=["compiled", "python loops"])
def jit_path(request, monkeypatch, two_threads):
    """Batch norm on norm_jit's path: compiled by Numba, or the kernels' Python source."""
    if request.param == "compiled":
        pytest.importorskip("numba")
    else:
        for name in KERNELS:
            monkeypatch.setattr(norm_jit, name, getattr(norm_jit, name).py_func)
    monkeypatch.setattr(jit, "is_enabled", lambda: True)
    return request.param


def _run(x, g, w, b, rm, rv, training, x_grad=True):
    """(y, dx, dw, db, running_mean, running_var) of one batch_norm forward and backward."""
    rm, rv = rm.copy(), rv.copy()
    X = cr.Tensor(x, requires_grad=x_grad)
    W = None if w is None else cr.Tensor(w, requires_grad=True)
    B = None if b is None else cr.Tensor(b, requires_grad=True)
    y = batch_norm(X, rm, rv, W, B, training=training, momentum=0.3, eps=1e-3)
    y.backward(g)
    return [y.data, X.grad.data if x_grad else None, None if W is None else W.grad.data,
            None if B is None else B.grad.data, rm, rv]


@pytest.mark.parametrize("shape", [(7, 3, 5), (5, 4, 3, 6), (2, 2, 1, 1)])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", ["weight and bias", "weight", "bias", "neither", "no dx"])
def test_matches_the_numpy_reference(jit_path, monkeypatch, shape, dtype, tol, training, affine):
    rng = np.random.default_rng(0)
    C = shape[1]
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(C).astype(dtype) if affine in ("weight and bias", "weight", "no dx") else None
    b = rng.standard_normal(C).astype(dtype) if affine in ("weight and bias", "bias", "no dx") else None
    rm, rv = rng.standard_normal(C).astype(dtype), (rng.random(C) + 0.5).astype(dtype)
    x_grad = affine != "no dx"
    ours = _run(x, g, w, b, rm, rv, training, x_grad)
    with monkeypatch.context() as m:
        m.setattr(jit, "is_enabled", lambda: False)
        reference = _run(x, g, w, b, rm, rv, training, x_grad)
    for got, want in zip(ours, reference):
        if want is None:
            assert got is None
            continue
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


def test_gradcheck(jit_path):
    rng = np.random.default_rng(1)
    x = cr.Tensor(rng.standard_normal((4, 3, 2, 5)) * 2 + 1, requires_grad=True)
    w = cr.Tensor(rng.standard_normal(3), requires_grad=True)
    b = cr.Tensor(rng.standard_normal(3), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, training=True), [x, w, b])


def test_float32_stays_exact_for_a_large_mean(jit_path):
    # mean 1000, std 1: each row's squares are summed about its own mean, in float64
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 3, 6, 6)) + 1000
    rm, rv = np.zeros(3), np.ones(3)
    batch_norm(cr.Tensor(x.astype(np.float32)), rm, rv, training=True, momentum=1.0)
    x32 = x.astype(np.float32).astype(np.float64)  # the values the op saw
    want = x32.transpose(1, 0, 2, 3).reshape(3, -1).var(axis=1, ddof=1)
    np.testing.assert_allclose(rm, x32.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(rv, want, rtol=1e-10)


def test_non_contiguous_input_and_gradient(jit_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6, 4, 3))[:, ::2]  # a strided view, 3 channels
    g = rng.standard_normal((5, 4, 3, 3)).transpose(0, 3, 1, 2)
    X = cr.Tensor(x, requires_grad=True)
    y = batch_norm(X, None, None, training=True)
    y.backward(g)
    xt = x.transpose(1, 0, 2, 3).reshape(3, -1)
    mean, var = xt.mean(axis=1), xt.var(axis=1)
    want = (x - mean[None, :, None, None]) / np.sqrt(var + 1e-5)[None, :, None, None]
    np.testing.assert_allclose(y.data, want, rtol=1e-12, atol=1e-12)
    assert np.abs(X.grad.data.sum(axis=(0, 2, 3))).max() < 1e-10  # dx sums to zero per channel


def test_same_bits_whichever_block_finishes_first(jit_path, monkeypatch):
    # the blocks' partial statistics are merged in block order, not in finishing order
    # (float64: a float32 result would round a different merge order away)
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((11, 4, 5, 5)) * np.arange(1, 12)[:, None, None, None] + 3)
    g = rng.standard_normal(x.shape)
    w, b = np.ones(4), np.zeros(4)

    def three_blocks(order):
        def blocks(fn, n, work):
            for i in order:
                fn(i, n * i // 3, n * (i + 1) // 3)
        return blocks

    monkeypatch.setattr(parallel, "blocks", three_blocks([0, 1, 2]))
    first = _run(x, g, w, b, np.zeros(4), np.ones(4), True)

    monkeypatch.setattr(parallel, "blocks", three_blocks([2, 0, 1]))
    again = _run(x, g, w, b, np.zeros(4), np.ones(4), True)
    for p, q in zip(first, again):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("x", [np.arange(12.0).reshape(4, 3),  # (N, C): rows of one value
                               np.arange(24.0).reshape(4, 3, 2).astype(np.float16)])  # no kernel for float16
def test_two_d_and_float16_inputs_keep_the_numpy_path(monkeypatch, x):
    called = []
    monkeypatch.setattr(jit, "is_enabled", lambda: True)
    monkeypatch.setattr(norm_jit, "batch_stats", lambda x3: called.append(x3.shape))
    y = batch_norm(cr.Tensor(x), None, None, training=True)
    assert called == [] and y.dtype == x.dtype
    np.testing.assert_allclose(y.data.astype(np.float64).mean(axis=(0, 2) if x.ndim == 3 else 0), 0, atol=1e-3)


# ------------------------------------------------------------------ the switch
def test_enabling_without_numba_names_the_install(monkeypatch):
    monkeypatch.setattr(jit, "_enabled", jit._enabled)  # restored afterwards: other tests run after this one
    monkeypatch.setattr(jit, "is_available", lambda: False)
    jit.set_enabled(False)  # always allowed
    with pytest.raises(ImportError, match=r'pip install numba'):
        jit.set_enabled(True)
    assert jit._enabled is False  # the failed call changed nothing


def test_enabled_context_works_without_numba(monkeypatch):
    monkeypatch.setattr(jit, "_enabled", True)  # the default, also where Numba is missing
    monkeypatch.setattr(jit, "is_available", lambda: False)
    with jit.enabled(False):
        assert jit._enabled is False
    assert jit._enabled is True


def test_kernel_without_numba_names_the_install(monkeypatch):
    monkeypatch.setattr(jit, "is_available", lambda: False)

    @jit.kernel()
    def double(a):
        return 2 * a

    assert double.py_func(3) == 6
    with pytest.raises(ImportError, match="numba"):
        double(3)


def test_enabled_context_restores(monkeypatch):
    monkeypatch.setattr(jit, "_enabled", True)
    with jit.enabled(False):
        assert not jit.is_enabled()
    assert jit._enabled is True


@pytest.mark.parametrize("value, on", [("0", False), ("off", False), ("false", False), ("1", True), ("", True)])
def test_environment_switch(monkeypatch, value, on):
    monkeypatch.setenv("CHAINRULE_JIT", value)
    assert jit._from_environment() is on


def test_compiled_kernels_run_and_are_used_when_numba_is_there(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(jit, "_enabled", True)
    seen = []
    real = norm_jit.batch_stats
    monkeypatch.setattr(norm_jit, "batch_stats", lambda x3: seen.append(1) or real(x3))
    batch_norm(cr.Tensor(np.random.default_rng(5).standard_normal((3, 2, 4))), None, None, training=True)
    assert seen == [1]
