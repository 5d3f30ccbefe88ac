"""The lecture notes' architectures: AlexNet as drawn, VGG A-LRN and C, LeNet-5."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.config import module_from_config, module_to_config


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def conv(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def fc(n_in, n_out):
    return n_in * n_out + n_out


@pytest.fixture(scope="module")
def alexnet():
    with cr.models.skip_init():
        return cr.models.get("alexnet_original")


def test_alexnet_original_parameter_count(alexnet):
    by_hand = (conv(3, 96, 11) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 384, 3) + conv(384, 256, 3)
               + fc(6 * 6 * 256, 4096) + fc(4096, 4096) + fc(4096, 1000))
    assert by_hand == 62_378_344
    assert n_params(alexnet) == by_hand


def test_alexnet_original_summary_is_the_notes_table(alexnet):
    rows = cr.summary(alexnet, (3, 227, 227), print_table=False)
    got = [(r["type"], r["output_shape"]) for r in rows if r["type"] not in ("ReLU", "Dropout")]
    notes = [  # (layer, C x H x W) as the notes list them
        ("Input", (3, 227, 227)),
        ("Conv2d", (96, 55, 55)), ("MaxPool2d", (96, 27, 27)), ("LocalResponseNorm", (96, 27, 27)),
        ("Conv2d", (256, 27, 27)), ("MaxPool2d", (256, 13, 13)), ("LocalResponseNorm", (256, 13, 13)),
        ("Conv2d", (384, 13, 13)), ("Conv2d", (384, 13, 13)), ("Conv2d", (256, 13, 13)),
        ("MaxPool2d", (256, 6, 6)),
        ("Linear", (4096,)), ("Linear", (4096,)), ("Linear", (1000,)),
    ]
    assert got == notes
    assert rows.totals["params"] == 62_378_344
    conv1 = alexnet.features[0]
    assert (conv1.kernel_size, conv1.stride, conv1.padding) in [((11, 11), (4, 4), (0, 0)), (11, 4, 0)]


def test_alexnet_original_rejects_other_sizes(alexnet):
    with pytest.raises(ValueError, match="227x227"), np.errstate(all="ignore"):  # weights never drawn
        alexnet(cr.zeros((1, 3, 200, 200)))


def test_paper_lrn_is_krizhevskys_formula():
    from chainrule.models.alexnet import paper_lrn

    x = np.random.default_rng(0).normal(size=(2, 7, 3, 3))
    out = paper_lrn()(cr.tensor(x)).data
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75           # the paper's constants, alpha on the plain sum
    ref = np.empty_like(x)
    for c in range(7):
        lo, hi = max(0, c - n // 2), min(6, c + n // 2)
        ref[:, c] = x[:, c] / (k + alpha * (x[:, lo:hi + 1] ** 2).sum(axis=1)) ** beta
    np.testing.assert_allclose(out, ref, rtol=1e-12)


@pytest.mark.parametrize("name,by_hand,table", [
    ("vgg11_lrn", None, 133e6),
    ("vgg16_c", None, 134e6),
])
def test_vgg_configurations_match_the_paper(name, by_hand, table):
    convs = {  # the paper's Table 1, as (in, out, kernel) per convolution
        "vgg11_lrn": [(3, 64, 3), (64, 128, 3), (128, 256, 3), (256, 256, 3), (256, 512, 3), (512, 512, 3),
                      (512, 512, 3), (512, 512, 3)],
        "vgg16_c": [(3, 64, 3), (64, 64, 3), (64, 128, 3), (128, 128, 3), (128, 256, 3), (256, 256, 3),
                    (256, 256, 1), (256, 512, 3), (512, 512, 3), (512, 512, 1), (512, 512, 3), (512, 512, 3),
                    (512, 512, 1)],
    }[name]
    by_hand = sum(conv(*c) for c in convs) + fc(7 * 7 * 512, 4096) + fc(4096, 4096) + fc(4096, 1000)
    assert by_hand == {"vgg11_lrn": 132_863_336, "vgg16_c": 133_638_952}[name]
    with cr.models.skip_init():
        m = cr.models.get(name)
    assert n_params(m) == by_hand
    assert round(by_hand / 1e6) == table / 1e6
    kernels = [mod.kernel_size for mod in m.features if isinstance(mod, nn.Conv2d)]
    assert [k if isinstance(k, int) else k[0] for k in kernels] == [c[2] for c in convs]
    lrns = [i for i, mod in enumerate(m.features) if isinstance(mod, nn.LocalResponseNorm)]
    assert lrns == ([2] if name == "vgg11_lrn" else [])   # conv3-64, relu, LRN, maxpool


def test_vgg_c_keeps_sizes_through_the_1x1_convolutions():
    with cr.models.skip_init():
        m = cr.models.vgg16_c()
    rows = cr.summary(m, (3, 224, 224), print_table=False)
    shapes = [r["output_shape"] for r in rows if r["type"] == "Conv2d"]
    assert shapes[6] == (256, 56, 56) and shapes[9] == (512, 28, 28) and shapes[12] == (512, 14, 14)


def test_vgg_tokens_build_layers_and_rebuild_from_config():
    from chainrule.models.vgg import make_layers

    f = make_layers([8, "LRN", "M", 16, "1x1-16", "M"], in_channels=1)
    kinds = [type(m).__name__ for m in f]
    assert kinds == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d", "Conv2d", "ReLU", "Conv2d", "ReLU",
                     "MaxPool2d"]
    assert f[6].weight.shape == (16, 16, 1, 1)
    f2 = module_from_config(module_to_config(f))
    f2.load_state_dict(f.state_dict())
    x = cr.randn(2, 1, 12, 12)
    np.testing.assert_array_equal(f(x).data, f2(x).data)
    assert f(x).shape == (2, 16, 3, 3)
    with cr.models.skip_init():
        assert module_to_config(cr.models.vgg16_c())["args"]["cfg"] == "C"


def test_lenet5_shapes_and_count():
    m = cr.models.get("lenet5")
    by_hand = conv(1, 6, 5) + conv(6, 16, 5) + conv(16, 120, 5) + fc(120, 84) + fc(84, 10)
    assert n_params(m) == by_hand == 61_706
    rows = cr.summary(m, (1, 32, 32), print_table=False)
    shapes = [r["output_shape"] for r in rows if r["type"] in ("Conv2d", "AvgPool2d", "Linear")]
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1), (84,), (10,)]
    assert cr.models.lenet5(pad_input=True)(cr.zeros((2, 1, 28, 28))).shape == (2, 10)


def test_lenet5_equals_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    ref = tn.Sequential(tn.Conv2d(1, 6, 5), tn.Tanh(), tn.AvgPool2d(2), tn.Conv2d(6, 16, 5), tn.Tanh(),
                        tn.AvgPool2d(2), tn.Conv2d(16, 120, 5), tn.Tanh(), tn.Flatten(), tn.Linear(120, 84),
                        tn.Tanh(), tn.Linear(84, 10)).double()
    m = cr.models.lenet5()
    m.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(3, 1, 32, 32))
    np.testing.assert_allclose(m(cr.tensor(x)).data, ref(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_registered():
    names = cr.models.list_models()
    assert {"alexnet_original", "vgg11_lrn", "vgg16_c", "lenet5"} <= set(names)
