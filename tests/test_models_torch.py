"""chainrule's ImageNet models against independent PyTorch re-implementations
of torchvision's (tests/_torch_zoo.py): the same state_dict keys and shapes
for every model, and, with the torch weights copied in, the same outputs and
gradients (eval mode, small inputs, float32) for one model of each family."""
import numpy as np
import pytest

import chainrule as cr

torch = tz = None  # every test here compares with torch: the autouse fixture imports it or skips


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Each test needs torch (skipped without it). torch is only the oracle here: its idle
    OpenMP threads spinning beside NumPy's made these tests ~7x slower on the shared 2-core machine."""
    global torch, tz
    torch = pytest.importorskip("torch")
    from tests import _torch_zoo as tz
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

BUILDERS = {
    "alexnet": lambda: tz.alexnet(num_classes=10),
    "vgg11": lambda: tz.VGG(tz.VGG11, num_classes=10),
    "vgg11_bn": lambda: tz.VGG(tz.VGG11, bn=True, num_classes=10),
    "vgg13": lambda: tz.VGG(tz.VGG13, num_classes=10),
    "vgg13_bn": lambda: tz.VGG(tz.VGG13, bn=True, num_classes=10),
    "vgg16": lambda: tz.VGG(tz.VGG16, num_classes=10),
    "vgg16_bn": lambda: tz.VGG(tz.VGG16, bn=True, num_classes=10),
    "vgg19": lambda: tz.VGG(tz.VGG19, num_classes=10),
    "vgg19_bn": lambda: tz.VGG(tz.VGG19, bn=True, num_classes=10),
    "googlenet": lambda: tz.GoogLeNet(num_classes=10),
    "resnet18": lambda: tz.ResNet(tz.Basic, [2, 2, 2, 2], num_classes=10),
    "resnet34": lambda: tz.ResNet(tz.Basic, [3, 4, 6, 3], num_classes=10),
    "resnet50": lambda: tz.ResNet(tz.Bottle, [3, 4, 6, 3], num_classes=10),
    "resnet101": lambda: tz.ResNet(tz.Bottle, [3, 4, 23, 3], num_classes=10),
    "resnet152": lambda: tz.ResNet(tz.Bottle, [3, 8, 36, 3], num_classes=10),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_state_dict_names_and_shapes_equal_torchvision(name):
    with torch.device("meta"):  # shapes only, no memory, no init
        tsd = BUILDERS[name]().state_dict()
    with cr.models.skip_init():
        sd = cr.models.get(name, num_classes=10).state_dict()
    assert list(sd) == list(tsd)  # same names in the same order
    assert {k: v.shape for k, v in sd.items()} == {k: tuple(v.shape) for k, v in tsd.items()}


def _randomise_bn(tm, seed):
    """Non-trivial BN statistics and affine parameters, so that eval-mode BN does something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in tm.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)


def _close(ours, theirs, what, rtol=1e-3):
    """float32 agreement relative to the array's scale; huge arrays on a fixed sample."""
    ours, theirs = np.asarray(ours).ravel(), np.asarray(theirs).ravel()
    if ours.size > 1_000_000:
        idx = np.random.default_rng(0).choice(ours.size, 20_000, replace=False)
        ours, theirs = ours[idx], theirs[idx]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-4 * (np.abs(theirs).max() + 1e-12), err_msg=what)


@pytest.mark.parametrize("name,shape", [
    ("vgg11", (1, 3, 32, 32)),
    ("resnet18", (2, 3, 64, 64)),
    ("googlenet", (1, 3, 40, 40)),  # 40 -> 20 -> 10 -> 5 -> 2 -> 1: odd sizes in the ceil-mode pools
    ("bottleneck_resnet", (1, 3, 32, 32)),  # resnet50's code path, one block per stage
    ("alexnet", (1, 3, 67, 67)),
])
def test_outputs_and_gradients_equal_torch(name, shape):
    torch.manual_seed(0)
    with cr.models.skip_init():  # every weight comes from torch
        if name == "bottleneck_resnet":
            tm = tz.ResNet(tz.Bottle, [1, 1, 1, 1], num_classes=10)
            m = cr.models.ResNet("bottleneck", [1, 1, 1, 1], num_classes=10)
        else:
            tm = BUILDERS[name]()
            m = cr.models.get(name, num_classes=10)
    tm.eval()
    _randomise_bn(tm, 1)
    missing, unexpected = m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    assert not missing and not unexpected
    m.eval()

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    out_t, out = tm(xt), m(xc)
    _close(out.data, out_t.detach().numpy(), "logits", rtol=1e-4)

    g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    out_t.backward(torch.tensor(g))
    out.backward(g)
    _close(xc.grad, xt.grad.numpy(), "input gradient")
    tparams = dict(tm.named_parameters())
    for pname, p in m.named_parameters():
        _close(p.grad, tparams[pname].grad.numpy(), pname)
