"""Inception-v3 (torchvision's names, count and outputs), the factorised 1xn/nx1 block, Network in
Network, maxout in fc_net/small_cnn/the CLI, and the registry's decorator-only registration."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

# torchvision's Inception_V3_Weights.IMAGENET1K_V1.meta["num_params"] (torchvision/models/inception.py)
TORCHVISION_INCEPTION_V3_PARAMS = 27_161_264


def _count(m):
    return sum(p.data.size for p in m.parameters())


def test_inception_v3_parameter_count_equals_torchvision():
    with cr.models.skip_init():
        assert _count(cr.models.inception_v3()) == TORCHVISION_INCEPTION_V3_PARAMS
        no_aux = cr.models.inception_v3(aux_logits=False)
    aux = 768 * 128 + 2 * 128 + 128 * 768 * 25 + 2 * 768 + 768 * 1000 + 1000  # conv0, conv1, fc of AuxLogits
    assert _count(no_aux) == TORCHVISION_INCEPTION_V3_PARAMS - aux == 23_834_568


@pytest.mark.slow
def test_inception_v3_names_outputs_and_aux_equal_torch():
    torch = pytest.importorskip("torch")
    from tests import _torch_inception as ti
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        tm = ti.Inception3(num_classes=10).double()
        with torch.device("meta"):
            assert _count_torch(ti.Inception3()) == TORCHVISION_INCEPTION_V3_PARAMS  # the oracle agrees
        with cr.models.skip_init():
            m = cr.models.inception_v3(num_classes=10).to(cr.float64)
        tsd = tm.state_dict()
        assert list(m.state_dict()) == list(tsd)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for mod in tm.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.normal_(0, 0.1, generator=g)
                    mod.running_var.uniform_(0.5, 1.5, generator=g)
        missing, unexpected = m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
        assert not missing and not unexpected
        x = np.random.default_rng(0).standard_normal((1, 3, 75, 75))
        tm.eval(), m.eval()
        np.testing.assert_allclose(m(cr.tensor(x)).data, tm(torch.tensor(x)).detach().numpy(), rtol=1e-8, atol=1e-9)
        # the auxiliary head on the 17x17 grid (its 5x5 conv needs it: 299x299 inputs), alone
        h = np.random.default_rng(1).standard_normal((2, 768, 17, 17))
        np.testing.assert_allclose(m.AuxLogits(cr.tensor(h)).data, tm.AuxLogits(torch.tensor(h)).detach().numpy(),
                                   rtol=1e-8, atol=1e-9)
        m.train()
        with pytest.raises(ValueError, match="at least 299x299"):
            m(cr.tensor(x))
    finally:
        torch.set_num_threads(n_threads)


@pytest.mark.slow
def test_inception_v3_training_forward_returns_aux_logits():
    cr.manual_seed(0)
    m = cr.models.inception_v3(num_classes=5)
    out = m(cr.randn(2, 3, 299, 299))  # 2: the aux head's batch norm sees 1x1 maps in training
    assert isinstance(out, cr.models.InceptionOutputs)
    assert out.logits.shape == out.aux_logits.shape == (2, 5)
    m.eval()
    assert m(cr.randn(1, 3, 299, 299)).shape == (1, 5)


def _count_torch(tm):
    return sum(p.numel() for p in tm.parameters())


def test_inception_v3_small_input_error():
    with cr.models.skip_init():
        m = cr.models.inception_v3(aux_logits=False)
    with pytest.raises(ValueError, match="at least 75x75"):
        m(cr.zeros(1, 3, 32, 32))


def test_factorized_block_gradcheck_torch_and_its_saving():
    cr.manual_seed(0)
    blk = cr.models.Factorized(3, 4, n=3, mid_channels=5).to(cr.float64)
    blk.eval()  # batch norm's running statistics: a fixed affine map, so gradcheck is exact
    x = cr.randn(2, 3, 6, 7, dtype="float64", requires_grad=True)
    assert blk(x).shape == (2, 4, 6, 7)
    assert cr.gradcheck(lambda a: blk(a), [x])
    assert blk.conv_a.conv.weight.shape == (5, 3, 1, 3) and blk.conv_b.conv.weight.shape == (4, 5, 3, 1)
    col_first = cr.models.Factorized(3, 4, n=7, first="col")
    assert col_first.conv_a.conv.weight.shape == (4, 3, 7, 1)
    # the lecture's point: n x n -> 1 x n + n x 1 keeps the receptive field with 2n/n^2 the weights
    C = 64
    fac = cr.models.Factorized(C, C, n=7)
    assert fac.conv_a.conv.weight.data.size + fac.conv_b.conv.weight.data.size == 14 * C * C
    with pytest.raises(ValueError, match="odd"):
        cr.models.Factorized(3, 4, n=4)
    torch = pytest.importorskip("torch")
    tb = torch.nn.Sequential(torch.nn.Conv2d(3, 5, (1, 3), padding=(0, 1), bias=False), torch.nn.BatchNorm2d(5, eps=1e-3),
                             torch.nn.ReLU(), torch.nn.Conv2d(5, 4, (3, 1), padding=(1, 0), bias=False),
                             torch.nn.BatchNorm2d(4, eps=1e-3), torch.nn.ReLU()).double()
    sd = blk.state_dict()
    with torch.no_grad():
        tb[0].weight.copy_(torch.tensor(np.asarray(sd["conv_a.conv.weight"])))
        tb[3].weight.copy_(torch.tensor(np.asarray(sd["conv_b.conv.weight"])))
    blk.train()
    np.testing.assert_allclose(blk(cr.tensor(x.data)).data, tb(torch.tensor(x.data)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_nin_parameters_shapes_and_torch():
    cr.manual_seed(0)
    m = cr.models.nin()
    assert _count(m) == 966_986
    assert m(cr.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert not any(isinstance(layer, nn.Linear) for layer in m.modules())  # no fully connected layer
    torch = pytest.importorskip("torch")
    tn = torch.nn

    def mlp(cin, w, k):
        return [tn.Conv2d(cin, w[0], k, padding=k // 2), tn.ReLU(), tn.Conv2d(w[0], w[1], 1), tn.ReLU(),
                tn.Conv2d(w[1], w[2], 1), tn.ReLU()]
    tm = tn.Sequential(*mlp(3, (192, 160, 96), 5), tn.MaxPool2d(3, 2, ceil_mode=True), tn.Dropout(0.5),
                       *mlp(96, (192, 192, 192), 5), tn.AvgPool2d(3, 2, ceil_mode=True), tn.Dropout(0.5),
                       *mlp(192, (192, 192, 10), 3), tn.AdaptiveAvgPool2d(1), tn.Flatten()).double()
    m = m.to(cr.float64)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    m.eval(), tm.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 17, 17))
    np.testing.assert_allclose(m(cr.tensor(x)).data, tm(torch.tensor(x)).detach().numpy(), rtol=1e-9, atol=1e-12)


def test_maxout_layer_gradcheck_and_torch():
    mx = cr.models.GroupMax(3)
    x = cr.randn(2, 6, 4, 3, dtype="float64", requires_grad=True)
    assert mx(x).shape == (2, 2, 4, 3)
    assert cr.gradcheck(lambda a: mx(a), [x])
    torch = pytest.importorskip("torch")
    want = torch.tensor(x.data).view(2, 2, 3, 4, 3).amax(2).numpy()
    np.testing.assert_array_equal(mx(x).data, want)
    with pytest.raises(ValueError, match="multiple of 3"):
        mx(cr.zeros(2, 4))
    with pytest.raises(ValueError, match="pieces"):
        cr.models.GroupMax(1)


def test_maxout_in_fc_net_and_small_cnn():
    cr.manual_seed(0)
    net = cr.models.fc_net(input_dim=8, hidden_dims=[5, 4], num_classes=3, activation="maxout")
    assert [tuple(p.shape) for p in net.parameters()][::2] == [(10, 8), (8, 5), (3, 4)]
    assert net(cr.randn(2, 8)).shape == (2, 3)
    net3 = cr.models.fc_net(input_dim=8, hidden_dims=[5], activation="maxout:3", batchnorm=True)
    assert net3[0].weight.shape == (15, 8) and net3[1].num_features == 15 and net3[2].pieces == 3
    cnn = cr.models.small_cnn(channels=(4, 6, 8), activation="maxout")
    assert cnn[0].weight.shape == (8, 1, 3, 3) and cnn(cr.randn(2, 1, 8, 8)).shape == (2, 10)
    # the model rebuilds from its JSON config (what a saved model records)
    from chainrule.nn.config import module_from_config, module_to_config
    again = module_from_config(json.loads(json.dumps(module_to_config(cnn))))
    assert again[2].pieces == 2
    with pytest.raises(ValueError, match="maxout"):
        cr.models.fc_net(activation="maxout:1")
    with pytest.raises(ValueError, match="unknown activation"):
        cr.models.fc_net(activation="swish")


def test_maxout_from_the_cli(tmp_path, capsys):
    from chainrule.cli import main
    out = tmp_path / "r"
    assert main(["train", "--model", "fc_net", "--model-args", '{"hidden_dims": [16], "activation": "maxout"}',
                 "--subsample", "200", "--epochs", "1", "--batch-size", "50", "--quiet", "--out", str(out)]) == 0
    m = cr.load(out / "model.safetensors")
    assert any(isinstance(layer, cr.models.GroupMax) for layer in m.modules())


def test_registry_registers_by_decorator_alone():
    """No circle: registry.py imports no model module; every decorated builder is registered
    because models/__init__.py imports its module."""
    pkg = Path(cr.models.__file__).parent
    tree = ast.parse((pkg / "registry.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level for a in n.names}
    assert not imported & {p.stem for p in pkg.glob("*.py")}, imported
    decorated = set()
    for path in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                    getattr(d, "id", None) == "register_model" for d in node.decorator_list):
                decorated.add(node.name)
    assert decorated <= set(cr.models.list_models())
    assert {"inception_v3", "nin"} <= decorated


def test_summary_and_receptive_field_read_string_paddings():
    """h-22surface's Conv2d keeps padding='same' / 'valid' as given (as PyTorch): the shape walk of
    cr.summary and receptive_field must read them (here set on the layer directly)."""
    net = nn.Sequential(nn.Conv2d(1, 2, 4), nn.Conv2d(2, 2, 5), nn.Conv2d(2, 2, 3))
    net[0].padding, net[1].padding, net[2].padding = "same", "same", "valid"
    rows = cr.summary(net, (1, 9, 9), print_table=False, shapes_only=True)
    assert [tuple(r["output_shape"]) for r in rows if r["type"] == "Conv2d"] == [(2, 9, 9), (2, 9, 9), (2, 7, 7)]
    rf = cr.models.receptive_field(net, (1, 9, 9))
    assert rf.size == (4 + 4 + 2, 4 + 4 + 2)  # 4, then +4, then +2
