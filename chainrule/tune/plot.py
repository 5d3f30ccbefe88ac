"""The lecture's picture of a random search: learning rate against regularisation strength,
both on log axes, each trial a dot coloured by its validation accuracy. Good trials form a
band; a band touching the frame says the range was too narrow.

Drawn with matplotlib's object API and the Agg canvas: no pyplot state, no display needed.
"""
from __future__ import annotations

import os
from typing import Any

from optuna.trial import TrialState

from .space import is_numeric


def pick_axes(space: dict, x: str | None = None, y: str | None = None) -> tuple[str, str]:
    """The two axes: the ones named, else the first two log-scale params, else the first two numeric."""
    for name in (x, y):
        if name is not None and name not in space:
            raise ValueError(f"plot: no parameter {name!r} in the space (have {', '.join(space)})")
    logs = [n for n, d in space.items() if is_numeric(d) and d.log]
    candidates = list(dict.fromkeys(logs + [n for n, d in space.items() if is_numeric(d)] + list(space)))
    if x is None:
        x = next((n for n in candidates if n != y), None)
    if y is None:
        y = next((n for n in candidates if n != x), None)
    if x is None or y is None:
        raise ValueError("plot: the scatter needs two parameters in the space")
    return x, y


def scatter_plot(result: Any, path: str | os.PathLike, x: str | None = None, y: str | None = None,
                 title: str | None = None) -> str:
    """Save the scatter of `result`'s trials (a SearchResult) as PNG at `path`; returns the path.
    COMPLETE trials are filled dots coloured by value, PRUNED ones hollow (at their last reported
    value), the best trial a star."""
    from matplotlib.figure import Figure

    from ..viz.classifiers import save_figure

    space = result.space
    x, y = pick_axes(space, x, y)
    fig = Figure(figsize=(6.4, 5.0), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    trials = [t for t in result.trials if t.value is not None and x in t.params and y in t.params]
    values = [t.value for t in trials]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    sc = None
    for state, style in ((TrialState.COMPLETE, {}), (TrialState.PRUNED, {"facecolors": "none", "linewidths": 1.2})):
        ts = [t for t in trials if t.state == state]
        if not ts:
            continue
        c = [t.value for t in ts]
        kw = dict(c=c, cmap="viridis", vmin=vmin, vmax=vmax, s=36, label=f"{state.name.lower()} ({len(ts)})")
        if style:
            import matplotlib

            cmap = matplotlib.colormaps["viridis"]
            span = (vmax - vmin) or 1.0
            kw = dict(facecolors="none", edgecolors=[cmap((v - vmin) / span) for v in c], s=36,
                      linewidths=1.2, label=f"pruned ({len(ts)})")
        h = ax.scatter([t.params[x] for t in ts], [t.params[y] for t in ts], **kw)
        if state == TrialState.COMPLETE:
            sc = h
    try:
        best = result.best_trial
        ax.scatter([best.params[x]], [best.params[y]], marker="*", s=260, c="red",
                   edgecolors="black", label=f"best {best.value:.4g}", zorder=3)
    except (ValueError, KeyError):
        pass
    for name, set_scale, set_lim in ((x, ax.set_xscale, ax.set_xlim), (y, ax.set_yscale, ax.set_ylim)):
        dim = space[name]
        if is_numeric(dim):
            if dim.log:
                set_scale("log")
            pad = 0.03
            if dim.log:
                lo, hi = dim.low * (dim.high / dim.low) ** -pad, dim.high * (dim.high / dim.low) ** pad
            else:
                lo, hi = dim.low - pad * (dim.high - dim.low), dim.high + pad * (dim.high - dim.low)
            set_lim(lo, hi)
    ax.set_xlabel(x + (" (log)" if is_numeric(space[x]) and space[x].log else ""))
    ax.set_ylabel(y + (" (log)" if is_numeric(space[y]) and space[y].log else ""))
    ax.set_title(title or f"{result.study_name}: {len(trials)} trials")
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="validation accuracy" if result.direction == "maximize" else "value")
    if trials:
        ax.legend(loc="best", fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)

