"""Batch norm's passes as compiled loops (Numba; see `jit`), for `norm.BatchNorm`.

The same four passes as norm.py's NumPy reference, each one read of the data:

- `batch_stats`: per channel mean and biased variance. Each (n, c) row of L values
  is summed, then its squares are summed about the row's own mean (the row sits in
  L1, so that second look is free and the variance has no E[x^2] - mean^2
  cancellation); rows are merged with Chan's parallel update, in float64.
- `affine`: out = src * scale + shift per channel (forward's y, eval backward's dx).
- `backward_sums`: sum(dy) and sum(dy * (x - mean)) per channel, in float64.
- `affine2`: out = a * dy + b * x + c per channel (training backward's dx).

x3, g3, out: (N, C, L), C-contiguous; per-channel vectors are (C,). Each runs over
`parallel.blocks` of examples, one per thread, and the blocks' partial sums are
merged in block order, so results do not depend on which thread finished first.
"""
from __future__ import annotations

import numpy as np

from . import parallel
from .jit import REDUCTION, kernel


@kernel(REDUCTION)
def _stats_kernel(x3, lo, hi, mean_out, m2_out):
    """mean_out[c], m2_out[c]: mean and sum of squared deviations of x3[lo:hi, c, :]."""
    L = x3.shape[2]
    for c in range(x3.shape[1]):
        count, mean, m2 = 0.0, 0.0, 0.0  # float64 accumulators, also for float32 data
        for n in range(lo, hi):
            row = x3[n, c]
            s = np.float64(0.0)
            for i in range(L):
                s += row[i]
            row_mean = s / L
            q = np.float64(0.0)
            for i in range(L):
                d = row[i] - row_mean
                q += d * d
            total = count + L  # Chan et al.: merge (count, mean, m2) with the row's (L, row_mean, q)
            delta = row_mean - mean
            mean += delta * L / total
            m2 += q + delta * delta * count * L / total
            count = total
        mean_out[c] = mean
        m2_out[c] = m2


@kernel()
def _affine_kernel(src, lo, hi, scale, shift, out):
    """out[n, c, :] = src[n, c, :] * scale[c] + shift[c] for n in lo:hi; src, out: (N, C, L)."""
    L = src.shape[2]
    for n in range(lo, hi):
        for c in range(src.shape[1]):
            a, b = scale[c], shift[c]
            s, o = src[n, c], out[n, c]
            for i in range(L):
                o[i] = s[i] * a + b


@kernel(REDUCTION)
def _backward_sums_kernel(g3, x3, lo, hi, mean, s_dy, s_dyxc):
    """s_dy[c], s_dyxc[c]: sums of g and g * (x - mean[c]) over x3[lo:hi, c, :]; g3, x3: (N, C, L)."""
    L = x3.shape[2]
    for c in range(x3.shape[1]):
        m = mean[c]
        t1, t2 = np.float64(0.0), np.float64(0.0)
        for n in range(lo, hi):
            g, x = g3[n, c], x3[n, c]
            for i in range(L):
                t1 += g[i]
                t2 += g[i] * (x[i] - m)
        s_dy[c] = t1
        s_dyxc[c] = t2


@kernel()
def _affine2_kernel(g3, x3, lo, hi, a, b, c0, out):
    """out[n, c, :] = a[c] * g3[n, c, :] + b[c] * x3[n, c, :] + c0[c] for n in lo:hi."""
    L = x3.shape[2]
    for n in range(lo, hi):
        for c in range(x3.shape[1]):
            ac, bc, cc = a[c], b[c], c0[c]
            g, x, o = g3[n, c], x3[n, c], out[n, c]
            for i in range(L):
                o[i] = ac * g[i] + bc * x[i] + cc


def batch_stats(x3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance (float64 (C,)) of x3: (N, C, L), in one read."""
    N, C, L = x3.shape
    parts: dict = {}

    def block(i, lo, hi):
        mean, m2 = np.empty(C), np.empty(C)
        _stats_kernel(x3, lo, hi, mean, m2)
        parts[i] = ((hi - lo) * L, mean, m2)

    parallel.blocks(block, N, x3.size)
    count, mean, m2 = 0, np.zeros(C), np.zeros(C)
    for i in sorted(parts):  # Chan's merge again, block by block
        n_b, mean_b, m2_b = parts[i]
        total = count + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta * delta * (count * n_b / total)
        count = total
    return mean, m2 / count


def affine(src: np.ndarray, out: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> None:
    """out = src * scale + shift per channel; src, out: (N, C, L); scale, shift: (C,) of src's dtype."""
    parallel.blocks(lambda i, lo, hi: _affine_kernel(src, lo, hi, scale, shift, out), src.shape[0], src.size)


def backward_sums(g3: np.ndarray, x3: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum(dy), sum(dy * (x - mean))) per channel, float64 (C,); g3, x3: (N, C, L), mean: float64 (C,)."""
    C = x3.shape[1]

    def block(i, lo, hi):
        s_dy, s_dyxc = np.empty(C), np.empty(C)
        _backward_sums_kernel(g3, x3, lo, hi, mean, s_dy, s_dyxc)
        return s_dy, s_dyxc

    return parallel.block_sums(block, x3.shape[0], x3.size)


def affine2(g3: np.ndarray, x3: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray,
            c: np.ndarray) -> None:
    """out = a * g3 + b * x3 + c per channel; (N, C, L) arrays, (C,) vectors of their dtype."""
    parallel.blocks(lambda i, lo, hi: _affine2_kernel(g3, x3, lo, hi, a, b, c, out), x3.shape[0], x3.size)
