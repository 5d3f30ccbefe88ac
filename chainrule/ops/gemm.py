"""Products near BLAS peak on the CPU: OpenBLAS's small-matrix kernels.

OpenBLAS (0.3.x, the SkylakeX kernels NumPy's wheels use on AVX-512 machines)
runs a product with M*N*K <= 10^6 through small-matrix kernels that read the
operands where they lie, without packing them into panels first. For the
narrow products of small-channel convolutions that is much faster:
(16 x 144) @ (144 x 432) runs at 106 GFLOP/s on one thread here, the same
matrix with 1056 columns at 79, with 6336 columns at 75 (OpenBLAS 0.3.31,
AMD Zen 4). So `product` cuts such a product into even column chunks that
stay under the limit; a chunk under _MIN_CHUNK columns would lose more to the
extra calls than it gains (the 64-channel layers: whole products). The stride-1
convolutions of 16-64 channels on small maps use them without any columns: one
(F, C) @ (C, Q) product per kernel offset for the convolution and dx, one
(C, Q) @ (Q, F) for dW (`conv_wide`). The thresholds are this build's (OpenBLAS
0.3.31 on an AVX-512 CPU); with another BLAS they cost at most some extra calls.
"""
from __future__ import annotations

import numpy as np

__all__ = ["product", "is_small", "chunks"]

_SMALL_GEMM, _MIN_CHUNK = 1_000_000, 64


def is_small(m: int, n: int, k: int) -> bool:
    """Whether an (m, k) @ (k, n) product runs through the small-matrix kernels."""
    return m * n * k <= _SMALL_GEMM


def _columns_per_product(F: int, K: int) -> int:
    """Columns of an (F, K) @ (K, columns) product that the small-matrix kernels take (a multiple
    of 16), or 0 where so few would not pay for the extra calls."""
    chunk = _SMALL_GEMM // (F * K) // 16 * 16
    return chunk if chunk >= _MIN_CHUNK else 0


def chunks(F: int, K: int, P: int) -> bool:
    """Whether `product` cuts an (F, K) @ (K, P) product into column chunks."""
    most = _columns_per_product(F, K)
    return bool(most) and most < P


def product(w2: np.ndarray, cols: np.ndarray, out: np.ndarray, chunked: bool = True) -> np.ndarray:
    """out = w2 @ cols: (F, K) @ (..., K, P) -> (..., F, P), cut into column chunks for the
    small-matrix kernels where that pays (and `chunked`; the autotuner times both)."""
    P, most = cols.shape[-1], _columns_per_product(*w2.shape)
    if not chunked or not most or most >= P:
        return np.matmul(w2, cols, out=out)
    pieces = -(-P // most)
    chunk = -(-P // pieces // 16) * 16  # even pieces: 1056 columns as 3 x 352, not 432 + 432 + 192
    for c in range(0, P, chunk):
        np.matmul(w2, cols[..., c:c + chunk], out=out[..., c:c + chunk])
    return out
