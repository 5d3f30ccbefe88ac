"""Adam(bias_correction=False): the notes' update, x += -lr * m / (sqrt(v) + eps)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import optim


def _grads(steps, shape, seed=0):
    return np.random.default_rng(seed).normal(size=(steps, *shape))


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_without_bias_correction_is_the_notes_update(weight_decay):
    x0 = np.random.default_rng(1).normal(size=(3, 4))
    lr, (b1, b2), eps = 0.05, (0.9, 0.999), 1e-8
    p = cr.nn.Parameter(x0.copy())
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay, bias_correction=False)
    x, m, v = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
    for dx in _grads(5, x0.shape):
        p.grad = dx.copy()
        opt.step()
        dx = dx + weight_decay * x
        m = b1 * m + (1 - b1) * dx
        v = b2 * v + (1 - b2) * dx * dx
        x += -lr * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(p.data, x, rtol=1e-12, atol=1e-15)


def test_default_keeps_bias_correction():
    x0 = np.random.default_rng(2).normal(size=5)
    lr, (b1, b2), eps = 0.05, (0.9, 0.999), 1e-8
    p, q = cr.nn.Parameter(x0.copy()), cr.nn.Parameter(x0.copy())
    on, off = optim.Adam([p], lr=lr, eps=0.0), optim.Adam([q], lr=lr, eps=0.0, bias_correction=False)
    g = _grads(1, x0.shape)[0]
    p.grad, q.grad = g.copy(), g.copy()
    on.step()
    off.step()
    # t = 1: m_hat = g, v_hat = g^2, so the corrected step is ~lr * sign(g); uncorrected m / sqrt(v)
    # = 0.1 g / (sqrt(0.001) |g|) ~= 3.16 lr * sign(g)
    np.testing.assert_allclose(x0 - p.data, lr * np.sign(g), rtol=1e-10)
    np.testing.assert_allclose(x0 - q.data, lr * 0.1 / np.sqrt(0.001) * np.sign(g), rtol=1e-10)
    assert "bias_correction" not in on.param_groups[0]  # the default layout is torch's


def test_setting_survives_state_dict_round_trip():
    p = cr.nn.Parameter(np.ones(3))
    opt = optim.Adam([p], lr=0.1, bias_correction=False)
    p.grad = np.ones(3)
    opt.step()
    q = cr.nn.Parameter(p.data.copy())
    opt2 = optim.Adam([q], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["bias_correction"] is False
    # an older state dict without the key means torch's Adam (with the corrections)
    sd = opt.state_dict()
    del sd["param_groups"][0]["bias_correction"]
    opt2.load_state_dict(sd)
    q.grad = np.ones(3)
    opt2.step()
