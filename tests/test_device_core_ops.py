"""The core ops (elementwise, activations, reductions, shape ops, matmul, losses, dropout)
on device arrays: forward and backward on tensors moved with `.to("cuda")` must equal the
CPU's. "cuda" here is tests/fake_cupy.py, a strict CPU stand-in for CuPy (arrays that refuse
to mix with NumPy arrays, `np.add.at` and `where=`), so no GPU or torch is needed; the same
comparisons run on a real GPU in tests/test_cuda.py. With CHAINRULE_TEST_CUDA=1 this file
runs on the real GPU instead (CuPy and a CUDA device needed; skipped without them):

    CHAINRULE_TEST_CUDA=1 python -m pytest tests/test_device_core_ops.py -q
"""
from __future__ import annotations

import os
import warnings

import fake_cupy
import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, ops
from chainrule.diagnostics.grad_cases import OP_CASES
from chainrule.gradcheck import GradcheckError, gradcheck
from chainrule.nn import functional as F
from chainrule.ops import parallel

TOL = {np.float64: 1e-10, np.float32: 1e-4}
REAL_GPU = os.environ.get("CHAINRULE_TEST_CUDA") == "1"


@pytest.fixture(autouse=True)
def gpu():
    """The fake GPU, or with CHAINRULE_TEST_CUDA=1 the real one."""
    if REAL_GPU:
        if not backend.is_available():
            pytest.skip("CHAINRULE_TEST_CUDA=1 needs CuPy and a CUDA device")
        yield
    else:
        with fake_cupy.installed():
            yield


def _run(fn, arrays, device, dtype, grad_seed=1):
    """fn(*tensors) on `device`, backward with a fixed random upstream gradient;
    (output, [input gradients]) as NumPy arrays, after checking where they lived."""
    xs = [cr.tensor(a.astype(dtype), requires_grad=True, device=device) for a in arrays]
    out = fn(*xs)
    assert out.is_cuda == (device == "cuda"), f"output on {out.device}, expected {device}"
    g = np.random.default_rng(grad_seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(cr.tensor(g).to(device))
    grads = []
    for x in xs:
        if x.grad is not None:
            assert backend.is_device_array(x.grad.data) == (device == "cuda")
        grads.append(None if x.grad is None else backend.to_host(x.grad.data))
    return backend.to_host(out.data), grads


def _same_on_both(fn, arrays, dtype=np.float64):
    """fn's output and input gradients on the fake GPU equal the CPU's."""
    tol = TOL[dtype]
    out_cpu, g_cpu = _run(fn, arrays, "cpu", dtype)
    out_dev, g_dev = _run(fn, arrays, "cuda", dtype)
    assert out_dev.dtype == out_cpu.dtype and out_dev.shape == out_cpu.shape
    np.testing.assert_allclose(out_dev, out_cpu, rtol=tol, atol=tol)
    for a, b in zip(g_cpu, g_dev):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    return out_cpu, g_cpu


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------ the shared table
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", OP_CASES, ids=[c.name for c in OP_CASES])
def test_every_op_case_matches_the_cpu(case, dtype):
    _same_on_both(case.fn, case.inputs(0), dtype)


@pytest.mark.parametrize("case", [c for c in OP_CASES if c.name in
                                  ("add", "mul", "div", "max_axis", "var", "getitem_fancy", "getitem_repeat",
                                   "matmul_vec_left", "cat", "pad_torch_style", "where")], ids=lambda c: c.name)
def test_gradcheck_runs_on_the_device(case):
    xs = [cr.tensor(a).to("cuda").requires_grad_() for a in case.inputs(0)]
    assert gradcheck(case.fn, xs)


def test_gradcheck_still_catches_a_wrong_backward_on_the_device():
    class Bad(cr.Function):
        @staticmethod
        def forward(ctx, a):
            return a * a

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 a g

    x = cr.tensor(_randn(3)).to("cuda").requires_grad_()
    with pytest.raises(GradcheckError, match="gradcheck failed for input 0"):
        gradcheck(Bad.apply, [x])


# ------------------------------------------------------------ elementwise
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_binary_ops_unbroadcast_their_gradients(dtype):
    a, b = _randn(2, 3, 4), _randn(3, 1, seed=1)
    for fn in (ops.add, ops.sub, ops.mul, ops.maximum, ops.minimum):
        _same_on_both(fn, [a, b], dtype)
    _same_on_both(ops.div, [a, np.abs(b) + 0.5], dtype)
    _same_on_both(lambda x, y: (x - 2.0) * (3.0 / (y * y + 1.0)), [a, b], dtype)


def test_unary_ops_and_activations():
    x = _randn(4, 5) * 3
    for fn in (ops.neg, ops.exp, ops.tanh, ops.sigmoid, ops.relu, ops.abs, lambda t: ops.clip(t, -1.0, 0.5),
               lambda t: ops.clip(t, min=0.2), lambda t: t ** 3, lambda t: 2.0 ** t,
               lambda t: F.leaky_relu(t, 0.1), lambda t: F.elu(t, 0.7),
               lambda t: F.softmax(t, dim=0), lambda t: F.log_softmax(t, dim=1), lambda t: F.softmax(t)):
        _same_on_both(fn, [x])
    for fn in (ops.log, ops.sqrt, lambda t: t ** 0.5):
        _same_on_both(fn, [np.abs(x) + 0.1])


def test_sigmoid_and_softmax_stay_finite_for_huge_inputs():
    x = np.array([[-1000.0, 0.0, 1000.0]])
    out, (g,) = _same_on_both(lambda t: ops.sigmoid(t) * F.softmax(t, dim=1), [x])
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(g))


