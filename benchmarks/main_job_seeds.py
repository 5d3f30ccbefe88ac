"""The main job (`chainrule train` with its defaults) over seeds, on the install paths of issue 21
item 9, as a markdown table: seed, test accuracy, time.

    python benchmarks/main_job_seeds.py                         # seeds 0-9 on the three paths
    python benchmarks/main_job_seeds.py --paths readme --seeds 0-2
    python benchmarks/main_job_seeds.py --seeds 0-4 -- --epochs 40 --lr 5e-3   # a candidate recipe

Paths (each run is a fresh `python -m chainrule train --seed S --out TMP/...` subprocess):
    readme   the README's install without Numba: CHAINRULE_JIT=0, OpenBLAS choosing its own kernels
             (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from the environment)
    fast     with Numba's compiled kernels (the [fast] extra): CHAINRULE_JIT=1, OpenBLAS's own choice
    haswell  OPENBLAS_CORETYPE=Haswell (as some machines set by default), CHAINRULE_JIT=1

The target (issue 21 item 9): every run at least 97.8% and the mean of each path at least 98.5%.
The exit status is 0 when the target is met, 1 otherwise. Timings depend on the machine's load:
the table's header line gives the CPU model and the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIN_ACC, MIN_MEAN = 97.8, 98.5
PATHS = {  # name -> (variables to set, variables to remove)
    "readme": ({"CHAINRULE_JIT": "0"}, ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")),
    "fast": ({"CHAINRULE_JIT": "1"}, ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")),
    "haswell": ({"CHAINRULE_JIT": "1", "OPENBLAS_CORETYPE": "Haswell"}, ()),
}


def seeds_from(spec: str) -> list[int]:
    """'0-9' or '0,3,5' or '0-2,7' -> the seeds."""
    out: list[int] = []
    for part in spec.split(","):
        lo, sep, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    return out


def environment(path: str) -> dict[str, str]:
    """os.environ changed for one path, with this checkout first on PYTHONPATH."""
    set_, unset = PATHS[path]
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(set_)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return env


def run_one(path: str, seed: int, extra: list[str], tmp: Path) -> dict:
    """One `chainrule train --seed seed` on `path`: test accuracy (%), training and wall seconds."""
    out = tmp / f"{path}-seed{seed}"
    cmd = [sys.executable, "-m", "chainrule", "train", "--seed", str(seed), "--out", str(out), "--quiet", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=environment(path), capture_output=True, text=True, cwd=tmp)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{path} seed {seed} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    res = json.loads((out / "config.json").read_text())["results"]
    return {"path": path, "seed": seed, "acc": 100 * res["test_acc"], "train_s": res["wall_seconds"], "wall_s": wall,
            "raw_acc": 100 * res["raw_test_acc"] if "raw_test_acc" in res else None,
            "ema_val": res.get("ema_val_acc"), "best_val": res.get("best_val_acc"), "best_epoch": res.get("best_epoch"),
            "saved": res.get("saved_weights")}


def blas_core(path: str) -> str:
    """The OpenBLAS kernel family numpy picks on this path (threadpoolctl)."""
    code = "import numpy, threadpoolctl; print(threadpoolctl.threadpool_info()[0].get('architecture'))"
    try:
        return subprocess.run([sys.executable, "-c", code], env=environment(path), capture_output=True,
                              text=True, timeout=60).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def table(rows: list[dict], paths: list[str]) -> str:
    seeds = sorted({r["seed"] for r in rows})
    by = {(r["path"], r["seed"]): r for r in rows}
    head = "| seed | " + " | ".join(f"{p}: test acc | {p}: s" for p in paths) + " |"
    lines = [head, "|" + "---:|" * (1 + 2 * len(paths))]
    for s in seeds:
        cells = []
        for p in paths:
            r = by.get((p, s))
            cells += [f"{r['acc']:.2f}%", f"{r['train_s']:.1f}"] if r else ["", ""]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    summary = []
    for p in paths:
        accs = [r["acc"] for r in rows if r["path"] == p]
        summary += [f"mean {statistics.mean(accs):.2f}%, min {min(accs):.2f}%" if accs else "", ""]
    lines.append("| all | " + " | ".join(summary) + " |")
    return "\n".join(lines)


def verdict(rows: list[dict], paths: list[str]) -> tuple[bool, str]:
    accs = [r["acc"] for r in rows]
    ok = all(a >= MIN_ACC for a in accs)
    means = {p: statistics.mean([r["acc"] for r in rows if r["path"] == p]) for p in paths}
    ok = ok and all(m >= MIN_MEAN for m in means.values())
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    text = (f"{len(accs)} runs: {min(accs):.2f}-{max(accs):.2f}%, mean {statistics.mean(accs):.2f}% "
            f"(sample sd {sd:.2f} points); per path mean " + ", ".join(f"{p} {m:.2f}%" for p, m in means.items())
            + f"; target (each >= {MIN_ACC}%, mean >= {MIN_MEAN}%): {'met' if ok else 'NOT met'}")
    return ok, text


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0-9", help="e.g. 0-9 (default), 0,3,5")
    p.add_argument("--paths", default="readme,fast,haswell", help="comma list of " + ", ".join(PATHS))
    p.add_argument("--json", default=None, metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--combine", nargs="+", metavar="JSON", help="print the table of rows saved by earlier --json runs "
                   "(e.g. one run per path, started in parallel) instead of running")
    p.add_argument("--fail-fast", action="store_true", help=f"stop at the first run under {MIN_ACC}%% (exploring recipes)")
    args = p.parse_args(argv)
    paths = [s.strip() for s in args.paths.split(",")]
    if unknown := [q for q in paths if q not in PATHS]:
        p.error(f"unknown path(s) {unknown}; choose from {list(PATHS)}")
    if args.combine:
        rows = [r for f in args.combine for r in json.loads(Path(f).read_text())]
        paths = [q for q in PATHS if any(r["path"] == q for r in rows)]
        print(table(rows, paths) + "\n\n" + verdict(rows, paths)[1])
        return 0 if verdict(rows, paths)[0] else 1
    seeds = seeds_from(args.seeds)
    load_before = load()
    rows = []
    with tempfile.TemporaryDirectory(prefix="main_job_") as tmp:
        for seed in seeds:  # seeds outside, paths inside: load drifts hit every path alike
            for path in paths:
                rows.append(run_one(path, seed, extra, Path(tmp)))
                r = rows[-1]
                raw = "" if r["raw_acc"] is None else (f" (saved: {r['saved'] or 'ema'}; EMA val {r['ema_val']:.4f}, raw "
                                                         f"{r['raw_acc']:.2f}% test, {r['best_val']:.4f} val at epoch {r['best_epoch']})")
                print(f"  {path} seed {seed}: {r['acc']:.2f}%{raw} ({r['train_s']:.1f} s training, {r['wall_s']:.1f} s wall)",
                      file=sys.stderr, flush=True)
                if args.fail_fast and r["acc"] < MIN_ACC:
                    break
            else:
                continue
            break
    ok, text = verdict(rows, paths)
    import numpy

    print(f"`chainrule train{' ' + ' '.join(extra) if extra else ''} --seed S`, {time.strftime('%Y-%m-%d')}, "
          f"{machine()}, NumPy {numpy.__version__}, OpenBLAS kernels: "
          + ", ".join(f"{q} {blas_core(q)}" for q in paths)
          + f"; load average {load_before} before, {load()} after (s: training seconds)\n")
    print(table(rows, paths))
    print("\n" + text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
