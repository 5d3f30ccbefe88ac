"""Pooling: gradcheck, agreement with PyTorch (ceil_mode, padding, overlap, ties),
PyTorch's output sizes, the naive loops, bad input."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.pool import (
    adaptive_avg_pool2d, avg_pool2d, max_pool2d, max_pool2d_naive, pool_output_size,
)

# (kernel_size, stride, padding, ceil_mode)
CONFIGS = [
    (2, None, 0, False),
    (2, 2, 1, True),
    (3, 2, 0, False),   # AlexNet's overlapping pooling
    (3, 2, 1, True),
    (3, 2, 0, True),
    (3, 1, 1, False),
    ((3, 2), (2, 3), (1, 0), True),
    (2, 3, 0, True),    # stride > kernel: gaps between windows
]


def _x(shape, seed=0):
    # distinct values so the max is unique and the numerical gradient is defined
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape) + 0.1 * rng.standard_normal(shape)


@pytest.mark.parametrize("k, s, p, ceil", CONFIGS)
def test_max_pool_gradcheck(k, s, p, ceil):
    x = cr.Tensor(_x((2, 2, 7, 5)), requires_grad=True)
    assert cr.gradcheck(lambda x: max_pool2d(x, k, s, p, ceil), [x])


@pytest.mark.parametrize("k, s, p, ceil", CONFIGS)
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool_gradcheck(k, s, p, ceil, cip):
    x = cr.Tensor(_x((1, 2, 7, 5)), requires_grad=True)
    assert cr.gradcheck(lambda x: avg_pool2d(x, k, s, p, ceil, cip), [x])


@pytest.mark.parametrize("out", [1, (3, 2), (5, 4), (7, 5), (4, 7)])
def test_adaptive_avg_pool_gradcheck(out):
    x = cr.Tensor(_x((2, 2, 7, 5)), requires_grad=True)
    assert cr.gradcheck(lambda x: adaptive_avg_pool2d(x, out), [x])


def _vs_torch(ours, theirs, x, dtype, tol, *args, **kwargs):
    torch = pytest.importorskip("torch")
    x = x.astype(dtype)
    X = cr.Tensor(x, requires_grad=True)
    y = ours(X, *args, **kwargs)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt, *args, **kwargs)
    assert y.shape == tuple(yt.shape)
    g = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    yt.backward(torch.tensor(g))
    assert y.dtype == dtype and X.grad.dtype == dtype
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("shape", [(2, 3, 23, 19), (3, 4, 32, 32)])
@pytest.mark.parametrize("k, s, p, ceil", CONFIGS)
def test_pools_match_torch(shape, k, s, p, ceil, dtype, tol):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(6).standard_normal(shape)
    _vs_torch(max_pool2d, F.max_pool2d, x, dtype, tol, k, s, p, ceil_mode=ceil)
    _vs_torch(avg_pool2d, F.avg_pool2d, x, dtype, tol, k, s, p, ceil, True)
    _vs_torch(avg_pool2d, F.avg_pool2d, x, dtype, tol, k, s, p, ceil, False)


@pytest.mark.parametrize("k, s, p, ceil", [(2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False)])
def test_max_pool_ties_route_to_first_max_like_torch(k, s, p, ceil):
    # after a ReLU whole windows are zero: the gradient goes to the first one only
    torch = pytest.importorskip("torch")
    x = np.maximum(np.random.default_rng(7).standard_normal((2, 3, 9, 8)), 0).round()
    _vs_torch(max_pool2d, torch.nn.functional.max_pool2d, x, np.float64, 1e-12, k, s, p, ceil_mode=ceil)


@pytest.mark.parametrize("out", [1, 3, (5, 7), (4, 2), (23, 19), (10, 1)])
def test_adaptive_avg_pool_matches_torch(out):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal((2, 3, 23, 19))
    _vs_torch(adaptive_avg_pool2d, torch.nn.functional.adaptive_avg_pool2d, x, np.float64, 1e-10, out)
    _vs_torch(adaptive_avg_pool2d, torch.nn.functional.adaptive_avg_pool2d, x, np.float32, 1e-5, out)


def test_output_size_rule_matches_torch_including_last_window_rule():
    torch = pytest.importorskip("torch")
    for size in range(1, 14):
        for k in (1, 2, 3, 4):
            for s in (1, 2, 3):
                for p in range(0, k // 2 + 1):
                    if size + 2 * p < k:
                        continue
                    for ceil in (False, True):
                        t = torch.nn.functional.max_pool2d(torch.zeros(1, 1, size, 1), (k, 1), (s, 1), (p, 0),
                                                           ceil_mode=ceil)
                        assert pool_output_size(size, k, s, p, ceil) == t.shape[2], (size, k, s, p, ceil)
    # the rule that drops a last window starting in the right padding: 5 -> 3, not 4
    assert pool_output_size(5, 2, 2, 1, True) == 3


@pytest.mark.parametrize("k, s, p, ceil", CONFIGS)
def test_naive_max_pool_agrees(k, s, p, ceil):
    x = np.random.default_rng(9).standard_normal((2, 3, 11, 9))
    np.testing.assert_array_equal(max_pool2d_naive(x, k, s, p, ceil), max_pool2d(cr.Tensor(x), k, s, p, ceil).data)


def test_pool_float32_stays_float32_and_is_fast_path_correct():
    x = cr.randn(2, 3, 8, 8)
    y = max_pool2d(x, 2)
    assert y.data.dtype == np.float32
    np.testing.assert_array_equal(y.data, x.data.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))


def test_pool_bad_input():
    with pytest.raises(ValueError, match=r"max_pool2d.*4-D input.*\(3, 8, 8\)"):
        max_pool2d(cr.zeros(3, 8, 8), 2)
    with pytest.raises(ValueError, match=r"avg_pool2d.*stride must be positive"):
        avg_pool2d(cr.zeros(1, 1, 8, 8), 2, 0)
    with pytest.raises(ValueError, match=r"max_pool2d.*padding.*half the kernel"):
        max_pool2d(cr.zeros(1, 1, 8, 8), 2, 2, 2)
    with pytest.raises(ValueError, match=r"max_pool2d.*too large.*\(1, 1, 2, 2\)"):
        max_pool2d(cr.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d.*4-D input"):
        adaptive_avg_pool2d(cr.zeros(8, 8), 2)


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1)])
def test_max_pool_threaded_equals_single_thread(k, s, p):
    """Big enough that forward and backward split the examples between threads."""
    from chainrule.ops import parallel

    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 16, 96, 128)).astype(np.float32)  # > 1M elements
    x[:, :, ::3, ::5] = 0.5  # ties: the first maximum must win in every block
    res = []
    for n in (1, 3):
        with parallel.threads(n):
            t = cr.tensor(x, requires_grad=True)
            out = max_pool2d(t, k, s, p)
            g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
            out.backward(g)
            res.append((out.data, t.grad))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])
    np.testing.assert_array_equal(res[0][0], max_pool2d_naive(x, k, s, p))
