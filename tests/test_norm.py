"""batch_norm and local_response_norm: gradcheck, agreement with PyTorch (incl.
running statistics over several steps and eval mode), bad input."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.norm import batch_norm, local_response_norm


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 3, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_gradcheck(shape, affine):
    rng = np.random.default_rng(0)
    C = shape[1]
    x = cr.Tensor(rng.standard_normal(shape) * 2 + 1, requires_grad=True)
    args = [x]
    if affine:
        args += [cr.Tensor(rng.standard_normal(C), requires_grad=True),
                 cr.Tensor(rng.standard_normal(C), requires_grad=True)]
        fn = lambda x, w, b: batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    else:
        fn = lambda x: batch_norm(x, None, None, training=True)  # noqa: E731
    assert cr.gradcheck(fn, args)


def test_batch_norm_eval_gradcheck():
    rng = np.random.default_rng(1)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    x = cr.Tensor(rng.standard_normal((2, 3, 3, 2)), requires_grad=True)
    w = cr.Tensor(rng.standard_normal(3), requires_grad=True)
    b = cr.Tensor(rng.standard_normal(3), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b: batch_norm(x, rm, rv, w, b, training=False), [x, w, b])


@pytest.mark.parametrize("shape", [(16, 4), (8, 4, 7), (8, 4, 9, 7)])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch_over_steps(shape, dtype, tol, affine):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(2)
    C = shape[1]
    rm, rv = rng.standard_normal(C).astype(dtype), (rng.random(C) + 0.5).astype(dtype)
    rmt, rvt = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    W = cr.Tensor(w, requires_grad=True) if affine else None
    B = cr.Tensor(b, requires_grad=True) if affine else None
    Wt = torch.tensor(w, requires_grad=True) if affine else None
    Bt = torch.tensor(b, requires_grad=True) if affine else None
    for step in range(5):
        training = step < 4  # four training steps, then eval with the running stats
        x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        X, xt = cr.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y = batch_norm(X, rm, rv, W, B, training=training, momentum=0.2, eps=1e-3)
        yt = F.batch_norm(xt, rmt, rvt, Wt, Bt, training=training, momentum=0.2, eps=1e-3)
        y.backward(g)
        yt.backward(torch.tensor(g))
        assert y.dtype == dtype and X.grad.dtype == dtype
        pairs = [(y.data, yt.detach()), (X.grad, xt.grad), (rm, rmt), (rv, rvt)]
        if affine:
            pairs += [(W.grad, Wt.grad), (B.grad, Bt.grad)]
            W.grad = B.grad = Wt.grad = Bt.grad = None
        for ours, theirs in pairs:
            theirs = theirs.numpy()
            np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * max(1.0, np.abs(theirs).max()))


def test_batch_norm_running_stats_use_unbiased_variance():
    x = np.array([[1.0], [3.0]])  # mean 2, biased var 1, unbiased var 2
    rm, rv = np.zeros(1), np.ones(1)
    batch_norm(cr.Tensor(x), rm, rv, training=True, momentum=0.5)
    np.testing.assert_allclose(rm, [1.0])
    np.testing.assert_allclose(rv, [1.5])
    # training=False leaves them alone
    batch_norm(cr.Tensor(x), rm, rv, training=False)
    np.testing.assert_allclose(rv, [1.5])


def test_batch_norm_bad_input():
    with pytest.raises(ValueError, match=r"batch_norm.*running_mean must have shape \(3,\).*got \(4,\)"):
        batch_norm(cr.zeros(4, 3), np.zeros(4), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm.*more than 1 value per channel.*\(1, 3\)"):
        batch_norm(cr.zeros(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm.*eval mode.*running_mean"):
        batch_norm(cr.zeros(4, 3), None, None, training=False)
    with pytest.raises(ValueError, match=r"batch_norm.*2-D, 3-D or 4-D.*\(4,\)"):
        batch_norm(cr.zeros(4), None, None, training=True)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_lrn_gradcheck(size):
    x = cr.Tensor(np.random.default_rng(3).standard_normal((2, 6, 3, 2)), requires_grad=True)
    assert cr.gradcheck(lambda x: local_response_norm(x, size, alpha=0.5, beta=0.75, k=2.0), [x])


@pytest.mark.parametrize("shape", [(2, 7, 5, 4), (2, 6, 9), (1, 5, 2, 3, 2)])
@pytest.mark.parametrize("size", [1, 2, 4, 5])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_lrn_matches_torch(shape, size, dtype, tol):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    for alpha, beta, k in [(1e-4, 0.75, 1.0), (0.5, 0.6, 2.0)]:  # AlexNet's, and one where the norm matters
        X, xt = cr.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y = local_response_norm(X, size, alpha, beta, k)
        yt = torch.nn.functional.local_response_norm(xt, size, alpha, beta, k)
        y.backward(g)
        yt.backward(torch.tensor(g))
        assert y.dtype == dtype
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=tol, atol=tol)


def test_lrn_bad_input():
    with pytest.raises(ValueError, match=r"local_response_norm.*3 or more dimensions.*\(4, 5\)"):
        local_response_norm(cr.zeros(4, 5), 2)


# ------------------------------------------------- batch norm's chunked passes
@pytest.mark.parametrize("shape", [(9, 3), (7, 3, 5), (7, 3, 5, 4)])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_batch_norm_in_chunks_and_threads_matches_torch(shape, dtype, tol, monkeypatch):
    # one example per chunk and 2 threads even for tiny inputs: chunk and block
    # boundaries (and an odd number of examples) are exercised
    torch = pytest.importorskip("torch")
    from chainrule.ops import norm_cpu

    monkeypatch.setattr(norm_cpu, "_CHUNK_BYTES", 1)
    from chainrule.ops import parallel

    monkeypatch.setattr(parallel, "num_parts", lambda n, work: min(2, n))
    monkeypatch.setattr(parallel, "_num_threads", 2)
    monkeypatch.setattr(parallel, "_pool", None)
    rng = np.random.default_rng(3)
    C = shape[1]
    for training in (True, False):
        x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
        rm, rv = rng.standard_normal(C).astype(dtype), (rng.random(C) + 0.5).astype(dtype)
        rmt, rvt = torch.tensor(rm), torch.tensor(rv)
        X, W, B = (cr.Tensor(a, requires_grad=True) for a in (x, w, b))
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        y = batch_norm(X, rm, rv, W, B, training=training)
        yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=training)
        y.backward(g)
        yt.backward(torch.tensor(g))
        for ours, theirs in [(y.data, yt), (X.grad, xt.grad), (W.grad, wt.grad), (B.grad, bt.grad),
                             (rm, rmt), (rv, rvt)]:
            theirs = theirs.detach().numpy()
            np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * max(1.0, np.abs(theirs).max()))


def test_batch_norm_float32_is_stable_for_a_large_mean():
    # mean 100, std 1: the one-pass E[x^2] - mean^2 would lose ~3 digits of the
    # variance in float32; the centred second pass keeps the error near float32's.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((16, 3, 8, 8)) + 100).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    X = cr.Tensor(x, requires_grad=True)
    y = batch_norm(X, rm, rv, training=True, momentum=1.0)
    y.backward(g)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)  # exact reference
    rvt = torch.ones(3, dtype=torch.float64)
    yt = torch.nn.functional.batch_norm(xt, torch.zeros(3, dtype=torch.float64), rvt, training=True, momentum=1.0)
    yt.backward(torch.tensor(g.astype(np.float64)))
    np.testing.assert_allclose(rv, rvt.numpy(), rtol=2e-5)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=0, atol=1e-4 * np.abs(xt.grad.numpy()).max())
