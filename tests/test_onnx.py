"""ONNX export (cr.onnx): onnx.checker accepts every graph and onnxruntime computes what
chainrule computes in eval mode (float32, batches of 1 and 7), for every zoo model, every
layer, the preprocessors, and a run saved by `chainrule train`."""
from __future__ import annotations

import inspect
import json
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import main

ATOL = 1e-4


def _session(path_or_proto):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # the machine is shared
    src = path_or_proto if isinstance(path_or_proto, str) else path_or_proto.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def _reference(model, x):
    model.eval()
    with cr.no_grad():
        return model(cr.tensor(x)).data


def _assert_exports(model, x, tmp_path=None, **kw):
    """Export on x[:1]; onnxruntime must match chainrule on x[:1] and on all of x: within
    atol 1e-4 on outputs of size ~1 (relative beyond). Where chainrule's own float32 rounding
    is larger than that (deep nets' eval-mode batch norms cancel large means), onnxruntime must
    be about as close to the exact (float64) answer as chainrule's float32 is (within 2x: another
    float32 summation order; onnxruntime 1.20's convolutions in Inception-v3 reach 1.03x of 1.5x)."""
    onnx = pytest.importorskip("onnx")
    if tmp_path is not None:
        path = str(tmp_path / "model.onnx")
        cr.onnx.export(model, x[:1], path, **kw)
        onnx.checker.check_model(path, full_check=True)
        sess = _session(path)
    else:
        proto = cr.onnx.to_onnx(model, x[:1], **kw)  # runs onnx.checker (full_check) itself
        sess = _session(proto)
        del proto
    for n in (1, len(x)):
        ref = _reference(model, x[:n])
        got = sess.run(["logits"], {"input": x[:n]})[0]
        assert got.shape == ref.shape and got.dtype == np.float32
        tol = ATOL * max(1.0, float(np.abs(ref).max()))
        if np.abs(got - ref).max() > tol:
            exact = _reference(model.double(), x[:n].astype(np.float64))
            model.float()
            own = np.abs(ref - exact).max()
            np.testing.assert_allclose(got, exact, rtol=0, atol=max(tol, 2 * own))
    return sess


# ------------------------------------------------------------------ the zoo
SIZES = {"alexnet": 63, "alexnet_original": 227, "inception_v3": 75}  # the smallest input each model allows (32 for the rest)
# The VGGs differ from VGG-11 only in their features; their classifier, the same 100M-weight
# one as VGG-11's (exported in full), is narrowed to keep the test fast (~4 s instead of ~10-30 s).
NARROW = {n for n in cr.models.list_models() if n.startswith("vgg") and n not in ("vgg11", "vgg_cifar")}


def _narrow_classifier(c):
    wide = [m for m in c if isinstance(m, nn.Linear)]
    layers = []
    for m in c:
        if isinstance(m, nn.Linear):
            first, last = m is wide[0], m is wide[-1]
            layers.append(nn.Linear(m.in_features if first else 64, m.out_features if last else 64))
        else:
            layers.append(m)
    return nn.Sequential(*layers)


def _fill(model, rng):
    """He-scaled weights (tiled from one random block: VGG's 100M weights in a blink), random
    batch-norm affine maps, then running statistics from one training-mode batch so that every
    layer's eval output has a sensible scale (an all-zero output would prove nothing)."""
    block = rng.uniform(-1, 1, 1 << 18).astype(np.float32)
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    bn_scales = {id(m.weight) for m in bns if m.weight is not None}
    bn_shifts = {id(m.bias) for m in bns if m.bias is not None}
    for p in model.parameters():
        a = p.data
        if id(p) in bn_scales:
            a[...] = rng.uniform(0.5, 1.5, a.shape)
        elif id(p) in bn_shifts:
            a[...] = rng.uniform(-0.2, 0.2, a.shape)
        elif a.ndim >= 2:
            fan_in = int(np.prod(a.shape[1:]))
            a[...] = np.resize(block, a.shape) * np.float32(np.sqrt(6.0 / fan_in))
        else:
            a[...] = rng.uniform(-0.1, 0.1, a.shape)
    return bns


def _calibrate(model, bns, x):
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 1.0  # running statistics := this batch's
    model.train()
    with cr.no_grad():
        model(cr.tensor(x))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()


