"""Algorithm choices timed on this machine, per layer geometry (cuDNN's `benchmark` mode).

Which way of computing a convolution is fastest (one GEMM on im2col columns, column-chunked
GEMMs for OpenBLAS's small-matrix kernels, one product per kernel offset, ...) depends on the
layer's sizes, the CPU and the BLAS kernels OpenBLAS picked for it (threadpoolctl's
`architecture`: SkylakeX and Haswell differ by 1.5x on the same products). So no threshold is
fixed here: the first call with a new geometry times every candidate (three times each, alternating,
the fastest run counting), keeps the fixed rule unless another candidate is at least 5% faster
(`_MARGIN`: timings on a busy machine move by more than that), returns the winner's result,
and remembers the winner

- for the process (a dict), and
- on disk, in `autotune-v1.json` under `$CHAINRULE_CACHE_DIR`, else `$XDG_CACHE_HOME/chainrule`,
  else `~/.cache/chainrule` (like Numba's cache), keyed by the machine (CPU model, OpenBLAS
  kernel set and version, NumPy and Numba versions, op threads), so a new process on the same
  machine makes the same choices without timing them again.

`CHAINRULE_AUTOTUNE` (read at import; `set_mode` at run time):

    timed     (default) time on first use, remember for the process and on disk
    process   time on first use, remember for the process only (no file)
    frozen    (or 0) no timing: each op's fixed rule (`default`), the same choice on every
              machine and in every process: reproducible to the bit, as PyTorch's
              `cudnn.benchmark = False`

The candidates compute the same function and round differently in float32 (other summation
orders: agreement to about 1e-6 relative, float64 to 1e-12; the tests check every candidate
against the naive loops). Within a process, and across processes that share the disk cache, a
geometry always takes the same candidate, so a resumed run repeats an uninterrupted one bit for
bit; on another machine, or with `frozen` against `timed`, results agree to those tolerances.
Jobs below `MIN_WORK` multiply-adds take the fixed rule without timing (too small to matter).
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["run", "set_mode", "get_mode", "mode", "choices", "clear", "cache_file", "machine", "MIN_WORK"]

_ROUNDS = 3  # each candidate runs this often on first use; the fastest run counts
_MARGIN = 0.95  # another candidate replaces the fixed rule when at least 5% faster
MIN_WORK = 1 << 27  # multiply-adds (134M, ~2 ms); below, the fixed rule decides: the digits main job (its
# training batches of 64 and evaluation batches of 256) is never timed
_MODES = ("timed", "process", "frozen")
_VERSION = 1  # bump when a candidate's code changes enough that old timings no longer hold


def _mode_from_environment() -> str:
    v = os.environ.get("CHAINRULE_AUTOTUNE", "timed").strip().lower()
    if v in ("0", "false", "no", "off", "frozen"):
        return "frozen"
    if v in ("", "1", "true", "yes", "on", "timed"):
        return "timed"
    if v == "process":
        return "process"
    raise ValueError(f"CHAINRULE_AUTOTUNE={v!r}: expected timed (1), process or frozen (0)")


_mode = _mode_from_environment()
_choices: dict[str, str] = {}  # "op|key" -> candidate name, this process
_disk: dict[str, str] | None = None  # this machine's entries of the file, loaded on first use
_lock = threading.Lock()


def set_mode(m: str) -> None:
    """"timed", "process" or "frozen" (see the module docstring)."""
    global _mode
    if m not in _MODES:
        raise ValueError(f"autotune mode must be one of {_MODES}, got {m!r}")
    _mode = m


def get_mode() -> str:
    return _mode


@contextlib.contextmanager
def mode(m: str) -> Iterator[None]:
    """`with autotune.mode("frozen"): ...` then the previous mode again."""
    before = _mode
    set_mode(m)
    try:
        yield
    finally:
        set_mode(before)


def choices() -> dict[str, str]:
    """The choices made or loaded in this process, "op|key" -> candidate (for benchmark records)."""
    return dict(_choices)


def clear() -> None:
    """Forget this process's choices (the file stays)."""
    global _disk
    _choices.clear()
    _disk = None


def cache_file() -> Path:
    base = os.environ.get("CHAINRULE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "chainrule")
    return Path(base) / f"autotune-v{_VERSION}.json"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """What the timings depend on: CPU, BLAS kernel set and version, library versions, op threads."""
    import numpy as np

    from . import parallel

    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info
        libs = sorted((i for i in threadpool_info() if i.get("user_api") == "blas"),
                      key=lambda i: ("numpy" not in str(i.get("filepath", "")), str(i.get("filepath"))))
        if libs:  # NumPy's own BLAS (others, e.g. SciPy's, load later or not at all)
            i = libs[0]
            blas = f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
    except Exception:  # threadpoolctl missing or failing: the key is just less specific
        pass
    try:
        import numba
        nb = numba.__version__
    except Exception:
        nb = "none"
    return (f"{_cpu_model()} | {blas} | numpy {np.__version__} | numba {nb} | "
            f"threads {parallel.get_num_threads()}")


def _load() -> dict[str, str]:
    global _disk
    if _disk is None:
        try:
            _disk = dict(json.loads(cache_file().read_text()).get(machine(), {}))
        except (OSError, ValueError, AttributeError):
            _disk = {}
    return _disk


def _store(entry: str, choice: str) -> None:
    """Add one choice to the file: read, merge, write a temporary file, rename (never a torn file;
    two processes writing at once may lose one entry, which is then timed again)."""
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        data.setdefault(machine(), {})[entry] = choice
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:  # a read-only home: the choice still holds for this process
        pass


def _time(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run(op: str, key: tuple, candidates: dict[str, Callable[[], Any]], default: str, work: int) -> Any:
    """The result of the candidate chosen for (op, key): `default` when frozen or when the job
    (`work` multiply-adds) is small; otherwise the remembered one, or, on first use, the fastest
    of timing them all (whose result is returned)."""
    if len(candidates) == 1 or _mode == "frozen" or work < MIN_WORK:
        return candidates[default]()
    entry = f"{op}|{','.join(map(str, key))}"
    name = _choices.get(entry)
    if name is None and _mode == "timed":
        with _lock:
            name = _load().get(entry)
    if name in candidates:
        _choices[entry] = name
        return candidates[name]()
    best_t = {n: float("inf") for n in candidates}
    kept: dict[str, Any] = {}  # results of the fixed rule and of the fastest other candidate
    for _ in range(_ROUNDS):  # alternating; the first call of each also pays buffers and compiling
        for n, fn in candidates.items():
            t, out = _time(fn)
            best_t[n] = min(best_t[n], t)
            rival = min((m for m in candidates if m != default), key=best_t.__getitem__)
            if n in (default, rival):
                kept[n] = out
            kept = {m: r for m, r in kept.items() if m in (default, rival)}
            out = None  # noqa: F841 (only the kept results stay alive)
    # another candidate must beat the fixed rule clearly: timings on a busy machine move by more
    best = rival if best_t[rival] < _MARGIN * best_t[default] else default
    result = kept[best]
    _choices[entry] = best
    if _mode == "timed":
        with _lock:
            _load()[entry] = best
            _store(entry, best)
    return result
