"""conv2d: gradcheck, agreement with PyTorch and with the naive loops, bad input."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.conv import conv2d, conv2d_naive, conv2d_naive_backward

# (x shape, weight shape, stride, padding)
SMALL = [
    ((2, 2, 5, 4), (3, 2, 3, 3), 1, 1),
    ((2, 2, 7, 5), (2, 2, 3, 2), 2, 0),
    ((1, 3, 6, 7), (2, 3, 2, 3), (2, 1), (1, 2)),
    ((2, 1, 4, 4), (2, 1, 4, 4), 1, 0),  # kernel covers the whole input
]


def _rand(shape, rng, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("xs, ws, stride, padding", SMALL)
def test_conv2d_gradcheck(xs, ws, stride, padding):
    rng = np.random.default_rng(0)
    x = cr.Tensor(_rand(xs, rng), requires_grad=True)
    w = cr.Tensor(_rand(ws, rng), requires_grad=True)
    b = cr.Tensor(_rand(ws[0], rng), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding), [x, w, b])


def test_conv2d_gradcheck_without_bias():
    rng = np.random.default_rng(1)
    x = cr.Tensor(_rand((2, 2, 5, 5), rng), requires_grad=True)
    w = cr.Tensor(_rand((2, 2, 3, 3), rng), requires_grad=True)
    assert cr.gradcheck(lambda x, w: conv2d(x, w, None, 2, 1), [x, w])


CASES = [
    ((4, 3, 23, 19), (5, 3, 3, 3), 1, 1),
    ((3, 4, 23, 19), (6, 4, 5, 3), (2, 3), (2, 1)),
    ((2, 3, 32, 32), (8, 3, 7, 7), 1, 3),
    ((2, 8, 16, 16), (8, 8, 3, 3), 2, 0),
    ((2, 3, 11, 11), (4, 3, 11, 11), 1, 0),
]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("xs, ws, stride, padding", CASES)
def test_conv2d_matches_torch(xs, ws, stride, padding, dtype, tol):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, w, b = _rand(xs, rng, dtype), _rand(ws, rng, dtype), _rand(ws[0], rng, dtype)
    X, Wt, B = (cr.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(X, Wt, B, stride, padding)
    g = _rand(y.shape, rng, dtype)
    y.backward(g)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride, padding)
    yt.backward(torch.tensor(g))
    assert y.dtype == dtype and X.grad.dtype == dtype
    for ours, theirs in [(y.data, yt.detach()), (X.grad, xt.grad), (Wt.grad, wt.grad), (B.grad, bt.grad)]:
        theirs = theirs.numpy()
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * np.abs(theirs).max())


def test_conv2d_repeated_calls_do_not_share_outputs():
    # The buffer cache must never hand out an output or anything backward needs.
    rng = np.random.default_rng(3)
    w = cr.Tensor(_rand((4, 3, 3, 3), rng), requires_grad=True)
    x1 = cr.Tensor(_rand((2, 3, 8, 8), rng), requires_grad=True)
    x2 = cr.Tensor(_rand((2, 3, 8, 8), rng), requires_grad=True)
    y1, y2 = conv2d(x1, w, None, 1, 1), conv2d(x2, w, None, 1, 1)
    ref1 = conv2d_naive(x1.data, w.data, None, 1, 1)
    np.testing.assert_allclose(y1.data, ref1, rtol=1e-10, atol=1e-10)
    (y1.sum() + (y2 * 2).sum()).backward()
    dx1, dw1, _ = conv2d_naive_backward(np.ones(y1.shape), x1.data, w.data, 1, 1)
    dx2, dw2, _ = conv2d_naive_backward(2 * np.ones(y2.shape), x2.data, w.data, 1, 1)
    np.testing.assert_allclose(x1.grad, dx1, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(x2.grad, dx2, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(w.grad, dw1 + dw2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs, ws, stride, padding", SMALL + CASES[:2])
def test_naive_agrees_with_fast(xs, ws, stride, padding):
    rng = np.random.default_rng(4)
    x, w, b = _rand(xs, rng), _rand(ws, rng), _rand(ws[0], rng)
    X, Wt, B = (cr.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(X, Wt, B, stride, padding)
    np.testing.assert_allclose(conv2d_naive(x, w, b, stride, padding), y.data, rtol=1e-10, atol=1e-10)
    g = _rand(y.shape, rng)
    y.backward(g)
    dx, dw, db = conv2d_naive_backward(g, x, w, stride, padding)
    np.testing.assert_allclose(dx, X.grad, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, Wt.grad, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db, B.grad, rtol=1e-10, atol=1e-10)


def test_conv2d_float32_stays_float32():
    x = cr.randn(2, 3, 8, 8)
    w = cr.randn(4, 3, 3, 3)
    assert conv2d(x, w, padding=1).data.dtype == np.float32


def test_conv2d_rejects_3d_input():
    with pytest.raises(ValueError, match=r"conv2d.*4-D input.*\(3, 8, 8\)"):
        conv2d(cr.zeros(3, 8, 8), cr.zeros(4, 3, 3, 3))


def test_conv2d_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"conv2d.*\(4, 3, 3, 3\).*3 input channels.*\(2, 5, 8, 8\).*5 channels"):
        conv2d(cr.zeros(2, 5, 8, 8), cr.zeros(4, 3, 3, 3))


def test_conv2d_rejects_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"conv2d.*kernel size \(7, 7\).*larger than the padded input \(6, 6\)"):
        conv2d(cr.zeros(1, 1, 4, 4), cr.zeros(1, 1, 7, 7), padding=1)


@pytest.mark.parametrize("stride", [0, -1, (1, 0)])
def test_conv2d_rejects_non_positive_stride(stride):
    with pytest.raises(ValueError, match=r"conv2d.*stride must be positive.*"):
        conv2d(cr.zeros(1, 1, 4, 4), cr.zeros(1, 1, 3, 3), stride=stride)


def test_conv2d_rejects_bad_bias_and_padding():
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(4,\).*got \(3,\)"):
        conv2d(cr.zeros(1, 3, 4, 4), cr.zeros(4, 3, 3, 3), cr.zeros(3))
    with pytest.raises(ValueError, match=r"conv2d: padding must be non-negative"):
        conv2d(cr.zeros(1, 3, 4, 4), cr.zeros(4, 3, 3, 3), padding=-1)


@pytest.mark.parametrize("threads", [1, 3])
def test_conv2d_threaded_copies_match_torch(threads):
    # big enough (>= 1M column entries) that im2col/col2im split examples over threads
    torch = pytest.importorskip("torch")
    from chainrule.ops import parallel

    rng = np.random.default_rng(5)
    x, w = _rand((17, 8, 32, 32), rng, np.float32), _rand((6, 8, 3, 3), rng, np.float32)
    with parallel.threads(threads):
        X, Wt = cr.Tensor(x, requires_grad=True), cr.Tensor(w, requires_grad=True)
        y = conv2d(X, Wt, None, 1, 1)
        g = _rand(y.shape, rng, np.float32)
        y.backward(g)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, None, 1, 1)
    yt.backward(torch.tensor(g))
    for ours, theirs in [(y.data, yt.detach()), (X.grad, xt.grad), (Wt.grad, wt.grad)]:
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=1e-4 * np.abs(theirs.numpy()).max())


# ------------------------------------------------- the fast paths' internals
def _check_against_torch(x, w, b, stride, padding, tol, need_x=True, need_w=True):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    X, Wt = cr.Tensor(x, requires_grad=need_x), cr.Tensor(w, requires_grad=need_w)
    B = None if b is None else cr.Tensor(b, requires_grad=True)
    y = conv2d(X, Wt, B, stride, padding)
    g = _rand(y.shape, rng, x.dtype)
    y.backward(g)
    xt, wt = torch.tensor(x, requires_grad=need_x), torch.tensor(w, requires_grad=need_w)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride, padding)
    yt.backward(torch.tensor(g))
    pairs = [(y.data, yt.detach())]
    pairs += [(X.grad, xt.grad)] if need_x else []
    pairs += [(Wt.grad, wt.grad)] if need_w else []
    pairs += [] if b is None else [(B.grad, bt.grad)]
    assert (X.grad is None) == (not need_x) and (Wt.grad is None) == (not need_w)
    for ours, theirs in pairs:
        theirs = theirs.numpy()
        assert ours.shape == theirs.shape and ours.dtype == x.dtype
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * np.abs(theirs).max())


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Sub-blocks of 2 examples and 2 threads even for tiny inputs, so that block
    and sub-block boundaries (and a short last sub-block) are exercised; the conv
    products are cut into 16-column chunks (a short last one too), as the 16- and
    32-channel layers' are (ops/gemm.py)."""
    from chainrule.ops import gemm, parallel

    monkeypatch.setattr(gemm, "_columns_per_product", lambda F, K: 16)

    monkeypatch.setattr(parallel, "examples_per_sub_block", lambda per_example, n: min(2, n))
    monkeypatch.setattr(parallel, "num_parts", lambda n, work: min(2, n))
    monkeypatch.setattr(parallel, "_num_threads", 2)
    monkeypatch.setattr(parallel, "_pool", None)


