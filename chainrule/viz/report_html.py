"""The HTML of a run report (viz/report.py gathers the RunRecords): one self-contained file,
inline CSS, every image an inline base64 PNG, no scripts, nothing fetched when it is viewed.

Each run is an <article id="run-K"> whose sections have ids run-K-summary, -verdict, -curves,
-config, -data, -timing, -per-class, -confusion, -filters, -misclassified; several runs add
#comparison (a table) and #overlay (their curves on shared axes) at the top.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from typing import Any, Sequence

import numpy as np

from .images import display_image, png_bytes, scale_for, upscale

__all__ = ["render_report", "curves_png", "pct"]

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #f5f7fa; --card: #fff; --accent: #2f6fb0;
        --good: #2f8f4e; --warn: #b7791f; --bad: #c53030; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 0; color: var(--muted); }
h2 { font-size: 21px; margin: 0 0 12px; }
h3 { font-size: 16px; margin: 0 0 10px; color: var(--ink); }
section, article > .summary { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          padding: 16px 20px; margin: 16px 0; }
article.run { margin-top: 36px; padding-top: 8px; border-top: 3px solid var(--accent); }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.grid2 > section, .stack > section:first-child { margin-top: 0; }
.grid2 > section { margin-bottom: 0; } .stack > section:last-child { margin-bottom: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { flex: 1 1 150px; background: var(--bg); border-radius: 6px; padding: 10px 14px; }
.card .v { font-size: 22px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 13px; }
td.num, th.num { text-align: right; }
table.kv td:first-child { color: var(--muted); width: 40%; }
.bar { height: 10px; background: var(--line); border-radius: 5px; min-width: 80px; }
.bar > div { height: 10px; background: var(--accent); border-radius: 5px; }
table.cm { width: auto; }
table.cm td { text-align: center; min-width: 34px; padding: 4px 6px; border: 1px solid #fff; }
table.cm th { text-align: center; padding: 2px 6px; }
table.cm th.row { text-align: right; vertical-align: middle; }
table.cm td { vertical-align: middle; }
table.cm th.vert { vertical-align: bottom; padding: 4px 2px; }
table.cm th.vert span { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }
.axis { color: var(--muted); font-size: 12px; }
img.plot { width: 100%; height: auto; display: block; }
img.px { image-rendering: pixelated; image-rendering: crisp-edges; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600;
           font-size: 13px; margin-right: 6px; }
.v-ok { background: var(--good); } .v-still_rising { background: var(--accent); }
.v-overfitting { background: var(--bad); } .v-underfitting { background: var(--warn); }
.v-lr_too_high { background: var(--bad); } .v-lr_too_low, .v-bad_init, .v-noisy { background: var(--warn); }
ul.lines { margin: 8px 0 0; padding-left: 20px; }
.mis { display: grid; grid-template-columns: repeat(auto-fill, minmax(96px, 1fr)); gap: 10px; }
.mis figure { margin: 0; text-align: center; font-size: 12px; }
.mis img { width: 80px; height: 80px; border: 1px solid var(--line); }
.mis .t { color: var(--good); } .mis .p { color: var(--bad); }
.nowrap { white-space: nowrap; }
table.compare td { overflow-wrap: anywhere; }   /* long argument values wrap: the table fits the page */
table.compare td.verdicts { min-width: 120px; } table.compare .verdict { margin: 1px 4px 1px 0; }
.note { color: var(--muted); font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px;
          vertical-align: -1px; }
"""

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