_EMULATED = {  # NumPy versions of elementwise.py's fused CUDA kernels, by kernel name
    "chainrule_relu_grad": lambda g, y: np.where(y > 0, g, 0),
    "chainrule_sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "chainrule_sigmoid_grad": lambda g, s: g * s * (1 - s),
    "chainrule_tanh_grad": lambda g, t: g * (1 - t * t),
}


@pytest.mark.skipif(REAL_GPU, reason="replaces the fake's ElementwiseKernel")
@pytest.mark.parametrize("broken", [False, True], ids=["kernels", "kernels-fail"])
def test_fused_kernels_are_used_on_cupy_and_fall_back_when_they_fail(monkeypatch, broken):
    from chainrule.ops import elementwise

    built, called = [], []

    class Kernel:  # CuPy's ElementwiseKernel(in_params, out_params, operation, name), run by NumPy
        def __init__(self, in_params, out_params, operation, name):
            built.append(name)
            self.name = name

        def __call__(self, *arrays):
            called.append(self.name)
            if broken:
                raise RuntimeError("nvrtc: compile error")
            return fake_cupy.ndarray(_EMULATED[self.name](*(a._a for a in arrays)).astype(arrays[0].dtype))

    monkeypatch.setattr(fake_cupy.fake, "ElementwiseKernel", Kernel, raising=False)
    monkeypatch.setattr(backend, "_kernels", {})
    x = _randn(3, 4) * 3
    with pytest.warns(RuntimeWarning, match="fused kernel .* failed") if broken else warnings.catch_warnings():
        if not broken:
            warnings.simplefilter("error")  # working kernels warn of nothing
        for dtype in (np.float64, np.float32):
            for fn in (ops.relu, ops.sigmoid, ops.tanh):
                _same_on_both(fn, [x], dtype)
    assert sorted(set(built)) == sorted(_EMULATED)
    if broken:  # each kernel tried once, then the plain path for good
        assert sorted(called) == sorted(_EMULATED)
    else:
        assert called.count("chainrule_relu_grad") == 2 and called.count("chainrule_sigmoid") == 2


def test_where_takes_a_host_condition_for_device_values():
    a, b = _randn(3, 4), _randn(4, seed=1)
    mask = a > 0
    _same_on_both(lambda x, y: ops.where(mask, x, y), [a, b])  # a NumPy mask
    _same_on_both(lambda x, y: ops.where(mask.tolist(), x, y), [a, b])  # a list
    _same_on_both(lambda x, y: ops.where(x > 0.5, x, y), [a, b])  # a device tensor


def test_cast_and_scalar_outputs():
    _same_on_both(lambda t: ops.cast(t, np.float32).sum() * 2.0, [_randn(3, 2)])
    _same_on_both(lambda t: (t * t).sum(), [np.array(1.5)])


def test_big_arrays_skip_the_threaded_cpu_paths():
    # big enough for ReLU/Add's and matmul's threaded NumPy paths; device arrays must not take them
    x, y = _randn(1 << 20, seed=2), _randn(1 << 20, seed=3)
    with parallel.threads(2):
        _same_on_both(lambda a, b: ops.relu(a + b), [x, y], np.float32)
        _same_on_both(ops.matmul, [_randn(64, 96), _randn(96, 80, seed=1)])