# stride 1 (the wide-row path): odd and non-square sizes, kernels 1x1 .. 5x5, padding 0/1/2
WIDE = [
    ((7, 3, 9, 13), (4, 3, 1, 1), 1, 0),
    ((3, 3, 6, 5), (4, 3, 1, 1), 1, 2),  # padding wider than the kernel: row pitch OW
    ((7, 3, 9, 13), (4, 3, 3, 3), 1, 0),
    ((7, 3, 9, 13), (4, 3, 3, 3), 1, 1),
    ((5, 1, 7, 6), (4, 1, 3, 3), 1, 1),  # F > 2C: dx by col2im, not by a convolution
    ((5, 2, 11, 6), (3, 2, 5, 5), 1, 2),
    ((5, 2, 8, 11), (3, 2, 3, 5), 1, (2, 1)),
    ((3, 4, 5, 5), (2, 4, 5, 5), 1, 0),  # a single output pixel
    ((2, 3, 1, 7), (2, 3, 1, 3), 1, (0, 1)),  # one input row
]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("xs, ws, stride, padding", WIDE)
def test_wide_row_path_matches_torch(xs, ws, stride, padding, dtype, tol, tiny_blocks):
    rng = np.random.default_rng(7)
    x, w, b = _rand(xs, rng, dtype), _rand(ws, rng, dtype), _rand(ws[0], rng, dtype)
    _check_against_torch(x, w, b, stride, padding, tol)