def _zoo_model(name, **extra):
    """A zoo model for 10 classes at a small input, and an input batch of 7."""
    from chainrule.models import registry

    params = inspect.signature(registry._MODELS[name]).parameters
    kw = {"num_classes": 10} if "num_classes" in params else {}
    if name == "inception_v3":  # its auxiliary head needs 299x299 inputs in training mode (the BN calibration)
        kw["aux_logits"] = False
    kw.update(extra)
    rng = np.random.default_rng(0)
    if "input_dim" in params:
        kw["input_dim"] = 12
        shape = (12,)
    else:
        C = params["in_channels"].default if "in_channels" in params else 3
        size = 8 if "input_size" in params else SIZES.get(name, 32)
        kw.update({"input_size": size} if "input_size" in params else {})
        shape = (C, size, size)
    with cr.models.skip_init():
        model = cr.models.get(name, **kw)
    if name in NARROW:
        model.classifier = _narrow_classifier(model.classifier)
    bns = _fill(model, rng)
    x = rng.standard_normal((7, *shape)).astype(np.float32)
    if bns:
        _calibrate(model, bns, np.concatenate([x, rng.standard_normal((9, *shape)).astype(np.float32)]))
    return model, x


@pytest.mark.parametrize("name", cr.models.list_models())
def test_zoo_model_exports_and_matches(name):
    model, x = _zoo_model(name)
    ref = _reference(model, x)
    assert np.abs(ref).max() > 1e-2 and np.ptp(ref, axis=0).max() > 1e-3, "a degenerate test model"
    _assert_exports(model, x)


@pytest.mark.parametrize("name, extra", [("googlenet", {"transform_input": True, "aux_logits": True}),
                                         ("resnet20", {"shortcut": "B"}), ("lenet5", {"pad_input": True})])
def test_zoo_variants_export_and_match(name, extra):
    model, x = _zoo_model(name, **extra)
    if extra.get("pad_input"):
        x = x[:, :, 2:-2, 2:-2].copy()  # 28x28 digits, padded inside the model
    _assert_exports(model, x)


def test_ensemble_exports_and_matches():
    import warnings

    rng = np.random.default_rng(4)
    members = [cr.models.small_cnn(channels=(4, 8, 8)), cr.models.three_layer_convnet(1, 4, 3, 16, input_size=8)]
    for m in members:
        _fill(m, rng)
    model = cr.models.Ensemble(members, weights=[0.3, 0.7])
    x = rng.standard_normal((7, 1, 8, 8)).astype(np.float32)
    with warnings.catch_warnings():  # its log-sum-exp shift is a constant made from .data (see docs/onnx.md)
        warnings.simplefilter("ignore", cr.onnx.TracerWarning)
        _assert_exports(model, x)


# ------------------------------------------------------------ every layer
class Custom(nn.Module):
    """A forward that is not a Sequential: residual add, concatenation, slicing, arithmetic."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 2 * 4 * 4, 5)

    def forward(self, x):
        h = cr.relu(self.bn(self.conv(x)))
        h = h + self.conv(x) * 0.5                      # residual add, Mul by a constant
        h = cr.cat([h, cr.exp(-h.abs()) - 1.0 / (2.0 + h * h)], dim=1)  # Concat, Exp, Neg, Abs, Div, Sub
        h = h[:, :, 1:, ::2][:, :, :4]                 # Slice
        h = cr.sqrt(cr.maximum(h, 0.0) + 1.0) + cr.log(cr.clip(h, 0.1, None))
        return self.fc(h.flatten(1)).tanh() * 2 - cr.sigmoid(h.mean(axis=(1, 2, 3)).unsqueeze(1))


class Misc(nn.Module):
    """The remaining ops: where, stack, pad, permute, pow, var, max/min/sum reductions, cast, None-indexing."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        h = self.fc(x)                                                        # (N, 6)
        h = cr.where(np.array([True, False] * 3), h, h ** 2 - 2.0 ** (h * 0.1))
        s = cr.stack([h, h * 0.5, cr.minimum(h, 0.2)], dim=1)                 # (N, 3, 6)
        s = cr.pad(s, (1, 2)).permute(0, 2, 1)                                 # (N, 9, 3)
        v = s.var(axis=1, keepdims=True) + s.max(axis=1, keepdims=True) - s.min(axis=(1,), keepdims=True)
        return (v.double().float() * s.sum(axis=2)[:, :, None]).flatten(1)    # (N, 27)


