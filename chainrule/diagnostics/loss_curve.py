"""Reading the loss curve (lecture 6, "babysitting the learning process"): the shapes the notes
draw and what each says.

    explodes (rises, or becomes inf/NaN)       -> learning rate too high
    decreases linearly and slowly              -> learning rate too low
    flat for a long while, then drops           -> bad initialisation
    very noisy around its trend                -> batch too small (or learning rate high)
    drops fast, then levels off                -> a good learning rate

    diagnose_loss(solver.loss_history).codes   # e.g. ["lr_too_low"]

The minibatch losses (one per iteration) are smoothed by a moving average of ~5% of the run; the
tests in tests/test_diagnostics_loss_curve.py build each shape synthetically and check its code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["LossDiagnosis", "diagnose_loss", "ADVICE"]

ADVICE = {
    "lr_too_high": "the loss explodes: learning rate too high; lower it (by 3-10x)",
    "lr_too_low": "the loss decreases linearly and slowly: learning rate too low; raise it (by 3-10x)",
    "bad_init": "the loss is flat for a long while, then drops: bad initialisation (e.g. weights too small); "
                "use He/Xavier initialisation or batch norm",
    "noisy": "the loss is very noisy around its trend: batch too small (or learning rate high); "
             "a larger batch or a lower learning rate",
}


@dataclass
class LossDiagnosis:
    """codes: subset of ADVICE's keys, or ["ok"]; lines: the measurements and the advice."""

    codes: list[str]
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _smooth(x: np.ndarray, w: int) -> np.ndarray:
    """Moving average with window w ('valid' part): length len(x) - w + 1."""
    c = np.cumsum(np.concatenate([[0.0], x]))
    return (c[w:] - c[:-w]) / w


def diagnose_loss(loss_history: Sequence[float], *, explode: float = 1.5, flat_fraction: float = 0.2,
                  linear_r2: float = 0.95, noise: float = 0.3, min_points: int = 20) -> LossDiagnosis:
    """The shapes of a per-iteration loss curve (module docstring).

    explode: a smoothed loss above `explode` x its start (or any inf/NaN) is lr_too_high.
    flat_fraction: the loss staying within 10% of its start for more than this fraction of the run,
        and then falling below 70% of it, is bad_init.
    linear_r2: a decreasing curve that a straight line fits this well (R^2), and whose second half
        falls at least 60% as much as its first half (a good rate falls fast, then levels off), is
        lr_too_low.
    noise: the residual around the trend in the second half, relative to the trend's level (at least
        a tenth of the curve's fall), above this is noisy.
    min_points: fewer losses than this: no reading (["too_short"]).
    """
    x = np.asarray(loss_history, dtype=np.float64)
    if x.size < min_points:
        return LossDiagnosis(["too_short"], [f"loss curve: {x.size} points, too few to read its shape "
                                             f"(at least {min_points})"])
    codes: list[str] = []
    if not np.all(np.isfinite(x)):
        first = int(np.argmax(~np.isfinite(x)))
        return LossDiagnosis(["lr_too_high"], [f"loss curve: not finite from iteration {first}",
                                               "- " + ADVICE["lr_too_high"]])
    w = max(1, x.size // 20)
    s = _smooth(x, w)
    start, end, low = float(s[0]), float(s[-1]), float(s.min())
    lines = [f"loss curve: {start:.4g} -> {end:.4g} (smoothed over {w} iteration{'s' * (w > 1)}), minimum {low:.4g}"]
    scale = max(abs(start), 1e-12)
    if end > explode * start or float(s.max()) > 2 * explode * start:
        codes.append("lr_too_high")
    else:
        t = np.arange(s.size, dtype=np.float64)
        # flat, then a drop: how long the curve stays within 10% of its start
        below = np.nonzero(s < start - 0.1 * scale)[0]
        flat_for = (below[0] if below.size else s.size) / s.size
        if flat_for > flat_fraction and below.size and end < 0.7 * start:
            codes.append("bad_init")
        elif end < start:
            slope, icpt = np.polyfit(t, s, 1)
            resid = s - (slope * t + icpt)
            r2 = 1 - float(np.sum(resid ** 2)) / max(float(np.sum((s - s.mean()) ** 2)), 1e-300)
            half = s.size // 2
            first_drop, second_drop = s[0] - s[half], s[half] - s[-1]
            if r2 > linear_r2 and second_drop > 0.6 * first_drop:
                codes.append("lr_too_low")
            lines.append(f"  linear fit R^2 {r2:.3f}; fall in the first half {first_drop:.4g}, second half {second_drop:.4g}")
    # noise: the raw losses around the trend, second half
    trend = np.interp(np.arange(x.size), np.arange(s.size) + (w - 1) / 2, s)
    tail = slice(x.size // 2, None)
    # relative to the trend's level, but never to less than a tenth of the fall (a loss near 0 with a
    # little noise is a good curve, not a noisy one)
    level = max(abs(float(np.mean(trend[tail]))), 0.1 * (start - low), 1e-12)
    rel = float(np.std(x[tail] - trend[tail]) / level)
    lines.append(f"  noise around the trend (second half): {rel:.2f} of its level")
    if rel > noise and "lr_too_high" not in codes:
        codes.append("noisy")
    for c in codes:
        lines.append("- " + ADVICE[c])
    if not codes:
        codes.append("ok")
        lines.append("- the loss falls fast and levels off, without much noise: a reasonable learning rate")
    return LossDiagnosis(codes, lines)
