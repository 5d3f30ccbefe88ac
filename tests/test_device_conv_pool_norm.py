"""Convolution, pooling and normalisation on the device path, against the CPU, over many geometries.

Each case runs forward and backward on CPU tensors and on "cuda" tensors and
compares outputs and gradients (float64 to 1e-10, float32 to 1e-4, relative
to the largest value). "cuda" is tests/fake_cupy.py (always) and the real GPU
when CuPy sees one. The shared gradient-check table of every op on both
devices is in tests/test_cuda.py and tests/test_fake_device.py; this file is
about geometry: strides, paddings, kernel sizes, ceil_mode, ties, running stats.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from chainrule.nn import functional as F
from chainrule.ops import conv_device, dispatch, norm_device

import cupy_as_c
import fake_cupy

TOL = {np.float64: 1e-10, np.float32: 1e-4}


def _real_gpu() -> bool:
    try:
        return backend.cupy() is not None and backend.is_available()
    except ImportError:
        return False


DEVICES = ["fake", pytest.param("gpu", marks=pytest.mark.skipif(not _real_gpu(), reason="needs CuPy and a CUDA GPU"))]


@contextlib.contextmanager
def _on(kind: str):
    if kind == "fake":
        with fake_cupy.installed():
            yield
    else:
        yield


def _host(t):
    if t is None:
        return None
    return backend.to_host(t.data if isinstance(t, cr.Tensor) else t)


def _run(fn, arrays: list, dev: str) -> list:
    """fn(*tensors on dev) -> out; backward of sum(out * fixed weights); [out, grads...] on the host."""
    leaves = [None if a is None else cr.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*(None if t is None else t.to(dev) for t in leaves))
    weights = np.cos(np.arange(out.data.size)).reshape(out.shape).astype(out.dtype)
    (out * cr.tensor(weights).to(dev)).sum().backward()
    return [_host(out)] + [None if t is None else _host(t.grad) for t in leaves]


def _compare(fn, arrays: list, kind: str, dtype, extra=None) -> None:
    """Runs fn on the CPU and on the device kind; extra() -> host arrays to compare too (after each run)."""
    ref = _run(fn, arrays, "cpu") + (extra() if extra else [])
    with _on(kind):
        got = _run(fn, arrays, "cuda") + (extra() if extra else [])
    assert len(ref) == len(got)
    for i, (r, g) in enumerate(zip(ref, got)):
        if r is None:
            assert g is None
            continue
        assert isinstance(g, np.ndarray) and g.shape == r.shape and g.dtype == r.dtype, (i, g.shape, r.shape)
        scale = max(1.0, float(np.abs(r).max()))
        err = float(np.abs(g - r).max()) / scale
        assert err <= TOL[dtype], f"output {i}: relative error {err:.2e}"


# ----------------------------------------------------------------- conv2d
CONV_CASES = [  # (N, C, H, W), (F, KH, KW), stride, padding, bias
    ((2, 3, 7, 6), (4, 3, 3), 1, 1, True),
    ((2, 3, 8, 8), (5, 3, 3), 2, 1, False),
    ((2, 4, 9, 9), (3, 1, 1), 2, 0, True),
    ((2, 4, 6, 5), (6, 1, 1), 1, 0, False),
    ((1, 2, 11, 10), (3, 7, 7), 2, 3, True),
    ((2, 3, 12, 12), (4, 7, 7), 1, 3, True),
    ((2, 3, 6, 6), (4, 3, 3), 1, 0, True),
    ((2, 3, 6, 6), (4, 3, 3), 1, 3, False),  # padding > KH-1: col2im at stride 1
    ((2, 3, 9, 8), (4, 3, 2), (2, 1), (1, 0), True),
    ((2, 2, 10, 9), (3, 3, 3), 3, 2, True),  # stride > kernel-1: gaps between windows
    ((2, 8, 5, 5), (2, 3, 3), 1, 1, True),  # F < C
]


@pytest.mark.parametrize("kind", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}-{c[1]}-s{c[2]}-p{c[3]}-b{int(c[4])}")
def test_conv2d_matches_cpu(case, dtype, kind):
    (N, C, H, W), (Fo, KH, KW), stride, padding, bias = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((Fo, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(Fo).astype(dtype) if bias else None
    _compare(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b], kind, dtype)


@pytest.mark.parametrize("kind", DEVICES)
def test_conv2d_mixed_dtypes_and_no_input_grad(kind):
    """float32 input with a float64 weight computes in float64, as on the CPU; a constant input gets no grad."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3))
    _compare(lambda x, w: F.conv2d(x, w, None, stride=2, padding=1), [x, w], kind, np.float64)

    def weight_only(dev):
        wt = cr.tensor(w, requires_grad=True)
        out = F.conv2d(cr.tensor(x.astype(np.float64)).to(dev), wt.to(dev), None, padding=1)
        out.sum().backward()
        return _host(wt.grad)

    ref = weight_only("cpu")
    with _on(kind):
        np.testing.assert_allclose(weight_only("cuda"), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(not _real_gpu(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("case", CONV_CASES[1:3] + CONV_CASES[4:5] + CONV_CASES[7:10])
def test_col2im_kernel_matches_slice_adds(case, monkeypatch):
    """The CuPy ElementwiseKernel col2im and the plain-xp slice adds give the same dx."""
    (N, C, H, W), (Fo, KH, KW), stride, padding, _ = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((Fo, C, KH, KW))
    fn = lambda x, w: F.conv2d(x, w, None, stride=stride, padding=padding)  # noqa: E731
    with_kernel = _run(fn, [x, w], "cuda")
    monkeypatch.setattr(conv_device, "USE_KERNELS", False)
    without = _run(fn, [x, w], "cuda")
    np.testing.assert_allclose(with_kernel[1], without[1], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- pooling
POOL_CASES = [
    ("max", dict(kernel_size=2)),
    ("max", dict(kernel_size=3, stride=2, padding=1)),
    ("max", dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("max", dict(kernel_size=2, stride=2, ceil_mode=True)),
    ("max", dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1))),
    ("max", dict(kernel_size=3, stride=1, padding=1)),
    ("avg", dict(kernel_size=2)),
    ("avg", dict(kernel_size=3, stride=2, padding=1)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg", dict(kernel_size=2, ceil_mode=True)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("adaptive", dict(output_size=1)),
    ("adaptive", dict(output_size=(3, 2))),
    ("adaptive", dict(output_size=(None, 4))),
]
POOL_FNS = {"max": F.max_pool2d, "avg": F.avg_pool2d, "adaptive": F.adaptive_avg_pool2d}


@pytest.mark.parametrize("kind", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 2, 7, 9)])
@pytest.mark.parametrize("op,kwargs", POOL_CASES, ids=lambda v: v if isinstance(v, str) else
                         "-".join(f"{k}{v[k]}" for k in v))
def test_pool_matches_cpu(op, kwargs, shape, dtype, kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, 0, :3] = 5.0  # ties: the first maximum takes the gradient
    x[1, 1, 2:4, 2:4] = -1.0
    _compare(lambda t: POOL_FNS[op](t, **kwargs), [x], kind, dtype)


@pytest.mark.parametrize("kind", DEVICES)
def test_max_pool_gradient_goes_to_first_maximum(kind):
    x = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 0.0, 3.0]]]])
    with _on(kind):
        t = cr.tensor(x, requires_grad=True)
        F.max_pool2d(t.to("cuda"), 2).sum().backward()
        grad = _host(t.grad)
    np.testing.assert_array_equal(grad, [[[[0, 1, 1, 0], [0, 0, 0, 0]]]])


