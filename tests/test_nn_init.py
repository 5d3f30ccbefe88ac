"""nn.init: fans and gains (by hand and equal to torch's); draw statistics; in place, seeded."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import init

FANS = {(30, 20): (20, 30), (16, 3, 5, 5): (75, 400), (8, 4, 3, 1): (12, 24), (7, 2, 3): (6, 21)}


@pytest.mark.parametrize("shape", list(FANS))
def test_fans(shape):
    """fan_in = in_features * receptive field, fan_out = out_features * receptive field."""
    assert init.calculate_fan_in_and_fan_out(cr.zeros(*shape)) == FANS[shape]


@pytest.mark.parametrize("shape", list(FANS))
def test_fans_equal_torch(shape):
    torch = pytest.importorskip("torch")
    assert init.calculate_fan_in_and_fan_out(cr.zeros(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_normal_(cr.zeros(5))


GAINS = [("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
         ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
         ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("selu", None, 3 / 4)]


@pytest.mark.parametrize("name,param,gain", GAINS)
def test_gain(name, param, gain):
    assert init.calculate_gain(name, param) == pytest.approx(gain, rel=1e-12)


@pytest.mark.parametrize("name,param,gain", GAINS)
def test_gain_equals_torch(name, param, gain):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def test_gain_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_kaiming_normal_relu_std():
    cr.manual_seed(0)
    w = cr.zeros(512, 256)
    out = init.kaiming_normal_(w, nonlinearity="relu")
    assert out is w
    assert w.data.std() == pytest.approx(math.sqrt(2 / 256), rel=0.05)
    assert abs(w.data.mean()) < 0.01
    conv = cr.zeros(64, 32, 3, 3)
    init.kaiming_normal_(conv, mode="fan_out", nonlinearity="relu")
    assert conv.data.std() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)
    # default: leaky_relu with a=0, i.e. also sqrt(2 / fan_in)
    init.kaiming_normal_(w)
    assert w.data.std() == pytest.approx(math.sqrt(2 / 256), rel=0.05)


def test_kaiming_uniform_bounds():
    cr.manual_seed(1)
    w = cr.zeros(400, 300)
    init.kaiming_uniform_(w, a=math.sqrt(5))  # PyTorch's Linear default: bound 1/sqrt(fan_in)
    b = 1 / math.sqrt(300)
    assert np.abs(w.data).max() <= b and np.abs(w.data).max() > 0.99 * b
    init.kaiming_uniform_(w, nonlinearity="relu")
    assert w.data.std() == pytest.approx(math.sqrt(2 / 300), rel=0.05)


def test_xavier_and_lecun():
    cr.manual_seed(2)
    w = cr.zeros(300, 500)
    init.xavier_normal_(w)
    assert w.data.std() == pytest.approx(math.sqrt(2 / 800), rel=0.05)
    init.xavier_uniform_(w, gain=init.calculate_gain("tanh"))
    a = 5 / 3 * math.sqrt(6 / 800)
    assert np.abs(w.data).max() <= a and w.data.std() == pytest.approx(a / math.sqrt(3), rel=0.05)
    init.lecun_normal_(w)
    assert w.data.std() == pytest.approx(1 / math.sqrt(500), rel=0.05)


def test_simple_inits_keep_dtype_and_are_seeded():
    w = cr.zeros(100, 100)
    init.normal_(w, std=0.01)  # the lecture's 0.01 * randn
    assert w.dtype == np.float32 and w.data.std() == pytest.approx(0.01, rel=0.05)
    init.uniform_(w, -2, 3)
    assert w.data.min() >= -2 and w.data.max() <= 3 and w.data.mean() == pytest.approx(0.5, abs=0.05)
    init.constant_(w, 0.7)
    assert np.all(w.data == np.float32(0.7))
    init.zeros_(w)
    assert np.all(w.data == 0)
    p = nn.Parameter(cr.zeros(3, 4))
    cr.manual_seed(9)
    a = init.normal_(p).data.copy()
    cr.manual_seed(9)
    np.testing.assert_array_equal(a, init.normal_(p).data)
    assert isinstance(init.ones_(p), nn.Parameter) and np.all(p.data == 1)
