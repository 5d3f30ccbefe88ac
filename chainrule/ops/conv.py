"""2-D convolution (really cross-correlation, as in every framework).

The lecture's method (5/7): im2col + a matrix product,

    cols[(c, kh, kw), (oh, ow)] = xpad[c, oh*sh + kh, ow*sw + kw]     (C*KH*KW, OH*OW) per example
    out[n] = W.reshape(F, C*KH*KW) @ cols                             (F, OH*OW)

and backward is two more products and col2im, the adjoint of im2col:

    dW = sum_n dout[n] @ cols[n]^T          dcols[n] = W2^T @ dout[n]
    dx[n, c, oh*sh + kh, ow*sw + kw] += dcols[n][(c, kh, kw), (oh, ow)]

The GEMMs run near BLAS peak; the time goes to the copies around them, so:

- examples are processed a few at a time (`_sub_blocks`), so that their
  columns stay in the cache from im2col to the GEMMs (the full column matrix
  is KH*KW times the input: 302 MB for a 64->64 3x3 layer at batch 128);
- stride-1 convolutions (`_Conv2dWide`) store each padded channel flat and
  compute the output on "wide rows", which makes every row of the column
  matrix one contiguous slice of the input: im2col and col2im become long
  contiguous copies/adds (see its docstring). Other strides use `_Conv2dCols`;
- for stride 1 (and F <= 2*C), dx is computed as a convolution of dout with
  the flipped kernel, with no col2im (`_Conv2dWide.backward_by_conv`);
- one thread per block of examples (`_blocks`), each with single-threaded BLAS;
- scratch arrays live in a small buffer cache (fresh multi-MB arrays cost a
  page fault per 4 KiB page on every call).

`conv2d_naive` is the lecture's plain-loop version, kept for teaching and as a
test reference.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd import Function
from ..tensor import Tensor


from .geometry import conv_output_size, pair as _pair  # noqa: F401  (conv_output_size: public here too)
from .parallel import blocks as _blocks, buffers, num_parts as _num_parts  # noqa: F401
from .parallel import set_num_threads, get_num_threads  # noqa: F401


def _padded(x: np.ndarray, ph: int, pw: int, tag: str, extra_rows: int = 0,
            width: int | None = None) -> np.ndarray:
    """x zero-padded by (ph, pw), plus `extra_rows` zero rows at the bottom, in a cached
    buffer; `width` (default W + 2*pw) may cut the right padding short. The border
    stays zero because only the interior is ever written; the padding is part of the
    key, since two geometries can share a padded shape."""
    N, C, H, W = x.shape
    width = W + 2 * pw if width is None else width
    if ph == 0 and pw == 0 and extra_rows == 0 and width == W:
        return x
    xp = buffers.get(f"{tag}.{ph}.{pw}", (N, C, H + 2 * ph + extra_rows, width), x.dtype, zero=True)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _windows(xp: np.ndarray, KH: int, KW: int, sh: int, sw: int, OH: int, OW: int) -> np.ndarray:
    """Every window of the padded input xp: (n, C, Hp, Wp), as an (n, C, KH, KW, OH, OW)
    strided view: entry [n, c, kh, kw, oh, ow] = xp[n, c, oh*sh + kh, ow*sw + kw]."""
    n, C = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (n, C, KH, KW, OH, OW), (s0, s1, s2, s3, s2 * sh, s3 * sw), writeable=False)


def im2col(xp: np.ndarray, KH: int, KW: int, sh: int, sw: int, OH: int, OW: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Columns of the (already padded) input xp: (n, C, Hp, Wp), one matrix per example:
    (n, C*KH*KW, OH*OW). One copy of a strided view that holds every window (no loops)."""
    n, C = xp.shape[:2]
    if out is None:
        out = np.empty((n, C * KH * KW, OH * OW), xp.dtype)
    np.copyto(out.reshape(n, C, KH, KW, OH, OW), _windows(xp, KH, KW, sh, sw, OH, OW))
    return out