# ------------------------------------------------------------------ norms
@pytest.mark.parametrize("kind", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (3, 4, 5, 6)])
def test_batch_norm_matches_cpu(shape, affine, training, dtype, kind):
    """Outputs, gradients and the running statistics, which are updated in place on their device."""
    rng = np.random.default_rng(4)
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    rm0, rv0 = rng.standard_normal(C).astype(dtype), (rng.random(C) + 0.5).astype(dtype)
    stats = {}

    def fn(x, w, b):
        dev = backend.device_of(x.data)
        stats["rm"], stats["rv"] = backend.to_device(rm0.copy(), dev), backend.to_device(rv0.copy(), dev)
        return F.batch_norm(x, stats["rm"], stats["rv"], w, b, training=training, momentum=0.2, eps=1e-3)

    arrays = [x, w, b] if affine else [x, None, None]
    _compare(fn, arrays, kind, dtype, extra=lambda: [_host(stats["rm"]), _host(stats["rv"])])


@pytest.mark.parametrize("kind", DEVICES)
def test_batch_norm_module_on_device_updates_its_buffers(kind):
    """nn.BatchNorm2d with device buffers: 3 training steps then eval agree with the CPU."""
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((4, 3, 5, 5)) * 3 + 2 for _ in range(3)]

    def steps(dev):
        bn = cr.nn.BatchNorm2d(3).double()
        if dev == "cuda":  # by hand: this test must not depend on Module.to(device)
            for name in ("running_mean", "running_var"):
                bn._buffers[name] = backend.to_device(bn._buffers[name], "cuda")
            for p in bn.parameters():
                p.data = backend.to_device(p.data, "cuda")
        for a in xs:
            bn(cr.tensor(a).to(dev))
        bn.eval()
        return [_host(bn(cr.tensor(xs[0]).to(dev))), _host(bn.running_mean), _host(bn.running_var)]

    ref = steps("cpu")
    with _on(kind):
        got = steps("cuda")
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm_matches_cpu(size, dtype, kind):
    x = np.random.default_rng(6).standard_normal((2, 6, 4, 3)).astype(dtype)
    _compare(lambda t: F.local_response_norm(t, size, alpha=0.1, beta=0.75, k=2.0), [x], kind, dtype)


