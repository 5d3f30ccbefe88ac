"""Stride-1 convolution on "wide rows": im2col and col2im become contiguous copies.

Lay each padded channel out flat with a row pitch Wq: xf[n, c, r*Wq + pw + j] =
x[n, c, r - ph, j], zero elsewhere (Hp rows plus `extra_rows` zero rows, one
unless the kernel is wider than the pitch, so the reads below stay inside the
buffer). For stride 1 the window offset (kh, kw) of output pixel
(oh, ow) reads

    xpad[n, c, oh + kh, ow + kw] = xf[n, c, q + kh*Wq + kw],   q = oh*Wq + ow.

A read past a row's end lands in the next row's left padding, so the right
padding can share it: Wq = max(W + pw, OW) suffices (not W + 2*pw). Compute the
output on a grid of Q = OH*Wq positions per example, Wq - OW of each row being
junk that is dropped at the end: then row (c, kh, kw) of the columns is ONE
contiguous slice xf[n, c, kh*Wq + kw : kh*Wq + kw + Q]

    cols[(c, kh, kw), n, q] = xf[n, c, q + kh*Wq + kw]        (C*KH*KW, n*Q)
    out_wide[:, n, :] = W2 @ cols                              (F, n*Q)

and col2im is KH*KW adds of (n, C, Q) blocks at flat offsets kh*Wq + kw,
instead of KH*KW*C*OH short rows of OW values. Backward feeds dout on the same
wide grid with ZERO junk columns, so they add nothing to dW or dx. The price
is Wq/OW times the GEMM columns (3% for 32x32, 6% for 16x16 with padding 1).

The n examples of a sub-block sit side by side in the columns, so each
product is ONE GEMM with n*Q columns: with 16-64 channels and small images a
single example's GEMM, e.g. (64 x 576) @ (576 x 72), is too small to run near
BLAS peak. Forward keeps one GEMM per example from Q = 512 columns on (32x32
images), where the side-by-side layout's transposing copies cost more than
the bigger GEMM gains.
dW^T = cols @ dout^T takes dout side by side too, (F, n*Q), a copy 1/KH/KW
the size of the columns.

Without columns ("by taps"). Row (c, kh, kw) of the columns is xf[n, c] shifted
by kh*Wq + kw, so the (C, Q) block of kernel offset (kh, kw) is a strided VIEW
of xf: the convolution is a sum of KH*KW products w[:, :, kh, kw] @ view, and
dW[:, :, kh, kw]^T = view @ dout^T. Where those products are small (16-64
channels on 32x32-8x8 maps) OpenBLAS runs them unpacked (`gemm`) faster than
one big GEMM on copied columns: dW by taps from 16 channels, the convolution
(forward, and dx) from 32.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import autotune, conv_jit, gemm, parallel
from .conv_im2col import add_weight_grad
from .geometry import ConvGeometry

__all__ = ["row_pitch", "wide_im2col", "wide_col2im", "conv", "forward", "backward",
           "can_backward_by_conv"]


def row_pitch(g: ConvGeometry) -> int:
    """Wq: the right padding shares the next row's left padding."""
    return max(g.W + g.pw, g.OW)


def wide_im2col(xf: np.ndarray, KH: int, KW: int, Wq: int, Q: int, out: np.ndarray,
                side_by_side: bool = True) -> np.ndarray:
    """cols[(c, kh, kw), n, q] = xf[n, c, q + kh*Wq + kw]: xf (n, C, L) -> out (C*KH*KW, n*Q),
    one copy of a strided view whose innermost axis is contiguous. With
    side_by_side=False, one matrix per example instead: out (n, C*KH*KW, Q)."""
    n, C, _ = xf.shape
    s0, s1, s2 = xf.strides
    view = as_strided(xf, (n, C, KH, KW, Q), (s0, s1, Wq * s2, s2, s2), writeable=False)
    if side_by_side:
        np.copyto(out.reshape(C, KH, KW, n, Q).transpose(3, 0, 1, 2, 4), view)
    else:
        np.copyto(out.reshape(n, C, KH, KW, Q), view)
    return out


