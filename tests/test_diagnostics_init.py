"""The lecture's initialisation experiment: the four qualitative results, measured."""
import numpy as np
import pytest

from chainrule.cli import main
from chainrule.diagnostics import init_experiment


@pytest.fixture(scope="module")
def runs():
    return {(a, i): init_experiment(a, i) for a, i in
            [("tanh", "small"), ("tanh", "xavier"), ("relu", "xavier"), ("relu", "he")]}


def test_tanh_small_collapses(runs):
    s = np.array(runs["tanh", "small"].stds)
    assert len(s) == 10
    assert 0.15 < s[0] < 0.3            # 0.01 * sqrt(500) = 0.22 after the first layer
    assert s[-1] < 1e-5                 # measured 3e-7: the activations vanish
    assert np.all(s[1:] / s[:-1] < 0.3)  # shrinking by ~0.22 per layer


def test_tanh_xavier_stays_reasonable(runs):
    s = np.array(runs["tanh", "xavier"].stds)
    assert 0.5 < s[0] < 0.75 and s[-1] > 0.15  # measured 0.63 ... 0.23
    assert max(runs["tanh", "xavier"].saturated) < 0.05


def test_relu_xavier_shrinks_by_sqrt2(runs):
    s = np.array(runs["relu", "xavier"].stds)
    per_layer = (s[-1] / s[0]) ** (1 / 9)
    assert per_layer == pytest.approx(1 / np.sqrt(2), abs=0.03)
    assert all(0.45 < z < 0.55 for z in runs["relu", "xavier"].zero)  # half the units are 0


def test_relu_he_stays_constant(runs):
    s = np.array(runs["relu", "he"].stds)
    assert 0.7 < s[-1] / s[0] < 1.4 and s.min() > 0.6


def test_large_init_saturates_tanh():
    r = init_experiment("tanh", "large", layers=3, width=200, batch=200)
    assert min(r.saturated) > 0.8


def test_cli_prints_table_and_writes_histograms(tmp_path, capsys):
    rc = main(["init-stats", "--activation", "relu", "--init", "he", "--layers", "4", "--width", "64",
               "--batch", "128", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "relu activations, he init" in out and out.count("\n    ") >= 4
    png = tmp_path / "init_relu_he.png"
    from PIL import Image
    with Image.open(png) as im:
        assert im.size[0] > 100 and im.format == "PNG"


def test_cli_errors(capsys):
    assert main(["init-stats", "--layers", "0"]) == 2
    assert "--layers must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["init-stats", "--init", "bogus"])
