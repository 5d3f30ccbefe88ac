"""Where one chainrule training step's time goes: by phase, by layer and by op.

    python benchmarks/profile_step.py                 # workload (b) of benchmarks/steps.py
    python benchmarks/profile_step.py --workload c --steps 3 --top 15

Runs the step of benchmarks/steps.py (batch 128, SGD momentum) a few times with timers wrapped
around every `Function`'s forward and backward, the module calls, the optimiser step and the
conv helpers, then prints, for the median step:
  - phases: forward ops, backward ops, autograd engine + module Python, optimiser; and inside the
    ops: im2col, GEMM, col2im, padding (conv's helpers, timed on whichever thread runs them, scaled
    to the conv's wall time), elementwise (every other op: ReLU, BN, pooling, adds, loss), and the
    page faults of fresh arrays (counted per op, priced at this machine's measured cost per fault);
  - layers: forward and backward ms and page faults of each leaf module, slowest first;
  - ops: the same by Function.
The timers add a few microseconds per op; the totals stay within a few % of benchmarks/steps.py.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import resource
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# conv-helper phases, by function name, in the CPU convolution's files
CONV_MODULES = ("conv_wide", "conv_im2col", "gemm")
PHASE_OF_HELPER = {"im2col": "im2col", "wide_im2col": "im2col", "col2im": "col2im",
                   "wide_col2im": "col2im", "_flat_input": "padding", "_dout_side_by_side": "padding"}
GEMM_NAMES = ("matmul", "dot", "einsum", "tensordot")


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fault_cost_s() -> float:
    """Seconds per minor page fault here: write a freshly mapped 64 MiB region vs the same
    region again, best of 3."""
    import mmap

    best = float("inf")
    for _ in range(3):
        region = mmap.mmap(-1, 1 << 26)
        a = np.frombuffer(region, np.float32)
        f0, t0 = _faults(), time.perf_counter()
        a.fill(1)
        cold, nf = time.perf_counter() - t0, _faults() - f0
        t0 = time.perf_counter()
        a.fill(2)
        warm = time.perf_counter() - t0
        del a
        region.close()
        if nf:
            best = min(best, max(cold - warm, 0.0) / nf)
    return 0.0 if best == float("inf") else best


class Recorder:
    """Accumulates wall seconds and page faults by key; phase seconds per thread."""

    def __init__(self):
        self.reset()
        self.stack: list[str] = []  # module names, innermost last
        self.local = threading.local()
        self.op: str | None = None  # the Function running on the main thread

    def reset(self):
        self.time = defaultdict(float)    # (kind, name) -> seconds
        self.faults = defaultdict(int)
        self.calls = defaultdict(int)
        self.phase = defaultdict(float)   # phase -> thread-seconds inside conv helpers / GEMMs

    def timed_phase(self, phase: str, fn):
        rec = self

        def wrapper(*a, **k):
            if getattr(rec.local, "busy", False):  # a helper inside a helper: count once
                return fn(*a, **k)
            rec.local.busy = True
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                rec.phase[phase] += time.perf_counter() - t0
                rec.local.busy = False

        return wrapper


def instrument(rec: Recorder, model) -> None:
    import chainrule.ops as ops_pkg
    from chainrule import nn
    from chainrule.autograd import Function

    # every Function's forward and backward
    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    for mod in pkgutil.iter_modules(ops_pkg.__path__):
        importlib.import_module(f"chainrule.ops.{mod.name}")
    for cls in set(subclasses(Function)):
        for which in ("forward", "backward"):
            if which in cls.__dict__:
                setattr(cls, which, staticmethod(_timed_op(rec, cls.__name__, which, cls.__dict__[which].__func__)))

    # conv helpers and GEMMs, in the CPU convolution's files
    for name in CONV_MODULES:
        m = importlib.import_module(f"chainrule.ops.{name}")
        for helper, phase in PHASE_OF_HELPER.items():
            if callable(getattr(m, helper, None)):
                setattr(m, helper, rec.timed_phase(phase, getattr(m, helper)))
        m.np = _NumpyWithTimedGemm(rec)
    # thread-seconds of all conv work (the shares' denominator): blocks run inside a Conv op
    from chainrule.ops import parallel
    parallel.blocks = _timed_blocks(rec, parallel.blocks)

    # leaf module names for the layer table
    names = {id(m): name or type(m).__name__ for name, m in model.named_modules()}
    orig_call = nn.Module.__call__

    def call(self, *a, **k):
        rec.stack.append(f"{names.get(id(self), '?')} ({type(self).__name__})")
        try:
            return orig_call(self, *a, **k)
        finally:
            rec.stack.pop()

    nn.Module.__call__ = call


def _timed_blocks(rec: Recorder, blocks):
    def wrapper(fn, n, work):
        if not (rec.op or "").startswith("Conv"):
            return blocks(fn, n, work)

        def timed(i, lo, hi):
            t0 = time.perf_counter()
            try:
                return fn(i, lo, hi)
            finally:
                rec.phase["(all conv blocks)"] += time.perf_counter() - t0
        return blocks(timed, n, work)

    return wrapper


class _NumpyWithTimedGemm:
    """numpy, except that its GEMM entry points are timed as the 'GEMM' phase."""

    def __init__(self, rec: Recorder):
        self._gemms = {n: rec.timed_phase("GEMM", getattr(np, n)) for n in GEMM_NAMES}

    def __getattr__(self, name):
        return self._gemms.get(name) or getattr(np, name)


def _timed_op(rec: Recorder, op: str, which: str, fn):
    def wrapper(ctx, *a, **k):
        if which == "forward":
            ctx._prof_layer = rec.stack[-1] if rec.stack else "(outside modules)"
        layer = getattr(ctx, "_prof_layer", "(outside modules)")
        f0, t0 = _faults(), time.perf_counter()
        outer, rec.op = rec.op, op
        try:
            return fn(ctx, *a, **k)
        finally:
            rec.op = outer
            dt, df = time.perf_counter() - t0, _faults() - f0
            for key in (("op", op), ("layer", layer)):
                rec.time[key + (which,)] += dt
                rec.faults[key + (which,)] += df
            rec.calls[("op", op, which)] += 1

    return wrapper


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", default="b", choices=("a", "b", "c"))
    p.add_argument("--steps", type=int, default=3, help="profiled steps (the median one is shown)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--top", type=int, default=20, help="rows in the layer and op tables")
    args = p.parse_args(argv)

    import chainrule as cr
    from chainrule import nn
    from chainrule.nn import functional as F
    from chainrule.ops import parallel
    from steps import TRAIN_BATCH, WORKLOADS, build

    per_fault = fault_cost_s()
    cr.manual_seed(0)
    model = build(args.workload, nn, F)
    rng = np.random.default_rng(0)
    x = cr.Tensor(rng.standard_normal((TRAIN_BATCH, 3, 32, 32)).astype(np.float32))
    y = cr.Tensor(rng.integers(0, 10, TRAIN_BATCH))
    opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rec = Recorder()
    instrument(rec, model)

    runs = []
    for i in range(args.warmup + args.steps):
        rec.reset()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= args.warmup:
            runs.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2, dict(rec.time), dict(rec.faults),
                         dict(rec.calls), dict(rec.phase)))
    total, fwd, bwd, optim, times, faults, calls, phase = sorted(runs, key=lambda r: r[0])[len(runs) // 2]

    ms = lambda s: 1000 * s  # noqa: E731
    op_f = sum(v for k, v in times.items() if k[0] == "op" and k[2] == "forward")
    op_b = sum(v for k, v in times.items() if k[0] == "op" and k[2] == "backward")
    conv_wall = sum(v for k, v in times.items() if k[0] == "op" and k[1].startswith("Conv"))
    mm_wall = sum(v for k, v in times.items() if k[0] == "op" and k[1] in ("MatMul", "Linear"))
    conv_threads = phase.get("(all conv blocks)", 0.0) or sum(phase.values())
    all_faults = sum(v for k, v in faults.items() if k[0] == "op")
    print(f"workload ({args.workload}) {WORKLOADS[args.workload]}, batch {TRAIN_BATCH}, "
          f"{parallel.get_num_threads()} op threads; median of {args.steps} steps: {ms(total):.1f} ms "
          f"(forward {ms(fwd):.1f}, backward {ms(bwd):.1f}, optimiser {ms(optim):.1f})")
    print("\n## By phase (ms of the step)\n\n| phase | ms | % |\n|---|---:|---:|")
    rows = []
    other = conv_wall
    for name in ("im2col", "GEMM", "col2im", "padding"):
        share = min(1.0, phase.get(name, 0.0) / conv_threads) if conv_threads else 0.0
        rows.append((f"conv: {name}", conv_wall * share))
        other -= conv_wall * share
    rows.append(("conv: rest (bias, dW reductions, copies, thread start)", other))
    rows.append(("matmul / linear", mm_wall))
    rows.append(("elementwise and other ops (ReLU, BN, pool, adds, loss)", op_f + op_b - conv_wall - mm_wall))
    rows.append(("autograd engine + module Python (step - ops - optimiser)", total - op_f - op_b - optim))
    rows.append(("optimiser step", optim))
    for name, s in rows:
        print(f"| {name} | {ms(s):.1f} | {100 * s / total:.0f} |")
    print(f"\npage faults inside ops: {all_faults} (~{ms(all_faults * per_fault):.1f} ms at "
          f"{1e6 * per_fault:.2f} us/fault measured here), already inside the rows above")

    for kind, title in (("layer", "By layer (leaf module)"), ("op", "By op (Function)")):
        keys = {k[1] for k in times if k[0] == kind}
        tab = sorted(((times.get((kind, n, "forward"), 0.0), times.get((kind, n, "backward"), 0.0),
                       faults.get((kind, n, "forward"), 0) + faults.get((kind, n, "backward"), 0), n)
                      for n in keys), key=lambda r: -(r[0] + r[1]))
        extra = " | calls" if kind == "op" else ""
        print(f"\n## {title}, slowest first\n\n| {kind} | fwd ms | bwd ms | total ms | % | faults{extra} |")
        print("|---|---:|---:|---:|---:|---:|" + ("---:|" if kind == "op" else ""))
        for f, b, nf, n in tab[:args.top]:
            c = f" | {calls.get(('op', n, 'forward'), 0)}" if kind == "op" else ""
            print(f"| {n} | {ms(f):.1f} | {ms(b):.1f} | {ms(f + b):.1f} | {100 * (f + b) / total:.0f} | {nf}{c} |")
        if len(tab) > args.top:
            rest = tab[args.top:]
            print(f"| ({len(rest)} more) | {ms(sum(r[0] for r in rest)):.1f} | {ms(sum(r[1] for r in rest)):.1f} "
                  f"| {ms(sum(r[0] + r[1] for r in rest)):.1f} | | |" + (" |" if kind == "op" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