@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((5, 3, 9, 13), (4, 3, 3, 3), 2, 1),
    ((5, 2, 11, 6), (3, 2, 5, 3), (1, 2), (2, 0)),
    ((3, 2, 7, 7), (3, 2, 1, 1), 2, 0),
])
def test_im2col_path_in_sub_blocks_matches_torch(xs, ws, stride, padding, tiny_blocks):
    rng = np.random.default_rng(8)
    x, w, b = _rand(xs, rng), _rand(ws, rng), _rand(ws[0], rng)
    _check_against_torch(x, w, b, stride, padding, 1e-10)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("need_x, need_w", [(True, False), (False, True)])
def test_conv2d_backward_for_one_input_only(stride, need_x, need_w):
    rng = np.random.default_rng(9)
    x, w = _rand((3, 2, 7, 6), rng), _rand((4, 2, 3, 3), rng)
    _check_against_torch(x, w, None, stride, 1, 1e-10, need_x=need_x, need_w=need_w)


def test_conv2d_geometries_sharing_a_padded_shape():
    # (30, 30) padded by 2 and (32, 32) padded by 1 are both (34, 34): the cached
    # padded buffers must not leak one's interior into the other's border.
    rng = np.random.default_rng(10)
    w = _rand((3, 2, 3, 3), rng)
    for size, pad in [(30, 2), (32, 1), (30, 2)]:
        for stride in (1, 2):
            x = _rand((2, 2, size, size), rng)
            _check_against_torch(x, w, None, stride, pad, 1e-10)


