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
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import nn, ops, rng
from ..gradcheck import compare_gradients
from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["GradCase", "CaseResult", "CASES", "check_case", "run_gradchecks", "format_table", "rel_error"]

TOLERANCE = 1e-5


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """CS231n's max elementwise relative error (0 for empty arrays)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


@dataclass
class GradCase:
    """name; kind ("layer", "loss" or "op"); setup(rng) -> (fn, {name: tensor to check}, input shape).

    fn() recomputes the output from the checked tensors (which it closes over)."""

    name: str
    kind: str
    setup: Callable[[np.random.Generator], tuple[Callable[[], Tensor], dict[str, Tensor], tuple]]


@dataclass
class CaseResult:
    name: str
    kind: str
    input_shape: tuple
    checked: list[str]
    max_rel_error: float
    passed: bool
    error: str = ""


# ------------------------------------------------------------------ inputs
def _x(g: np.random.Generator, *shape: int, away_from: float | None = None, positive: bool = False) -> Tensor:
    x = g.standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    if away_from is not None:
        # nudge values off the kink so central differences are valid
        x = np.where(np.abs(x - away_from) < 0.05, x + 0.2 * np.sign(x - away_from + 1e-12), x)
    return Tensor(x, requires_grad=True)


def _layer(module_fn: Callable[[], nn.Module], shape: tuple, away_from: float | None = None,
           reseed: bool = False, train: bool = True):
    """A case for a module: checks the input and every parameter."""
    def setup(g):
        m = module_fn().double()
        for p in m.parameters():  # random, not the default init: biases of 0 would hide bugs
            p.data = g.standard_normal(p.shape) * 0.5
        m.train(train)
        x = _x(g, *shape, away_from=away_from)

        def fn():
            if reseed:
                rng.manual_seed(0)  # the same dropout mask in every evaluation
            return m(x)
        return fn, {"x": x, **dict(m.named_parameters())}, shape
    return setup


def _loss(loss_fn: Callable, shape: tuple, target: str = "class"):
    def setup(g):
        x = _x(g, *shape)
        if target == "class":
            y = g.integers(0, shape[1], size=shape[0])
        else:
            y = Tensor(g.standard_normal(shape))
        return (lambda: loss_fn(x, y)), {"input": x}, shape
    return setup


def _op(fn: Callable, *shapes: tuple, away_from: float | None = None, positive: bool = False):
    def setup(g):
        xs = [_x(g, *s, away_from=away_from, positive=positive) for s in shapes]
        return (lambda: fn(*xs)), {f"x{i}": x for i, x in enumerate(xs)}, shapes[0] if len(shapes) == 1 else shapes
    return setup


def _svm_setup(g):
    # Keep every margin s_j - s_y + 1 away from the hinge's kink at 0.
    y = g.integers(0, 5, size=4)
    s = g.standard_normal((4, 5))
    m = s - s[np.arange(4), y][:, None] + 1.0
    s = np.where(np.abs(m) < 0.1, s + 0.3, s)
    x = Tensor(s, requires_grad=True)
    return (lambda: F.svm_loss(x, y)), {"input": x}, (4, 5)


def _penalty(fn: Callable):
    def setup(g):
        w1, w2 = _x(g, 3, 4, away_from=0.0), _x(g, 5, away_from=0.0)
        return (lambda: fn([w1, w2])), {"w1": w1, "w2": w2}, ((3, 4), (5,))
    return setup


CASES: list[GradCase] = [
    # layers (input and parameters)
    GradCase("Linear", "layer", _layer(lambda: nn.Linear(4, 3), (2, 4))),
    GradCase("Conv2d", "layer", _layer(lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5))),
    GradCase("Conv2d(stride=2)", "layer", _layer(lambda: nn.Conv2d(2, 2, 3, stride=2, padding=1), (1, 2, 5, 5))),
    GradCase("MaxPool2d", "layer", _layer(lambda: nn.MaxPool2d(2), (2, 2, 4, 4))),
    GradCase("AvgPool2d", "layer", _layer(lambda: nn.AvgPool2d(2), (2, 2, 4, 4))),
    GradCase("AdaptiveAvgPool2d", "layer", _layer(lambda: nn.AdaptiveAvgPool2d(2), (2, 2, 5, 5))),
    GradCase("BatchNorm1d", "layer", _layer(lambda: nn.BatchNorm1d(3), (5, 3))),
    GradCase("BatchNorm2d", "layer", _layer(lambda: nn.BatchNorm2d(2), (3, 2, 3, 3))),
    GradCase("BatchNorm2d(eval)", "layer", _layer(lambda: nn.BatchNorm2d(2), (2, 2, 3, 3), train=False)),
    GradCase("LocalResponseNorm", "layer", _layer(lambda: nn.LocalResponseNorm(3, alpha=0.1), (2, 4, 3, 3))),
    GradCase("Dropout", "layer", _layer(lambda: nn.Dropout(0.5), (3, 4), reseed=True)),
    GradCase("ReLU", "layer", _layer(nn.ReLU, (3, 4), away_from=0.0)),
    GradCase("LeakyReLU", "layer", _layer(lambda: nn.LeakyReLU(0.1), (3, 4), away_from=0.0)),
    GradCase("ELU", "layer", _layer(nn.ELU, (3, 4), away_from=0.0)),
    GradCase("Sigmoid", "layer", _layer(nn.Sigmoid, (3, 4))),
    GradCase("Tanh", "layer", _layer(nn.Tanh, (3, 4))),
    GradCase("Softmax", "layer", _layer(lambda: nn.Softmax(dim=1), (3, 4))),
    GradCase("LogSoftmax", "layer", _layer(lambda: nn.LogSoftmax(dim=1), (3, 4))),
    GradCase("Maxout", "layer", _layer(lambda: nn.Maxout(4, 3, pieces=2), (2, 4))),
    GradCase("Identity", "layer", _layer(nn.Identity, (2, 3))),
    GradCase("Flatten", "layer", _layer(nn.Flatten, (2, 2, 2, 2))),
    # losses
    GradCase("CrossEntropyLoss", "loss", _loss(nn.CrossEntropyLoss(), (4, 5))),
    GradCase("SVMLoss", "loss", _svm_setup),
    GradCase("MSELoss", "loss", _loss(nn.MSELoss(), (3, 4), target="value")),
    GradCase("l2_penalty", "loss", _penalty(F.l2_penalty)),
    GradCase("l1_penalty", "loss", _penalty(F.l1_penalty)),
    GradCase("elastic_net_penalty", "loss", _penalty(lambda ps: F.elastic_net_penalty(ps, 0.5))),
    # core ops
    GradCase("add (broadcast)", "op", _op(lambda a, b: a + b, (3, 4), (4,))),
    GradCase("sub (broadcast)", "op", _op(lambda a, b: a - b, (2, 1, 3), (4, 1))),
    GradCase("mul (broadcast)", "op", _op(lambda a, b: a * b, (3, 1), (1, 5))),
    GradCase("div", "op", _op(lambda a, b: a / b, (2, 3), (3,), positive=True)),
    GradCase("pow", "op", _op(lambda a: a ** 3, (2, 3))),
    GradCase("matmul", "op", _op(ops.matmul, (3, 4), (4, 2))),
    GradCase("matmul (batched)", "op", _op(ops.matmul, (2, 3, 4), (4, 2))),
    GradCase("exp", "op", _op(ops.exp, (2, 3))),
    GradCase("log", "op", _op(ops.log, (2, 3), positive=True)),
    GradCase("sqrt", "op", _op(ops.sqrt, (2, 3), positive=True)),
    GradCase("abs", "op", _op(ops.abs, (2, 3), away_from=0.0)),
    GradCase("clip", "op", _op(lambda a: a.clip(-0.5, 0.7), (4, 5), away_from=0.7)),
    GradCase("relu", "op", _op(ops.relu, (3, 4), away_from=0.0)),
    GradCase("sigmoid", "op", _op(ops.sigmoid, (3, 4))),
    GradCase("tanh", "op", _op(ops.tanh, (3, 4))),
    GradCase("maximum", "op", _op(ops.maximum, (3, 4), (4,))),
    GradCase("where", "op", _op(lambda a, b: ops.where(a.data > 0, a, b), (3, 4), (3, 4))),
    GradCase("sum(axis)", "op", _op(lambda a: a.sum(axis=1), (3, 4, 2))),
    GradCase("mean", "op", _op(lambda a: a.mean(axis=0), (5, 3))),
    GradCase("max(axis)", "op", _op(lambda a: a.max(axis=1), (4, 5))),
    GradCase("var", "op", _op(lambda a: a.var(axis=0), (5, 3))),
    GradCase("reshape", "op", _op(lambda a: a.reshape(4, 3) * 1.5, (3, 4))),
    GradCase("transpose", "op", _op(lambda a: a.transpose(0, 2) * 1.5, (2, 3, 4))),
    GradCase("getitem", "op", _op(lambda a: a[np.array([0, 2, 1, 2]), 1:3], (3, 4))),
    GradCase("cat", "op", _op(lambda a, b: ops.cat([a, b], 1), (2, 3), (2, 2))),
    GradCase("stack", "op", _op(lambda a, b: ops.stack([a, b], 0), (2, 3), (2, 3))),
    GradCase("pad", "op", _op(lambda a: ops.pad(a, (1, 2)), (2, 3))),
]


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