class TensorSurface(nn.Module):
    """Issue 22's tensor ops in a forward: trig, a tensor exponent, expand, repeat, prod."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        h = self.fc(x)                                                  # (N, 4)
        t = h.sin() + cr.cos(h) * 0.5 + (h * 0.3).tan()
        p = (h.sigmoid() + 0.5) ** (t * 0.2)                            # tensor exponent
        e = p[:, None, :].expand(-1, 3, 4) * cr.tensor([[1.0], [2.0], [3.0]])  # (N, 3, 4)
        r = e.repeat(1, 1, 2)                                           # (N, 3, 8)
        return r.flatten(1) + (p + 0.5).prod(1, keepdim=True)


class InPlace(nn.Module):
    """torchvision's residual `out += identity`, an in-place scale and item assignment in a forward."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        identity = x
        out = self.conv(x)
        out += identity
        out = out.relu()
        out.mul_(2.0)
        out[:, 1] = 0.5                 # a constant into one channel of every example
        out[:, 0, 1:3] = out[:, 0, :2]  # a traced value into a slice
        return out.flatten(1)


LAYER_CASES = {
    "activations": (lambda: nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.ELU(0.7),
                                          nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Tanh(),
                                          nn.Dropout(0.5), nn.Linear(8, 4)), (6,)),
    "maxout": (lambda: nn.Sequential(nn.Maxout(6, 5, pieces=3), nn.Maxout(5, 4)), (6,)),
    "batchnorm1d": (lambda: nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)), (6,)),
    "softmax": (lambda: nn.Sequential(nn.Linear(6, 4), nn.Softmax(dim=1)), (6,)),
    "log_softmax": (lambda: nn.Sequential(nn.Linear(6, 4), nn.LogSoftmax(dim=-1)), (6,)),
    # sizes 17x15 -> 9x9 -> 5x5 -> 6x6 -> 4x4 -> 2x2: each ceil_mode pool has a window past the padding
    "pools": (lambda: nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=(1, 2)), nn.MaxPool2d(2, stride=2, ceil_mode=True),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),  # PyTorch's divisor counts padding, not past it
        nn.AvgPool2d(3, stride=2, ceil_mode=True), nn.Flatten()), (3, 17, 15)),
    "maxpool_padded": (lambda: nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                                             nn.MaxPool2d((2, 3), stride=(1, 2)), nn.Flatten()), (2, 10, 11)),
    "adaptive": (lambda: nn.Sequential(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d((3, 2)), nn.Flatten(),
                                       nn.Linear(24, 3)), (3, 7, 5)),
    "adaptive_even": (lambda: nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten()), (3, 6, 4)),
    "lrn": (lambda: nn.Sequential(nn.Conv2d(3, 6, 1), nn.LocalResponseNorm(5, alpha=0.5, beta=0.8, k=2.0),
                                  nn.LocalResponseNorm(4, alpha=0.3), nn.Flatten()), (3, 4, 4)),
    "custom_forward": (Custom, (3, 8, 8)),
    "misc_ops": (Misc, (6,)),
    "tensor_surface": (TensorSurface, (6,)),
    "inplace": (InPlace, (2, 4, 4)),
    "conv_same_valid": (lambda: nn.Sequential(nn.Conv2d(3, 4, 4, padding="same"), nn.ReLU(),
                                              nn.Conv2d(4, 2, (2, 3), padding="same"),
                                              nn.Conv2d(2, 2, 3, padding="valid"), nn.Flatten()), (3, 6, 5)),
    "unflatten_dropout2d": (lambda: nn.Sequential(nn.Unflatten(1, (3, 4, 4)), nn.Conv2d(3, 2, 3), nn.Dropout2d(0.3),
                                                  nn.Flatten(), nn.Unflatten(1, (2, -1)), nn.Flatten()), (48,)),
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
@pytest.mark.parametrize("opset", [13, 17, 18])
def test_layer_exports_and_matches(case, opset, tmp_path):
    cr.manual_seed(0)
    build, shape = LAYER_CASES[case]
    model = build()
    rng = np.random.default_rng(1)
    bns = _fill(model, rng)
    x = rng.standard_normal((7, *shape)).astype(np.float32)
    if bns:
        _calibrate(model, bns, np.concatenate([x, x[::-1] * 0.5]))
    _assert_exports(model, x, tmp_path, opset=opset, probabilities=False)


class Add(cr.Function):
    """A user's op that shares a name with chainrule's Add: it must not borrow Add's converter."""

    @staticmethod
    def forward(ctx, a, b):
        return a + 2 * b

    @staticmethod
    def backward(ctx, g):
        return g, 2 * g