# ------------------------------------- every fast path against the naive loops
# Each case names the branch it exercises; run in sub-blocks of 2 examples on 2 threads.
PATHS = [
    ((5, 4, 7, 6), (4, 4, 3, 3), 1, 1, True),   # wide, dx by convolution, dW as one GEMM (K = 36)
    ((3, 2, 24, 24), (3, 2, 3, 3), 1, 1, True),  # wide, Q = 600 columns: one forward GEMM per example
    ((5, 2, 7, 6), (3, 2, 3, 3), 1, 1, True),   # wide, dx by convolution, dW batched matmul (K = 18)
    ((5, 1, 7, 6), (4, 1, 3, 3), 1, 1, True),   # wide, F > 2C: dx by col2im
    ((5, 3, 6, 7), (8, 3, 3, 3), 1, 1, False),  # first layer: no dx, F > 2C (K = 27)
    ((5, 3, 6, 7), (5, 3, 3, 3), 1, 1, False),  # no dx, F <= 2C
    ((5, 4, 6, 5), (3, 4, 3, 3), 1, 2, True),   # padding wider than the kernel allows for by-conv
    ((3, 4, 5, 6), (3, 4, 1, 1), 1, 2, True),   # 1x1 with padding: row pitch OW
    ((5, 4, 9, 8), (6, 4, 3, 3), 2, 1, True),   # im2col path, stride 2
    ((5, 4, 9, 8), (6, 4, 1, 1), 2, 0, True),   # 1x1 stride-2 projection
    ((4, 3, 11, 9), (4, 3, 5, 3), (2, 3), (2, 1), False),  # im2col path, no dx
    ((2, 4, 4, 1), (4, 4, 5, 5), 1, 2, True),  # kernel wider than the row pitch: 2 extra zero rows
    ((3, 4, 6, 7), (4, 4, 3, 5), 1, (1, 2), True),  # non-square kernel, ph != pw
]


