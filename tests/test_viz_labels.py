"""Issue 21 item 8: plots say what they show. The confusion matrix and misclassified grid name their
split; plots/curves.png and the report draw the same loss picture; filters keep their white cells
visible on the report's white cards; the comparison table's verdicts are words, not ids."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import training


@pytest.fixture(scope="module")
def trained():
    data = cr.data.load("digits", subsample=200)
    cr.manual_seed(0)
    model = cr.models.build_for("small_cnn", data, channels=[4, 8, 8])
    solver = cr.Solver(model, data, num_epochs=2, batch_size=50, verbose=False,
                       preprocess=cr.data.transforms.PerChannelNormalize())
    solver.train()
    return data, solver


def test_confusion_and_mistakes_name_their_split(trained, tmp_path, monkeypatch):
    data, solver = trained
    titles = {}
    for name in ("plot_confusion_matrix", "plot_misclassified"):
        real = getattr(training, name)

        def spy(*a, _real=real, _name=name, **kw):
            titles[_name] = kw.get("title")
            return _real(*a, **kw)

        monkeypatch.setattr(training, name, spy)
    training.save_training_plots(solver, tmp_path, X_val=data.X_val, y_val=data.y_val, classes=data.classes)
    assert titles["plot_confusion_matrix"] == "Confusion matrix, validation split"
    assert titles["plot_misclassified"] == "Misclassified validation examples"


def test_curves_png_and_the_report_draw_the_same_loss(trained, tmp_path, monkeypatch):
    from chainrule.viz.report import RunRecord
    from chainrule.viz.report_html import curves_png

    _, solver = trained
    seen = []
    real = training.loss_panel

    def spy(ax, loss, *a, **kw):
        out = real(ax, loss, *a, **kw)
        xmax = max(line.get_xdata().max() for line in ax.get_lines())
        seen.append((ax.get_title(), ax.get_xlabel(), round(float(xmax), 6), len(ax.get_lines())))
        return out

    monkeypatch.setattr(training, "loss_panel", spy)
    training.plot_training_curves(solver.loss_history, solver.train_acc_history, solver.val_acc_history,
                                  tmp_path / "curves.png", lr_history=solver.lr_history)
    rec = RunRecord("r", None, {"results": {"iterations": len(solver.loss_history), "epochs_done": 2}}, [],
                    solver.loss_history, solver.train_acc_history, solver.val_acc_history, solver.lr_history)
    curves_png([rec])
    assert len(seen) == 2 and seen[0] == seen[1], seen
    title, xlabel, xmax, _ = seen[0]
    assert title == "Training loss (per iteration)" and xlabel == "epoch" and xmax == 2.0


def test_white_filter_cells_stay_visible_on_a_white_card():
    from PIL import Image

    from chainrule.viz.report_html import _filters_png

    model = cr.nn.Sequential(cr.nn.Conv2d(1, 4, 3))
    w = np.zeros((4, 1, 3, 3), np.float32)
    w[:, 0, 0, 0] = 1.0   # each filter's corner cell is its maximum: drawn white, at the grid's edge
    model[0].weight.data[...] = w
    png, shape = _filters_png(model)
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    assert shape == (4, 1, 3, 3)
    assert (img[..., 3] == 255).all()                       # opaque: no card shows through
    frame = (np.array(training.FRAME) * 255 + 0.5).astype(np.uint8)
    assert (img[0, 0, :3] == frame).all() and (img[-1, -1, :3] == frame).all()   # a border all round
    assert (img[..., :3] == 255).all(axis=2).any()           # the white cells are there, inside it


def test_the_comparison_table_shows_words_and_fits(trained, tmp_path):
    from chainrule.viz.report import RunRecord
    from chainrule.viz.report_html import render_report

    _, solver = trained
    recs = []
    for name, va in (("a", [0.5, 0.6, 0.7]), ("b", [0.9, 0.95, 0.97])):
        recs.append(RunRecord(name, tmp_path, {"args": {"model": "m", "data": "digits", "epochs": 3, "lr": name},
                                               "results": {}}, [], [1.0, 0.5, 0.4], [0.5, 0.6, 0.75], va,
                              [0.1, 0.1, 0.1], loss_per_epoch=True))
    page = render_report(recs)
    table = page[page.index('id="comparison"'):page.index('id="overlay"')]
    text = re.sub(r"<[^>]+>", " ", table)
    assert "still_rising" not in text and "still rising" in text
    assert "overflow-x" not in table and 'class="compare"' in table