def test_converters_are_keyed_by_function_class():
    pytest.importorskip("onnx")
    from chainrule.onnx.converters import CONVERTERS
    from chainrule.ops import conv, elementwise, reduce

    assert all(isinstance(k, type) and issubclass(k, cr.Function) for k in CONVERTERS)
    assert conv.Conv2d in CONVERTERS and nn.Conv2d not in CONVERTERS
    assert CONVERTERS[reduce.Min] is not CONVERTERS[reduce.Max]  # Min subclasses Max: no inheritance

    class UsesOwnAdd(nn.Module):
        def forward(self, x):
            return Add.apply(x, x)

    assert elementwise.Add in CONVERTERS and Add not in CONVERTERS
    with pytest.raises(cr.onnx.UnsupportedOpError, match="no converter for it"):
        cr.onnx.to_onnx(UsesOwnAdd(), np.zeros((1, 3), np.float32))
    with pytest.raises(TypeError, match="Function classes"):
        cr.onnx.converters.converter("Add")


def test_item_assignment_that_picks_examples_is_refused_with_a_dynamic_batch():
    pytest.importorskip("onnx")

    class FirstExample(nn.Module):
        def forward(self, x):
            y = x * 1.0
            y[0] = 0.0
            return y

    with pytest.raises(cr.onnx.ExportError, match="picks examples of the batch"):
        cr.onnx.to_onnx(FirstExample(), np.ones((2, 3), np.float32))


def test_graph_names_batch_axis_and_restored_mode():
    onnx = pytest.importorskip("onnx")
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    model.train()
    proto = cr.onnx.to_onnx(model, np.zeros((1, 1, 4, 4), np.float32))
    assert model.training and all(m.training for m in model.modules())
    inits = {i.name for i in proto.graph.initializer}
    assert {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
            "4.weight", "4.bias"} <= inits
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["logits", "probabilities"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 4, 4]
    assert [n.op_type for n in proto.graph.node] == ["Conv", "BatchNormalization", "Relu", "Reshape", "Gemm",
                                                     "Softmax"]
    static = cr.onnx.to_onnx(model, np.zeros((2, 1, 4, 4), np.float32), dynamic_batch=False)
    assert static.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    onnx.checker.check_model(static)


def test_several_outputs_and_weights_in_a_side_file(tmp_path, monkeypatch):
    """A model with two outputs; and a model past the protobuf limit (made tiny here) keeps its
    weights in PATH.data next to the file, which onnxruntime reads."""
    pytest.importorskip("onnx")
    import chainrule.onnx.exporter as ex

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 300)  # a weight over onnx's 1 KB threshold for the side file

        def forward(self, x):
            h = self.fc(x)
            return h, cr.relu(h).sum(axis=1)

    model = Two()
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    monkeypatch.setattr(ex, "_PROTOBUF_LIMIT", 100_000_000 + 10)
    path = cr.onnx.export(model, x[:1], tmp_path / "two.onnx")
    assert (tmp_path / "two.onnx.data").is_file()
    sess = _session(str(path))
    assert [o.name for o in sess.get_outputs()] == ["output_0", "output_1"]
    a, b = sess.run(None, {"input": x})
    ref_a, ref_b = (t.data for t in model(cr.tensor(x)))
    np.testing.assert_allclose(a, ref_a, atol=ATOL)
    np.testing.assert_allclose(b, ref_b, atol=ATOL)


# ------------------------------------------------------------------ errors
class Mystery(cr.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


class Odd(nn.Module):
    def forward(self, x):
        return Mystery.apply(x)


def test_unsupported_op_names_module_and_op():
    pytest.importorskip("onnx")
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), Odd()))
    with pytest.raises(cr.onnx.UnsupportedOpError, match=r"op Mystery in module '1\.1' \(Odd\)"):
        cr.onnx.to_onnx(model, np.ones((1, 3), np.float32))


def test_dynamic_batch_impossible_is_explained():
    pytest.importorskip("onnx")

    class MixesBatch(nn.Module):
        def forward(self, x):
            return x.reshape(1, -1)

    with pytest.raises(cr.onnx.ExportError,
                       match=r"op Reshape in the model's own forward \(MixesBatch\).*dynamic_batch=False"):
        cr.onnx.to_onnx(MixesBatch(), np.ones((2, 3), np.float32))
    cr.onnx.to_onnx(MixesBatch(), np.ones((2, 3), np.float32), dynamic_batch=False)


def test_where_with_a_batch_sized_constant_is_explained():
    pytest.importorskip("onnx")

    class Masked(nn.Module):
        def forward(self, x):
            return cr.where(x.data > 0, x, x * 0.1)

    with pytest.raises(cr.onnx.ExportError, match=r"op Where in the model's own forward \(Masked\).*where"):
        cr.onnx.to_onnx(Masked(), np.ones((2, 3), np.float32))


