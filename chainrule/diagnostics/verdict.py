"""What the train/validation accuracy curves say about the next thing to try.

The lecture's reading of the two curves:
- a big gap between training and validation accuracy: overfitting; increase
  regularisation (weight decay, dropout, augmentation) or get more data;
- no gap and a low training accuracy: underfitting; increase the model's capacity
  (wider/deeper) or train it harder (learning rate, fewer regularisers);
- validation accuracy still rising at the end: train longer.
Given the per-iteration losses too (`loss_history=`), it adds the loss curve's shapes
(loss_curve.py: exploding, linear and slow, plateau then drop, noisy).

    print(gap_verdict(solver.train_acc_history, solver.val_acc_history))
    cr.Solver(..., callbacks=[GapVerdict()])   # prints the verdict when training ends
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..callbacks import Callback
from .loss_curve import diagnose_loss

__all__ = ["Diagnosis", "diagnose_gap", "gap_verdict", "GapVerdict"]


@dataclass
class Diagnosis:
    """codes: subset of {"overfitting", "underfitting", "still_rising", "ok"} plus, when the losses
    were given, the loss curve's codes (lr_too_high, lr_too_low, bad_init, noisy); text: the advice."""

    codes: list[str]
    train_acc: float
    val_acc: float
    gap: float
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text


def _tail_mean(h: np.ndarray, k: int) -> float:
    return float(np.mean(h[-k:]))


def diagnose_gap(train_acc_history: Sequence[float], val_acc_history: Sequence[float], *,
                 big_gap: float = 0.10, small_gap: float = 0.03, low_acc: float = 0.90,
                 window: int = 3, rising: float = 0.01,
                 loss_history: Sequence[float] | None = None) -> Diagnosis:
    """Read the end of the two accuracy curves (one value per epoch).

    The final accuracies are the means over the last `window` epochs (less noisy than the
    last value). gap = train - val.
    big_gap: gap above this is overfitting. small_gap, low_acc: a gap below small_gap with a
        training accuracy below low_acc is underfitting (the right low_acc depends on the task:
        0.9 suits digits/MNIST; use ~0.6 for CIFAR-10 from scratch).
    rising: validation accuracy is "still rising" if a straight line through its last
        `window` + 1 epochs gains more than this over `window` epochs.
    loss_history: the per-iteration losses; their shape (diagnose_loss) joins the verdict.
    """
    t = np.asarray(train_acc_history, dtype=np.float64)
    v = np.asarray(val_acc_history, dtype=np.float64)
    if t.size == 0 or v.size == 0:
        raise ValueError("gap_verdict: the accuracy histories are empty (train at least one epoch)")
    if t.size != v.size:
        raise ValueError(f"gap_verdict: train_acc_history has {t.size} epochs, val_acc_history {v.size}")
    k = max(1, min(window, t.size // 2 or 1))
    tr, va = _tail_mean(t, k), _tail_mean(v, k)
    gap = tr - va
    codes: list[str] = []
    lines = [f"final train acc {tr:.3f}, val acc {va:.3f} (mean of the last {k} epoch{'s' * (k > 1)}), "
             f"gap {gap:+.3f}"]
    if gap > big_gap:
        codes.append("overfitting")
        lines.append(f"- big gap (> {big_gap:.2f}): overfitting; increase regularisation (weight decay, dropout, "
                     "augmentation) or get more data")
    elif gap < small_gap and tr < low_acc:
        codes.append("underfitting")
        lines.append(f"- no gap (< {small_gap:.2f}) and low training accuracy (< {low_acc:.2f}): underfitting; "
                     "increase model capacity (wider/deeper), or lower the regularisation")
    n = min(v.size, k + 1)
    if n >= 2:
        # the trend of the last k + 1 epochs (a least-squares line), as a gain over k epochs
        gain = float(np.polyfit(np.arange(n), v[-n:], 1)[0]) * k
        if gain > rising:
            codes.append("still_rising")
            lines.append(f"- validation accuracy still rising (+{gain:.3f} over the last {k} epoch{'s' * (k > 1)}): "
                         "train longer")
    if not codes:
        codes.append("ok")
        lines.append("- the gap is moderate and validation accuracy has levelled off: reasonable; tune "
                     "regularisation and learning rate around this point")
    if loss_history is not None:
        loss = diagnose_loss(loss_history)
        lines += loss.lines
        shapes = [c for c in loss.codes if c not in ("ok", "too_short")]
        codes = [c for c in codes if c != "ok"] + shapes if shapes else codes
    return Diagnosis(codes, tr, va, gap, lines)


def gap_verdict(train_acc_history: Sequence[float], val_acc_history: Sequence[float], **kwargs: Any) -> str:
    """The verdict as text (see `diagnose_gap` for the thresholds)."""
    return diagnose_gap(train_acc_history, val_acc_history, **kwargs).text


class GapVerdict(Callback):
    """At the end of training, diagnose the Solver's accuracy curves; keeps `.diagnosis`
    and prints the verdict (print=False to keep it quiet)."""

    def __init__(self, print: bool = True, **kwargs: Any):  # noqa: A002 - a flag named like the builtin
        self.print, self.kwargs = print, kwargs
        self.diagnosis: Diagnosis | None = None

    def on_train_end(self, logs):
        s = self.solver
        if not s.train_acc_history:
            return
        kwargs = {"loss_history": getattr(s, "loss_history", None), **self.kwargs}
        self.diagnosis = diagnose_gap(s.train_acc_history, s.val_acc_history, **kwargs)
        if self.print:
            import builtins

            builtins.print("Train/val verdict: " + self.diagnosis.text)
