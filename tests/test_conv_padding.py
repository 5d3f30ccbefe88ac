"""Conv2d's padding='same' / 'valid' (module and functional): gradcheck and PyTorch equality."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

KERNELS = [(3, 3), (2, 2), (4, 3), (1, 5)]


def _data(k, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, *k)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("k", KERNELS)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_functional_string_padding_gradcheck(k, padding):
    x, w, b = _data(k)
    args = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert cr.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding), args)


@pytest.mark.parametrize("k", KERNELS)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_functional_string_padding_equals_torch(k, padding):
    torch = pytest.importorskip("torch")
    x, w, b = _data(k)
    cx, cw = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    out = F.conv2d(cx, cw, cr.tensor(b), padding=padding)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ref = torch.nn.functional.conv2d(tx, tw, torch.tensor(b), padding=padding)
    assert out.shape == tuple(ref.shape)
    if padding == "same":
        assert out.shape[2:] == x.shape[2:]
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(out.shape)
    (out * cr.tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(cx.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cw.grad, tw.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [3, 2, (2, 5)])
def test_module_same_padding_equals_torch(k):
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    ours = nn.Conv2d(3, 4, k, padding="same").double()
    theirs = torch.nn.Conv2d(3, 4, k, padding="same").double()
    theirs.load_state_dict({n: torch.tensor(np.asarray(v)) for n, v in ours.state_dict().items()})
    x, _, _ = _data((1, 1))
    np.testing.assert_allclose(ours(cr.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    assert ours.padding == theirs.padding == "same"
    assert "padding=same" in repr(ours)


def test_string_padding_errors_are_torchs():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        torch.nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'full'"):
        nn.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(cr.zeros(1, 1, 4, 4), cr.zeros(1, 1, 3, 3), stride=2, padding="same")


def test_same_padding_module_saves_and_loads(tmp_path):
    m = nn.Sequential(nn.Conv2d(1, 2, 4, padding="same"), nn.ReLU())
    cr.save(m, tmp_path / "m.safetensors")
    back = cr.load(tmp_path / "m.safetensors")
    x = cr.randn(1, 1, 5, 5)
    np.testing.assert_array_equal(back(x).data, m(x).data)
    assert back(x).shape == (1, 2, 5, 5)
