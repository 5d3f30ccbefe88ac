"""The NCCL path of chainrule.distributed on one GPU (a 1-rank NCCL communicator), issue 24.

    python benchmarks/gpu_distributed.py            # on a CUDA machine with CuPy (NCCL included)
    mpiexec -n 1 python benchmarks/gpu_distributed.py   # the same through MPI's bootstrap

With one rank the public collectives return at once (nothing to exchange), so this calls the
NCCL wrappers (chainrule.distributed.nccl) on the group's communicator directly: all_reduce
(sum, max, min, avg), broadcast and all_gather of CuPy arrays of several dtypes, a DDP bucket
reduce through them, and the all_reduce time of 1 KB to 256 MB. Prints one line per check and
a JSON line; exits non-zero when a check fails.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import cupy as cp

    import chainrule.distributed as dist
    from chainrule.distributed import group as pg
    from chainrule.distributed import nccl

    dist.init_process_group("nccl")
    comm = pg.group().nccl
    failures, res = [], {"device": cp.cuda.runtime.getDeviceProperties(0)["name"].decode(), "checks": {}}

    def check(name: str, ok: bool) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name}", flush=True)
        res["checks"][name] = bool(ok)
        if not ok:
            failures.append(name)

    for dtype in ("float32", "float64", "int64", "float16"):
        a = cp.arange(10, dtype=dtype)
        for op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX, dist.ReduceOp.MIN):
            b = a.copy()
            nccl.all_reduce(comm, b, op)
            cp.cuda.get_current_stream().synchronize()
            check(f"all_reduce {op.name} {dtype}", bool((b == a).all()))
        b = a.copy()
        nccl.broadcast(comm, b, 0)
        check(f"broadcast {dtype}", bool((b == a).all()))
        g = nccl.all_gather(comm, a, 1)
        check(f"all_gather {dtype}", g.shape == (1, 10) and bool((g[0] == a).all()))
    x = cp.asarray(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    dist.all_reduce(x, dist.ReduceOp.AVG)  # world of one: unchanged
    check("public all_reduce (1 rank) leaves the array", bool(cp.isfinite(x).all()))
    times = []
    size = 1024
    while size <= 256 * 2 ** 20:
        a = cp.ones(size // 4, dtype=cp.float32)
        nccl.all_reduce(comm, a, dist.ReduceOp.SUM)
        cp.cuda.get_current_stream().synchronize()
        t0 = time.perf_counter()
        for _ in range(20):
            nccl.all_reduce(comm, a, dist.ReduceOp.SUM)
        cp.cuda.get_current_stream().synchronize()
        times.append({"bytes": size, "seconds": (time.perf_counter() - t0) / 20})
        size *= 4
    res["allreduce_1rank"] = times
    for t in times:
        print(f"nccl all_reduce 1 rank {t['bytes']:>11,} B {t['seconds'] * 1e6:9.1f} us")
    dist.destroy_process_group()
    res["failures"] = failures
    print(json.dumps(res))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
