"""Sanity checks before a long training run (the lecture's "babysitting" first steps).

1. The initial loss is what it should be: with small final-layer weights the class scores
   are about equal, so the softmax loss is log(C) (every class gets probability 1/C) and
   the multiclass SVM loss is C - 1 (every wrong class violates the margin by 1).
2. Adding regularisation makes the loss go up.
3. The model can overfit a tiny training subset (20-50 examples) to 100% training
   accuracy with no regularisation. If it cannot, something is broken (the learning rate,
   the gradients, the architecture), and a long run would waste hours.

    report = sanity_check(model, cr.data.load_digits())
    print(report)          # a table of checks; report.passed is True if all passed

The model given is never modified: checks that change weights work on deep copies.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .. import backend, optim, rng
from ..autograd import no_grad
from ..metrics import accuracy, param_dtype, predict_scores
from ..nn import functional as F
from ..nn.module import Module, module_device
from ..tensor import Tensor

__all__ = ["Check", "SanityReport", "sanity_check", "expected_initial_loss", "final_layer"]

LOSSES = {"cross_entropy": F.cross_entropy, "softmax": F.cross_entropy, "svm": F.svm_loss}


@dataclass
class Check:
    """One check: what was measured, what was expected, whether it passed, and a note."""

    name: str
    passed: bool
    measured: str
    expected: str
    note: str = ""


class SanityReport:
    """The list of checks; `passed` is True when every check passed; str() is a table."""

    def __init__(self, checks: list[Check], info: dict[str, Any] | None = None):
        self.checks = checks
        self.info = info or {}

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __getitem__(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; checks: {[c.name for c in self.checks]}")

    def __str__(self) -> str:
        head = ("check", "result", "measured", "expected")
        rows = [(c.name, "PASS" if c.passed else "FAIL", c.measured, c.expected) for c in self.checks]
        w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
        fmt = "  ".join("{:<%d}" % n for n in w)
        out = [fmt.format(*head).rstrip(), fmt.format(*("-" * n for n in w)).rstrip()]
        out += [fmt.format(*r).rstrip() for r in rows]
        notes = [f"- {c.name}: {c.note}" for c in self.checks if c.note]
        if notes:
            out += [""] + notes
        n_ok = sum(c.passed for c in self.checks)
        out += ["", f"{n_ok}/{len(self.checks)} checks passed" + ("" if self.passed else ": fix the failures "
                                                                  "before a long training run")]
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"SanityReport(passed={self.passed}, checks={[c.name for c in self.checks]})"


def expected_initial_loss(loss: str, num_classes: int) -> float:
    """log(C) for the softmax (cross-entropy) loss, C - 1 for the multiclass SVM (margin 1)."""
    if loss in ("cross_entropy", "softmax"):
        return math.log(num_classes)
    if loss == "svm":
        return float(num_classes - 1)
    raise ValueError(f"sanity_check: unknown loss {loss!r}; expected 'cross_entropy' or 'svm'")


def final_layer(model: Module) -> tuple[str, Module]:
    """The last registered module with a weight matrix (Linear or Conv): the one making the scores."""
    found = None
    for name, m in model.named_modules():
        w = dict(m.named_parameters(recurse=False)).get("weight")
        if w is not None and w.data.ndim >= 2:
            found = (name, m)
    if found is None:
        raise ValueError(f"sanity_check: {type(model).__name__} has no layer with a weight matrix")
    return found


def _arrays(data: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, tuple) and len(data) == 2:
        X, y = data
    elif isinstance(data, Mapping) or hasattr(data, "X_train"):
        X, y = data["X_train"], data["y_train"]
    else:
        raise TypeError("sanity_check: data must be a cr.data.Splits, a dict with X_train/y_train, or (X, y), "
                        f"got {type(data).__name__}")
    X = np.asarray(X.data if isinstance(X, Tensor) else X)
    y = np.asarray(y.data if isinstance(y, Tensor) else y).astype(np.int64)
    if y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"sanity_check: X {X.shape} and y {y.shape} do not match (need X (N, ...), y (N,))")
    return X, y


def _on_device(model: Module, X: np.ndarray, y: np.ndarray) -> tuple[Tensor, Any]:
    """Host X and y on the model's device (themselves on the CPU)."""
    dev = module_device(model)
    return Tensor(X).to(dev), backend.to_device(y, dev)


def _loss_value(model: Module, loss_fn, X: np.ndarray, y: np.ndarray) -> float:
    Xd, yd = _on_device(model, X, y)
    with no_grad():
        return float(loss_fn(model(Xd), yd).data)


def _weights(model: Module) -> list:
    # Regularise weight matrices/filters only, as the lecture (and weight decay in practice) does.
    return [p for n, p in model.named_parameters() if p.data.ndim >= 2]