# ------------------------------------------------ the CuPy kernels, as C
# The custom kernels run only on a real GPU; tests/cupy_as_c.py compiles their exact
# source as C++ (floats as double), so their logic is checked against the plain path here.
@pytest.fixture(scope="module")
def cp_as_c():
    m = cupy_as_c.module()
    if m is None:
        pytest.skip("no C++ compiler")
    return m


def test_conv_kernels_match_the_plain_path(cp_as_c, monkeypatch):
    from chainrule.ops.geometry import conv_geometry

    monkeypatch.setattr(dispatch, "kernels", dispatch.KernelCache())  # never mix these with a real GPU's kernels
    rng = np.random.default_rng(7)
    for (N, C, H, W), (Fo, KH, KW), stride, padding, _ in [CONV_CASES[i] for i in (1, 2, 4, 7, 8, 9)]:
        g = conv_geometry((N, C, H, W), (Fo, C, KH, KW), None, stride, padding)._replace(F=0)
        x = rng.standard_normal((N, C, H, W))
        cols = conv_device.im2col(x, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.OH, g.OW)
        got = np.zeros_like(cols)
        conv_device._kernel(cp_as_c, "im2col", g, cols.size)(x, N, got)
        np.testing.assert_array_equal(got, cols)
        dcols = rng.standard_normal(cols.shape)
        got = np.zeros_like(x)
        conv_device._kernel(cp_as_c, "col2im", g, cols.size)(dcols, N, got)
        np.testing.assert_array_equal(got, conv_device.col2im(dcols, g))


