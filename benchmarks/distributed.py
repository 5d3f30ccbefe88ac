"""Data-parallel measurements for docs/distributed.md (issue 24).

    python benchmarks/distributed.py allreduce            # all_reduce time and bandwidth vs message size, 2 ranks
    python benchmarks/distributed.py resnet20             # ResNet-20 training: 1 process x 1 thread,
                                                          # 1 process x 2 threads, 2 processes x 1 thread
    python benchmarks/distributed.py model [--step-s ...] # the ring all-reduce cost model on paper

The first two start `mpiexec -n 2` themselves (chainrule.distributed.launch) and print a table
and one JSON line. On a shared machine the figures move with its load: give `uptime` with them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARAMS = {"ResNet-20": 0.27e6, "ResNet-50": 25.6e6}  # float32 gradients: 4 bytes each


def _mpiexec(n: int, args: list[str], threads: int = 1) -> str:
    from chainrule.distributed.launch import find_mpiexec, mpiexec_command

    cmd = mpiexec_command(n, [], find_mpiexec())[:-3] + [sys.executable, __file__, *args]
    if "--oversubscribe" not in cmd:
        cmd.insert(3, "--oversubscribe")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode:
        raise SystemExit(f"mpiexec failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout


# ------------------------------------------------------------------ all_reduce
def allreduce_worker(max_mb: float) -> None:
    import chainrule.distributed as dist

    dist.init_process_group("mpi")
    n = dist.get_world_size()
    rows = []
    size = 1024
    while size <= max_mb * 2 ** 20:
        a = np.ones(size // 4, dtype=np.float32)
        reps = max(3, min(200, int(2e8 / size)))
        dist.all_reduce(a)  # warm-up
        dist.barrier()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            dist.all_reduce(a)
            times.append(time.perf_counter() - t0)
        t = float(np.median(times))
        rows.append({"bytes": size, "seconds": t, "algbw_GBps": size / t / 1e9,
                     "busbw_GBps": size / t / 1e9 * 2 * (n - 1) / n})
        size *= 4
    if dist.get_rank() == 0:
        print(json.dumps({"allreduce": rows, "ranks": n}))


def allreduce(args: argparse.Namespace) -> dict:
    out = _mpiexec(args.nproc, ["_allreduce", "--max-mb", str(args.max_mb)])
    res = json.loads(out.strip().splitlines()[-1])
    print(f"all_reduce of float32 arrays over {res['ranks']} ranks (median; busbw = algbw x 2(N-1)/N)")
    print(f"{'bytes':>12} {'time':>12} {'algbw GB/s':>11} {'busbw GB/s':>11}")
    for r in res["allreduce"]:
        print(f"{r['bytes']:>12,} {r['seconds'] * 1e6:>10.1f}us {r['algbw_GBps']:>11.3f} {r['busbw_GBps']:>11.3f}")
    return res


# ------------------------------------------------------------------ ResNet-20
def resnet_worker(images: int, batch: int, steps_warmup: int, threads: int) -> None:
    """Train ResNet-20 on `images` CIFAR-shaped images (global batch `batch`, split over the ranks)."""
    from threadpoolctl import threadpool_limits

    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule.ops import parallel

    dist.join_if_launched()
    rank, n = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(0)
    model = cr.models.get("resnet20")
    ddp = cr.nn.parallel.DistributedDataParallel(model) if n > 1 else model
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((images, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, images)
    share = batch // n
    comm = 0.0

    def step(lo: int) -> None:
        xb = X[lo + rank * share: lo + (rank + 1) * share]
        yb = y[lo + rank * share: lo + (rank + 1) * share]
        opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(ddp(cr.tensor(xb)), yb)
        loss.backward()  # (with 2 ranks: the gradients are averaged at its end)
        opt.step()

    with parallel.threads(threads), threadpool_limits(limits=threads, user_api="blas"):
        for i in range(steps_warmup):
            step(0)
        dist.barrier()
        t0 = time.perf_counter()
        steps = images // batch
        for i in range(steps):
            step(i * batch)
        dist.barrier()
        secs = time.perf_counter() - t0
        if n > 1:  # the averaging alone: one bucketed all_reduce of every gradient
            tc = time.perf_counter()
            for _ in range(3):
                ddp.reduce_gradients()
            comm = (time.perf_counter() - tc) / 3
    if rank == 0:
        print(json.dumps({"ranks": n, "threads": threads, "images": steps * batch, "seconds": secs,
                          "img_per_s": steps * batch / secs, "allreduce_s_per_step": comm,
                          "epoch_50k_s": 50000 / (steps * batch / secs)}))


def resnet20(args: argparse.Namespace) -> dict:
    common = ["--images", str(args.images), "--batch", str(args.batch), "--warmup", str(args.warmup)]
    runs = {}
    for label, n, t in (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2),
                        ("2 processes x 1 thread", 2, 1)):
        if n == 1:
            env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t))
            for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
                env.pop(var, None)
            out = subprocess.run([sys.executable, __file__, "_resnet", *common, "--threads", str(t)],
                                 capture_output=True, text=True, env=env, timeout=1800)
            if out.returncode:
                raise SystemExit(out.stderr[-3000:])
            out = out.stdout
        else:
            out = _mpiexec(n, ["_resnet", *common, "--threads", str(t)], threads=t)
        runs[label] = json.loads(out.strip().splitlines()[-1])
    base = runs["1 process x 1 thread"]["img_per_s"]
    print(f"ResNet-20 training, {args.images} CIFAR-shaped images, global batch {args.batch}")
    print(f"{'':<24} {'img/s':>7} {'speed-up':>8} {'50k epoch':>10} {'all_reduce/step':>16}")
    for label, r in runs.items():
        ar = f"{r['allreduce_s_per_step'] * 1e3:.1f} ms" if r["ranks"] > 1 else "-"
        print(f"{label:<24} {r['img_per_s']:>7.1f} {r['img_per_s'] / base:>7.2f}x {r['epoch_50k_s']:>9.0f}s {ar:>16}")
    return runs


# ------------------------------------------------------------------ the cost model
def model(args: argparse.Namespace) -> dict:
    """Ring all-reduce: each rank sends and receives 2(N-1)/N of the gradient bytes per step."""
    rows = []
    print("ring all-reduce per step: 2(N-1)/N x 4 bytes x parameters, at the link's rate")
    print(f"{'model':<10} {'N':>4} {'MB sent':>8} {'10 Gbit/s':>10} {'100 Gbit/s':>11}")
    for name, p in PARAMS.items():
        for n in (2, 8, 64):
            sent = 2 * (n - 1) / n * 4 * p
            t10, t100 = sent * 8 / 10e9, sent * 8 / 100e9
            rows.append({"model": name, "N": n, "bytes": sent, "s_10G": t10, "s_100G": t100})
            print(f"{name:<10} {n:>4} {sent / 1e6:>8.2f} {t10 * 1e3:>8.1f}ms {t100 * 1e3:>9.2f}ms")
    return {"model": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["allreduce", "resnet20", "model", "_allreduce", "_resnet"])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--max-mb", type=float, default=64.0)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args()
    if a.what == "_allreduce":
        return allreduce_worker(a.max_mb)
    if a.what == "_resnet":
        return resnet_worker(a.images, a.batch, a.warmup, a.threads)
    res = {"allreduce": allreduce, "resnet20": resnet20, "model": model}[a.what](a)
    res["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load: {res['uptime']}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
