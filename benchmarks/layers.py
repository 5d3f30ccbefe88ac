"""Forward + backward time of the heavy layers: chainrule vs PyTorch CPU.

    python benchmarks/layers.py                # 3 alternating rounds, table + JSON
    python benchmarks/layers.py --rounds 5 --steps 7 --threads 2
    python benchmarks/layers.py --suite convs --threads 2   # every conv of the issue-12 nets
    python benchmarks/layers.py --suite convs --threads 1 --clock cpu   # on a busy machine

Each framework runs in its own subprocess with the same thread count (BLAS
threads for NumPy, torch.set_num_threads for PyTorch); the two alternate for
several rounds so that load from other processes hits both alike. Every round
warms up, then times `--steps` steps per layer; the table shows the median over
all rounds. Results go to benchmarks/results/SUITE.json (layers.json, convs.json).

`--clock cpu` times with the process's CPU time instead of the wall clock: on a
shared, loaded machine that stays close to the quiet-machine numbers where the
wall clock measures the other processes. Use it with --threads 1 only (idle
OpenMP threads spin, which counts as CPU time).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name, kind, input shape, params, FLOPs of one forward (None where FLOPs mean little)
LAYERS = [
    ("conv 7x7 3->32, pad 3", "conv", (128, 3, 32, 32), dict(f=32, k=7, pad=3)),
    ("conv 3x3 64->64, pad 1", "conv", (128, 64, 32, 32), dict(f=64, k=3, pad=1)),
    ("conv 3x3 128->128, pad 1", "conv", (128, 128, 16, 16), dict(f=128, k=3, pad=1)),
    ("max pool 2x2/2", "maxpool", (128, 64, 32, 32), dict(k=2)),
    ("batch norm 2d (train)", "bn", (128, 64, 32, 32), {}),
    ("linear 8192->100", "linear", (128, 8192), dict(out=100)),
]

# The convolutions of the whole-step workloads (benchmarks/steps.py), batch 128. `xgrad=False`
# for a first layer, whose input (the images) needs no gradient.
CONVS = [
    ("fmnist 3x3 1->16 28", "conv", (128, 1, 28, 28), dict(f=16, k=3, pad=1, xgrad=False)),
    ("fmnist 3x3 16->16 28", "conv", (128, 16, 28, 28), dict(f=16, k=3, pad=1)),
    ("cs231n 7x7 3->32 32", "conv", (128, 3, 32, 32), dict(f=32, k=7, pad=3, xgrad=False)),
    ("r20 3x3 3->16 32", "conv", (128, 3, 32, 32), dict(f=16, k=3, pad=1, xgrad=False)),
    ("r20 3x3 16->16 32", "conv", (128, 16, 32, 32), dict(f=16, k=3, pad=1)),
    ("r20 3x3 16->32 /2", "conv", (128, 16, 32, 32), dict(f=32, k=3, pad=1, stride=2)),
    ("r20 1x1 16->32 /2", "conv", (128, 16, 32, 32), dict(f=32, k=1, pad=0, stride=2)),
    ("r20 3x3 32->32 16", "conv", (128, 32, 16, 16), dict(f=32, k=3, pad=1)),
    ("r20 3x3 32->64 /2", "conv", (128, 32, 16, 16), dict(f=64, k=3, pad=1, stride=2)),
    ("r20 1x1 32->64 /2", "conv", (128, 32, 16, 16), dict(f=64, k=1, pad=0, stride=2)),
    ("r20 3x3 64->64 8", "conv", (128, 64, 8, 8), dict(f=64, k=3, pad=1)),
    ("vgg 3x3 3->64 32", "conv", (128, 3, 32, 32), dict(f=64, k=3, pad=1, xgrad=False)),
    ("vgg 3x3 64->64 32", "conv", (128, 64, 32, 32), dict(f=64, k=3, pad=1)),
    ("vgg 3x3 128->128 16", "conv", (128, 128, 16, 16), dict(f=128, k=3, pad=1)),
    ("vgg 3x3 256->256 8", "conv", (128, 256, 8, 8), dict(f=256, k=3, pad=1)),
]
SUITES = {"layers": LAYERS, "convs": CONVS}


def forward_flops(kind: str, shape, p) -> float | None:
    if kind == "conv":
        N, C, H, W = shape
        s = p.get("stride", 1)
        OH, OW = (H + 2 * p["pad"] - p["k"]) // s + 1, (W + 2 * p["pad"] - p["k"]) // s + 1
        return 2.0 * N * p["f"] * OH * OW * C * p["k"] ** 2
    if kind == "linear":
        return 2.0 * shape[0] * shape[1] * p["out"]
    return None


# ---------------------------------------------------------------- workers
def _make_chainrule(kind, shape, p, rng):
    import numpy as np

    import chainrule as cr
    from chainrule.ops.conv import conv2d
    from chainrule.ops.norm import batch_norm
    from chainrule.ops.pool import max_pool2d

    def t(*s, grad=True):
        return cr.Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=grad)

    x = t(*shape, grad=p.get("xgrad", True))
    if kind == "conv":
        w, b = t(p["f"], shape[1], p["k"], p["k"]), t(p["f"])
        return lambda: conv2d(x, w, b, p.get("stride", 1), p["pad"])
    if kind == "maxpool":
        return lambda: max_pool2d(x, p["k"])
    if kind == "bn":
        C = shape[1]
        rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
        w, b = t(C), t(C)
        return lambda: batch_norm(x, rm, rv, w, b, training=True)
    if kind == "linear":
        w, b = t(p["out"], shape[1]), t(p["out"])
        return lambda: x @ w.T + b
    raise ValueError(kind)


def _make_torch(kind, shape, p, rng):
    import numpy as np
    import torch
    import torch.nn.functional as F

    def t(*s, grad=True):
        return torch.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=grad)

    x = t(*shape, grad=p.get("xgrad", True))
    if kind == "conv":
        w, b = t(p["f"], shape[1], p["k"], p["k"]), t(p["f"])
        return lambda: F.conv2d(x, w, b, p.get("stride", 1), p["pad"])
    if kind == "maxpool":
        return lambda: F.max_pool2d(x, p["k"])
    if kind == "bn":
        C = shape[1]
        rm, rv = torch.zeros(C), torch.ones(C)
        w, b = t(C), t(C)
        return lambda: F.batch_norm(x, rm, rv, w, b, training=True)
    if kind == "linear":
        w, b = t(p["out"], shape[1]), t(p["out"])
        return lambda: F.linear(x, w, b)
    raise ValueError(kind)


def worker(framework: str, steps: int, warmup: int, layers: list) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    if framework == "torch":
        import torch

        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
        make, to_grad = _make_torch, torch.from_numpy
    else:
        sys.path.insert(0, str(ROOT))
        make, to_grad = _make_chainrule, (lambda a: a)
    results = {}
    clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
    for name, kind, shape, p in layers:
        step = make(kind, shape, p, rng)
        g = None
        fwd, bwd = [], []
        for i in range(warmup + steps):
            t0 = clock()
            y = step()
            t1 = clock()
            if g is None:
                g = to_grad(rng.standard_normal(tuple(y.shape)).astype(np.float32))
            y.backward(g)
            t2 = clock()
            del y
            if i >= warmup:
                fwd.append(t1 - t0)
                bwd.append(t2 - t1)
        results[name] = {"fwd": fwd, "bwd": bwd}
    return results


# ------------------------------------------------------------------ driver
def run_worker(framework: str, threads: int, steps: int, warmup: int, suite: str, only: str,
               clock: str = "wall") -> dict:
    env = dict(os.environ, BENCH_THREADS=str(threads), BENCH_CLOCK=clock, OPENBLAS_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--worker", framework, "--steps", str(steps), "--warmup", str(warmup),
           "--suite", suite, "--only", only]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _blas_info() -> str:
    """NumPy's BLAS with OpenBLAS's kernel set (threadpoolctl's `architecture`)."""
    try:
        import numpy  # noqa: F401  (loads the BLAS)
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in libs) or "none"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--suite", choices=sorted(SUITES), default="layers",
                    help="layers: the heavy layers; convs: every convolution of benchmarks/steps.py's nets")
    ap.add_argument("--only", default="", help="only the layers whose name contains this text")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: the process's CPU time, steadier on a loaded machine (with --threads 1)")
    ap.add_argument("--out", default=None, help="JSON file (default benchmarks/results/SUITE.json)")
    ap.add_argument("--worker", choices=["chainrule", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    layers = [row for row in SUITES[args.suite] if args.only in row[0]]
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.warmup, layers)))
        return 0

    import numpy as np

    times = {fw: {} for fw in ("chainrule", "torch")}
    for r in range(args.rounds):
        order = ("chainrule", "torch") if r % 2 == 0 else ("torch", "chainrule")
        for fw in order:
            res = run_worker(fw, args.threads, args.steps, args.warmup, args.suite, args.only, args.clock)
            for name, d in res.items():
                acc = times[fw].setdefault(name, {"fwd": [], "bwd": []})
                acc["fwd"] += d["fwd"]
                acc["bwd"] += d["bwd"]
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    rows = []
    for name, kind, shape, p in layers:
        row = {"layer": name, "input": list(shape)}
        flops = forward_flops(kind, shape, p)
        for fw in ("chainrule", "torch"):
            f = 1e3 * float(np.median(times[fw][name]["fwd"]))
            b = 1e3 * float(np.median(times[fw][name]["bwd"]))
            row[fw] = {"fwd_ms": f, "bwd_ms": b,
                       "gflops": None if flops is None else 3 * flops / ((f + b) * 1e6)}
        row["ratio"] = (row["chainrule"]["fwd_ms"] + row["chainrule"]["bwd_ms"]) / (
            row["torch"]["fwd_ms"] + row["torch"]["bwd_ms"])
        rows.append(row)

    head = f"{'layer':<26} {'cr fwd':>8} {'cr bwd':>8} {'cr GF/s':>8} {'pt fwd':>8} {'pt bwd':>8} {'pt GF/s':>8} {'ratio':>6}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    blas = _blas_info()
    print(f"threads={args.threads} rounds={args.rounds} steps={args.steps} clock={args.clock} load={load:.2f} "
          "(ms, median; ratio = chainrule/PyTorch, fwd+bwd)")
    print(f"BLAS (NumPy's): {blas}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    print(head)
    for row in rows:
        c, t = row["chainrule"], row["torch"]
        gf = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        print(f"{row['layer']:<26} {c['fwd_ms']:8.1f} {c['bwd_ms']:8.1f} {gf(c['gflops']):>8} "
              f"{t['fwd_ms']:8.1f} {t['bwd_ms']:8.1f} {gf(t['gflops']):>8} {row['ratio']:6.2f}")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{args.suite}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"suite": args.suite, "threads": args.threads, "rounds": args.rounds,
                               "steps": args.steps, "clock": args.clock, "load": load,
                               "numpy": np.__version__, "blas": blas, "rows": rows, "raw": times}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