class _Ctx:
    needs_input_grad = (True, True, True)

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["two-pass", "one-pass"])
def test_batch_norm_kernels_match_the_plain_path(cp_as_c, dtype, monkeypatch):
    """Training forward (running stats tracked or not, affine or not) and backward, and eval forward.
    float32 input takes the one-pass kernels; the emulation computes in double either way."""
    rng = np.random.default_rng(8)
    monkeypatch.setattr(dispatch, "kernels", dispatch.KernelCache())  # never mix these with a real GPU's kernels
    monkeypatch.setattr(norm_device, "_use_kernels", lambda xp: False)  # the reference: plain xp
    for shape, affine, track in [((4, 3), True, True), ((3, 4, 5, 6), True, True), ((3, 4, 5), False, False),
                                 ((3, 4, 5, 6), True, False)]:
        C, m = shape[1], int(np.prod(shape)) // shape[1]
        x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
        g = rng.standard_normal(shape)
        x3, g3 = x.reshape(shape[0], C, -1), g.reshape(shape[0], C, -1)
        w, b = (rng.standard_normal(C), rng.standard_normal(C)) if affine else (None, None)
        rm0, rv0 = rng.standard_normal(C), rng.random(C) + 0.5
        ctx, stats = _Ctx(), [rm0.copy(), rv0.copy()] if track else [None, None]
        ref = [norm_device.batch_norm_forward(ctx, x.astype(np.float64), w, b, *stats, True, 0.2, 1e-3)]
        ref += list(norm_device.batch_norm_backward(ctx, g)[:3]) + stats
        stats = [rm0.copy(), rv0.copy()] if track else [None, None]
        y, mean, invstd = norm_device._train_forward_cupy(cp_as_c, x3, w, b, *stats, m, 0.2, 1e-3)
        dx, dw, db = norm_device._train_backward_cupy(cp_as_c, g3, x3, mean, invstd, w, m)
        got = [y.reshape(shape), dx.reshape(shape), dw, db] + stats
        for i, (r, k) in enumerate(zip(ref, got)):
            if r is not None:
                np.testing.assert_allclose(k, r, rtol=1e-9, atol=1e-9, err_msg=f"{affine, track}: output {i}")
        ref = norm_device.batch_norm_forward(_Ctx(), x.astype(np.float64), w, b, rm0, rv0, False, 0.2, 1e-3)
        y = norm_device._eval_forward_cupy(cp_as_c, x3, w, b, rm0, rv0, 1e-3)[0]
        np.testing.assert_allclose(y.reshape(shape), ref, rtol=1e-12, atol=1e-12)


def test_max_pool_kernels_match_the_plain_path(cp_as_c, monkeypatch):
    """Max and first argmax of each window forward, the gather backward, for every max-pool case."""
    from chainrule.ops import pool, pool_device

    monkeypatch.setattr(dispatch, "kernels", dispatch.KernelCache())  # never mix these with a real GPU's kernels
    rng = np.random.default_rng(9)
    for shape in [(2, 3, 8, 8), (2, 2, 7, 9)]:
        for op, kwargs in POOL_CASES:
            if op != "max":
                continue
            x = rng.standard_normal(shape)
            x[0, 0, 0, :3] = 5.0  # ties
            gout_shape = None
            g = pool._geometry("max_pool2d", x, kwargs["kernel_size"], kwargs.get("stride"),
                               kwargs.get("padding", 0), kwargs.get("ceil_mode", False))
            ctx = _Ctx()
            ref = pool_device.max_forward(ctx, x, g)  # NumPy arrays: the plain path
            gout_shape = ref.shape
            gout = rng.standard_normal(gout_shape)
            ref_dx = pool_device.max_backward(ctx, gout)
            out, arg = np.zeros(gout_shape), np.zeros(gout_shape, np.int32)
            pool_device._kernel(cp_as_c, "max_fwd", g, shape, x.size)(x, out, arg)
            np.testing.assert_array_equal(out, ref, err_msg=str(kwargs))
            np.testing.assert_array_equal(arg, ctx.saved_tensors[0], err_msg=str(kwargs))
            dx = np.zeros(shape)
            pool_device._kernel(cp_as_c, "max_bwd", g, shape, x.size)(gout, arg, dx)
            np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12, err_msg=str(kwargs))