def wide_col2im(dcols: np.ndarray, dxf: np.ndarray, KH: int, KW: int, Wq: int, Q: int) -> np.ndarray:
    """Adjoint of wide_im2col: dxf[n, c, q + kh*Wq + kw] += dcols[(c, kh, kw), n, q];
    dcols: (C*KH*KW, n*Q), dxf: (n, C, L)."""
    n, C, _ = dxf.shape
    d5 = dcols.reshape(C, KH, KW, n, Q).transpose(3, 0, 1, 2, 4)
    for kh in range(KH):
        for kw in range(KW):
            off = kh * Wq + kw
            dxf[:, :, off:off + Q] += d5[:, :, kh, kw]
    return dxf


def _dout_side_by_side(dout: np.ndarray, Wq: int, out: np.ndarray) -> np.ndarray:
    """dout (n, F, OH, OW) on the wide grid in the layout of the columns: out (F, n*Q),
    junk columns zero (so that they add nothing to dW or dx)."""
    n, F, OH, OW = dout.shape
    o = out.reshape(F, n, OH, Wq)
    np.copyto(o[..., :OW], dout.transpose(1, 0, 2, 3))
    o[..., OW:] = 0
    return out


def _extra_rows(KW: int, Wq: int) -> int:
    """Zero rows below a flat padded map so that every window read stays inside it: the last
    read ends KW - 1 values past Hp*Wq (one row, unless the kernel is wider than the pitch)."""
    return max(1, -(-(KW - 1) // Wq))


def _flat_input(g: ConvGeometry, x: np.ndarray, Wq: int) -> np.ndarray:
    """x padded and laid out flat with row pitch Wq: (N, C, (Hp + extra_rows)*Wq), a scratch array."""
    return parallel.padded(x, g.ph, g.pw, "conv.xwide", extra_rows=_extra_rows(g.KW, Wq),
                           width=Wq).reshape(g.N, g.C, -1)


_WIDE_GEMM = 512  # columns from which one example's GEMM runs as fast as a sub-block's (measured)


def _store(out: np.ndarray, valid: np.ndarray, bias: np.ndarray | None) -> None:
    """out = valid (+ bias per channel): the copy that drops the junk columns. out, valid:
    (n, F, OH, OW); bias: (F, 1) or None."""
    if bias is None:
        np.copyto(out, valid)
    else:
        np.add(valid, bias[:, :, None], out=out)


def _by_taps(C: int, F: int, Q: int) -> bool:
    """Whether `conv` sums one product per kernel offset instead of making columns: where
    each (F, C) @ (C, Q) product is small enough for the small-matrix kernels and C is at
    least 32 (32 and 64 channels on 16x16 and 8x8 maps: 15-17% faster; 16 channels: slower,
    the K = C products are too shallow)."""
    return C >= 32 and gemm.is_small(F, Q, C)


def _conv_by_taps(xf: np.ndarray, w: np.ndarray, bias: np.ndarray | None, OH: int, OW: int,
                  Wq: int) -> np.ndarray:
    """`conv` without columns: the column rows of kernel offset (kh, kw) are the flat input
    shifted by kh*Wq + kw, a strided view, so

        out_wide[n] = sum over (kh, kw) of w[:, :, kh, kw] @ xf[n, :, off:off + Q]

    one batched product per offset (NumPy loops over the examples in C), summed in place."""
    N, C = xf.shape[:2]
    F, _, KH, KW = w.shape
    Q = OH * Wq
    w_off = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (KH, KW, F, C)
    out = np.empty((N, F, OH, OW), xf.dtype)
    work = N * C * KH * KW * Q
    nb = parallel.examples_per_sub_block(2 * F * Q * xf.itemsize, N)  # the sum and one product
    parts = parallel.num_parts(N, work)
    sum_bufs = parallel.scratch("conv.prod", parts, nb * F * Q, xf.dtype)
    term_bufs = parallel.scratch("conv.term", parts, nb * F * Q, xf.dtype)

    def block(i, lo, hi):
        for s, e in parallel.sub_blocks(lo, hi, nb):
            n = e - s
            total, term = parallel.piece(sum_bufs[i], n, F, Q), parallel.piece(term_bufs[i], n, F, Q)
            np.matmul(w_off[0, 0], xf[s:e, :, :Q], out=total)
            for kh in range(KH):
                for kw in range(KW):
                    if kh or kw:
                        off = kh * Wq + kw
                        total += np.matmul(w_off[kh, kw], xf[s:e, :, off:off + Q], out=term)
            _store(out[s:e], total.reshape(n, F, OH, Wq)[..., :OW], bias)  # drop the junk columns

    parallel.blocks(block, N, work)
    return out


def _conv_by_columns(xf: np.ndarray, w: np.ndarray, bias: np.ndarray | None, OH: int, OW: int, Wq: int,
                     chunked: bool = True) -> np.ndarray:
    """`conv` by wide im2col columns and GEMMs; `chunked`: products cut into column chunks for
    OpenBLAS's small-matrix kernels (`gemm.product`), else whole."""
    N, C = xf.shape[:2]
    F, _, KH, KW = w.shape
    Q, K = OH * Wq, C * KH * KW
    w2 = w.reshape(F, K)
    out = np.empty((N, F, OH, OW), xf.dtype)
    work = N * K * Q
    nb = parallel.examples_per_sub_block((K + F) * Q * xf.itemsize, N)  # columns and product in cache
    parts = parallel.num_parts(N, work)
    cols_bufs = parallel.scratch("conv.cols", parts, nb * K * Q, xf.dtype)
    prod_bufs = parallel.scratch("conv.prod", parts, nb * F * Q, xf.dtype)

    one_gemm = Q < _WIDE_GEMM  # else one GEMM per example, and no transposing copies

    def block(i, lo, hi):
        for s, e in parallel.sub_blocks(lo, hi, nb):
            n = e - s
            if one_gemm:
                cols = wide_im2col(xf[s:e], KH, KW, Wq, Q, parallel.piece(cols_bufs[i], K, n * Q))
                prod = gemm.product(w2, cols, parallel.piece(prod_bufs[i], F, n * Q), chunked)
                valid = prod.reshape(F, n, OH, Wq)[..., :OW].transpose(1, 0, 2, 3)  # drop the junk columns
            else:
                cols = wide_im2col(xf[s:e], KH, KW, Wq, Q, parallel.piece(cols_bufs[i], n, K, Q), False)
                prod = gemm.product(w2, cols, parallel.piece(prod_bufs[i], n, F, Q), chunked)
                valid = prod.reshape(n, F, OH, Wq)[..., :OW]
            _store(out[s:e], valid, bias)

    parallel.blocks(block, N, work)
    return out


def conv(xf: np.ndarray, w: np.ndarray, bias: np.ndarray | None, OH: int, OW: int, Wq: int) -> np.ndarray:
    """The convolution of the flat padded input xf: (N, C, L) with row pitch Wq
    -> (N, F, OH, OW); bias: (F, 1) or None, added in the copy that drops the junk.

    The algorithm is timed per geometry on this machine (`autotune`): "columns" (wide
    im2col, products chunked for the small-matrix kernels), "columns-whole" (the same,
    unchunked), "taps" (one product per kernel offset, no columns), "taps-blas" (the same as one
    compiled loop with BLAS adding each product in place, `conv_jit`). Frozen: `_by_taps`'s rule."""
    N, C = xf.shape[:2]
    F, _, KH, KW = w.shape
    Q = OH * Wq
    candidates = {
        "columns": lambda: _conv_by_columns(xf, w, bias, OH, OW, Wq),
        "taps": lambda: _conv_by_taps(xf, w, bias, OH, OW, Wq),
    }
    if gemm.chunks(F, C * KH * KW, N * Q):  # the chunked products differ from whole ones here
        candidates["columns-whole"] = lambda: _conv_by_columns(xf, w, bias, OH, OW, Wq, chunked=False)
    if conv_jit.available(xf.dtype) and xf.flags.c_contiguous:
        candidates["taps-blas"] = lambda: conv_jit.conv_taps(xf, w, bias, OH, OW, Wq, _store)
    default = "taps" if _by_taps(C, F, Q) else "columns"
    key = (N, C, F, KH, KW, OH, OW, Wq, xf.dtype.str)
    return autotune.run("conv2d.wide", key, candidates, default, N * F * C * KH * KW * OH * OW)


def forward(g: ConvGeometry, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """x: (N, C, H, W), w: (F, C, KH, KW), bias: (F, 1) or None -> (N, F, OH, OW); stride 1."""
    Wq = row_pitch(g)
    return conv(_flat_input(g, x, Wq), w, bias, g.OH, g.OW, Wq)


def can_backward_by_conv(g: ConvGeometry) -> bool:
    """dx as a convolution copies F*KH*KW values per position where col2im adds (reads
    and writes) C*KH*KW: it wins unless F >> C (the 3-channel first layer). It needs
    ph <= KH - 1 and pw <= KW - 1 (all "same" and "valid" convolutions)."""
    return g.ph <= g.KH - 1 and g.pw <= g.KW - 1 and g.F <= 2 * g.C


def _weight_and_bias_grads(g: ConvGeometry, xf, dout, Wq: int, need_w: bool, need_b: bool, dtype) -> tuple:
    """(dw, db) from the flat input xf: (N, C, L) and dout: (N, F, OH, OW); each thread
    sums its examples, then the threads' sums are added."""
    Q, K = g.OH * Wq, g.C * g.KH * g.KW
    work = g.N * K * Q
    nb = parallel.examples_per_sub_block((K + g.F) * Q * dtype.itemsize, g.N) if need_w else g.N
    parts = parallel.num_parts(g.N, work)
    cols_bufs = parallel.scratch("conv.cols", parts, nb * K * Q, dtype) if need_w else None
    gb_bufs = parallel.scratch("conv.gb", parts, nb * g.F * Q, dtype) if need_w else None

    def block(i, lo, hi):
        dw_t = np.zeros((K, g.F), dtype) if need_w else None
        db = np.zeros(g.F, dtype) if need_b else None
        for s, e in parallel.sub_blocks(lo, hi, nb):
            n = e - s
            if need_b:
                db += dout[s:e].sum(axis=(2, 3)).sum(axis=0)
            if need_w:  # dW^T += cols @ dout^T
                cols = wide_im2col(xf[s:e], g.KH, g.KW, Wq, Q, parallel.piece(cols_bufs[i], K, n * Q))
                gb = _dout_side_by_side(dout[s:e], Wq, parallel.piece(gb_bufs[i], g.F, n * Q))
                if K >= 32:  # one GEMM over the sub-block's n*Q columns
                    dw_t += np.matmul(cols, gb.T)
                else:  # first layers: n products with Q-long sums beat one (K x nQ) @ (nQ x F)
                    add_weight_grad(dw_t, cols.reshape(K, n, Q).transpose(1, 0, 2), gb.reshape(g.F, n, Q).transpose(1, 0, 2))
        return dw_t, db

    dw_t, db = parallel.block_sums(block, g.N, work)
    dw = None if dw_t is None else np.ascontiguousarray(dw_t.T).reshape(g.F, g.C, g.KH, g.KW)
    return dw, db


def _weight_grad_by_taps(g: ConvGeometry) -> bool:
    """dW by kernel offsets (`_weight_and_bias_grads_by_taps`) pays where each offset's
    (C, Q) @ (Q, F) product is small enough for the small-matrix kernels and C is not tiny
    (16-64 channels on 32x32-8x8 maps: 20-30% faster than columns; 3 channels: 2x slower)."""
    return g.C >= 16 and gemm.is_small(g.C, g.F, g.OH * row_pitch(g))


def _weight_and_bias_grads_by_taps(g: ConvGeometry, xf, dout, Wq: int, need_b: bool, dtype,
                                   blas_loop: bool = False) -> tuple:
    """(dw, db) without im2col: for each kernel offset (kh, kw) the columns' rows are the flat
    input shifted by kh*Wq + kw, a strided view, so

        dW[:, :, kh, kw]^T = sum_n xf[n, :, off:off + Q] @ doutT[n],   off = kh*Wq + kw

    with doutT[n]: (Q, F), dout on the wide grid (junk rows zero), laid out transposed once
    per sub-block. One batched product per offset (NumPy loops over the examples in C), or with
    `blas_loop` one compiled loop in which BLAS adds every product into dW in place (`conv_jit`)."""
    Q = g.OH * Wq
    work = g.N * g.C * g.KH * g.KW * Q
    nb = parallel.examples_per_sub_block(g.F * Q * dtype.itemsize, g.N)
    parts = parallel.num_parts(g.N, work)
    gt_bufs = parallel.scratch("conv.gbt", parts, nb * Q * g.F, dtype)
    compiled = conv_jit.weight_taps(dtype) if blas_loop else None

    def block(i, lo, hi):
        acc = np.zeros((g.KH * g.KW, g.C, g.F), dtype)
        db = np.zeros(g.F, dtype) if need_b else None
        for s, e in parallel.sub_blocks(lo, hi, nb):
            n = e - s
            if need_b:
                db += dout[s:e].sum(axis=(2, 3)).sum(axis=0)
            gt = parallel.piece(gt_bufs[i], n, Q, g.F)
            grid = gt.reshape(n, g.OH, Wq, g.F)
            np.copyto(grid[:, :, :g.OW], dout[s:e].transpose(0, 2, 3, 1))
            grid[:, :, g.OW:] = 0
            if compiled is not None:
                compiled(xf, gt, acc, s, e, Q, Wq, g.KW)
                continue
            for kh in range(g.KH):
                for kw in range(g.KW):
                    off = kh * Wq + kw
                    acc[kh * g.KW + kw] += np.matmul(xf[s:e, :, off:off + Q], gt).sum(axis=0)
        return acc, db

    acc, db = parallel.block_sums(block, g.N, work)
    dw = np.ascontiguousarray(acc.reshape(g.KH, g.KW, g.C, g.F).transpose(3, 2, 0, 1))
    return dw, db


def _weight_and_bias(g: ConvGeometry, x, dout, Wq: int, need_w: bool, need_b: bool, dtype) -> tuple:
    """(dw, db), None where not needed. dW by kernel offsets ("taps") or by columns, timed per
    geometry (`autotune`); frozen: `_weight_grad_by_taps`'s rule."""
    if not need_w:
        return _weight_and_bias_grads(g, None, dout, Wq, False, need_b, dtype) if need_b else (None, None)
    candidates = {
        "taps": lambda: _weight_and_bias_grads_by_taps(g, _flat_input(g, x, Wq), dout, Wq, need_b, dtype),
        "columns": lambda: _weight_and_bias_grads(g, _flat_input(g, x, Wq), dout, Wq, True, need_b, dtype),
    }
    if conv_jit.available(dtype):
        candidates["taps-blas"] = lambda: _weight_and_bias_grads_by_taps(g, _flat_input(g, x, Wq), dout, Wq,
                                                                         need_b, dtype, blas_loop=True)
    default = "taps" if _weight_grad_by_taps(g) else "columns"
    key = g[:7] + (g.ph, g.pw, np.dtype(dtype).str, need_b)
    return autotune.run("conv2d.dw", key, candidates, default, g.N * g.F * g.C * g.KH * g.KW * g.OH * g.OW)


def _dx_by_conv(g: ConvGeometry, dout: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dx as a stride-1 convolution (needs ph <= KH - 1, pw <= KW - 1): of dout, zero-padded by
    (KH-1-ph, KW-1-pw), with the kernel flipped in space and transposed to (C, F, KH, KW); its
    padded dout has the same row pitch Wq as x's. No col2im at all."""
    Wq = g.W + g.pw  # = row_pitch(g) here, and = OW + (KW-1-pw)
    qh, qw = g.KH - 1 - g.ph, g.KW - 1 - g.pw  # dout's padding for the dx convolution
    gf = parallel.padded(dout, qh, qw, "conv.gwide", extra_rows=_extra_rows(g.KW, Wq), width=Wq)
    gf = gf.reshape(g.N, g.F, -1)
    w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C, F, KH, KW)
    return conv(gf, w_flip, None, g.H, g.W, Wq)


def _dx_by_col2im(g: ConvGeometry, dout: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dx by dcols = W2^T @ dout on the wide grid and wide col2im (any padding)."""
    Wq, Hp = row_pitch(g), g.H + 2 * g.ph
    Q, K = g.OH * Wq, g.C * g.KH * g.KW
    dtype = w.dtype
    dx = np.empty((g.N, g.C, g.H, g.W), dtype)
    w2 = w.reshape(g.F, K)
    work = g.N * K * Q
    nb = parallel.examples_per_sub_block((K + g.F) * Q * dtype.itemsize, g.N)
    parts = parallel.num_parts(g.N, work)
    cols_bufs = parallel.scratch("conv.cols", parts, nb * K * Q, dtype)
    rows = Hp + _extra_rows(g.KW, Wq)  # col2im adds up to KW - 1 values past Hp*Wq
    dxf_bufs = parallel.scratch("conv.dxwide", parts, nb * g.C * rows * Wq, dtype)
    gb_bufs = parallel.scratch("conv.gb", parts, nb * g.F * Q, dtype)

    def block(i, lo, hi):
        for s, e in parallel.sub_blocks(lo, hi, nb):
            n = e - s
            gb = _dout_side_by_side(dout[s:e], Wq, parallel.piece(gb_bufs[i], g.F, n * Q))
            cols = gemm.product(w2.T, gb, parallel.piece(cols_bufs[i], K, n * Q))  # dcols
            dxf = parallel.piece(dxf_bufs[i], n, g.C, rows * Wq)
            dxf.fill(0)
            wide_col2im(cols, dxf, g.KH, g.KW, Wq, Q)
            dx[s:e] = dxf.reshape(n, g.C, rows, Wq)[:, :, g.ph:g.ph + g.H, g.pw:g.pw + g.W]

    parallel.blocks(block, g.N, work)
    return dx


def backward(g: ConvGeometry, dout: np.ndarray, x: np.ndarray, w: np.ndarray,
             need_x: bool, need_w: bool, need_b: bool) -> tuple:
    """(dx, dw, db), None where not needed. dx by convolution (no col2im) or by col2im, timed
    per geometry (`autotune`); frozen: `can_backward_by_conv`'s rule."""
    dw, db = _weight_and_bias(g, x, dout, row_pitch(g), need_w, need_b, w.dtype)
    dx = None
    if need_x:
        candidates = {"col2im": lambda: _dx_by_col2im(g, dout, w)}
        if g.ph <= g.KH - 1 and g.pw <= g.KW - 1:
            candidates["conv"] = lambda: _dx_by_conv(g, dout, w)
        default = "conv" if can_backward_by_conv(g) else "col2im"
        key = g[:7] + (g.ph, g.pw, w.dtype.str)
        dx = autotune.run("conv2d.dx", key, candidates, default, g.N * g.F * g.C * g.KH * g.KW * g.OH * g.OW)
    return dx, dw, db
