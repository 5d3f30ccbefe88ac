"""Gradient-check every layer, loss and core op on tiny float64 inputs (`chainrule gradcheck`).

For each case the analytic gradient of L = sum(out * R) (R a fixed random array: a random
projection tests the whole vector-Jacobian product) with respect to the input AND every
parameter of the layer is compared with central differences
(L(x + h) - L(x - h)) / 2h, element by element. The error reported is CS231n's
relative error

    max_i |analytic_i - numeric_i| / max(|analytic_i| + |numeric_i|, 1e-8)

which is about 1e-7 or below for a correct backward in float64 (measured: 1.3e-7 at worst; inputs
are kept away from kinks such as ReLU's 0) and about 1e-2 or larger for a wrong one. A case
passes below 1e-5.

    results = run_gradchecks()
    print(format_table(results))

The cases (every layer, loss and core op) are the table in grad_cases.py, which the tests share.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np

from .. import rng
from ..gradcheck import compare_gradients
from .grad_cases import CASES, GradCase

__all__ = ["GradCase", "CaseResult", "CASES", "check_case", "run_gradchecks", "format_table", "rel_error"]

TOLERANCE = 1e-5


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """CS231n's max elementwise relative error (0 for empty arrays)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


@dataclass
class CaseResult:
    name: str
    kind: str
    input_shape: tuple
    checked: list[str]
    max_rel_error: float
    passed: bool
    error: str = ""


# ------------------------------------------------------------------ checking
def check_case(case: GradCase, seed: int = 0, h: float = 1e-6, tol: float = TOLERANCE) -> CaseResult:
    """Gradient-check one case; never raises for a wrong gradient (the result says so)."""
    g = np.random.default_rng(seed)
    state = rng.get_rng_state()
    try:
        fn, tensors, shape = case.setup(g)
        pairs = compare_gradients(fn, list(tensors.values()), eps=h, seed=seed)
        worst = max(rel_error(analytic, numeric) for analytic, numeric in pairs)
        passed = bool(np.isfinite(worst) and worst < tol)
        return CaseResult(case.name, case.kind, tuple(shape), list(tensors), worst, passed)
    except Exception as e:  # a crashing backward is a failed check, reported in the table
        return CaseResult(case.name, case.kind, (), [], float("nan"), False, f"{type(e).__name__}: {e}")
    finally:
        rng.set_rng_state(state)


def run_gradchecks(pattern: str | None = None, seed: int = 0, tol: float = TOLERANCE,
                   cases: list[GradCase] | None = None) -> list[CaseResult]:
    """Check every case (or those whose name matches the glob `pattern`, case-insensitive)."""
    chosen = [c for c in (cases or CASES)
              if pattern is None or fnmatch.fnmatch(c.name.lower(), pattern.lower())]
    if not chosen:
        raise ValueError(f"gradcheck: no case matches {pattern!r}; cases: {', '.join(c.name for c in CASES)}")
    return [check_case(c, seed=seed, tol=tol) for c in chosen]


def _shape(s: tuple) -> str:
    if s and isinstance(s[0], tuple):
        return ", ".join(_shape(x) for x in s)
    return "(" + ",".join(str(v) for v in s) + ")"


def format_table(results: list[CaseResult], tol: float = TOLERANCE) -> str:
    """A table: kind, name, input shape, checked tensors, max relative error, PASS/FAIL."""
    head = ("kind", "layer / op", "input shape", "checked", "max rel error", "result")
    rows = [(r.kind, r.name, _shape(r.input_shape), ",".join(r.checked),
             f"{r.max_rel_error:.2e}" if np.isfinite(r.max_rel_error) else "-",
             "PASS" if r.passed else "FAIL") for r in results]
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % n for n in w)
    out = [fmt.format(*head).rstrip(), fmt.format(*("-" * n for n in w)).rstrip()]
    out += [fmt.format(*r).rstrip() for r in rows]
    for r in results:
        if r.error:
            out.append(f"{r.name}: {r.error}")
    n_ok = sum(r.passed for r in results)
    out.append(f"\n{n_ok}/{len(results)} passed (relative error < {tol:g})")
    return "\n".join(out)