# ------------------------------------------------------------------ small formatters
def pct(v: Any, digits: int = 2) -> str:
    """0.9472 -> '94.72%'; missing or NaN -> '–'."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(f) else f"{100 * f:.{digits}f}%"


def _num(v: Any, fmt: str = "{:,.0f}") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return fmt.format(v)


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _img(png: bytes, alt: str, cls: str = "plot", style: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    style = f' style="{style}"' if style else ""
    return f'<img class="{cls}" alt="{_e(alt)}"{style} src="data:image/png;base64,{data}">'


def _kv(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


# ------------------------------------------------------------------ figures
def _fig_png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def curves_png(records: Sequence[Any]) -> bytes:
    """Loss (per iteration, smoothed; x in epochs), train (dashed) and val accuracy, and the learning
    rate, one colour per run: one run's picture, or several overlaid."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from .training import loss_panel

    fig = Figure(figsize=(15, 4.2))
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    several = len(records) > 1
    log_loss = False
    for k, r in enumerate(records):
        c = COLOURS[k % len(COLOURS)]
        label = r.name if several else None
        # the same loss picture as plots/curves.png (viz.training.loss_panel)
        log_loss |= loss_panel(axes[0], r.loss, r.iterations_per_epoch, colour=c, label=label, raw=not several,
                               per_epoch=r.loss_per_epoch)
        ep = np.arange(1, len(r.val_acc) + 1)
        if r.train_acc:
            axes[1].plot(np.arange(1, len(r.train_acc) + 1), r.train_acc, "--o", ms=3, color=c,
                         alpha=0.75 if several else 1, label=f"{label} train" if several else "train")
        if r.val_acc:
            axes[1].plot(ep, r.val_acc, "-o", ms=3, color=c if several else COLOURS[1],
                         label=f"{label} val" if several else "val")
        if r.ema_val_acc:
            axes[1].plot(np.arange(1, len(r.ema_val_acc) + 1), r.ema_val_acc, ":", lw=2, color=c if several else
                         COLOURS[2], label=f"{label} val (EMA)" if several else "val (EMA weights)")
        if r.lr:
            axes[2].plot(np.arange(1, len(r.lr) + 1), r.lr, "-o", ms=3, color=c, label=label)
    if log_loss:
        axes[0].set_yscale("log")
    lrs = np.asarray([v for r in records for v in r.lr], np.float64)
    if lrs.size and np.all(lrs > 0) and lrs.max() / lrs.min() > 10:
        axes[2].set_yscale("log")
    for ax, title, ylabel in zip(axes, (None, "Accuracy (train dashed, val solid, EMA dotted)", "Learning rate"),
                                 ("training loss", "accuracy", "learning rate")):
        if title:  # the loss panel has its own (per iteration, or epoch means)
            ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.14, top=0.9, wspace=0.25)
    return _fig_png(fig)


def _filters_png(model: Any) -> tuple[bytes, tuple[int, ...]] | None:
    from .training import filter_grid, first_layer_weights, framed

    w = first_layer_weights(model) if model is not None else None
    if w is None:
        return None
    grid = framed(filter_grid(w))  # opaque gaps and border: white cells stay visible on the white card
    return png_bytes(upscale(grid, scale_for(grid.shape, 320))), tuple(w.shape)


# ------------------------------------------------------------------ sections
def _summary(r: Any) -> str:
    res, t = r.results, r.timing()
    cards = [("test accuracy", pct(res.get("test_acc"))),
             (f"best val accuracy (epoch {res.get('best_epoch', '–')})", pct(res.get("best_val_acc"))),
             *([("val accuracy of the EMA weights (saved)", pct(res["ema_val_acc"]))] if "ema_val_acc" in res else []),
             (f"epochs ({_num(res.get('iterations'))} iterations)", res.get("epochs_done", len(r.val_acc))),
             ("images/s", _num(t["images_per_s"])), ("parameters", _num(r.parameters))]
    body = "".join(f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>'
                   for k, v in cards)
    model = type(r.model).__name__ if r.model is not None else "?"
    a = r.args
    sub = (f"{_e(a.get('model', model))} on {_e(a.get('data', r.data.get('name', '?')))} · {_e(a.get('optimizer', ''))} "
           f"lr {_e(a.get('lr', ''))} · created {_e(r.config.get('created', '?'))}")
    return f'<div class="summary" id="{r.anchor}-summary"><p class="note">{sub}</p><div class="cards">{body}</div></div>'


def _verdict(r: Any) -> str:
    d = r.diagnosis()
    if d is None:
        inner = '<p class="note">no complete epoch: no verdict</p>'
    else:
        badges = _badges(d.codes)
        lines = "".join(f"<li>{_e(line.lstrip('- '))}</li>" for line in d.lines[1:])
        inner = f"{badges}<p>{_e(d.lines[0])}</p><ul class=\"lines\">{lines}</ul>"
    return f'<section id="{r.anchor}-verdict"><h3>Train/val gap verdict</h3>{inner}</section>'


def verdict_label(code: str) -> str:
    """A verdict code in words: "still_rising" -> "still rising"."""
    return code.replace("_", " ")


def _badges(codes: Sequence[str]) -> str:
    return "".join(f'<span class="verdict v-{_e(c)}">{_e(verdict_label(c))}</span>' for c in codes)


def _curves(r: Any) -> str:
    note = '<p class="note">loss: epoch means (no checkpoint with per-iteration losses)</p>' if r.loss_per_epoch else ""
    return (f'<section id="{r.anchor}-curves"><h3>Curves</h3>{_img(curves_png([r]), f"curves of {r.name}")}'
            f"{note}</section>")


def _config(r: Any) -> str:
    rows = [(k, "–" if v is None else "(default)" if v == "" else v) for k, v in r.args.items()]
    rows.append(("chainrule version", r.config.get("chainrule_version", "?")))
    return f'<section id="{r.anchor}-config"><h3>Configuration</h3>{_kv(rows)}</section>'


