"""Binary cross-entropy on logits: stable values, gradients, PyTorch equality."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.gradcheck import gradcheck
from chainrule.nn import functional as F


def _data(shape=(4, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 3, shape), rng.random(shape)


def _reference(x, y, w=None, p=None):
    """-w [p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], straight from the definition."""
    s = 1 / (1 + np.exp(-x))
    p = 1.0 if p is None else p
    loss = -(p * y * np.log(s) + (1 - y) * np.log(1 - s))
    return loss if w is None else loss * w


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_values_match_the_definition(reduction):
    x, y = _data()
    w, p = np.array([0.5, 1.0, 2.0]), np.array([3.0, 1.0, 0.2])
    ref = _reference(x, y, w, p)
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    out = F.binary_cross_entropy_with_logits(cr.tensor(x), y, weight=w, reduction=reduction, pos_weight=p)
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)


def test_stable_for_huge_logits():
    x = cr.tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0]), requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 1000.0, 1000.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 1.0, -1.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradcheck_float64(reduction, weighted):
    x, y = _data()
    w = np.array([0.5, 1.0, 2.0]) if weighted else None
    p = np.array([3.0, 1.0, 0.2]) if weighted else None
    xt = cr.tensor(x, requires_grad=True)
    yt = cr.tensor(y, requires_grad=True)

    def f(a, b):
        out = F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction, pos_weight=p)
        return out if reduction != "none" else (out * cr.tensor(np.arange(1.0, 13.0).reshape(4, 3))).sum()

    assert gradcheck(f, (xt, yt))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_torch(reduction, weighted):
    torch = pytest.importorskip("torch")
    x, y = _data((5, 3), seed=1)
    x[0, 0], x[1, 1] = 80.0, -80.0
    w = np.array([[0.5], [1.0], [2.0], [1.5], [0.1]]) if weighted else None
    p = np.array([3.0, 1.0, 0.2]) if weighted else None
    xc = cr.tensor(x, requires_grad=True)
    yc = cr.tensor(y, requires_grad=True)
    out = nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=p)(xc, yc)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y, requires_grad=True)
    ref = torch.nn.BCEWithLogitsLoss(weight=None if w is None else torch.tensor(w), reduction=reduction,
                                     pos_weight=None if p is None else torch.tensor(p))(xt, yt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = np.arange(1.0, 16.0).reshape(5, 3)
    (out * cr.tensor(g)).sum().backward() if reduction == "none" else out.backward()
    (ref * torch.tensor(g)).sum().backward() if reduction == "none" else ref.backward()
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(yc.grad, yt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_float32_stays_float32():
    x, y = _data()
    out = F.binary_cross_entropy_with_logits(cr.tensor(x.astype(np.float32)), y.astype(np.float32))
    assert out.data.dtype == np.float32


def test_a_single_sigmoid_neuron_is_a_binary_classifier():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + 2 * X[:, 1] > 0).astype(np.float64)
    model = nn.Linear(2, 1)
    opt = cr.optim.SGD(model.parameters(), lr=1.0)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn(model(cr.tensor(X.astype(np.float32))).reshape(-1), y.astype(np.float32))
        loss.backward()
        opt.step()
    pred = model(cr.tensor(X.astype(np.float32))).data.reshape(-1) > 0
    assert np.mean(pred == y) > 0.97


def test_bad_input():
    with pytest.raises(ValueError, match="same as input size"):
        F.binary_cross_entropy_with_logits(cr.tensor(np.zeros((3, 2))), np.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        F.binary_cross_entropy_with_logits(cr.tensor(np.zeros(3)), np.zeros(3), reduction="avg")
    with pytest.raises(ValueError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(cr.tensor(np.zeros((3, 2))), np.zeros((3, 2)), pos_weight=np.ones(3))
