"""Training pictures: every function writes a valid PNG; save_training_plots writes the set."""
import numpy as np
import pytest
from PIL import Image

import chainrule as cr
from chainrule import nn
from chainrule.commands.common import threads
from chainrule.viz import training as V


def png(path, min_w=100):
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG" and im.size[0] >= min_w and im.size[1] > 50
        arr = np.asarray(im.convert("L"))
    assert arr.std() > 5  # not a blank image
    return arr


def test_smooth():
    v = np.arange(10.0)
    s = V.smooth(v, window=3)
    assert s.shape == (10,) and s[0] == 0 and s[1] == 0.5 and s[5] == 4.0
    assert V.smooth([]).size == 0


def test_curves(tmp_path):
    rng = np.random.default_rng(0)
    loss = 2.3 * np.exp(-np.arange(300) / 100) + 0.1 * rng.random(300)
    p = V.plot_training_curves(loss, [0.5, 0.7, 0.8], [0.45, 0.6, 0.65], tmp_path / "c.png",
                               lr_history=[1e-3, 1e-3, 1e-4])
    assert p == str(tmp_path / "c.png")
    png(p)
    png(V.plot_training_curves(loss, [], [], tmp_path / "c2.png"))  # no epochs yet


def test_filter_grid_normalises_each_filter():
    w = np.zeros((5, 1, 2, 2))
    w[:, 0, 0, 0] = np.arange(5) * 10.0  # filters of very different scales
    w[:, 0, 1, 1] = -1.0
    g = V.filter_grid(w)
    assert g.shape == (2 * 3 - 1, 3 * 3 - 1)  # 3 columns x 2 rows of 2x2 with 1-pixel gaps
    assert g[0, 0] == 1.0 and g[1, 1] == 0.0  # each filter spans [0, 1] on its own
    assert np.isnan(g[2, 0])                  # the gap
    rgb = V.filter_grid(np.random.default_rng(0).standard_normal((4, 3, 3, 3)))
    assert rgb.shape == (7, 7, 3) and np.nanmax(rgb) == 1.0 and np.nanmin(rgb) == 0.0
    with pytest.raises(ValueError, match="F, C, KH, KW"):
        V.filter_grid(np.zeros((3, 3)))


def test_filters_from_weights_and_model(tmp_path):
    rng = np.random.default_rng(0)
    png(V.plot_first_layer_filters(rng.standard_normal((16, 3, 5, 5)), tmp_path / "rgb.png"))
    cr.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU())
    png(V.plot_first_layer_filters(m, tmp_path / "grey.png"))
    with pytest.raises(ValueError, match="no Conv2d"):
        V.plot_first_layer_filters(nn.Sequential(nn.Linear(2, 2)), tmp_path / "x.png")


def test_histograms_confusion_misclassified(tmp_path):
    rng = np.random.default_rng(0)
    acts = {f"layer {i}": np.tanh(rng.standard_normal((100, 50)) * i) for i in range(1, 7)}
    png(V.plot_activation_histograms(acts, tmp_path / "h.png"))
    png(V.plot_activation_histograms({"relu": np.maximum(rng.standard_normal(500) * 3, 0)}, tmp_path / "h1.png"))
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.8, y, (y + 1) % 3)
    cm = V.confusion_matrix(y, pred, 3)
    assert cm.sum() == 60 and np.trace(cm) == np.sum(y == pred)
    assert cm[0, 1] == np.sum((y == 0) & (pred == 1))
    png(V.plot_confusion_matrix(y, pred, tmp_path / "cm.png", classes=["cat", "dog", "ship"]))
    imgs = rng.random((60, 3, 8, 8))
    png(V.plot_misclassified(imgs, y, pred, tmp_path / "mis.png", classes=["cat", "dog", "ship"]))
    png(V.plot_misclassified(imgs[:, :1], y, y, tmp_path / "none.png"))  # nothing wrong: a note
    with pytest.raises(ValueError, match="labels"):
        V.plot_misclassified(imgs, y[:5], pred, tmp_path / "bad.png")


@pytest.fixture(scope="module")
def trained():
    d = cr.data.load_digits(subsample=200)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(64, 10))
    s = cr.Solver(model, d, lr=1e-2, batch_size=50, num_epochs=2, verbose=False)
    with threads(1):  # small convolutions on a busy machine: one BLAS thread is fastest
        s.train()
    return s, d


def test_save_training_plots_from_a_solver(trained, tmp_path):
    solver, d = trained
    paths = V.save_training_plots(solver, tmp_path / "plots", X_val=d.X_val, y_val=d.y_val, classes=d.classes)
    names = [p.split("/")[-1] for p in paths]
    assert names == ["curves.png", "filters.png", "activations.png", "confusion.png", "misclassified.png"]
    for p in paths:
        png(p)
    # without X_val: the Solver's own validation split
    assert len(V.save_training_plots(solver, tmp_path / "p2")) == 5


def test_save_training_plots_from_histories(trained, tmp_path):
    solver, _ = trained
    paths = V.save_training_plots(solver.history, tmp_path / "h")
    assert [p.split("/")[-1] for p in paths] == ["curves.png"]
    png(paths[0])
    paths = V.save_training_plots(solver.history, tmp_path / "hm", model=solver.model)
    assert [p.split("/")[-1] for p in paths] == ["curves.png", "filters.png"]


@pytest.mark.parametrize("wrong", [1, 2, 12])
def test_misclassified_heading_is_not_cut_off(tmp_path, wrong):
    """With one or two images the figure used to be narrower than its title."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 180)
    pred = y.copy()
    pred[:wrong] = (y[:wrong] + 1) % 10
    arr = png(V.plot_misclassified(rng.random((180, 1, 8, 8)), y, pred, tmp_path / "m.png"), min_w=50)
    ink = arr < 128
    top = ink[: arr.shape[0] // 6]
    assert top.any(), "the heading is drawn"
    cols = np.flatnonzero(top.any(axis=0))
    assert cols[0] > 3 and cols[-1] < arr.shape[1] - 4, "the heading stays inside the figure"
