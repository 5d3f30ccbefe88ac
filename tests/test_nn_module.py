"""Module system: registration, hooks, modes, state_dict, dtype casts, repr, configs."""
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.config import module_from_config, module_to_config, register_module


class TwoLayer(nn.Module):
    def __init__(self, d_in, hidden, d_out, act=nn.ReLU):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.act = act()
        self.fc2 = nn.Linear(hidden, d_out)
        self.register_buffer("calls", np.zeros((), dtype=np.int64))
        self.register_buffer("scratch", np.zeros(3), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


register_module(TwoLayer)


def test_registration_order_and_names():
    m = TwoLayer(4, 5, 3)
    assert [n for n, _ in m.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
    assert [n for n, _ in m.named_buffers()] == ["calls", "scratch"]
    assert list(m.state_dict()) == ["calls", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert len(list(m.parameters())) == 4
    assert len(list(m.parameters(recurse=False))) == 0
    assert m.get_submodule("fc2") is m.fc2


def test_shared_parameter_listed_once():
    a = nn.Linear(3, 3)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2


def test_assignments_replace_and_delete():
    m = TwoLayer(2, 3, 1)
    m.fc2 = nn.Linear(3, 7)
    assert m.fc2.out_features == 7 and list(m._modules) == ["fc1", "act", "fc2"]
    m.extra = nn.Parameter(cr.zeros(2))
    assert "extra" in dict(m.named_parameters())
    del m.extra
    assert "extra" not in dict(m.named_parameters())
    m.calls = np.array(5)
    assert m.state_dict()["calls"] == 5
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.fc1.weight = np.zeros((3, 2))


def test_train_eval_zero_grad_requires_grad():
    m = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    assert m.training and m[1].training
    assert m.eval() is m
    assert not m.training and not m[1].training
    m.train()
    assert m[1].training
    out = m(cr.randn(5, 3)).sum()
    out.backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m[0].requires_grad_(False)  # freeze the first layer
    m(cr.randn(5, 3)).sum().backward()
    assert m[0].weight.grad is None and m[2].weight.grad is not None


def test_hooks():
    m = nn.Linear(3, 2)
    seen = []
    h1 = m.register_forward_pre_hook(lambda mod, inp: seen.append(("pre", inp[0].shape)))
    h2 = m.register_forward_hook(lambda mod, inp, out: seen.append(("post", out.shape)))
    m(cr.randn(4, 3))
    assert seen == [("pre", (4, 3)), ("post", (4, 2))]
    h1.remove()
    h2.remove()
    m(cr.randn(4, 3))
    assert len(seen) == 2
    # a hook's return value replaces the output / the input
    h = m.register_forward_hook(lambda mod, inp, out: out * 0)
    assert np.all(m(cr.randn(2, 3)).data == 0)
    h.remove()
    h = m.register_forward_pre_hook(lambda mod, inp: (inp[0] * 0,))
    np.testing.assert_allclose(m(cr.randn(2, 3)).data, np.broadcast_to(m.bias.data, (2, 2)))
    h.remove()


def test_apply_and_double_float():
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m.apply(lambda mod: nn.init.zeros_(mod.bias) if isinstance(mod, nn.Linear) else None)
    assert np.all(m[0].bias.data == 0)
    assert m.double() is m
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == np.float64 and m[1].running_var.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    assert m(cr.randn(5, 3, dtype="float64")).dtype == np.float64
    assert m[1].running_mean.dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters()) and m[1].running_var.dtype == np.float32


def test_state_dict_roundtrip_and_copies():
    cr.manual_seed(0)
    a, b = TwoLayer(4, 6, 3), TwoLayer(4, 6, 3)
    sd = a.state_dict()
    sd["fc1.weight"].data[...] = 0  # a copy: the model is untouched
    assert not np.all(a.fc1.weight.data == 0)
    w_before = b.fc1.weight  # load copies in place: the Parameter objects stay the same
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert b.fc1.weight is w_before
    x = cr.randn(2, 4)
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_load_state_dict_errors():
    m = TwoLayer(4, 6, 3)
    sd = m.state_dict()
    bad = dict(sd)
    bad["fc1.weight"] = np.zeros((6, 5))
    with pytest.raises(nn.StateDictError, match=r"size mismatch for 'fc1.weight'.*\(6, 4\).*\(6, 5\)"):
        m.load_state_dict(bad)
    missing = {k: v for k, v in sd.items() if k != "fc2.bias"}
    with pytest.raises(RuntimeError, match=r"missing keys: 'fc2.bias'"):
        m.load_state_dict(missing)
    extra = dict(sd, **{"fc3.weight": np.zeros(2)})
    with pytest.raises(ValueError, match=r"unexpected keys: 'fc3.weight'"):
        m.load_state_dict(extra)
    res = m.load_state_dict({**missing, "fc3.weight": np.zeros(2)}, strict=False)
    assert res.missing_keys == ["fc2.bias"] and res.unexpected_keys == ["fc3.weight"]


def test_repr_tree():
    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 10), nn.Dropout(0.3))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
        "  (1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  (2): ReLU(inplace=True)\n"
        "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (4): Flatten(start_dim=1, end_dim=-1)\n"
        "  (5): Linear(in_features=16, out_features=10, bias=True)\n"
        "  (6): Dropout(p=0.3, inplace=False)\n"
        ")"
    )
    nested = repr(TwoLayer(2, 3, 1))
    assert nested.startswith("TwoLayer(\n  (fc1): Linear(in_features=2, out_features=3, bias=True)\n  (act): ReLU()")


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    ours = nn.Sequential(nn.Conv2d(3, 8, (3, 5), stride=2), nn.BatchNorm2d(8), nn.LeakyReLU(0.2), nn.ELU(),
                         nn.AvgPool2d(2), nn.AdaptiveAvgPool2d((1, 1)), nn.LocalResponseNorm(5),
                         nn.Sigmoid(), nn.Tanh(), nn.Identity(), nn.BatchNorm1d(4, affine=False),
                         nn.MaxPool2d(2), nn.Dropout(), nn.ReLU(True), nn.Linear(3, 2, bias=False))
    theirs = tn.Sequential(tn.Conv2d(3, 8, (3, 5), stride=2), tn.BatchNorm2d(8), tn.LeakyReLU(0.2), tn.ELU(),
                           tn.AvgPool2d(2), tn.AdaptiveAvgPool2d((1, 1)), tn.LocalResponseNorm(5),
                           tn.Sigmoid(), tn.Tanh(), tn.Identity(), tn.BatchNorm1d(4, affine=False),
                           tn.MaxPool2d(2), tn.Dropout(), tn.ReLU(True), tn.Linear(3, 2, bias=False))
    assert repr(ours) == repr(theirs)