def sanity_check(model: Module, data: Any, loss: str = "cross_entropy", reg: float = 1e3,
                 n_overfit: int = 20, lr: float = 1e-2, max_iters: int = 200, num_classes: int | None = None,
                 batch_size: int = 256, loss_tol: float = 0.15, seed: int = 0) -> SanityReport:
    """Run the lecture's sanity checks on `model` (not modified) with the training data of `data`.

    data: a cr.data.Splits, a dict with X_train/y_train, or (X, y); X as the model eats it
        (already preprocessed).
    loss: "cross_entropy" (softmax) or "svm".
    reg: the L2 strength for the "loss goes up" check (loss + reg * sum w^2 over weight matrices).
    n_overfit: how many training examples to overfit (20-50); lr, max_iters: Adam settings of
        that loop (full batch, no regularisation, on a deep copy, stops at 100% accuracy).
    loss_tol: relative tolerance of the initial-loss check of the model as given. Default
        initialisations give slightly non-zero scores, so the measured loss sits a little above
        log C; 15% allows for that but not for too-large final weights.
    Returns a SanityReport.
    """
    if not isinstance(model, Module):
        raise TypeError(f"sanity_check: model must be a cr.nn.Module, got {type(model).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"sanity_check: unknown loss {loss!r}; expected 'cross_entropy' or 'svm'")
    if not 1 <= n_overfit:
        raise ValueError(f"sanity_check: n_overfit must be at least 1, got {n_overfit}")
    loss_fn = LOSSES[loss]
    X, y = _arrays(data)
    X = X.astype(param_dtype(model), copy=False)
    C = int(num_classes) if num_classes is not None else int(y.max()) + 1
    pick = np.random.default_rng(seed)
    batch = pick.choice(X.shape[0], size=min(batch_size, X.shape[0]), replace=False)
    Xb, yb = X[batch], y[batch]
    expected = expected_initial_loss(loss, C)
    checks: list[Check] = []
    info: dict[str, Any] = {"num_classes": C, "loss": loss}

    # 1. the initial loss, as the model is, in training mode (the loss of the first iteration)
    work = copy.deepcopy(model)
    work.train()
    state = rng.get_rng_state()
    rng.manual_seed(seed)
    try:
        with no_grad():
            scores = np.asarray(backend.to_host(work(_on_device(work, Xb, yb)[0]).data), dtype=np.float64)
    finally:
        rng.set_rng_state(state)
    if scores.ndim != 2 or scores.shape[1] != C:
        raise ValueError(f"sanity_check: the model gives scores of shape {scores.shape}, expected (N, {C})")
    measured = float(loss_fn(Tensor(scores), yb).data)
    ok = abs(measured - expected) <= loss_tol * expected
    note = ""
    if not ok:
        note = (f"scores have std {scores.std():.3g}; initial loss should be near {expected:.3f} with small "
                "final-layer weights (see the next check)")
    checks.append(Check("initial loss", ok, f"{measured:.4f}", f"{expected:.4f} +- {loss_tol:.0%}", note))

    # 1b. the same with the final layer's weights scaled down: tests the loss itself, not the init
    lname, last = final_layer(work)
    w = last.weight
    w.data = w.data * w.data.dtype.type(1e-3 / max(float(abs(w.data).max()), 1e-12))
    b = getattr(last, "bias", None)
    if b is not None:
        b.data = np.zeros_like(b.data)
    small = _loss_value(work, loss_fn, Xb, yb)
    ok_small = abs(small - expected) <= 0.01 * expected
    checks.append(Check("initial loss, small final weights", ok_small, f"{small:.4f}", f"{expected:.4f} +- 1%",
                        "" if ok_small else f"layer {lname or type(last).__name__!r} scaled to |w| <= 1e-3; "
                        "a wrong value here means the loss or the scores are wrong"))
    info["initial_loss"], info["initial_loss_small_weights"] = measured, small

    # 2. regularisation makes the loss go up
    work = copy.deepcopy(model)
    work.eval()  # no dropout: the two losses see the same network
    base = _loss_value(work, loss_fn, Xb, yb)
    with no_grad():
        penalty = float(F.l2_penalty(_weights(work)).data) if _weights(work) else 0.0
    with_reg = base + reg * penalty
    checks.append(Check("loss goes up with regularisation", with_reg > base,
                        f"{with_reg:.4g} (reg={reg:g})", f"> {base:.4g} (no reg)",
                        "" if with_reg > base else "the model has no weight matrices to regularise, or they are 0"))

    # 3. overfit a tiny subset
    acc, it, final_loss = _overfit(model, loss_fn, X, y, n_overfit, lr, max_iters, seed)
    ok_fit = acc >= 1.0
    checks.append(Check(f"overfit {min(n_overfit, X.shape[0])} examples", ok_fit,
                        f"train acc {acc:.3f}, loss {final_loss:.3g} after {it} iters",
                        "train acc 1.000",
                        "" if ok_fit else f"Adam(lr={lr:g}) for {max_iters} iterations could not fit "
                        "them: check the learning rate (too low, or too high: loss exploding) and the gradients "
                        "(chainrule gradcheck)"))
    info.update(overfit_acc=acc, overfit_iters=it, overfit_loss=final_loss)
    return SanityReport(checks, info)


def _overfit(model: Module, loss_fn, X: np.ndarray, y: np.ndarray, n: int, lr: float, max_iters: int,
             seed: int) -> tuple[float, int, float]:
    """Full-batch Adam on n examples of a deep copy; returns (train acc in eval mode, iterations, last loss)."""
    n = min(n, X.shape[0])
    idx = np.random.default_rng(seed + 1).choice(X.shape[0], size=n, replace=False)
    Xs, ys = X[idx], y[idx]
    work = copy.deepcopy(model)
    Xd, yd = _on_device(work, Xs, ys)
    opt = optim.Adam(work.parameters(), lr=lr)
    state = rng.get_rng_state()
    rng.manual_seed(seed)  # dropout masks of this loop are reproducible and do not move the caller's stream
    acc, last, it = 0.0, float("nan"), 0
    try:
        for it in range(1, max_iters + 1):
            work.train()
            loss = loss_fn(work(Xd), yd)
            last = float(loss.data)
            if not math.isfinite(last):
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            if it % 5 == 0 or it == max_iters:
                acc = accuracy(predict_scores(work, Xs), ys)
                if acc >= 1.0:
                    break
    finally:
        rng.set_rng_state(state)
    return accuracy(predict_scores(work, Xs), ys), it, last
