"""What the lent GPU's CuPy does with the calls chainrule's backend relies on (prints one line each).

Run on the GPU machine before the tests, so a failing test can be read against CuPy's own behaviour:
    python3 benchmarks/cupy_probe.py
"""
from __future__ import annotations

import numpy as np


def probe(name, fn):
    try:
        print(f"{name}: {fn()!r}")
    except Exception as e:  # every outcome is information here
        print(f"{name}: raises {type(e).__name__}: {str(e)[:160]}")


def main() -> None:
    import cupy as cp
    import cupyx

    a = cp.arange(6, dtype=cp.float32).reshape(2, 3)
    probe("cupy version", lambda: cp.__version__)
    probe("device count", lambda: cp.cuda.runtime.getDeviceCount())
    probe("np.asarray(cupy)", lambda: np.asarray(a))
    probe("cupy + numpy array", lambda: a + np.ones(3, np.float32))
    probe("cupy[numpy int index]", lambda: a[np.array([1, 0])])
    probe("np.exp(cupy) type", lambda: type(np.exp(a)).__name__)
    probe("np.zeros_like(cupy) type", lambda: type(np.zeros_like(a)).__name__)
    probe("np.result_type(cupy, cupy)", lambda: np.result_type(a, a))
    probe("flags", lambda: (a.flags.owndata, a.flags.c_contiguous, hasattr(a.flags, "writeable")))
    probe("sum type", lambda: type(a.sum()).__name__)
    probe("cp.add.at", lambda: cp.add.at(cp.zeros(3), cp.array([0, 0]), 1.0))
    probe("cupyx.scatter_add", lambda: (lambda z: (cupyx.scatter_add(z, cp.array([0, 0]), 1.0), z)[1])(cp.zeros(3)))
    probe("as_strided", lambda: cp.lib.stride_tricks.as_strided(a, (2, 2), (12, 4)).tolist())
    probe("ufunc where=", lambda: cp.add(a, 1, where=a > 2))
    probe("maximum.reduce", lambda: cp.maximum.reduce(a, axis=0))
    probe("argmax keepdims", lambda: a.argmax(axis=1, keepdims=True).shape)
    probe("pad", lambda: cp.pad(a, ((0, 0), (1, 1))).shape)
    probe("matmul out=", lambda: cp.matmul(a, a.T, out=cp.empty((2, 2), cp.float32)).shape)
    probe("ElementwiseKernel", lambda: cp.ElementwiseKernel("T x", "T y", "y = x * 2", "twice")(a).tolist())
    probe("cudnn", lambda: __import__("cupy.cuda.cudnn"))
    probe("TF32 env", lambda: __import__("os").environ.get("CUPY_TF32"))


if __name__ == "__main__":
    main()