def _data(r: Any) -> str:
    d, counts = r.data, r.counts
    rows = [("dataset", d.get("name", r.args.get("data", "?"))),
            ("input shape", " x ".join(str(s) for s in d.get("input_shape", [])) or "?"),
            ("value range", " .. ".join(f"{v:g}" for v in d.get("value_range", [])) or "?")]
    rows += [(f"{split} examples", _num(counts.get(split))) for split in ("train", "val", "test")]
    classes = d.get("classes") or []
    rows.append((f"classes ({len(classes)})", ", ".join(str(c) for c in classes)))
    return f'<section id="{r.anchor}-data"><h3>Data</h3>{_kv(rows)}</section>'


def _timing(r: Any) -> str:
    t, res = r.timing(), r.results
    gaps = t["epoch_seconds"]
    rows = [("images/s (median epoch)", _num(t["images_per_s"])),
            ("seconds per epoch (median)", _num(float(np.median(gaps)) if gaps else None, "{:.2f}")),
            ("images/s over the whole command", _num(t["overall_images_per_s"])),
            ("wall time of the command", _num(res.get("wall_seconds"), "{:.2f} s")),
            ("training examples per epoch", _num(r.counts.get("train"))),
            ("threads", r.args.get("threads") or "the library's default")]
    note = ('<p class="note">An epoch\'s time is the gap between the ends of two epochs (training plus the '
            "epoch's accuracy evaluation), so the first epoch is not counted; the whole command includes "
            "loading the data.</p>")
    return f'<section id="{r.anchor}-timing"><h3>Timing</h3>{_kv(rows)}{note}</section>'


def _per_class(r: Any) -> str:
    ev = r.evaluation
    rows = []
    for c, n, ok, acc in ev.per_class():
        width = 0 if math.isnan(acc) else 100 * acc
        rows.append(f'<tr><td>{_e(c)}</td><td class="num">{n}</td><td class="num">{ok}</td>'
                    f'<td class="num">{pct(acc, 1)}</td><td><div class="bar"><div style="width:{width:.1f}%">'
                    "</div></div></td></tr>")
    head = ('<tr><th>class</th><th class="num">examples</th><th class="num">correct</th>'
            '<th class="num">accuracy</th><th></th></tr>')
    return (f'<section id="{r.anchor}-per-class"><h3>Per-class accuracy, {_e(_split_name(ev.split))} split</h3><p class="note">{_eval_note(ev)}</p>'
            f"<table>{head}{''.join(rows)}</table></section>")


def _split_name(split: str) -> str:
    return {"val": "validation"}.get(split, split)


def _eval_note(ev: Any) -> str:
    part = f"{len(ev.y_true):,} of {ev.total:,} {ev.split} examples" if len(ev.y_true) < ev.total else \
        f"all {ev.total:,} {ev.split} examples"
    return _e(f"{part}: accuracy {pct(ev.accuracy)}")


def _confusion(r: Any) -> str:
    ev = r.evaluation
    cm = ev.confusion
    top = max(int(cm.max()), 1)
    vertical = ' class="vert"' if max(len(c) for c in ev.classes) > 3 else ""  # long names stand upright
    head = "<tr><th></th>" + "".join(f"<th{vertical}><span>{_e(c)}</span></th>" for c in ev.classes) + "</tr>"
    rows = []
    for i, c in enumerate(ev.classes):
        cells = []
        for j in range(len(ev.classes)):
            v = int(cm[i, j])
            a = v / top
            # diagonal in blue, mistakes in red; the darker, the more examples
            rgb = (47, 111, 176) if i == j else (197, 48, 48)
            colour = "#fff" if a > 0.55 else "#1f2933"
            style = f"background: rgba({rgb[0]},{rgb[1]},{rgb[2]},{0.08 + 0.92 * a:.2f}); color: {colour}" if v else ""
            cells.append(f'<td style="{style}">{v if v else ""}</td>')
        rows.append(f'<tr><th class="row">{_e(c)}</th>{"".join(cells)}</tr>')
    return (f'<section id="{r.anchor}-confusion"><h3>Confusion matrix, {_e(_split_name(ev.split))} split</h3><p class="note">rows: true class, '
            f'columns: predicted; {_eval_note(ev)}</p><table class="cm">{head}{"".join(rows)}</table></section>')


def _filters(r: Any) -> str:
    got = _filters_png(r.model)
    if got is None:
        return ""
    png, (F, C, KH, KW) = got
    return (f'<section id="{r.anchor}-filters"><h3>First-layer filters</h3><p class="note">{F} filters of '
            f"{C}x{KH}x{KW}, each scaled to its own range</p>"
            f'{_img(png, "first-layer filters", "px", "max-width: 420px; width: 100%")}</section>')


