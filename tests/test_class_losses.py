"""F.cross_entropy / F.nll_loss and their layers with PyTorch's options (weight, ignore_index,
label_smoothing, probability targets, (N, C, d1, ...) inputs, legacy flags): gradcheck and torch."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

W = np.array([0.5, 2.0, 1.0, 0.25])
CASES = [  # (input shape, target kind, options)
    ((5, 4), "index", dict(weight=W)),
    ((5, 4), "index", dict(ignore_index=2)),
    ((5, 4), "index", dict(label_smoothing=0.2)),
    ((5, 4), "index", dict(weight=W, ignore_index=1, label_smoothing=0.1)),
    ((5, 4), "index", dict(weight=W, label_smoothing=0.3, reduction="sum")),
    ((5, 4), "index", dict(weight=W, ignore_index=0, reduction="none")),
    ((2, 4, 3, 2), "index", dict()),
    ((2, 4, 3, 2), "index", dict(weight=W, ignore_index=3, label_smoothing=0.05, reduction="none")),
    ((4,), "index", dict(weight=W)),
    ((5, 4), "prob", dict()),
    ((5, 4), "prob", dict(weight=W, label_smoothing=0.2)),
    ((2, 4, 3), "prob", dict(label_smoothing=0.1, reduction="none")),
]


def _data(shape, kind, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    c = shape[1] if len(shape) > 1 else shape[0]
    if kind == "prob":
        p = rng.random(shape)
        return x, p / p.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    tshape = () if len(shape) == 1 else (shape[0], *shape[2:])
    y = rng.integers(0, c, tshape)
    if y.ndim:
        y.reshape(-1)[:c] = np.arange(min(c, y.size))  # every class appears
    return x, y


def _ids():
    return [f"{s}-{k}-{'-'.join(f'{a}' for a in o)}" for s, k, o in CASES]


@pytest.mark.parametrize("shape,kind,opts", CASES, ids=_ids())
def test_cross_entropy_options_gradcheck(shape, kind, opts):
    x, y = _data(shape, kind)
    assert cr.gradcheck(lambda s: F.cross_entropy(s, y, **opts).sum(), [cr.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("shape,kind,opts", CASES, ids=_ids())
def test_cross_entropy_options_equal_torch(shape, kind, opts):
    torch = pytest.importorskip("torch")
    x, y = _data(shape, kind)
    cx = cr.tensor(x, requires_grad=True)
    ours = nn.CrossEntropyLoss(**opts)(cx, y)
    tx = torch.tensor(x, requires_grad=True)
    topts = {k: torch.tensor(v) if k == "weight" else v for k, v in opts.items()}
    ref = torch.nn.CrossEntropyLoss(**topts)(tx, torch.tensor(y))
    np.testing.assert_allclose(ours.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(ours.shape)
    (ours * cr.tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(cx.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("opts", [dict(weight=W), dict(ignore_index=1, reduction="sum"),
                                  dict(weight=W, ignore_index=3, reduction="none")])
def test_nll_loss_options_gradcheck_and_torch(opts):
    x, y = _data((6, 4), "index", seed=3)
    lp = lambda s: F.log_softmax(s, dim=1)  # noqa: E731
    assert cr.gradcheck(lambda s: F.nll_loss(lp(s), y, **opts).sum(), [cr.tensor(x, requires_grad=True)])
    torch = pytest.importorskip("torch")
    ours = nn.NLLLoss(**opts)(lp(cr.tensor(x)), y)
    topts = {k: torch.tensor(v) if k == "weight" else v for k, v in opts.items()}
    ref = torch.nn.NLLLoss(**topts)(torch.log_softmax(torch.tensor(x), 1), torch.tensor(y))
    np.testing.assert_allclose(ours.data, ref.numpy(), rtol=1e-12, atol=1e-12)


def test_legacy_flags_and_plain_path():
    torch = pytest.importorskip("torch")
    x, y = _data((5, 4), "index")
    for kw, want in [(dict(size_average=False), "sum"), (dict(reduce=False), "none"),
                     (dict(size_average=True, reduce=True), "mean")]:
        assert nn.CrossEntropyLoss(**kw).reduction == want
        np.testing.assert_allclose(nn.CrossEntropyLoss(**kw)(cr.tensor(x), y).data,
                                   torch.nn.CrossEntropyLoss(reduction=want)(torch.tensor(x), torch.tensor(y)).numpy(),
                                   rtol=1e-12)
    # the default case is still the fused op (its own backward node)
    assert F.cross_entropy(cr.tensor(x, requires_grad=True), y).grad_fn.fn.__name__ == "CrossEntropy"


def test_errors_name_the_problem():
    x, y = _data((5, 4), "index")
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(cr.tensor(x), y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight of shape \\(4,\\)"):
        F.cross_entropy(cr.tensor(x), y, weight=np.ones(3))
    with pytest.raises(ValueError, match="class indices in \\[0, 3\\]"):
        F.cross_entropy(cr.tensor(x), np.array([0, 1, 2, 3, 7]), weight=W)
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(cr.tensor(x), y, reduction="avg")
    with pytest.raises(ValueError, match="integer class indices"):
        F.nll_loss(cr.tensor(x), np.zeros((5, 4)))