def col2im(dcols: np.ndarray, dxp: np.ndarray, KH: int, KW: int, sh: int, sw: int,
           OH: int, OW: int) -> np.ndarray:
    """Adjoint of im2col: add dcols (n, C*KH*KW, OH*OW) back into dxp: (n, C, Hp, Wp),
    which must start at zero. One strided slice-add per kernel offset."""
    n, C = dxp.shape[:2]
    d6 = dcols.reshape(n, C, KH, KW, OH, OW)
    for kh in range(KH):
        for kw in range(KW):
            dxp[:, :, kh:kh + sh * (OH - 1) + 1:sh, kw:kw + sw * (OW - 1) + 1:sw] += d6[:, :, kh, kw]
    return dxp


def _check(x: np.ndarray, w: np.ndarray, b, stride, padding) -> tuple:
    if np.ndim(x) != 4:
        raise ValueError(f"conv2d: expected a 4-D input (N, C, H, W), got shape {np.shape(x)}")
    if np.ndim(w) != 4:
        raise ValueError(f"conv2d: expected a 4-D weight (F, C, KH, KW), got shape {np.shape(w)}")
    N, C, H, W = x.shape
    F, Cw, KH, KW = w.shape
    if C != Cw:
        raise ValueError(
            f"conv2d: weight of shape {w.shape} expects {Cw} input channels, "
            f"got input of shape {x.shape} with {C} channels"
        )
    if b is not None and np.shape(b) != (F,):
        raise ValueError(f"conv2d: bias must have shape ({F},) to match weight {w.shape}, got {np.shape(b)}")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"conv2d: stride must be positive, got {stride!r}")
    if ph < 0 or pw < 0:
        raise ValueError(f"conv2d: padding must be non-negative, got {padding!r}")
    if KH > H + 2 * ph or KW > W + 2 * pw:
        raise ValueError(
            f"conv2d: kernel size ({KH}, {KW}) is larger than the padded input "
            f"({H + 2 * ph}, {W + 2 * pw}) (input shape {x.shape}, padding ({ph}, {pw}))"
        )
    return sh, sw, ph, pw


# --------------------------------------------------------------------- fast
_COLS_BYTES = 1 << 22  # columns of one sub-block: 4 MiB, so that they stay in the L2/L3 cache


def _flat(tag: str, i: int, size: int, dtype) -> np.ndarray:
    """Thread i's flat scratch buffer; take leading pieces of it with `_piece`."""
    return buffers.get(f"{tag}.{i}", (size,), dtype)


def _piece(flat: np.ndarray, *shape: int) -> np.ndarray:
    """A C-contiguous array of `shape` at the start of `flat` (works for a short last sub-block)."""
    return flat[:int(np.prod(shape))].reshape(shape)