def test_sequential_and_modulelist_containers():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(s) == 3 and isinstance(s[-1], nn.Linear) and [type(m).__name__ for m in s][1] == "ReLU"
    head = s[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is s[0]
    s.append(nn.Sigmoid())
    assert list(s._modules) == ["0", "1", "2", "3"]
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and isinstance(s[1], nn.Linear)
    with pytest.raises(IndexError, match="out of range"):
        s[5]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(list(ml.parameters())) == 6 and list(ml.state_dict())[0] == "0.weight"
    with pytest.raises(TypeError, match="expected a Module"):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)


# ------------------------------------------------------------------ configs
def _roundtrip(m):
    cfg = json.loads(json.dumps(module_to_config(m)))
    m2 = module_from_config(cfg)
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert list(sd) == list(sd2)
    assert all(sd[k].shape == sd2[k].shape for k in sd)
    assert repr(m) == repr(m2)
    return m2, cfg


def test_config_roundtrip_builtin_layers():
    m = nn.Sequential(nn.Conv2d(3, 8, (3, 5), stride=2, padding=1), nn.BatchNorm2d(8, momentum=None),
                      nn.ReLU(), nn.MaxPool2d(2, 2), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                      nn.Maxout(8, 4, pieces=3), nn.Dropout(0.25), nn.BatchNorm1d(4), nn.Linear(4, 2, bias=False))
    m2, cfg = _roundtrip(m)
    assert cfg["class"] == "chainrule.nn.container:Sequential"
    assert m2[0].padding == (1, 1) and m2[1].momentum is None and m2[6].pieces == 3