def test_a_constant_made_from_the_input_is_warned_about():
    pytest.importorskip("onnx")

    class Centred(nn.Module):
        def forward(self, x):
            return x - cr.Tensor(x.data.mean(axis=0))  # .data: no graph, the example's mean is baked in

    with pytest.warns(cr.onnx.TracerWarning, match=r"own forward \(Centred\).*constant tensor of shape \(3,\)"):
        cr.onnx.to_onnx(Centred(), np.ones((2, 3), np.float32))


def test_missing_onnx_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "chainrule\[onnx\]"'):
        cr.onnx.export(nn.Linear(2, 2), np.ones((1, 2), np.float32), tmp_path / "m.onnx")


def test_bad_arguments():
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="opset"):
        cr.onnx.to_onnx(nn.Linear(2, 2), np.ones((1, 2), np.float32), opset=9)
    with pytest.raises(TypeError, match="Module"):
        cr.onnx.to_onnx(lambda x: x, np.ones((1, 2), np.float32))


# ---------------------------------------------------------- preprocessing
def _preprocessors():
    from chainrule.data import transforms as T

    return {"mean-image": T.MeanImage(), "perchannel": T.PerChannelNormalize(),
            "center": T.PerChannelNormalize(std=False), "pca-zca": T.PCAWhiten(zca=True),
            "pca": T.PCAWhiten(n_components=20)}


@pytest.mark.parametrize("kind", ["mean-image", "perchannel", "center", "pca-zca", "pca", "uint8"])
def test_preprocessing_runs_inside_the_graph(kind):
    pytest.importorskip("onnx")
    rng = np.random.default_rng(2)
    raw = rng.integers(0, 256, (40, 2, 4, 4)).astype(np.uint8 if kind == "uint8" else np.float32)
    pre = None if kind == "uint8" else _preprocessors()[kind].fit(raw)
    n_in = 20 if kind == "pca" else 32
    model = nn.Sequential(nn.Flatten(), nn.Linear(n_in, 5))
    proto = cr.onnx.to_onnx(model, raw[:1], preprocess=pre)
    sess = _session(proto)
    for n in (1, 7):
        x = raw[:n] if pre is None else pre(raw[:n])
        logits = _reference(model, np.asarray(x, np.float32)).astype(np.float64)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        got_logits, got_probs = sess.run(["logits", "probabilities"], {"input": raw[:n]})
        np.testing.assert_allclose(got_logits, logits, rtol=0, atol=ATOL)
        np.testing.assert_allclose(got_probs, probs, rtol=0, atol=1e-5)


# ------------------------------------------------------- a chainrule run
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "--epochs", "2", "--out", str(out), "--quiet"]) == 0  # the default digits run
    return out


def test_exported_run_gives_predicts_probabilities(digits_run, tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from chainrule.commands import common
    from chainrule.commands.predict import load_image
    from chainrule.metrics import predict_scores
    from PIL import Image

    out = tmp_path / "digits.onnx"
    assert main(["export", str(digits_run), "--format", "onnx", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert str(out) in text and "max |probability difference|" in text
    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["classes"]) == [str(d) for d in range(10)]
    assert json.loads(meta["preprocess"])["class"] == "PerChannelNormalize"

    # raw images from files, read as `chainrule predict` reads them
    model = common.load_model(digits_run)
    data = cr.data.load_digits()
    paths = []
    for i in range(7):
        img = (data.X_test[i, 0] * 255).round().astype(np.uint8)
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    X = np.stack([load_image(str(p), model.info) for p in paths])
    logits = predict_scores(model, common.prepare(model.preprocess, X)).astype(np.float64)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    sess = _session(str(out))
    for n in (1, 7):
        got = sess.run(["probabilities"], {"input": X[:n]})[0]
        np.testing.assert_allclose(got, probs[:n], rtol=0, atol=1e-5)
    assert (got.argmax(1) == probs.argmax(1)).all()

    # predict prints the same top class and probability
    assert main(["predict", str(digits_run), str(paths[0]), "--top", "1"]) == 0
    top = probs[0].argmax()
    assert f"{model.classes[top]} ({probs[0, top]:.3f})" in capsys.readouterr().out


def test_export_command_default_path_and_errors(digits_run, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnx")
    assert main(["export", str(digits_run)]) == 0
    assert (digits_run / "model.onnx").is_file()
    model_file = tmp_path / "m.safetensors"  # a model file instead of a run folder: m.onnx beside it
    model_file.write_bytes((digits_run / "model.safetensors").read_bytes())
    assert main(["export", str(model_file), "--static-batch", "--opset", "18"]) == 0
    assert (tmp_path / "m.onnx").is_file()
    capsys.readouterr()
    assert main(["export", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(digits_run), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "chainrule[onnx]"' in err and len(err.strip().splitlines()) == 1