def _misclassified(r: Any, limit: int = 24) -> str:
    ev = r.evaluation
    wrong = np.flatnonzero(ev.y_true != ev.y_pred)
    # the most confident mistakes first: the most telling ones
    wrong = wrong[np.argsort(-ev.prob[wrong], kind="stable")][:limit]
    figs = []
    for i in wrong:
        tile = display_image(ev.images[i])
        figs.append(f'<figure>{_img(png_bytes(upscale(tile, scale_for(tile.shape, 64))), "misclassified", "px")}'
                    f'<figcaption><span class="t">{_e(ev.classes[ev.y_true[i]])}</span> &rarr; '
                    f'<span class="p">{_e(ev.classes[ev.y_pred[i]])}</span> ({ev.prob[i]:.2f})</figcaption></figure>')
    n_wrong = int(np.sum(ev.y_true != ev.y_pred))
    body = f'<div class="mis">{"".join(figs)}</div>' if figs else "<p>none: every example is right</p>"
    return (f'<section id="{r.anchor}-misclassified"><h3>Misclassified {_e(_split_name(ev.split))} examples</h3><p class="note">{n_wrong:,} wrong '
            f"of {len(ev.y_true):,} {_e(ev.split)} examples; the {len(figs)} most confident mistakes, "
            f"true &rarr; predicted (probability)</p>{body}</section>")


def _run(r: Any) -> str:
    parts = [f'<article class="run" id="{r.anchor}"><h2>Run: {_e(r.name)}</h2>', _summary(r), _verdict(r), _curves(r),
             f'<div class="grid2">{_config(r)}<div class="stack">{_data(r)}{_timing(r)}</div></div>']
    if r.evaluation is not None:
        parts.append(f'<div class="grid2">{_per_class(r)}{_confusion(r)}</div>')
    parts.append(_filters(r))
    if r.evaluation is not None:
        parts.append(_misclassified(r))
    if r.notes:
        parts.append('<p class="note">' + "<br>".join(_e(n) for n in r.notes) + "</p>")
    parts.append("</article>")
    return "".join(parts)


def _compared_keys(records: Sequence[Any]) -> list[str]:
    """The model, the data, the epochs and every other argument whose value differs between the runs."""
    keys = ["model", "data", "epochs"]
    skip = set(keys) | {"out", "quiet", "resume"}
    for r in records:
        for k in r.args:
            if k not in skip and k not in keys and len({json.dumps(x.args.get(k)) for x in records}) > 1:
                keys.append(k)
    return keys


def _comparison(records: Sequence[Any]) -> str:
    keys = _compared_keys(records)
    head = ("<tr><th>run</th>" + "".join(f"<th>{_e(k)}</th>" for k in keys) +
            '<th class="num">parameters</th><th class="num">best val</th><th class="num">test</th>'
            '<th class="num">images/s</th><th>verdict</th></tr>')
    rows = []
    for k, r in enumerate(records):
        d = r.diagnosis()
        res = r.results
        cells = "".join(f"<td>{_e(r.args.get(key, '–'))}</td>" for key in keys)
        rows.append(f'<tr><td class="nowrap"><span class="swatch" style="background:{COLOURS[k % len(COLOURS)]}"></span>'
                    f'<a href="#{r.anchor}">{_e(r.name)}</a></td>{cells}<td class="num">{_num(r.parameters)}</td>'
                    f'<td class="num">{pct(res.get("best_val_acc"))}</td><td class="num">{pct(res.get("test_acc"))}</td>'
                    f'<td class="num">{_num(r.timing()["images_per_s"])}</td>'
                    f'<td class="verdicts">{_badges(d.codes) if d else "–"}</td></tr>')
    return (f'<section id="comparison"><h2>Comparison of {len(records)} runs</h2>'
            f'<p class="note">arguments that differ between the runs, and the results</p>'
            f'<table class="compare">{head}{"".join(rows)}</table></section>'
            f'<section id="overlay"><h2>Curves, overlaid</h2>{_img(curves_png(records), "overlaid curves")}</section>')


def render_report(records: Sequence[Any], title: str | None = None) -> str:
    """The whole HTML page for the RunRecords (see the module docstring for its sections)."""
    for k, r in enumerate(records):
        r.anchor = f"run-{k + 1}"
    title = title or ("chainrule run report: " + ", ".join(r.name for r in records))
    stamp = time.strftime("%Y-%m-%d %H:%M")
    body = [f"<header><h1>{_e(title)}</h1><p>{len(records)} run{'s' * (len(records) > 1)} · "
            f"written {_e(stamp)} by chainrule report</p></header>"]
    if len(records) > 1:
        body.append(_comparison(records))
    body += [_run(r) for r in records]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n")
