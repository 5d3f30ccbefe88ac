"""BatchNorm1d/2d and LocalResponseNorm layers: hand values, float64 gradient checks and,
where torch is installed, outputs, gradients and running statistics over several steps
against torch's, train vs eval."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

CASES = [
    ("BatchNorm1d", (6, 4), {}),
    ("BatchNorm1d", (5, 3, 7), {"momentum": 0.3}),
    ("BatchNorm2d", (4, 3, 5, 5), {}),
    ("BatchNorm2d", (3, 2, 4, 3), {"momentum": None}),
    ("BatchNorm2d", (3, 2, 4, 3), {"affine": False}),
    ("BatchNorm2d", (3, 2, 4, 3), {"track_running_stats": False}),
    ("BatchNorm1d", (8, 3), {"eps": 1e-3, "bias": False}),
]


@pytest.mark.parametrize("cls,shape,kw", CASES)
def test_batchnorm_matches_torch_over_steps(cls, shape, kw):
    torch = pytest.importorskip("torch")
    c = shape[1]
    ours, theirs = getattr(nn, cls)(c, **kw).double(), getattr(torch.nn, cls)(c, **kw).double()
    rng = np.random.default_rng(0)
    if ours.weight is not None:  # non-trivial affine parameters
        ours.weight.data[...] = rng.uniform(0.5, 1.5, c)
        if ours.bias is not None:
            ours.bias.data[...] = rng.standard_normal(c)
    theirs.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()})
    for step in range(3):
        a = rng.standard_normal(shape) * (step + 1) + step
        x, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        out, out_t = ours(x), theirs(xt)
        np.testing.assert_allclose(out.data, out_t.detach().numpy(), atol=1e-10)
        g = rng.standard_normal(shape)
        out.backward(g)
        out_t.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), atol=1e-9)
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad, dict(theirs.named_parameters())[name].grad.numpy(), atol=1e-9)
        for k, v in theirs.state_dict().items():  # running_mean, running_var, num_batches_tracked
            np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-12, atol=1e-12, err_msg=k)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # eval: the running statistics (or batch statistics without tracking)
    ours.eval()
    theirs.eval()
    a = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(cr.tensor(a)).data, theirs(torch.tensor(a)).detach().numpy(), atol=1e-10)


def test_batchnorm_running_stats_values_and_eval_freezes_them():
    bn = nn.BatchNorm1d(2, momentum=0.5)
    x = cr.tensor(np.array([[1.0, 10.0], [3.0, 14.0], [5.0, 12.0]], dtype=np.float32))
    y = bn(x).data
    # batch statistics in train mode: each column has mean 0, (biased) variance ~1
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(y.var(0), 1, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean, 0.5 * np.array([3.0, 12.0]), rtol=1e-6)
    np.testing.assert_allclose(bn.running_var, 0.5 + 0.5 * np.array([4.0, 4.0]), rtol=1e-6)  # unbiased var = 4
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    before = bn.running_mean.copy()
    y = bn(x).data
    np.testing.assert_array_equal(bn.running_mean, before)
    assert int(bn.num_batches_tracked) == 1
    np.testing.assert_allclose(y, (x.data - before) / np.sqrt(bn.running_var + 1e-5), rtol=1e-5)
    bn.reset_running_stats()
    assert np.all(bn.running_mean == 0) and np.all(bn.running_var == 1) and int(bn.num_batches_tracked) == 0


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (4, 3)), (nn.BatchNorm1d, (3, 2, 4)), (nn.BatchNorm2d, (3, 2, 3, 3))])
def test_batchnorm_gradcheck_train_and_eval(cls, shape):
    bn = cls(shape[1]).double()
    bn.weight.data[...] = [1.5, -0.5, 2.0][: shape[1]]
    x = cr.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    assert cr.gradcheck(bn, [x])
    bn.eval()
    assert cr.gradcheck(bn, [x])


def test_batchnorm_bad_input():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16, eps=1e-05.*expected input of shape \(N, 16, H, W\), got \(8, 3, 5, 5\)"):
        nn.BatchNorm2d(16)(cr.randn(8, 3, 5, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*expected input of shape \(N, 3, H, W\), got \(8, 3\)"):
        nn.BatchNorm2d(3)(cr.randn(8, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4.*\(N, 4\) or \(N, 4, L\), got \(2, 5\)"):
        nn.BatchNorm1d(4)(cr.randn(2, 5))


@pytest.mark.parametrize("size,kw,shape", [(3, {}, (2, 6, 3, 3)), (4, {"alpha": 0.1, "beta": 0.5, "k": 2.0}, (1, 5, 2, 3)),
                                           (5, {"alpha": 1.0}, (2, 4, 3))])
def test_local_response_norm_by_formula_and_gradcheck(size, kw, shape):
    """b_c = a_c / (k + alpha / n * sum of a^2 over the n channels around c) ** beta (zero-padded,
    n // 2 before c and (n - 1) // 2 after it, as torch's)."""
    alpha, beta, k = kw.get("alpha", 1e-4), kw.get("beta", 0.75), kw.get("k", 1.0)
    a = np.random.default_rng(size).standard_normal(shape)
    padded = np.pad(a ** 2, [(0, 0), (size // 2, (size - 1) // 2)] + [(0, 0)] * (a.ndim - 2))
    window = sum(padded[:, i:i + shape[1]] for i in range(size))
    x = cr.tensor(a, requires_grad=True)
    layer = nn.LocalResponseNorm(size, **kw)
    np.testing.assert_allclose(layer(x).data, a / (k + alpha / size * window) ** beta, rtol=1e-12)
    assert cr.gradcheck(layer, [x])


@pytest.mark.parametrize("size,kw,shape", [(3, {}, (2, 6, 3, 3)), (4, {"alpha": 0.1, "beta": 0.5, "k": 2.0}, (1, 5, 2, 3)),
                                           (5, {"alpha": 1.0}, (2, 4, 3))])
def test_local_response_norm_equals_torch(size, kw, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.LocalResponseNorm(size, **kw), torch.nn.LocalResponseNorm(size, **kw)
    a = np.random.default_rng(size).standard_normal(shape)
    x, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, out_t = ours(x), theirs(xt)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), atol=1e-10)
    g = np.random.default_rng(0).standard_normal(shape)
    out.backward(g)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), atol=1e-9)