# ------------------------------------------------------------ reductions
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
def test_reductions(axis, keepdims):
    x = _randn(3, 4, 5)
    for name in ("sum", "mean", "max", "min", "var"):
        _same_on_both(lambda t: getattr(ops, name)(t, axis=axis, keepdims=keepdims), [x])
    _same_on_both(lambda t: t.var(axis=axis, correction=0), [x])
    _same_on_both(lambda t: t.std(axis=axis), [x])


def test_max_splits_the_gradient_between_ties():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    _, (g,) = _same_on_both(lambda t: t.max(axis=1), [x])
    assert g[0, 0] == 0 and g[0, 1] == g[0, 2] and g[1, 0] == g[1, 1] == g[1, 2]


# ------------------------------------------------------------ shape ops and indexing
def test_shape_ops():
    x = _randn(2, 3, 4)
    for fn in (lambda t: t.reshape(4, 6), lambda t: t.permute(2, 0, 1), lambda t: t.transpose(0, 2),
               lambda t: t.flatten(1), lambda t: t.unsqueeze(1).squeeze(1), lambda t: t.T,
               lambda t: ops.pad(t, ((0, 0), (1, 2), (0, 1)), value=0.5),
               lambda t: ops.cat([t, t * 2], dim=2), lambda t: ops.stack([t, t + 1], axis=3),
               lambda t: t[..., 1:3], lambda t: t[None, 1, :, ::2]):
        _same_on_both(fn, [x])


def test_integer_array_indexing_adds_the_gradient_of_repeated_indices():
    x = _randn(4, 3)
    rows, cols = np.array([0, 2, 2, 0, 2]), np.array([1, 1, 1, 0, 2])
    _, (g,) = _same_on_both(lambda t: t[rows, cols], [x])
    _, (g_list,) = _same_on_both(lambda t: t[[2, 2, 3]], [x])  # a list index
    assert np.count_nonzero(g) == 4 and np.count_nonzero(g_list) == 6
    _same_on_both(lambda t: t[rows], [x])
    _same_on_both(lambda t: t[rows, 1:], [x])
    _same_on_both(lambda t: t[cr.tensor(rows).to("cuda") if t.is_cuda else cr.tensor(rows)], [x])
    _same_on_both(lambda t: t[cr.tensor(rows)], [x])  # a CPU index tensor for a GPU tensor, as PyTorch allows


def test_boolean_masks():
    x = _randn(4, 3)
    mask = np.array([True, False, True, True])
    _same_on_both(lambda t: t[mask], [x])
    _same_on_both(lambda t: t[x > 0], [x])
    _same_on_both(lambda t: t[mask, np.array([0, 2, 2])], [x])  # a mask beside an integer array


def test_mixing_devices_in_one_op_is_an_error():
    a = cr.tensor(_randn(3)).to("cuda")
    with pytest.raises(RuntimeError, match="cpu and cuda:0"):
        ops.add(a, cr.tensor(_randn(3)))


# ------------------------------------------------------------ losses
def _labels(n=6, c=5, seed=0):
    return np.random.default_rng(seed).integers(0, c, size=n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", ["cross_entropy", "svm_loss", "nll_loss"])
def test_class_losses(loss, reduction, dtype):
    s, y = _randn(6, 5), _labels()
    fn = getattr(F, loss)
    ref, _ = _same_on_both(lambda t: fn(t, y, reduction=reduction), [s], dtype)
    for target in (y.tolist(), cr.tensor(y), None):  # a list, a CPU tensor, a GPU tensor
        def f(t, target=target):
            tt = (cr.tensor(y).to("cuda") if t.is_cuda else cr.tensor(y)) if target is None else target
            return fn(t, tt, reduction=reduction)
        out, _ = _same_on_both(f, [s], dtype)
        np.testing.assert_array_equal(out, ref)


def test_svm_margin_and_log_softmax_with_nll_is_cross_entropy():
    s, y = _randn(6, 5), _labels()
    _same_on_both(lambda t: F.svm_loss(t, y, margin=0.3), [s])
    a, _ = _same_on_both(lambda t: F.nll_loss(F.log_softmax(t, dim=1), y), [s])
    b, _ = _same_on_both(lambda t: F.cross_entropy(t, y), [s])
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse(reduction):
    x, t = _randn(3, 4), _randn(3, 4, seed=1)
    _same_on_both(lambda a: F.mse_loss(a, t, reduction=reduction), [x])  # a NumPy target
    _same_on_both(lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, t])  # a differentiable one


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(reduction, dtype):
    x, y = _randn(3, 4) * 4, np.random.default_rng(1).random((3, 4))
    w, p = np.array([0.5, 1.0, 2.0, 1.5]), np.array([3.0, 1.0, 0.2, 1.0])
    bce = F.binary_cross_entropy_with_logits
    _same_on_both(lambda a: bce(a, y, reduction=reduction), [x], dtype)
    _same_on_both(lambda a: bce(a, y, weight=w, pos_weight=p, reduction=reduction), [x], dtype)
    _same_on_both(lambda a, b: bce(a, b, weight=w, pos_weight=p, reduction=reduction), [x, y], dtype)
    _same_on_both(lambda a, b: bce(a, b, reduction=reduction), [x, y], dtype)
    # the module form, holding NumPy weights while the logits live on the device
    _same_on_both(lambda a: cr.nn.BCEWithLogitsLoss(weight=w, pos_weight=p, reduction=reduction)(a, y), [x], dtype)


