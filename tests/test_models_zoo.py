"""The model zoo: registry, parameter counts (torchvision's published numbers,
the ResNet paper's table 6), forward + backward of the small and CIFAR-size
models, configs. The ImageNet models are compared with PyTorch in
test_models_torch.py."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.nn.config import module_from_config, module_to_config

# torchvision's published parameter counts (1000 classes; googlenet without aux heads).
TORCHVISION_PARAMS = {
    "alexnet": 61_100_840,
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
    "googlenet": 6_624_904,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808,
}


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_imagenet_parameter_counts_equal_torchvision(name):
    with cr.models.skip_init():  # the counts do not need 100M random draws
        m = cr.models.get(name)
    assert n_params(m) == TORCHVISION_PARAMS[name]


def test_parameter_counts_follow_num_classes_and_in_channels():
    with cr.models.skip_init():
        m = cr.models.resnet18(num_classes=10, in_channels=1)
    # conv1 loses 2 of 3 input channels (64*2*7*7), fc 990 of 1000 outputs (990*513)
    assert n_params(m) == 11_689_512 - 64 * 2 * 49 - 990 * 513
    assert m.conv1.weight.shape == (64, 1, 7, 7) and m.fc.weight.shape == (10, 512)


def test_googlenet_aux_logits_add_the_auxiliary_heads():
    with cr.models.skip_init():
        m = cr.models.googlenet(aux_logits=True)
    # each aux head: conv 1x1 128 + BN, fc 2048->1024, fc 1024->1000
    aux = (512 * 128 + 2 * 128) + (528 * 128 + 2 * 128) + 2 * (2048 * 1024 + 1024 + 1024 * 1000 + 1000)
    assert n_params(m) == 6_624_904 + aux


def test_resnet_cifar_parameter_counts_match_the_paper():
    """He et al. 2015, table 6: ResNet-20 0.27M, ResNet-56 0.85M parameters (option A)."""
    r20, r56 = cr.models.resnet20(), cr.models.resnet56()
    assert n_params(r20) == 269_722 and round(n_params(r20) / 1e6, 2) == 0.27
    assert n_params(r56) == 853_018 and round(n_params(r56) / 1e6, 2) == 0.85
    # 6n + 2 weighted layers: 19 convolutions + 1 fc for n = 3
    convs = [m for m in r20.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 19
    # option B adds a 1x1 projection + BN at the two stage transitions
    r20b = cr.models.resnet20(shortcut="B")
    assert n_params(r20b) == 269_722 + (16 * 32 + 64) + (32 * 64 + 128)


def test_resnet_cifar_option_a_shortcut_is_subsample_and_zero_pad():
    from chainrule.models.resnet_cifar import ZeroPadShortcut

    sc = ZeroPadShortcut(16, 32, 2)
    x = cr.randn(2, 16, 8, 8)
    y = sc(x).data
    assert y.shape == (2, 32, 4, 4)
    np.testing.assert_array_equal(y[:, 8:24], x.data[:, :, ::2, ::2])
    assert not y[:, :8].any() and not y[:, 24:].any()


def test_registry_get_and_list():
    names = cr.models.list_models()
    for n in ["two_layer_net", "fc_net", "three_layer_convnet", "small_cnn", "vgg_cifar", "resnet20",
              "resnet56", *TORCHVISION_PARAMS]:
        assert n in names
    assert names == sorted(names)
    m = cr.models.get("resnet20", num_classes=7)
    assert isinstance(m, cr.models.ResNetCifar) and m.fc.out_features == 7
    with pytest.raises(ValueError, match=r"unknown model 'resnet19'.*available:.*resnet18"):
        cr.models.get("resnet19")


def _train_step(model, x, y):
    model.train()
    model.zero_grad()
    out = model(x)
    loss = F.cross_entropy(out, y)
    loss.backward()
    return out, loss


SMALL = [
    ("two_layer_net", dict(input_dim=12, hidden_dim=7, num_classes=3), (4, 12)),
    ("fc_net", dict(input_dim=12, hidden_dims=[9, 8], num_classes=3, batchnorm=True, dropout=0.3,
                    activation="leaky_relu"), (4, 12)),
    ("three_layer_convnet", dict(in_channels=3, num_filters=4, filter_size=3, hidden_dim=6, num_classes=3,
                                 input_size=8), (2, 3, 8, 8)),
    ("small_cnn", dict(in_channels=1, num_classes=3, input_size=8), (2, 1, 8, 8)),
    ("vgg_cifar", dict(in_channels=1, num_classes=3, widths=(4, 8, 8), input_size=8), (2, 1, 8, 8)),
    ("vgg_cifar", dict(in_channels=1, num_classes=3, widths=(4, 8, 8), input_size=28), (2, 1, 28, 28)),
    ("resnet20", dict(num_classes=3), (2, 3, 8, 8)),
    ("resnet56", dict(num_classes=3, shortcut="B"), (2, 3, 8, 8)),
]


@pytest.mark.parametrize("name,kwargs,shape", SMALL, ids=[s[0] + str(i) for i, s in enumerate(SMALL)])
def test_small_models_forward_backward(name, kwargs, shape):
    cr.manual_seed(0)
    m = cr.models.get(name, **kwargs)
    x = cr.randn(*shape)
    y = np.arange(shape[0]) % 3
    cr.manual_seed(1)  # the same dropout masks in both steps below
    out, loss = _train_step(m, x, y)
    assert out.shape == (shape[0], 3)
    assert np.isfinite(loss.item())
    for pname, p in m.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, pname
        assert np.isfinite(p.grad.data).all(), pname
    # a small SGD step on the same batch lowers the loss: the gradients point downhill
    cr.optim.SGD(m.parameters(), lr=0.01).step()
    cr.manual_seed(1)
    _, loss2 = _train_step(m, x, y)
    assert loss2.item() < loss.item()


def test_three_layer_convnet_layout():
    m = cr.models.three_layer_convnet(in_channels=3, num_filters=32, filter_size=7, hidden_dim=100,
                                      num_classes=10, input_size=32)
    conv, fc1 = m[0], m[4]
    assert conv.padding == (3, 3) and fc1.in_features == 32 * 16 * 16
    assert m(cr.zeros(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="odd"):
        cr.models.three_layer_convnet(filter_size=4)


def test_small_cnn_gradcheck_float64():
    cr.manual_seed(1)
    m = cr.models.small_cnn(in_channels=1, num_classes=2, channels=(2, 3, 2)).double().eval()
    x = cr.tensor(np.random.default_rng(0).standard_normal((1, 1, 4, 4)), requires_grad=True)
    assert cr.gradcheck(m, [x])


def test_fc_net_rejects_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        cr.models.fc_net(activation="swish")


@pytest.mark.parametrize("name,kwargs", [("resnet20", {}), ("googlenet", dict(num_classes=5, aux_logits=True)),
                                         ("small_cnn", {}), ("resnet18", dict(num_classes=3))])
def test_models_rebuild_from_config(name, kwargs):
    m = cr.models.get(name, **kwargs)
    cfg = module_to_config(m)
    m2 = module_from_config(cfg)
    assert type(m2) is type(m)
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert list(sd) == list(sd2)
    assert all(sd[k].shape == sd2[k].shape for k in sd)


def test_googlenet_training_returns_aux_outputs():
    cr.manual_seed(0)
    m = cr.models.googlenet(num_classes=4, aux_logits=True)
    out = m.train()(cr.randn(2, 3, 32, 32))  # batch 2: training BN needs 2+ values per channel at 1x1
    assert out.logits.shape == out.aux_logits1.shape == out.aux_logits2.shape == (2, 4)
    y = np.array([1, 3])
    loss = F.cross_entropy(out.logits, y) + 0.3 * (F.cross_entropy(out.aux_logits1, y)
                                                   + F.cross_entropy(out.aux_logits2, y))
    loss.backward()
    assert m.aux1.fc2.weight.grad is not None and m.conv1.conv.weight.grad is not None
    assert m.eval()(cr.randn(1, 3, 32, 32)).shape == (1, 4)  # eval: logits only


def test_initialisation_follows_torchvision():
    cr.manual_seed(0)
    m = cr.models.resnet18(num_classes=10)
    w = m.layer3[0].conv2.weight.data  # 256 x 256 x 3 x 3, kaiming normal fan_out
    assert abs(w.std() - np.sqrt(2 / (256 * 9))) < 0.02 * np.sqrt(2 / (256 * 9))
    assert (m.bn1.weight.data == 1).all() and (m.bn1.bias.data == 0).all()
    g = cr.models.googlenet(num_classes=10)
    assert abs(g.inception4a.branch1.conv.weight.data.std() - 0.01) < 0.001
    # same seed, same weights
    cr.manual_seed(0)
    m2 = cr.models.resnet18(num_classes=10)
    np.testing.assert_array_equal(m2.layer3[0].conv2.weight.data, w)


def test_skip_init_restores_default_init():
    with cr.models.skip_init():
        cr.models.resnet18()
    lin = nn.Linear(100, 50)  # after the block, layers draw their weights again
    assert 0 < np.abs(lin.weight.data).max() <= 0.1
    assert np.abs(lin.weight.data).std() > 0.01


def test_vgg_cifar_on_mnist_and_digit_sizes():
    m8 = cr.models.vgg_cifar(in_channels=1, input_size=8)
    m28 = cr.models.vgg_cifar(in_channels=1, input_size=28)
    pools8 = sum(isinstance(l, nn.MaxPool2d) for l in m8)
    assert pools8 == 3 and m8(cr.zeros(1, 1, 8, 8)).shape == (1, 10)
    assert m28(cr.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("name", ["vgg11_bn", "resnet34"])
def test_imagenet_models_train_step_on_a_tiny_batch(name):
    """The code paths not compared with torch (VGG with batch norm, ResNet-34's
    basic-block stages) in training mode: forward, backward, finite gradients."""
    with cr.models.skip_init():
        m = cr.models.get(name, num_classes=5)
    tile = np.random.default_rng(0).standard_normal(4099).astype(np.float32) * 0.02  # cheap, non-constant fill
    for p in m.parameters():
        p.data.reshape(-1)[:] = np.resize(tile, p.numel())
    x = cr.randn(2, 3, 32, 32)
    out, loss = _train_step(m, x, np.array([1, 4]))
    assert out.shape == (2, 5) and np.isfinite(loss.item())
    for pname, p in m.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.data).all(), pname
