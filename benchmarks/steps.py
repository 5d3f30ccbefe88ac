"""Whole training steps: chainrule vs PyTorch CPU (issue 12's table).

    python benchmarks/steps.py                          # (a), (b), (c) training + inference, 3 rounds
    python benchmarks/steps.py --workloads a c --rounds 2 --steps 3     # a quick look, ~1-2 min
    python benchmarks/steps.py --workloads d --epochs 1 --subsample 5000   # the Fashion-MNIST recipe, short
    python benchmarks/steps.py --workloads d            # the full 10-epoch recipe (about 10-20 min)

Workloads, float32, synthetic 32x32x3 batches of 128 (inference: 256), one SGD-momentum step each
(forward + cross-entropy + backward + update):
  (a) CS231n three-layer convnet: conv7x7(3->32, pad 3)-ReLU-maxpool2-fc(8192->100)-ReLU-fc10;
  (b) VGG-style: [conv3x3-BN-ReLU] x2 at 64, 128, 256 channels, maxpool2 after each pair,
      global average pool, fc10;
  (c) ResNet-20 (16/32/64 channels, BN, 1x1 projection shortcuts where the shape changes);
  (d) benchmarks/fashion_mnist.py's recipe (one recipe, both frameworks) for --epochs epochs
      (default 10): wall time to train and test accuracy.

Each framework runs in its own subprocess (one per workload and mode); the two alternate for
--rounds rounds so that load from other processes hits both alike; each subprocess warms up,
then times --steps steps; the table shows the median over all timed steps of all rounds.
Threads: the libraries' defaults unless --threads N (chainrule: CHAINRULE_NUM_THREADS and the BLAS
threads; PyTorch: torch.set_num_threads) or --cr-blas-threads N (chainrule's BLAS threads only,
to compare with `chainrule train --threads`). Results: benchmarks/results/steps.json (git-ignored).
GFLOP/s counts 3x the forward FLOPs of the convolutions and linear layers for a training step
(forward, dX, dW), 1x for inference. Peak RSS is the worker process's maximum resident size; cpu_ms in the JSON is the CPU time
(all threads) of the median step, steadier than wall time on a loaded machine.

On an NVIDIA GPU (issue 16), chainrule on CuPy against PyTorch CUDA:

    python benchmarks/steps.py --device cuda --rounds 1 --steps 10     # (a)-(c) train + inference
    python benchmarks/steps.py --device cuda --epoch                    # one ResNet-20 epoch, 50,000 images

Every step is followed by a device synchronisation (cr.cuda.synchronize(), torch.cuda.synchronize())
so the time is the GPU's, not the launch queue's. Float32 throughout; TF32 is OFF for the "torch"
column (torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False) and ON for
the extra "torch-tf32" column; CuPy computes in full float32 unless CUPY_TF32=1 is set (the output
says which). A failed worker on the GPU is recorded in the JSON and the table ("FAILED") instead
of stopping the run. `--epoch` trains ResNet-20 (c) for one epoch on 50,000 seeded synthetic
32x32x3 images of 10 classes, batch 128, with the Solver's loop (shuffle on the host, each batch
moved to the device, forward, cross-entropy, backward, SGD-momentum step) in each framework and
reports seconds and images/s (`--epoch-images` fewer images; `--epoch-max-s` stops a slow epoch
early and reports the projected epoch time, marked partial).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = {
    "a": "three-layer convnet (CS231n)",
    "b": "VGG-style, BN, 64/128/256",
    "c": "ResNet-20, BN, projections",
    "d": "Fashion-MNIST recipe",
}
TRAIN_BATCH, INFER_BATCH = 128, 256


# ------------------------------------------------------------------ nets
def build(kind: str, nn, F):
    """The same net in either framework: nn/F are chainrule.nn and its functional, or torch's."""
    if kind == "a":
        return nn.Sequential(nn.Conv2d(3, 32, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(32 * 16 * 16, 100), nn.ReLU(), nn.Linear(100, 10))
    if kind == "b":
        layers, cin = [], 3
        for w in (64, 128, 256):
            for _ in range(2):
                layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                cin = w
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))
    if kind == "c":
        return _resnet20(nn, F)
    raise ValueError(kind)