def test_config_user_subclass_with_class_argument_and_changes():
    m = TwoLayer(4, 6, 3, act=nn.Tanh)
    m.fc2 = nn.Linear(6, 11)  # a new head (fine-tuning) is replayed from "changes"
    m2, cfg = _roundtrip(m)
    assert cfg["args"]["act"] == {"__class__": "chainrule.nn.activation:Tanh"}
    assert isinstance(m2.act, nn.Tanh) and m2.fc2.out_features == 11


def test_config_nested_sequential_inside_user_module_and_named_sequential():
    from collections import OrderedDict

    @register_module
    class Net(nn.Module):
        def __init__(self, widths=(3, 4), head=None):
            super().__init__()
            self.body = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])])
            self.head = head if head is not None else nn.Identity()

        def forward(self, x):
            return self.head(self.body(x))

    net = Net(widths=(3, 5, 2), head=nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU())))
    net.body.append(nn.ReLU())  # changed after construction, inside a child the constructor built
    net2, cfg = _roundtrip(net)
    assert list(net2.state_dict()) == ["body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias",
                                       "head.fc.weight", "head.fc.bias"]
    assert isinstance(net2.body[2], nn.ReLU)
    assert cfg["args"]["widths"] == {"__tuple__": [3, 5, 2]}


def test_config_errors():
    class Unregistered(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.fc = nn.Linear(n, n)

    with pytest.raises(ValueError, match="Unregistered.*not registered.*register_module"):
        module_to_config(Unregistered(2))

    @register_module
    class TakesArray(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.w = nn.Parameter(w)

    with pytest.raises(ValueError, match=r"TakesArray argument 'w' = .* \(type ndarray\) cannot be stored"):
        module_to_config(TakesArray(np.zeros(3)))
    with pytest.raises(ValueError, match="unknown module class 'os:system'"):
        module_from_config({"class": "os:system", "args": {}})
    with pytest.raises(ValueError, match="takes no argument"):
        module_from_config({"class": "chainrule.nn.linear:Linear", "args": {"in_features": 2, "out_features": 2, "bogus": 1}})


def test_deepcopy_is_independent():
    import copy

    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m2 = copy.deepcopy(m)
    assert m2[0].weight is not m[0].weight
    np.testing.assert_array_equal(m2[0].weight.data, m[0].weight.data)
    m2(cr.randn(5, 3))
    assert int(m2[1].num_batches_tracked) == 1 and int(m[1].num_batches_tracked) == 0
    assert module_to_config(m2) == module_to_config(m)


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn1(self.conv1(x)))


class TinyResNet(nn.Module):
    def __init__(self, block, layers, num_classes=10, widths=(4, 8)):
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 3, padding=1)
        stages, c = [], widths[0]
        for w, n in zip(widths, layers):
            stages.append(nn.Sequential(*[block(c if i == 0 else w, w) for i in range(n)]))
            c = w
        layers.append(99)  # a constructor that edits its argument must not edit the recorded config
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
        return self.fc(self.pool(x).flatten(1))


register_module(Block)
register_module(TinyResNet)


def test_config_resnet_like_with_block_class_and_deep_changes():
    m = TinyResNet(Block, [2, 1])
    m.fc = nn.Linear(8, 3)                        # new head
    m.stages[0][1].conv1 = nn.Conv2d(4, 4, 1)     # deep inside a constructor-built child
    m2, cfg = _roundtrip(m)
    assert cfg["args"]["block"] == {"__class__": f"{Block.__module__}:Block"}
    assert cfg["args"]["layers"] == [2, 1]
    assert set(cfg["changes"]) == {"fc", "stages.0.1.conv1"}
    assert m2.stages[0][1].conv1.kernel_size == (1, 1) and m2.fc.out_features == 3
    m2.load_state_dict(m.state_dict())
    m.eval()
    m2.eval()
    x = cr.randn(2, 3, 6, 6)
    np.testing.assert_array_equal(m(x).data, m2(x).data)


def test_kept_modes_restores_every_flag_even_after_an_error():
    from chainrule.nn.module import kept_modes

    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.BatchNorm1d(2))
    m[1].eval()  # mixed modes: train, eval, train
    with pytest.raises(RuntimeError):
        with kept_modes(m):
            m.eval()
            raise RuntimeError("inside")
    assert [x.training for x in m.modules()] == [True, True, False, True]