@pytest.mark.parametrize("xs, ws, stride, padding, need_x", PATHS)
def test_fast_paths_match_naive(xs, ws, stride, padding, need_x, tiny_blocks):
    rng = np.random.default_rng(11)
    x, w, b = _rand(xs, rng), _rand(ws, rng), _rand(ws[0], rng)
    X, Wt, B = cr.Tensor(x, requires_grad=need_x), cr.Tensor(w, requires_grad=True), cr.Tensor(b, requires_grad=True)
    y = conv2d(X, Wt, B, stride, padding)
    np.testing.assert_allclose(y.data, conv2d_naive(x, w, b, stride, padding), rtol=1e-10, atol=1e-10)
    g = _rand(y.shape, rng)
    y.backward(g)
    dx, dw, db = conv2d_naive_backward(g, x, w, stride, padding)
    assert (X.grad is not None) == need_x
    if need_x:
        np.testing.assert_allclose(X.grad, dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(Wt.grad, dw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(B.grad, db, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs, ws, stride, padding, need_x", [p for p in PATHS if p[2] == 1])
def test_weight_grad_by_kernel_offsets_matches_naive(xs, ws, stride, padding, need_x, tiny_blocks, monkeypatch):
    # the stride-1 convs' dW as one product per kernel offset (taken for 16-64 channels on
    # small maps), forced here for every wide-row geometry; bias grad and dx alongside
    from chainrule.ops import conv_wide

    monkeypatch.setattr(conv_wide, "_weight_grad_by_taps", lambda g: True)
    test_fast_paths_match_naive(xs, ws, stride, padding, need_x, None)


@pytest.mark.parametrize("xs, ws, stride, padding, need_x", [p for p in PATHS if p[2] == 1])
def test_conv_by_kernel_offsets_matches_naive(xs, ws, stride, padding, need_x, tiny_blocks, monkeypatch):
    # forward (and dx, itself a convolution) as one product per kernel offset, summed (taken
    # for 32 and 64 channels on small maps), forced here for every wide-row geometry
    from chainrule.ops import conv_wide

    monkeypatch.setattr(conv_wide, "_by_taps", lambda C, F, Q: True)
    test_fast_paths_match_naive(xs, ws, stride, padding, need_x, None)


def test_conv_by_kernel_offsets_where_it_pays():
    from chainrule.ops import conv_wide

    assert conv_wide._by_taps(32, 32, 16 * 17) and conv_wide._by_taps(64, 64, 8 * 9)  # ResNet-20
    assert not conv_wide._by_taps(16, 16, 32 * 33)  # 16 channels: the columns are faster
    assert not conv_wide._by_taps(64, 64, 32 * 33) and not conv_wide._by_taps(256, 256, 8 * 9)  # VGG


def test_weight_grad_by_kernel_offsets_where_it_pays():
    from chainrule.ops import conv_wide
    from chainrule.ops.geometry import conv_geometry

    def taps(c, f, h):
        return conv_wide._weight_grad_by_taps(conv_geometry((128, c, h, h), (f, c, 3, 3), None, 1, 1))

    assert taps(16, 16, 32) and taps(32, 32, 16) and taps(64, 64, 8) and taps(16, 16, 28)  # ResNet-20, (d)
    assert not taps(3, 16, 32) and not taps(64, 64, 32) and not taps(256, 256, 8)  # first layers, VGG
    rng = np.random.default_rng(13)
    x, w, g = _rand((3, 16, 6, 5), rng), _rand((16, 16, 3, 3), rng), _rand((3, 16, 6, 5), rng)
    assert conv_wide._weight_grad_by_taps(conv_geometry(x.shape, w.shape, None, 1, 1))
    W = cr.Tensor(w, requires_grad=True)
    conv2d(cr.Tensor(x), W, None, 1, 1).backward(g)
    np.testing.assert_allclose(W.grad, conv2d_naive_backward(g, x, w, 1, 1)[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs, ws, stride, padding, need_x", PATHS[:4] + PATHS[6:7])
def test_fast_paths_float32_match_torch(xs, ws, stride, padding, need_x, tiny_blocks):
    rng = np.random.default_rng(12)
    x, w, b = _rand(xs, rng, np.float32), _rand(ws, rng, np.float32), _rand(ws[0], rng, np.float32)
    _check_against_torch(x, w, b, stride, padding, 1e-4, need_x=need_x)


def test_conv_geometry_is_checked_once_and_kept():
    from chainrule.ops.geometry import ConvGeometry, conv_geometry

    g = conv_geometry((2, 3, 9, 8), (4, 3, 3, 5), (4,), stride=(2, 1), padding=(1, 2))
    assert isinstance(g, ConvGeometry)
    assert (g.N, g.C, g.H, g.W, g.F, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw) == (2, 3, 9, 8, 4, 3, 5, 2, 1, 1, 2)
    assert (g.OH, g.OW) == (5, 8)
    y = conv2d(cr.zeros(2, 3, 9, 8, requires_grad=True), cr.zeros(4, 3, 3, 5), cr.zeros(4), (2, 1), (1, 2))
    assert y.shape == (2, 4, g.OH, g.OW)
    with pytest.raises(ValueError, match=r"conv2d: stride must be an int or a pair"):
        conv_geometry((2, 3, 9, 8), (4, 3, 3, 5), None, stride=(1, 2, 3))


def test_products_are_cut_into_even_small_chunks(monkeypatch):
    from chainrule.ops import gemm

    assert gemm._columns_per_product(16, 144) == 432  # 16 * 144 * 432 <= 10^6
    assert gemm._columns_per_product(64, 576) == 0  # 27 columns would not pay
    widths = []

    class CountingNumpy:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def matmul(a, b, out=None):
            widths.append(b.shape[-1])
            return np.matmul(a, b, out=out)

    monkeypatch.setattr(gemm, "np", CountingNumpy())
    rng = np.random.default_rng(15)
    w2, cols = rng.standard_normal((16, 144)), rng.standard_normal((2, 144, 1056))
    out = gemm.product(w2, cols, np.empty((2, 16, 1056)))
    assert widths == [352, 352, 352]  # even pieces, not 432 + 432 + 192
    np.testing.assert_allclose(out, np.matmul(w2, cols), rtol=1e-12, atol=1e-12)