@pytest.mark.parametrize("loss", [F.cross_entropy, F.svm_loss, F.nll_loss])
@pytest.mark.parametrize("where", ["host", "device"])
def test_bad_labels_name_what_was_expected(loss, where):
    s = cr.tensor(_randn(4, 3)).to("cuda")

    def y(v):
        a = np.array(v)
        return cr.tensor(a).to("cuda") if where == "device" else a

    with pytest.raises(ValueError, match=r"expected class indices in \[0, 2\] for 3 classes, got \[3, -1\]"):
        loss(s, y([0, 3, 1, -1]))
    with pytest.raises(ValueError, match="expected target of integer class indices"):
        loss(s, y([0.0, 1.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"expected target of shape \(4,\)"):
        loss(s, y([0, 1, 2]))
    with pytest.raises(ValueError, match="expected scores of shape"):
        loss(cr.tensor(_randn(4)).to("cuda"), y([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="floating-point scores"):
        loss(cr.tensor(np.ones((4, 3), np.int64)).to("cuda"), y([0, 1, 2, 0]))


def test_other_loss_errors_on_the_device():
    x = cr.tensor(_randn(3, 4)).to("cuda")
    with pytest.raises(ValueError, match="expected target of the input's shape"):
        F.mse_loss(x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.binary_cross_entropy_with_logits(x, np.zeros(4))
    with pytest.raises(ValueError, match="pos_weight of shape"):
        F.binary_cross_entropy_with_logits(x, np.zeros((3, 4)), pos_weight=np.ones(3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(x, np.zeros(3, np.int64), reduction="avg")


# ------------------------------------------------------------ dropout
@pytest.mark.parametrize("p", [0.3, 1.0])
def test_dropout_draws_the_same_mask_on_both_devices(p):
    x = _randn(5, 7)

    def fn(t):
        cr.manual_seed(7)
        return F.dropout(t, p)

    out, (g,) = _same_on_both(fn, [x])
    _same_on_both(fn, [x], np.float32)
    if p < 1:
        assert 0 < np.count_nonzero(out) < out.size
        np.testing.assert_allclose(out[out != 0], x[out != 0] / (1 - p))
    else:
        assert not out.any() and not g.any()


def test_dropout_off_is_the_identity_on_the_device():
    x = cr.tensor(_randn(3)).to("cuda")
    assert F.dropout(x, 0.5, training=False) is x


def test_device_targets_or_indices_for_cpu_tensors_are_an_error():
    s, y = cr.tensor(_randn(4, 3)), cr.tensor(np.array([0, 1, 2, 0])).to("cuda")
    with pytest.raises(RuntimeError, match="cross_entropy: target is on cuda:0, the input on cpu"):
        F.cross_entropy(s, y)
    with pytest.raises(RuntimeError, match="mse_loss: target is on cuda:0"):
        F.mse_loss(s, backend.to_device(_randn(4, 3), "cuda"))
    with pytest.raises(RuntimeError, match="pos_weight is on cuda:0"):
        F.binary_cross_entropy_with_logits(s, _randn(4, 3), pos_weight=backend.to_device(np.ones(3), "cuda"))
    with pytest.raises(RuntimeError, match="indices on cuda for a tensor on cpu"):
        s[y]
    with pytest.raises(RuntimeError, match="indices on cuda for a tensor on cpu"):
        s[y, 1]


def test_graph_dot_draws_a_device_graph():
    x = cr.tensor(_randn(2, 3), requires_grad=True, device="cuda")
    dot = cr.graph.graph_dot(F.cross_entropy(x @ x.T, [0, 1]), names={"x": x})
    assert "CrossEntropy\\nscalar" in dot and "MatMul\\n2x2" in dot and 'label="x\\n2x3"' in dot
