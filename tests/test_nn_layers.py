"""Layers: float64 gradient checks and hand or naive-reference values everywhere; against torch.nn
(same weights copied in) where torch is installed; bad-input errors; default initialisation;
state_dict interchange with torch."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.ops.conv import conv2d_naive
from chainrule.ops.pool import max_pool2d_naive


def _to_torch_sd(torch, m):
    return {k: torch.tensor(np.asarray(v)) for k, v in m.state_dict().items()}


def _check_layer(ours, make_theirs, shape, seed=0, atol=1e-10):
    """Copy our (float64) weights into make_theirs(torch.nn), compare forward, input grads and param grads."""
    torch = pytest.importorskip("torch")
    theirs = make_theirs(torch.nn)
    ours.double()
    theirs.double()
    theirs.load_state_dict(_to_torch_sd(torch, ours))
    a = np.random.default_rng(seed).standard_normal(shape)
    x, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, out_t = ours(x), theirs(xt)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), atol=atol, rtol=1e-7)
    g = np.random.default_rng(seed + 1).standard_normal(out.shape)
    out.backward(g)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), atol=atol, rtol=1e-7)
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), atol=atol, rtol=1e-7, err_msg=name)
    return out


def _gradcheck_input(layer, shape, seed=0):
    """gradcheck of the layer in float64; returns the input and the output for value checks."""
    layer.double()
    x = cr.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    assert cr.gradcheck(layer, [x])
    return x.data, layer(x).data


LINEAR = [(5, 3, True, (4, 5)), (3, 6, False, (2, 3)), (4, 2, True, (2, 3, 4))]


@pytest.mark.parametrize("d_in,d_out,bias,shape", LINEAR)
def test_linear(d_in, d_out, bias, shape):
    layer = nn.Linear(d_in, d_out, bias)
    x, y = _gradcheck_input(layer, shape)
    np.testing.assert_allclose(y, x @ layer.weight.data.T + (layer.bias.data if bias else 0), rtol=1e-12)
    w = cr.randn(d_out, d_in, dtype="float64", requires_grad=True)
    b = cr.randn(d_out, dtype="float64", requires_grad=True) if bias else None
    x = cr.randn(*shape, dtype="float64", requires_grad=True)
    assert cr.gradcheck(lambda x, w, *b: F.linear(x, w, *b), [x, w] + ([b] if bias else []))


@pytest.mark.parametrize("d_in,d_out,bias,shape", LINEAR)
def test_linear_equals_torch(d_in, d_out, bias, shape):
    _check_layer(nn.Linear(d_in, d_out, bias), lambda tn: tn.Linear(d_in, d_out, bias), shape)


@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_maxout(pieces):
    layer = nn.Maxout(4, 3, pieces)
    x, y = _gradcheck_input(layer, (3, 4), seed=pieces)
    z = x @ layer.linear.weight.data.T + layer.linear.bias.data
    np.testing.assert_allclose(y, z.reshape(3, 3, pieces).max(axis=2), rtol=1e-12)


@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_maxout_equals_torch(pieces):
    def torch_maxout(tn):
        class TorchMaxout(tn.Module):
            def __init__(self):
                super().__init__()
                self.linear = tn.Linear(4, 3 * pieces)

            def forward(self, x):
                return self.linear(x).view(x.shape[0], 3, pieces).amax(dim=2)

        return TorchMaxout()

    out = _check_layer(nn.Maxout(4, 3, pieces), torch_maxout, (5, 4), seed=pieces)
    assert out.shape == (5, 3)


CONV = [
    (3, 4, 3, 1, 0, True, (2, 3, 6, 6)),
    (2, 3, (3, 2), 2, 1, False, (1, 2, 7, 5)),
    (1, 2, 1, (2, 1), 0, True, (2, 1, 4, 4)),
]


@pytest.mark.parametrize("cin,cout,k,stride,padding,bias,shape", CONV)
def test_conv2d(cin, cout, k, stride, padding, bias, shape):
    small = (1,) + shape[1:]
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias)
    x, y = _gradcheck_input(conv, small)
    b = conv.bias.data if bias else None
    np.testing.assert_allclose(y, conv2d_naive(x, conv.weight.data, b, stride, padding), rtol=1e-10, atol=1e-12)
    w = cr.tensor(conv.weight.data, requires_grad=True)
    x = cr.randn(*small, dtype="float64")
    args = [x, w] + ([cr.tensor(conv.bias.data, requires_grad=True)] if bias else [])
    assert cr.gradcheck(lambda x, w, *b: F.conv2d(x, w, *(b or [None]), stride=stride, padding=padding), args)


@pytest.mark.parametrize("cin,cout,k,stride,padding,bias,shape", CONV)
def test_conv2d_equals_torch(cin, cout, k, stride, padding, bias, shape):
    _check_layer(nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias),
                 lambda tn: tn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias), shape)


POOLS = [
    (lambda: nn.MaxPool2d(2), lambda tn: tn.MaxPool2d(2), (2, 3, 6, 6)),
    (lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), lambda tn: tn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
     (1, 2, 7, 6)),
    (lambda: nn.AvgPool2d(2), lambda tn: tn.AvgPool2d(2), (2, 3, 6, 4)),
    (lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
     lambda tn: tn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (1, 2, 5, 7)),
    (lambda: nn.AdaptiveAvgPool2d(1), lambda tn: tn.AdaptiveAvgPool2d(1), (2, 3, 5, 5)),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), lambda tn: tn.AdaptiveAvgPool2d((2, 3)), (1, 2, 5, 7)),
]


@pytest.mark.parametrize("ours,theirs,shape", POOLS)
def test_pooling_gradcheck(ours, theirs, shape):
    _gradcheck_input(ours(), (1,) + shape[1:])


def test_pooling_values():
    x = np.arange(2 * 4 * 6, dtype=np.float64).reshape(1, 2, 4, 6)
    np.testing.assert_array_equal(nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)(cr.tensor(x)).data,
                                  max_pool2d_naive(x, 3, 2, 1, True))
    means = x.reshape(1, 2, 2, 2, 3, 2).mean(axis=(3, 5))  # 2x2 windows
    np.testing.assert_allclose(nn.AvgPool2d(2)(cr.tensor(x)).data, means, rtol=1e-12)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(cr.tensor(x)).data, x.mean(axis=(2, 3), keepdims=True))


@pytest.mark.parametrize("ours,theirs,shape", POOLS)
def test_pooling_equals_torch(ours, theirs, shape):
    _check_layer(ours(), theirs, shape)


ACT_LAYERS = [
    (lambda: nn.ReLU(), lambda tn: tn.ReLU(), lambda x: np.maximum(x, 0)),
    (lambda: nn.LeakyReLU(0.2), lambda tn: tn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (lambda: nn.ELU(0.5), lambda tn: tn.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (lambda: nn.Sigmoid(), lambda tn: tn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (lambda: nn.Tanh(), lambda tn: tn.Tanh(), np.tanh),
    (lambda: nn.Softmax(1), lambda tn: tn.Softmax(1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (lambda: nn.LogSoftmax(1), lambda tn: tn.LogSoftmax(1),
     lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
    (lambda: nn.Flatten(), lambda tn: tn.Flatten(), lambda x: x.reshape(len(x), -1)),
    (lambda: nn.Identity(), lambda tn: tn.Identity(), lambda x: x),
]


@pytest.mark.parametrize("ours,theirs,formula", ACT_LAYERS)
def test_activation_layers(ours, theirs, formula):
    x, y = _gradcheck_input(ours(), (2, 3, 2))
    np.testing.assert_allclose(y, formula(x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("ours,theirs,formula", ACT_LAYERS)
def test_activation_layers_equal_torch(ours, theirs, formula):
    _check_layer(ours(), theirs, (3, 4, 2))


def test_loss_layers():
    s = cr.randn(5, 4, dtype="float64")
    y = np.array([0, 3, 1, 1, 2])
    t = cr.randn(5, 4, dtype="float64")
    assert nn.CrossEntropyLoss()(s, y).item() == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-15)
    assert nn.SVMLoss(margin=0.5)(s, y).item() == pytest.approx(F.svm_loss(s, y, margin=0.5).item(), rel=1e-15)
    assert nn.MSELoss(reduction="sum")(s, t).item() == pytest.approx(((s.data - t.data) ** 2).sum(), rel=1e-12)


def test_loss_layers_equal_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    s = cr.randn(5, 4, dtype="float64")
    y = np.array([0, 3, 1, 1, 2])
    st, yt = torch.tensor(s.data), torch.tensor(y)
    assert nn.CrossEntropyLoss()(s, y).item() == pytest.approx(tn.CrossEntropyLoss()(st, yt).item(), rel=1e-12)
    assert nn.SVMLoss(margin=0.5)(s, y).item() == pytest.approx(4 * tn.MultiMarginLoss(margin=0.5)(st, yt).item(), rel=1e-12)
    t = cr.randn(5, 4, dtype="float64")
    assert nn.MSELoss(reduction="sum")(s, t).item() == pytest.approx(
        tn.MSELoss(reduction="sum")(st, torch.tensor(t.data)).item(), rel=1e-12)


def test_dropout_layer_train_eval():
    cr.manual_seed(0)
    d = nn.Dropout(0.3)
    x = cr.ones(100, 400)
    y = d(x).data
    assert abs((y == 0).mean() - 0.3) < 0.01 and abs(y.mean() - 1) < 0.02
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="Dropout: p must be in"):
        nn.Dropout(1.5)


# ------------------------------------------------------------ default init
def test_default_init_matches_torch_ranges():
    cr.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    for p in (lin.weight.data, lin.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.95 * bound
    # U(-b, b) has std b / sqrt(3)
    assert lin.weight.data.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    conv = nn.Conv2d(16, 32, 3)
    cb = 1 / np.sqrt(16 * 9)
    assert np.abs(conv.weight.data).max() <= cb and conv.weight.data.std() == pytest.approx(cb / np.sqrt(3), rel=0.05)
    assert np.abs(conv.bias.data).max() <= cb
    assert lin.weight.dtype == np.float32 and conv.weight.dtype == np.float32
    bn = nn.BatchNorm2d(5)
    assert np.all(bn.weight.data == 1) and np.all(bn.bias.data == 0)
    assert np.all(bn.running_mean == 0) and np.all(bn.running_var == 1) and bn.num_batches_tracked == 0
    cr.manual_seed(3)
    a = nn.Linear(5, 5).weight.data.copy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(a, nn.Linear(5, 5).weight.data)


def test_default_linear_init_spread_equals_torchs():
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    tw = torch.nn.Linear(400, 300).weight.detach().numpy()
    assert nn.Linear(400, 300).weight.data.std() == pytest.approx(tw.std(), rel=0.03)


# ------------------------------------------------------------- bad input
def test_bad_input_errors():
    conv = nn.Conv2d(3, 16, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16, kernel_size=\(3, 3\).*: expected input of shape "
                                         r"\(N, 3, H, W\), got \(8, 1, 28, 28\)"):
        conv(cr.randn(8, 1, 28, 28))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16.*expected input of shape \(N, 3, H, W\), got \(3, 28, 28\)"):
        conv(cr.randn(3, 28, 28))
    with pytest.raises(ValueError, match=r"Conv2d.*smaller than the kernel"):
        conv(cr.randn(1, 3, 2, 2))
    lin = nn.Linear(10, 4)
    with pytest.raises(ValueError, match=r"Linear\(in_features=10, out_features=4, bias=True\): expected input "
                                         r"of shape \(N, 10\), got \(10,\)"):
        lin(cr.randn(10))
    with pytest.raises(ValueError, match=r"Linear\(in_features=10.*got \(5, 9\)"):
        lin(cr.randn(5, 9))
    with pytest.raises(ValueError, match=r"Maxout\(in_features=4, out_features=2, pieces=2\).*\(N, 4\), got \(3, 5\)"):
        nn.Maxout(4, 2)(cr.randn(3, 5))
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2.*\(N, C, H, W\), got \(4, 4\)"):
        nn.MaxPool2d(2)(cr.randn(4, 4))
    with pytest.raises(ValueError, match=r"groups"):
        nn.Conv2d(4, 4, 3, groups=2)


# ------------------------------------------------------- state dict & torch
def _small_cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 3 * 3, 5))


def _pair_models():
    tn = pytest.importorskip("torch").nn
    ours = _small_cnn()
    theirs = tn.Sequential(tn.Conv2d(3, 4, 3, padding=1), tn.BatchNorm2d(4), tn.ReLU(), tn.MaxPool2d(2),
                           tn.Flatten(), tn.Linear(4 * 3 * 3, 5))
    return ours, theirs


def test_state_dict_keys_and_shapes():
    sd = _small_cnn().state_dict()
    assert {k: v.shape for k, v in sd.items()} == {
        "0.weight": (4, 3, 3, 3), "0.bias": (4,), "1.weight": (4,), "1.bias": (4,), "1.running_mean": (4,),
        "1.running_var": (4,), "1.num_batches_tracked": (), "5.weight": (5, 36), "5.bias": (5,)}
    assert list(sd)[:2] == ["0.weight", "0.bias"] and sd["1.num_batches_tracked"].dtype == np.int64


def test_state_dict_keys_equal_torch():
    ours, theirs = _pair_models()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "1.num_batches_tracked" in ours.state_dict() and ours.state_dict()["1.num_batches_tracked"].dtype == np.int64
    for k, v in theirs.state_dict().items():
        assert ours.state_dict()[k].shape == tuple(v.shape), k


def test_state_dict_to_torch_and_back_gives_equal_outputs():
    torch = pytest.importorskip("torch")
    ours, theirs = _pair_models()
    ours.train()
    ours(cr.randn(6, 3, 6, 6))  # move the running statistics off their defaults
    theirs.load_state_dict(_to_torch_sd(torch, ours))
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(ours(cr.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)
    # and back: torch's (randomly initialised) weights into a fresh chainrule model
    theirs2 = _pair_models()[1].eval()
    ours2 = _pair_models()[0].eval()
    ours2.load_state_dict(theirs2.state_dict())
    np.testing.assert_allclose(ours2(cr.tensor(x)).data, theirs2(torch.tensor(x)).detach().numpy(), atol=1e-5)


def test_small_network_learns_a_toy_problem():
    """Linear + BatchNorm1d + ReLU + Dropout + Linear trained by plain SGD on 3 Gaussian blobs."""
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, 300)
    x = cr.tensor((centers[y] + 0.5 * rng.standard_normal((300, 2))).astype(np.float32))
    model = nn.Sequential(nn.Linear(2, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 3))
    first = None
    for _ in range(60):
        loss = F.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with cr.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    model.eval()
    acc = (model(x).argmax(1).data == y).mean()
    assert loss.item() < 0.3 * first and acc > 0.95