def _resnet20(nn, F):
    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
                          if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + self.short(x))

    layers, cin = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for w, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block(cin, w, stride if i == 0 else 1))
            cin = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))


# ---------------------------------------------------------------- workers
def _forward_flops_torch(model, x) -> float:
    """FLOPs of one forward of the convolutions and linear layers (hooks on a torch model)."""
    import torch

    total = [0.0]

    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            k = m.weight[0].numel()  # Cin/groups * KH * KW
            total[0] += 2.0 * out.numel() * k
        elif isinstance(m, torch.nn.Linear):
            total[0] += 2.0 * out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total[0]


def _torch_on(device: str, framework: str):
    """torch, set up for `device`: on CUDA, TF32 off for "torch" and on for "torch-tf32"."""
    import torch

    if device != "cpu":
        tf32 = framework == "torch-tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    return torch


def _fake_cupy_if_asked() -> None:
    """STEPS_FAKE_CUPY=1: chainrule's "cuda" is tests/fake_cupy.py, so the device code path of this
    script can be tried on a machine without a GPU (PyTorch CUDA workers then fail, recorded)."""
    if os.environ.get("STEPS_FAKE_CUPY") == "1":
        sys.path.insert(0, str(ROOT / "tests"))
        import fake_cupy

        from chainrule import backend

        backend.use_cupy(fake_cupy.fake, fake_cupy.fakex)  # for the whole (worker) process


def _synchronizer(framework: str, device: str):
    """The call that waits for the device to finish (None on the CPU)."""
    if device == "cpu":
        return None
    if framework.startswith("torch"):
        import torch

        return torch.cuda.synchronize
    import chainrule as cr

    _fake_cupy_if_asked()
    return cr.cuda.synchronize


def _worker(framework: str, kind: str, mode: str, steps: int, warmup: int, threads: int | None,
            device: str = "cpu") -> dict:
    import numpy as np

    batch = TRAIN_BATCH if mode == "train" else INFER_BATCH
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    ys = rng.integers(0, 10, batch)
    flops = None
    sync = _synchronizer(framework, device)
    if framework.startswith("torch"):
        torch = _torch_on(device, framework)
        import torch.nn.functional as F

        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = build(kind, torch.nn, F).to(device)
        x, y = torch.from_numpy(xs).to(device), torch.from_numpy(ys).to(device)
        flops = _forward_flops_torch(model, x)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        no_grad = torch.no_grad
        nthreads = torch.get_num_threads()
    else:
        import chainrule as cr
        from chainrule import nn
        from chainrule.nn import functional as F

        cr.manual_seed(0)
        model = build(kind, nn, F)
        x, y = cr.Tensor(xs), cr.Tensor(ys)
        if device != "cpu":
            model.to(device)
            x, y = x.to(device), y.to(device)
        opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        no_grad = cr.no_grad
        from chainrule.ops import parallel

        nthreads = parallel.get_num_threads()

    if mode == "train":
        model.train()

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with no_grad():
                model(x)

    times, cpu = [], []
    for i in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        if sync is not None:
            sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    res = {"times": times, "cpu": cpu, "flops": flops, "rss_mb": rss_mb, "batch": batch, "threads": nthreads,
           "blas": _blas_info()}
    if not framework.startswith("torch"):
        from chainrule.ops import autotune, jit

        res.update(jit=jit.is_enabled(), autotune=autotune.get_mode(), choices=autotune.choices())
    if device != "cpu":
        res["gpu_mb"] = _gpu_memory_mb(framework)
    return res