def _examples_per_sub_block(cols_bytes_per_example: int, n: int) -> int:
    return max(1, min(n, _COLS_BYTES // max(1, cols_bytes_per_example)))


def _sub_blocks(lo: int, hi: int, step: int):
    """(s, e) runs of at most `step` examples covering lo:hi."""
    for s in range(lo, hi, step):
        yield s, min(s + step, hi)


class _Conv2dCols:
    """General convolution (any stride): im2col + one GEMM per example.

    Each thread takes a block of examples and walks through it a few examples
    at a time (`_sub_blocks`), so that a sub-block's columns (n, C*KH*KW, P),
    P = OH*OW, stay in the cache from im2col to the GEMMs instead of KH*KW
    times the input being written to memory and read back. One (C*KH*KW, P)
    matrix per example makes each example's product W2 @ cols[n] land directly
    in out[n] as (F, P): no reordering copy of the output or of dout."""

    @staticmethod
    def forward(ctx, x, w, bias, sh, sw, ph, pw):
        dtype = x.dtype
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        OH, OW = conv_output_size(H, KH, sh, ph), conv_output_size(W, KW, sw, pw)
        P, K = OH * OW, C * KH * KW
        w2 = w.reshape(F, K)
        xp = _padded(x, ph, pw, "conv.xpad")
        out = np.empty((N, F, OH, OW), dtype)
        nb = _examples_per_sub_block(K * P * x.itemsize, N)
        cols_bufs = [_flat("conv.cols", i, nb * K * P, dtype) for i in range(_num_parts(N, N * K * P))]

        def block(i, lo, hi):
            for s, e in _sub_blocks(lo, hi, nb):
                cols = im2col(xp[s:e], KH, KW, sh, sw, OH, OW, out=_piece(cols_bufs[i], e - s, K, P))
                o = out[s:e].reshape(e - s, F, P)
                np.matmul(w2, cols, out=o)  # one GEMM per example
                if bias is not None:
                    o += bias

        _blocks(block, N, N * K * P)
        return out

    @staticmethod
    def backward(ctx, g, x, w, sh, sw, ph, pw):
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        OH, OW = conv_output_size(H, KH, sh, ph), conv_output_size(W, KW, sw, pw)
        Hp, Wp = H + 2 * ph, W + 2 * pw
        P, K = OH * OW, C * KH * KW
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dtype = w.dtype
        g = g.astype(dtype, copy=False).reshape(N, F, P)
        w2 = w.reshape(F, K)
        xp = _padded(x, ph, pw, "conv.xpad") if need_w else None
        dx = np.empty((N, C, H, W), dtype) if need_x else None
        nb = _examples_per_sub_block(K * P * x.itemsize, N)
        n_parts = _num_parts(N, N * K * P)
        cols_bufs = [_flat("conv.cols", i, nb * K * P, dtype) for i in range(n_parts)]
        padded = ph or pw  # then col2im needs a padded scratch; else it adds straight into dx
        dxp_bufs = [_flat("conv.dxpad", i, nb * C * Hp * Wp, dtype) for i in range(n_parts)] if padded else None
        parts: dict = {}

        def block(i, lo, hi):
            dw = np.zeros((F, K), dtype) if need_w else None
            db = np.zeros(F, dtype) if need_b else None
            for s, e in _sub_blocks(lo, hi, nb):
                n, gs = e - s, g[s:e]  # dout of the sub-block, (n, F, P)
                cols = _piece(cols_bufs[i], n, K, P)
                if need_b:
                    db += gs.sum(axis=2).sum(axis=0)
                if need_w:  # dW = sum_n dout[n] @ cols[n]^T
                    im2col(xp[s:e], KH, KW, sh, sw, OH, OW, out=cols)
                    dw += np.matmul(gs, cols.transpose(0, 2, 1)).sum(axis=0)
                if need_x:  # dcols[n] = W2^T @ dout[n] reuses cols: it is done with
                    np.matmul(w2.T, gs, out=cols)
                    d = _piece(dxp_bufs[i], n, C, Hp, Wp) if padded else dx[s:e]
                    d.fill(0)
                    col2im(cols, d, KH, KW, sh, sw, OH, OW)
                    if padded:
                        dx[s:e] = d[:, :, ph:ph + H, pw:pw + W]
            parts[i] = (dw, db)

        _blocks(block, N, N * K * P)
        dw = sum(p[0] for p in parts.values()).reshape(w.shape) if need_w else None
        db = sum(p[1] for p in parts.values()) if need_b else None
        return dx, dw, db


class _Conv2dWide:
    """Stride-1 convolution on "wide rows": im2col and col2im become contiguous copies.

    Lay each padded channel out flat with a row pitch Wq: xf[n, c, r*Wq + pw + j] =
    x[n, c, r - ph, j], zero elsewhere (Hp rows plus one zero row, so the reads below
    stay inside the buffer). For stride 1 the window offset (kh, kw) of output pixel
    (oh, ow) reads

        xpad[n, c, oh + kh, ow + kw] = xf[n, c, q + kh*Wq + kw],   q = oh*Wq + ow.

    A read past a row's end lands in the next row's left padding, so the right
    padding can share it: Wq = max(W + pw, OW) suffices (not W + 2*pw). Compute the
    output on a grid of Q = OH*Wq positions per example, Wq - OW of each row being
    junk that is dropped at the end: then row (c, kh, kw) of the columns is ONE
    contiguous slice xf[n, c, kh*Wq + kw : kh*Wq + kw + Q]

        cols[n, (c, kh, kw), q] = xf[n, c, q + kh*Wq + kw]        (n, C*KH*KW, Q)
        out_wide[n] = W2 @ cols[n]                                 (n, F, Q)

    and col2im is KH*KW adds of (n, C, Q) blocks at flat offsets kh*Wq + kw,
    instead of KH*KW*C*OH short rows of OW values. Backward feeds dout on the same
    wide grid with ZERO junk columns, so they add nothing to dW or dx. The price
    is Wq/OW times the GEMM columns (3% for 32x32, 6% for 16x16 with padding 1)."""

    @staticmethod
    def forward(ctx, x, w, bias, ph, pw):
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        OH, OW = H + 2 * ph - KH + 1, W + 2 * pw - KW + 1
        Wq = max(W + pw, OW)  # the row pitch
        xf = _padded(x, ph, pw, "conv.xwide", extra_rows=1, width=Wq).reshape(N, C, -1)
        return _Conv2dWide.conv(xf, w, bias, OH, OW, Wq)

    @staticmethod
    def conv(xf: np.ndarray, w: np.ndarray, bias, OH: int, OW: int, Wq: int) -> np.ndarray:
        """The convolution of the flat padded input xf: (N, C, L) with row pitch Wq
        -> (N, F, OH, OW); bias: (F, 1) or None."""
        dtype = xf.dtype
        N, C = xf.shape[:2]
        F, _, KH, KW = w.shape
        Q, K = OH * Wq, C * KH * KW
        w2 = w.reshape(F, K)
        out = np.empty((N, F, OH, OW), dtype)
        nb = _examples_per_sub_block(K * Q * xf.itemsize, N)
        n_parts = _num_parts(N, N * K * Q)
        cols_bufs = [_flat("conv.cols", i, nb * K * Q, dtype) for i in range(n_parts)]
        prod_bufs = [_flat("conv.prod", i, nb * F * Q, dtype) for i in range(n_parts)]

        def block(i, lo, hi):
            for s, e in _sub_blocks(lo, hi, nb):
                n = e - s
                cols = _wide_im2col(xf[s:e], KH, KW, Wq, Q, _piece(cols_bufs[i], n, K, Q))
                prod = np.matmul(w2, cols, out=_piece(prod_bufs[i], n, F, Q))
                valid = prod.reshape(n, F, OH, Wq)[..., :OW]  # drop the junk columns
                np.copyto(out[s:e], valid) if bias is None else np.add(valid, bias[:, :, None], out=out[s:e])

        _blocks(block, N, N * K * Q)
        return out

    @staticmethod
    def backward_by_conv(ctx, g, x, w, ph, pw):
        """Backward when ph <= KH - 1 and pw <= KW - 1 (all "same" and "valid" convs)
        and F <= 2*C (see Conv2d.backward).

        dx is itself a stride-1 convolution: of dout, zero-padded by (KH-1-ph, KW-1-pw),
        with the kernel flipped in space and transposed to (C, F, KH, KW). Its padded
        dout then has the same row pitch Wq as x's, and a window of it at offset
        (KH-1-ph)*Wq + (KW-1-pw) is exactly dout on x's wide grid with zero junk
        columns: a strided view that feeds the dW product without a copy. So backward
        is two im2col + GEMM passes, and no col2im at all."""
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        OH, OW = H + 2 * ph - KH + 1, W + 2 * pw - KW + 1
        Wq = W + pw  # = max(W + pw, OW) here, and = OW + (KW-1-pw)
        Q, K = OH * Wq, C * KH * KW
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dtype = w.dtype
        qh, qw = KH - 1 - ph, KW - 1 - pw  # dout's padding for the dx convolution
        gf = _padded(g, qh, qw, "conv.gwide", extra_rows=1, width=Wq).reshape(N, F, -1)
        gw = gf[:, :, qh * Wq + qw:qh * Wq + qw + Q]  # dout on x's wide grid, (N, F, Q)
        dw = db = None
        if need_w or need_b:
            xf = _padded(x, ph, pw, "conv.xwide", extra_rows=1, width=Wq).reshape(N, C, -1)
            nb = _examples_per_sub_block(K * Q * x.itemsize, N)
            n_parts = _num_parts(N, N * K * Q)
            cols_bufs = [_flat("conv.cols", i, nb * K * Q, dtype) for i in range(n_parts)]
            parts: dict = {}

            def block(i, lo, hi):
                dw_i = np.zeros((F, K), dtype) if need_w else None
                db_i = np.zeros(F, dtype) if need_b else None
                for s, e in _sub_blocks(lo, hi, nb):
                    if need_b:
                        db_i += gw[s:e].sum(axis=2).sum(axis=0)
                    if need_w:  # dW = sum_n dout[n] @ cols[n]^T
                        cols = _wide_im2col(xf[s:e], KH, KW, Wq, Q, _piece(cols_bufs[i], e - s, K, Q))
                        dw_i += np.matmul(gw[s:e], cols.transpose(0, 2, 1)).sum(axis=0)
                parts[i] = (dw_i, db_i)

            _blocks(block, N, N * K * Q)
            dw = sum(p[0] for p in parts.values()).reshape(w.shape) if need_w else None
            db = sum(p[1] for p in parts.values()) if need_b else None
        dx = None
        if need_x:
            w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C, F, KH, KW)
            dx = _Conv2dWide.conv(gf, w_flip, None, H, W, Wq)
        return dx, dw, db

    @staticmethod
    def backward(ctx, g, x, w, ph, pw):
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        OH, OW, Hp = H + 2 * ph - KH + 1, W + 2 * pw - KW + 1, H + 2 * ph
        Wq = max(W + pw, OW)
        Q, K = OH * Wq, C * KH * KW
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dtype = w.dtype
        w2 = w.reshape(F, K)
        xf = _padded(x, ph, pw, "conv.xwide", extra_rows=1, width=Wq).reshape(N, C, -1) if need_w else None
        dx = np.empty((N, C, H, W), dtype) if need_x else None
        nb = _examples_per_sub_block(K * Q * x.itemsize, N)
        n_parts = _num_parts(N, N * K * Q)
        cols_bufs = [_flat("conv.cols", i, nb * K * Q, dtype) for i in range(n_parts)]
        gw_bufs = [_flat("conv.gwide", i, nb * F * Q, dtype) for i in range(n_parts)]
        dxf_bufs = [_flat("conv.dxwide", i, nb * C * (Hp + 1) * Wq, dtype) for i in range(n_parts)] if need_x else None
        parts: dict = {}

        def block(i, lo, hi):
            dw = np.zeros((F, K), dtype) if need_w else None
            db = np.zeros(F, dtype) if need_b else None
            for s, e in _sub_blocks(lo, hi, nb):
                n = e - s
                gw = _piece(gw_bufs[i], n, F, Q)  # dout on the wide grid, junk columns zero
                gw4 = gw.reshape(n, F, OH, Wq)
                gw4[..., :OW] = g[s:e]
                gw4[..., OW:] = 0
                if need_b:
                    db += gw.sum(axis=2).sum(axis=0)
                cols = _piece(cols_bufs[i], n, K, Q)
                if need_w:  # dW = sum_n dout[n] @ cols[n]^T
                    _wide_im2col(xf[s:e], KH, KW, Wq, Q, cols)
                    dw += np.matmul(gw, cols.transpose(0, 2, 1)).sum(axis=0)
                if need_x:  # dcols[n] = W2^T @ dout[n] reuses cols: it is done with
                    np.matmul(w2.T, gw, out=cols)
                    dxf = _piece(dxf_bufs[i], n, C, (Hp + 1) * Wq)
                    dxf.fill(0)
                    _wide_col2im(cols, dxf, KH, KW, Wq, Q)
                    dx[s:e] = dxf.reshape(n, C, Hp + 1, Wq)[:, :, ph:ph + H, pw:pw + W]
            parts[i] = (dw, db)

        _blocks(block, N, N * K * Q)
        dw = sum(p[0] for p in parts.values()).reshape(w.shape) if need_w else None
        db = sum(p[1] for p in parts.values()) if need_b else None
        return dx, dw, db


def _wide_im2col(xf: np.ndarray, KH: int, KW: int, Wq: int, Q: int, out: np.ndarray) -> np.ndarray:
    """cols[n, (c, kh, kw), q] = xf[n, c, q + kh*Wq + kw]: xf (n, C, L) -> out (n, C*KH*KW, Q),
    one copy of a strided view whose innermost axis is contiguous."""
    n, C, _ = xf.shape
    s0, s1, s2 = xf.strides
    view = as_strided(xf, (n, C, KH, KW, Q), (s0, s1, Wq * s2, s2, s2), writeable=False)
    np.copyto(out.reshape(n, C, KH, KW, Q), view)
    return out


def _wide_col2im(dcols: np.ndarray, dxf: np.ndarray, KH: int, KW: int, Wq: int, Q: int) -> np.ndarray:
    """Adjoint of _wide_im2col: dxf[n, c, q + kh*Wq + kw] += dcols[n, (c, kh, kw), q]."""
    n, C, _ = dxf.shape
    d5 = dcols.reshape(n, C, KH, KW, Q)
    for kh in range(KH):
        for kw in range(KW):
            off = kh * Wq + kw
            dxf[:, :, off:off + Q] += d5[:, :, kh, kw]
    return dxf


class Conv2d(Function):
    """x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW).

    Stride-1 convolutions take the wide-row path (`_Conv2dWide`), others im2col
    (`_Conv2dCols`); both walk the examples in cache-sized sub-blocks, one block
    of examples per thread."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding):
        sh, sw, ph, pw = _check(x, w, b, stride, padding)
        dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
        x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
        bias = None if b is None else b.astype(dtype, copy=False)[:, None]
        ctx.save_for_backward(x, w)
        ctx.geom = (sh, sw, ph, pw)
        ctx.wide = sh == 1 and sw == 1
        if ctx.wide:
            return _Conv2dWide.forward(ctx, x, w, bias, ph, pw)
        return _Conv2dCols.forward(ctx, x, w, bias, sh, sw, ph, pw)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        sh, sw, ph, pw = ctx.geom
        g = g.astype(w.dtype, copy=False)
        F, C, KH, KW = w.shape
        # dx as a convolution copies F*KH*KW values per position where col2im adds
        # (reads and writes) C*KH*KW: it wins unless F >> C (the 3-channel first layer)
        if ctx.wide and ph <= KH - 1 and pw <= KW - 1 and F <= 2 * C:
            dx, dw, db = _Conv2dWide.backward_by_conv(ctx, g, x, w, ph, pw)
        elif ctx.wide:
            dx, dw, db = _Conv2dWide.backward(ctx, g, x, w, ph, pw)
        else:
            dx, dw, db = _Conv2dCols.backward(ctx, g, x, w, sh, sw, ph, pw)
        return dx, dw, db, None, None


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D convolution (cross-correlation) of x: (N, C, H, W) with weight: (F, C, KH, KW),
    plus bias: (F,). stride and padding are ints or (h, w) pairs (zero padding).
    Returns (N, F, OH, OW) with OH = (H + 2*pad_h - KH) // stride_h + 1."""
    return Conv2d.apply(x, weight, bias, stride, padding)


# -------------------------------------------------------------------- naive
def conv2d_naive(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """The lecture's convolution: loops over examples, filters and output pixels.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW) ndarray.
    """
    x, w = np.asarray(getattr(x, "data", x)), np.asarray(getattr(w, "data", w))
    b = None if b is None else np.asarray(getattr(b, "data", b))
    sh, sw, ph, pw = _check(x, w, b, stride, padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, sh, ph), conv_output_size(W, KW, sw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((N, F, OH, OW), np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = xp[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
                    out[n, f, i, j] = np.sum(window * w[f]) + (0 if b is None else b[f])
    return out


def conv2d_naive_backward(dout, x, w, stride=1, padding=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain-loop backward of `conv2d_naive`: each output pixel sends its gradient
    back to the window it saw (dx) and to the filter it used (dw).

    Returns (dx, dw, db)."""
    x, w, dout = (np.asarray(getattr(a, "data", a)) for a in (x, w, dout))
    sh, sw, ph, pw = _check(x, w, None, stride, padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    hs, ws = i * sh, j * sw
                    dxp[n, :, hs:hs + KH, ws:ws + KW] += w[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, hs:hs + KH, ws:ws + KW] * dout[n, f, i, j]
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, ph:ph + H, pw:pw + W], dw, db
