"""Activations, softmax and losses: gradcheck in float64, hand values, and equality with torch.

The gradient checks and hand values run everywhere; the comparisons with torch skip without it.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F

SHAPES = [(3, 5), (4, 2, 3), (7,)]


def _leaf(shape, seed=0, scale=1.0):
    """A float64 leaf of standard-normal values."""
    return cr.tensor(np.random.default_rng(seed).standard_normal(shape) * scale, requires_grad=True)


def _compare(fn_cr, fn_torch, *leaves, atol=1e-10):
    """Forward and backward of fn_cr(*leaves) against fn_torch(torch, *same values)."""
    torch = pytest.importorskip("torch")
    tleaves = [torch.tensor(x.data, requires_grad=True) for x in leaves]
    out, out_t = fn_cr(*leaves), fn_torch(torch, *tleaves)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), atol=atol, rtol=1e-7)
    g = np.random.default_rng(1).standard_normal(out.shape)
    for x in leaves:
        x.grad = None
    out.backward(g)
    out_t.backward(torch.tensor(g))
    for x, xt in zip(leaves, tleaves):
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), atol=atol, rtol=1e-7)


ACTS = [
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), lambda t, x: t.nn.functional.leaky_relu(x, 0.1)),
    ("elu", lambda x: F.elu(x, 0.7), lambda t, x: t.nn.functional.elu(x, 0.7)),
    ("softmax0", lambda x: F.softmax(x, 0), lambda t, x: t.softmax(x, 0)),
    ("softmax-1", lambda x: F.softmax(x, -1), lambda t, x: t.softmax(x, -1)),
    ("log_softmax", lambda x: F.log_softmax(x, -1), lambda t, x: t.log_softmax(x, -1)),
    ("log_softmax0", lambda x: F.log_softmax(x, 0), lambda t, x: t.log_softmax(x, 0)),
    ("relu", F.relu, lambda t, x: t.relu(x)),
    ("sigmoid", F.sigmoid, lambda t, x: t.sigmoid(x)),
    ("tanh", F.tanh, lambda t, x: t.tanh(x)),
]


@pytest.mark.parametrize("name,fn,fn_t", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_gradcheck(name, fn, fn_t, shape):
    assert cr.gradcheck(fn, [_leaf(shape, seed=len(shape))])


@pytest.mark.parametrize("name,fn,fn_t", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_equals_torch(name, fn, fn_t, shape):
    _compare(fn, fn_t, _leaf(shape, seed=len(shape)))


def test_softmax_stable_for_huge_logits():
    x = cr.tensor([[1000.0, 1001.0, -1000.0], [-5000.0, 0.0, 5000.0]], dtype="float64")
    e = np.e
    np.testing.assert_allclose(F.softmax(x, -1).data, [[1 / (1 + e), e / (1 + e), 0], [0, 0, 1]], atol=1e-15)
    lse = np.log1p(e)
    np.testing.assert_allclose(F.log_softmax(x, -1).data, [[-lse, 1 - lse, -2001 + 1 - lse], [-1e4, -5e3, 0]],
                               rtol=1e-12)


def _labels(n, c, seed=3):
    return np.random.default_rng(seed).integers(0, c, n)


@pytest.mark.parametrize("n,c", [(4, 3), (6, 10), (1, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(n, c, reduction):
    y = _labels(n, c)
    assert cr.gradcheck(lambda a: F.cross_entropy(a, y, reduction=reduction), [_leaf((n, c), seed=n * c)])


@pytest.mark.parametrize("n,c", [(4, 3), (6, 10), (1, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_equals_torch(n, c, reduction):
    y = _labels(n, c)
    _compare(lambda a: F.cross_entropy(a, cr.tensor(y), reduction=reduction),
             lambda t, a: t.nn.functional.cross_entropy(a, t.tensor(y), reduction=reduction),
             _leaf((n, c), seed=n * c))


def test_cross_entropy_large_logits_and_gradient_formula():
    s = cr.tensor(np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]]), requires_grad=True)
    y = np.array([1, 2])
    loss = F.cross_entropy(s, y)
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), (1e4 + np.log(3)) / 2, rtol=1e-12)
    loss.backward()
    p = np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    p[[0, 1], y] -= 1
    np.testing.assert_allclose(s.grad, p / 2, atol=1e-12)  # (softmax - onehot) / N


@pytest.mark.parametrize("n,c,margin", [(5, 4, 1.0), (3, 7, 0.5), (8, 2, 2.0)])
def test_svm_loss_gradcheck(n, c, margin):
    y = _labels(n, c, seed=n)
    assert cr.gradcheck(lambda a: F.svm_loss(a, y, margin=margin), [_leaf((n, c), seed=c)])


@pytest.mark.parametrize("n,c,margin", [(5, 4, 1.0), (3, 7, 0.5), (8, 2, 2.0)])
def test_svm_loss_is_torchs_multi_margin_loss_times_c(n, c, margin):
    y = _labels(n, c, seed=n)
    # torch's multi_margin_loss divides each example's sum by C: ours = torch's * C
    _compare(lambda a: F.svm_loss(a, y, margin=margin),
             lambda t, a: t.nn.functional.multi_margin_loss(a, t.tensor(y), margin=margin) * c, _leaf((n, c), seed=c))


def test_svm_loss_by_hand():
    s = cr.tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    # the lecture's cat/car/frog example: losses 2.9, 0, 12.9
    assert F.svm_loss(s, y).item() == pytest.approx((2.9 + 0 + 12.9) / 3, rel=1e-5)
    np.testing.assert_allclose(F.svm_loss(s, y, reduction="none").data, [2.9, 0, 12.9], rtol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    x, t = _leaf((4, 3), seed=5), _leaf((4, 3), seed=6)
    assert cr.gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, t])
    squares = (x.data - t.data) ** 2
    expected = {"mean": squares.mean(), "sum": squares.sum(), "none": squares}[reduction]
    np.testing.assert_allclose(F.mse_loss(x, t, reduction).data, expected, rtol=1e-12)
    _compare(lambda a, b: F.mse_loss(a, b, reduction),
             lambda torch, a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction), x, t)


def test_penalties():
    w1, w2 = _leaf((3, 4), seed=7), _leaf((5,), seed=8)
    for fn, value, grad in [
        (F.l2_penalty, lambda p: (p ** 2).sum(), lambda p: 2 * p),
        (F.l1_penalty, lambda p: np.abs(p).sum(), np.sign),
        (lambda ps: F.elastic_net_penalty(ps, 0.3), lambda p: (0.3 * p ** 2 + np.abs(p)).sum(),
         lambda p: 0.6 * p + np.sign(p)),
    ]:
        w1.grad = w2.grad = None
        out = fn([w1, w2])
        assert out.item() == pytest.approx(value(w1.data) + value(w2.data), rel=1e-12)
        out.backward()
        np.testing.assert_allclose(w1.grad, grad(w1.data), rtol=1e-12)
        np.testing.assert_allclose(w2.grad, grad(w2.data), rtol=1e-12)
        assert cr.gradcheck(lambda a, b: fn([a, b]), [w1, w2])


def test_dropout_statistics_and_eval_identity():
    cr.manual_seed(0)
    x = cr.ones(200, 500)
    for p in (0.2, 0.5, 0.8):
        y = F.dropout(x, p, training=True).data
        assert abs((y == 0).mean() - p) < 0.01
        assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
        np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - p)], rtol=1e-6)
    assert F.dropout(x, 0.5, training=False) is x
    assert np.all(F.dropout(x, 1.0).data == 0)


def test_dropout_gradient_uses_the_same_mask_and_seed_reproduces():
    cr.manual_seed(1)
    x = cr.randn(6, 7, dtype="float64", requires_grad=True)
    y = F.dropout(x, 0.4)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, (y.data != 0) / 0.6)
    cr.manual_seed(5)
    a = F.dropout(x, 0.4).data
    cr.manual_seed(5)
    np.testing.assert_array_equal(a, F.dropout(x, 0.4).data)


@pytest.mark.parametrize("fn,name", [(F.cross_entropy, "cross_entropy"), (F.svm_loss, "svm_loss")])
def test_loss_bad_targets(fn, name):
    s = cr.randn(4, 3)
    with pytest.raises(ValueError, match=rf"{name}.*\[0, 2\].*3 classes.*got \[3\]"):
        fn(s, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=rf"{name}.*\[0, 2\].*got \[-1\]"):
        fn(s, np.array([0, -1, 2, 2]))
    with pytest.raises(ValueError, match=rf"{name}: expected target of shape \(4,\).*got shape \(4, 1\)"):
        fn(s, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=rf"{name}: expected target of integer class indices.*float32"):
        fn(s, cr.zeros(4))
    if name == "cross_entropy":  # (N, C, d1) scores are PyTorch's spatial form: targets (N, d1)
        with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(4, 2\), got \(4,\)"):
            fn(cr.randn(4, 3, 2), np.zeros(4, dtype=np.int64))
    else:
        with pytest.raises(ValueError, match=rf"{name}: expected scores of shape \(N, C\), got shape \(4, 3, 2\)"):
            fn(cr.randn(4, 3, 2), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match=rf"{name}: reduction must be one of"):
        fn(s, np.zeros(4, dtype=np.int64), reduction="avg")


def test_mse_shape_error():
    with pytest.raises(ValueError, match=r"mse_loss: expected target of the input's shape \(4, 3\), got \(4,\)"):
        F.mse_loss(cr.randn(4, 3), cr.randn(4))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 5), c=st.integers(2, 6), scale=st.sampled_from([1e-3, 1.0, 50.0, 1e4]),
       seed=st.integers(0, 10_000))
def test_property_cross_entropy_is_minus_log_softmax(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    s = cr.tensor(rng.standard_normal((n, c)) * scale)
    y = rng.integers(0, c, n)
    ls = F.log_softmax(s, 1).data
    np.testing.assert_allclose(F.softmax(s, 1).data.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(s, y, reduction="none").data, -ls[np.arange(n), y], rtol=1e-9, atol=1e-12)
    assert np.all(F.svm_loss(s, y, reduction="none").data >= 0)