def _blas_info() -> str:
    """The BLAS this process loaded, with OpenBLAS's kernel set (threadpoolctl's `architecture`):
    the same CPU runs SkylakeX or Haswell kernels depending on OPENBLAS_CORETYPE."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (no threadpoolctl)"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                     f"{i.get('num_threads')} threads" for i in blas) or "none loaded"


def _gpu_memory_mb(framework: str) -> float:
    """Device memory the framework's allocator holds (torch: its peak; CuPy: its pool's total)."""
    if framework.startswith("torch"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    from chainrule import backend

    pool = getattr(backend.cupy(), "get_default_memory_pool", None)  # the fake has none
    return pool().total_bytes() / 2**20 if pool else float("nan")


def _epoch_worker(framework: str, images: int, max_s: float | None, device: str) -> dict:
    """One epoch of ResNet-20 (c) on `images` seeded synthetic images, the Solver's loop."""
    import numpy as np

    g = np.random.default_rng(0)
    X = g.standard_normal((images, 3, 32, 32), dtype=np.float32)
    Y = g.integers(0, 10, images)
    sync = _synchronizer(framework, device)
    if framework.startswith("torch"):
        torch = _torch_on(device, framework)
        import torch.nn.functional as F

        torch.manual_seed(0)
        model = build("c", torch.nn, F).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def batch(idx):
            return torch.from_numpy(X[idx]).to(device), torch.from_numpy(Y[idx]).to(device)
    else:
        import chainrule as cr
        from chainrule import nn
        from chainrule.nn import functional as F

        cr.manual_seed(0)
        model = build("c", nn, F)
        if device != "cpu":
            model.to(device)
        opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def batch(idx):
            return cr.Tensor(X[idx]).to(device), cr.Tensor(Y[idx]).to(device)

    def step(idx):
        x, y = batch(idx)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    model.train()
    order = g.permutation(images)
    for lo in range(0, min(3 * TRAIN_BATCH, images), TRAIN_BATCH):  # warm-up (kernel compilation, allocator)
        step(order[lo:lo + TRAIN_BATCH])
    if sync is not None:
        sync()
    t0, done, loss = time.perf_counter(), 0, None
    for lo in range(0, images, TRAIN_BATCH):
        loss = step(order[lo:lo + TRAIN_BATCH])
        done += len(order[lo:lo + TRAIN_BATCH])
        if max_s is not None and time.perf_counter() - t0 > max_s:
            break
    if sync is not None:
        sync()
    seconds = time.perf_counter() - t0
    return {"images": done, "seconds": seconds, "images_per_s": done / seconds, "partial": done < images,
            "epoch_s": seconds * images / done, "last_loss": float(loss.item())}


