"""The smaller nn pieces PyTorch scripts use: Dropout2d / F.dropout2d, Unflatten, F.one_hot,
ModuleList.insert / pop / del / +=. Each against PyTorch, the differentiable ones by gradcheck."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F


def test_dropout2d_drops_whole_channels_and_scales():
    cr.manual_seed(0)
    x = cr.tensor(np.random.default_rng(0).random((64, 8, 3, 3)) + 1.0)
    out = nn.Dropout2d(0.25)(x).data
    zero = (out == 0).all(axis=(2, 3))
    kept = np.isclose(out, x.data / 0.75).all(axis=(2, 3))
    assert (zero | kept).all()  # each map is dropped whole or scaled whole
    assert 0.18 < zero.mean() < 0.32  # ~p of the 512 maps
    m = nn.Dropout2d(0.25).eval()
    assert m(x) is x


def test_dropout2d_gradcheck_with_a_fixed_mask():
    x = cr.tensor(np.random.default_rng(1).standard_normal((2, 3, 2, 2)), requires_grad=True)

    def f(x):
        cr.manual_seed(3)  # the same mask on every call
        return F.dropout2d(x, 0.5, training=True)

    assert cr.gradcheck(f, [x])


def test_dropout2d_follows_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).random((16, 4, 5)) + 1.0  # 3-D: PyTorch reads (N, C, L)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.functional.dropout2d(torch.tensor(x), 0.5, training=True).numpy()
    ours = F.dropout2d(cr.tensor(x), 0.5, training=True).data
    for out in (ours, theirs):  # the same structure: whole (n, c) rows zero or doubled
        zero, kept = (out == 0).all(axis=2), np.isclose(out, 2 * x).all(axis=2)
        assert (zero | kept).all() and zero.any() and kept.any()
    np.testing.assert_array_equal(F.dropout2d(cr.tensor(x), 0.5, training=False).data,
                                  torch.nn.functional.dropout2d(torch.tensor(x), 0.5, training=False).numpy())
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout2d(1.5)


def test_unflatten_gradcheck_and_torch():
    x = np.random.default_rng(3).standard_normal((2, 12))
    assert cr.gradcheck(lambda t: nn.Unflatten(1, (3, 2, 2))(t), [cr.tensor(x, requires_grad=True)])
    torch = pytest.importorskip("torch")
    for dim, size in [(1, (3, 4)), (-1, (2, -1)), (1, (3, 2, 2))]:
        ours = nn.Unflatten(dim, size)(cr.tensor(x))
        theirs = torch.nn.Unflatten(dim, size)(torch.tensor(x))
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    with pytest.raises(ValueError, match="cannot unflatten"):
        nn.Unflatten(1, (5, 2))(cr.tensor(x))


def test_one_hot_equals_torch():
    torch = pytest.importorskip("torch")
    y = np.array([[0, 2], [1, 3]])
    for n in (-1, 5):
        ours = F.one_hot(cr.tensor(y), n)
        theirs = torch.nn.functional.one_hot(torch.tensor(y), n)
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    with pytest.raises(ValueError, match="smaller than num_classes"):
        F.one_hot(np.array([3]), 2)


def test_module_list_edits_follow_torch():
    torch = pytest.importorskip("torch")
    ours = nn.ModuleList([nn.Linear(1, 1), nn.ReLU()])
    theirs = torch.nn.ModuleList([torch.nn.Linear(1, 1), torch.nn.ReLU()])
    for ml, mod in ((ours, nn), (theirs, torch.nn)):
        ml.insert(1, mod.Tanh())
        ml += [mod.Sigmoid()]
        popped = ml.pop(0)
        assert type(popped).__name__ == "Linear"
        del ml[-1]
        ml.append(mod.Identity())
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs] == ["Tanh", "ReLU", "Identity"]
    assert list(dict(ours.named_children())) == list(dict(theirs.named_children())) == ["0", "1", "2"]
    with pytest.raises(IndexError):
        ours.pop(5)