def _fashion_mnist(framework: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        tree = Path(args.baseline) if framework == "baseline" else ROOT  # the tree's own copy of the recipe
        cmd = [sys.executable, str(tree / "benchmarks" / "fashion_mnist.py"),
               "--framework", "torch" if framework == "torch" else "chainrule",
               "--epochs", str(args.epochs), "--json", str(out), "--quiet"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        if args.subsample:
            cmd += ["--subsample", str(args.subsample)]
        subprocess.run(cmd, check=True, env=_env(framework, args), stdout=subprocess.DEVNULL)
        return json.loads(out.read_text().splitlines()[-1])


def _env(framework: str, args) -> dict:
    tree = args.baseline if framework == "baseline" else str(ROOT)
    env = dict(os.environ, PYTHONPATH=tree + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if framework in ("chainrule", "baseline") and args.threads:
        env["CHAINRULE_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(args.threads)
    if framework == "baseline":
        env.update(kv.split("=", 1) for kv in args.baseline_env)
    if framework in ("chainrule", "baseline") and args.cr_blas_threads:
        env["OPENBLAS_NUM_THREADS"] = str(args.cr_blas_threads)
        env.setdefault("CHAINRULE_NUM_THREADS", str(os.cpu_count() or 1))
    return env


def _spawn(framework: str, kind: str, mode: str, args) -> dict:
    worker = "chainrule" if framework == "baseline" else framework
    cmd = [sys.executable, __file__, "--worker", worker, kind, mode, "--steps", str(args.steps),
           "--warmup", str(args.warmup)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.device != "cpu":
        cmd += ["--device", args.device]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=_env(framework, args),
                             timeout=args.worker_timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.worker_timeout} s (--worker-timeout)"}
    if res.returncode:
        if args.device != "cpu":  # on the GPU machine: record it and go on to the next worker
            return {"error": _last_lines(res.stderr)}
        raise RuntimeError(f"{framework} worker for ({kind}) {mode} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _last_lines(text: str, n: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _spawn_epoch(framework: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker-epoch", framework, "--device", args.device,
           "--epoch-images", str(args.epoch_images)]
    if args.epoch_max_s:
        cmd += ["--epoch-max-s", str(args.epoch_max_s)]
    limit = None if args.epoch_max_s is None else args.epoch_max_s + 60  # + data, start-up, warm-up
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=_env(framework, args), timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {limit} s (--epoch-max-s + 60)"}
    if res.returncode:
        return {"error": _last_lines(res.stderr)}
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- main
def _summary(runs: list[dict], flops_fwd: float | None, mode: str) -> dict:
    errors = [r["error"] for r in runs if "error" in r]
    runs = [r for r in runs if "error" not in r]
    if not runs:
        return {"error": errors[0]}
    times = [t for r in runs for t in r["times"]]
    ms = 1000 * statistics.median(times)
    batch = runs[0]["batch"]
    flops = None if flops_fwd is None else flops_fwd * (3 if mode == "train" else 1)
    return {"ms": ms, "images_per_s": batch / ms * 1000, "gflops": None if flops is None else flops / ms / 1e6,
            "peak_rss_mb": max(r["rss_mb"] for r in runs), "threads": runs[0]["threads"],
            **{k: runs[0][k] for k in ("blas", "jit", "autotune", "choices") if k in runs[0]},
            "cpu_ms": 1000 * statistics.median([t for r in runs for t in r["cpu"]]),
            "ms_all": [1000 * t for t in times],
            **({"gpu_mb": max(r["gpu_mb"] for r in runs)} if "gpu_mb" in runs[0] else {}),
            **({"errors": errors} if errors else {})}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", nargs="+", default=["a", "b", "c"], choices=sorted(WORKLOADS))
    p.add_argument("--no-inference", action="store_true", help="skip the (b), (c) inference rows")
    p.add_argument("--frameworks", nargs="+", default=None, choices=("chainrule", "torch", "torch-tf32"),
                   help="default: chainrule torch (CPU); chainrule torch torch-tf32 (cuda)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where both frameworks run")
    p.add_argument("--worker-timeout", type=float, default=None,
                   help="seconds before a worker is stopped and recorded as failed (default: none)")
    p.add_argument("--epoch", action="store_true", help="time one ResNet-20 epoch instead of the steps")
    p.add_argument("--epoch-images", type=int, default=50_000, help="--epoch: synthetic images in the epoch")
    p.add_argument("--epoch-max-s", type=float, default=None,
                   help="--epoch: stop a framework after this many seconds and project the epoch time")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5, help="timed steps per round")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: each library's own)")
    p.add_argument("--cr-blas-threads", type=int, default=None, help="chainrule's BLAS threads only")
    p.add_argument("--epochs", type=int, default=10, help="(d): epochs of the Fashion-MNIST recipe")
    p.add_argument("--subsample", type=int, default=None, help="(d): fewer training images")
    p.add_argument("--data-dir", default=None, help="(d): Fashion-MNIST IDX files (default: fashion_mnist.py's)")
    p.add_argument("--baseline", default=None, metavar="TREE",
                   help="also time chainrule from this source tree (e.g. a checkout of main), alternating")
    p.add_argument("--baseline-env", nargs="+", default=[], metavar="KEY=VALUE",
                   help="environment of the baseline only, e.g. CHAINRULE_JIT=0 CHAINRULE_AUTOTUNE=frozen")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "steps.json"))
    p.add_argument("--worker", nargs=3, metavar=("FRAMEWORK", "WORKLOAD", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--worker-epoch", metavar="FRAMEWORK", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.frameworks is None:
        args.frameworks = ["chainrule", "torch"] + (["torch-tf32"] if args.device != "cpu" else [])
    if args.baseline_env and not args.baseline:
        args.baseline = str(ROOT)  # the same tree under another environment
    if args.baseline:
        args.frameworks = [*args.frameworks, "baseline"]
    if args.worker:
        print(json.dumps(_worker(*args.worker, args.steps, args.warmup, args.threads, args.device)))
        return 0
    if args.worker_epoch:
        print(json.dumps(_epoch_worker(args.worker_epoch, args.epoch_images, args.epoch_max_s, args.device)))
        return 0
    if args.epoch:
        return _epoch_main(args)
    if args.device != "cpu" and "d" in args.workloads:
        p.error("(d) runs on the CPU only (benchmarks/fashion_mnist.py); leave it out with --device cuda")

    jobs = [(k, "train") for k in args.workloads if k != "d"]
    if not args.no_inference:
        jobs += [(k, "infer") for k in args.workloads if k in ("b", "c")]
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    raw: dict = {}
    for r in range(args.rounds):
        order = args.frameworks if r % 2 == 0 else args.frameworks[::-1]
        for kind, mode in jobs:
            for fw in order:
                raw.setdefault((kind, mode), {}).setdefault(fw, []).append(_spawn(fw, kind, mode, args))
                if args.device != "cpu":  # what is done so far survives a run stopped from outside
                    _write(args.out, {"partial": True, "rows": _rows(raw)})
    rows = _rows(raw)
    if "d" in args.workloads:
        res = {}
        for fw in args.frameworks:
            res[fw] = _fashion_mnist(fw, args)
        row = {"workload": "d", "mode": f"{args.epochs} epochs", "name": WORKLOADS["d"]}
        row.update({fw: {"s": v["train_seconds"], "test_acc": v["test_acc"]} for fw, v in res.items()})
        for fw, key in (("chainrule", "ratio"), ("baseline", "baseline_ratio")):
            if fw in res and "torch" in res:
                row[key] = res[fw]["train_seconds"] / res["torch"]["train_seconds"]
        rows.append(row)
    meta = {"load_before": load_before, "load_after": os.getloadavg(), "cpus": os.cpu_count(),
            "wall_s": time.perf_counter() - t_start, "args": {k: v for k, v in vars(args).items() if k != "worker"},
            "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                            "OPENBLAS_NUM_THREADS")},
            "blas": {fw: v.get("blas") for row in rows for fw, v in row.items()
                     if isinstance(v, dict) and v.get("blas")}}
    if args.device != "cpu":
        meta.update(_device_meta())
    _print(rows, meta)
    _write(args.out, {"meta": meta, "rows": rows})
    print(f"wrote {args.out}")
    return int(any(isinstance(v, dict) and "error" in v for row in rows for v in row.values()))  # a failed worker


def _rows(raw: dict) -> list[dict]:
    """One table row per (workload, mode): each framework's summary and the ratios."""
    rows = []
    for (kind, mode), by_fw in raw.items():
        flops = next((r["flops"] for runs in by_fw.values() for r in runs if r.get("flops")), None)
        row = {"workload": kind, "mode": mode, "name": WORKLOADS[kind]}
        row.update({fw: _summary(runs, flops, mode) for fw, runs in by_fw.items()})
        if "ms" in row.get("chainrule", {}) and "ms" in row.get("torch", {}):
            row["ratio"] = row["chainrule"]["ms"] / row["torch"]["ms"]
        if "ms" in row.get("chainrule", {}) and "ms" in row.get("torch-tf32", {}):
            row["ratio_tf32"] = row["chainrule"]["ms"] / row["torch-tf32"]["ms"]
        if "baseline" in row and "torch" in row:
            row["baseline_ratio"] = row["baseline"]["ms"] / row["torch"]["ms"]
        rows.append(row)
    return rows


def _write(path: str, result: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


def _device_meta() -> dict:
    """The GPU and the float32 settings, for the JSON and the table's footnote."""
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.strip() or "unknown GPU"
    except (OSError, subprocess.SubprocessError):
        gpu = "unknown GPU (no nvidia-smi)"
    return {"gpu": gpu, "float32": True, "torch_tf32": {"torch": False, "torch-tf32": True},
            "cupy_tf32": os.environ.get("CUPY_TF32", "0") not in ("", "0"), "synchronized": True}


def _epoch_main(args) -> int:
    """One ResNet-20 epoch per framework (chainrule, and PyTorch for scale), each in a subprocess."""
    t_start = time.perf_counter()
    frameworks = [fw for fw in ("torch", "chainrule") if fw in args.frameworks]  # the predictable one first
    res = {fw: _spawn_epoch(fw, args) for fw in frameworks}
    meta = {"load_before": os.getloadavg(), "cpus": os.cpu_count(), "wall_s": time.perf_counter() - t_start,
            "device": args.device, "images": args.epoch_images, "batch": TRAIN_BATCH,
            "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                            "OPENBLAS_NUM_THREADS")},
            "blas": {fw: v.get("blas") for row in rows for fw, v in row.items()
                     if isinstance(v, dict) and v.get("blas")}}
    if args.device != "cpu":
        meta.update(_device_meta())
    print(f"| ResNet-20 epoch, {args.epoch_images} synthetic 32x32x3 images, batch {TRAIN_BATCH}, {args.device} "
          "| seconds | images/s |\n|---|---:|---:|")
    for fw, v in res.items():
        if "error" in v:
            print(f"| {fw} | FAILED | - |\n  " + v["error"].replace("\n", "\n  "))
        else:
            part = f" (partial: {v['images']} images in {v['seconds']:.1f} s, projected)" if v["partial"] else ""
            print(f"| {fw}{part} | {v['epoch_s']:.1f} | {v['images_per_s']:.0f} |")
    if len(res) == 2 and all("epoch_s" in v for v in res.values()):
        meta["ratio"] = res["chainrule"]["epoch_s"] / res["torch"]["epoch_s"]
        print(f"chainrule / PyTorch: {meta['ratio']:.2f}")
    if "gpu" in meta:
        print(f"{meta['gpu']}; float32, PyTorch TF32 off, CuPy TF32 {'on' if meta['cupy_tf32'] else 'off'}")
    _write(args.out, {"meta": meta, "epoch": res})
    print(f"wrote {args.out}")
    return int(any("error" in v for v in res.values()))


def _print(rows: list[dict], meta: dict) -> None:
    def cell(row, fw):
        v = row.get(fw)
        if v is None:
            return "-"
        if "error" in v:
            return "FAILED"
        if "gpu_mb" in v:
            gf = f", {v['gflops']:.0f} GF/s" if v.get("gflops") else ""
            mem = f", {v['gpu_mb']:.0f} GPU MB" if v["gpu_mb"] == v["gpu_mb"] else ""  # NaN: not known
            return f"{v['ms']:.2f} ms, {v['images_per_s']:.0f} img/s{gf}{mem}"
        if "s" in v:
            return f"{v['s']:.0f} s, {100 * v['test_acc']:.2f}%"
        gf = f", {v['gflops']:.0f} GF/s" if v.get("gflops") else ""
        return f"{v['ms']:.1f} ms, {v['images_per_s']:.0f} img/s{gf}, {v['peak_rss_mb']:.0f} MB"

    base = any("baseline" in row for row in rows)
    tf32 = any("torch-tf32" in row for row in rows)
    head = "| workload | mode | chainrule | PyTorch | ratio |" + (" baseline | baseline ratio |" if base else "")
    head += " PyTorch TF32 | ratio to TF32 |" if tf32 else ""
    print(head + "\n|---|---|---:|---:|---:|" + ("---:|---:|" if base else "") + ("---:|---:|" if tf32 else ""))
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "-"
        line = (f"| ({row['workload']}) {row['name']} | {row['mode']} | {cell(row, 'chainrule')} | "
                f"{cell(row, 'torch')} | {ratio} |")
        if base:
            br = f"{row['baseline_ratio']:.2f}" if "baseline_ratio" in row else "-"
            line += f" {cell(row, 'baseline')} | {br} |"
        if tf32:
            rt = f"{row['ratio_tf32']:.2f}" if "ratio_tf32" in row else "-"
            line += f" {cell(row, 'torch-tf32')} | {rt} |"
        print(line)
    for row in rows:
        for fw, v in row.items():
            if isinstance(v, dict) and "error" in v:
                print(f"FAILED ({row['workload']}) {row['mode']} {fw}:\n  " + v["error"].replace("\n", "\n  "))
    if "gpu" in meta:
        print(f"{meta['gpu']}; float32; PyTorch TF32 off (on in the 'PyTorch TF32' column); "
              f"CuPy TF32 {'on' if meta['cupy_tf32'] else 'off'} (CUPY_TF32={os.environ.get('CUPY_TF32', 'unset')}); "
              "each step timed to a device synchronisation; memory column: GPU MB")
    for fw, blas in meta.get("blas", {}).items():
        print(f"{fw}: {blas}")
    print("environment: " + ", ".join(f"{k}={v if v is not None else 'unset'}" for k, v in meta["openblas_env"].items()))
    la, lb = meta["load_before"], meta["load_after"]
    print(f"load average {la[0]:.2f} before, {lb[0]:.2f} after; {meta['cpus']} CPUs; {meta['wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
