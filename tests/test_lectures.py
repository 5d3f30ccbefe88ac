"""The runnable lecture examples (examples/lectures/): each runs in its quick mode and its numbers
match the notes' worked examples (exactly where the notes give exact numbers)."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

LECTURES = Path(__file__).resolve().parents[1] / "examples" / "lectures"


def run(name: str, tmp_path: Path) -> dict:
    """Import examples/lectures/<name>.py and call main(["--out", tmp, "--quick"])."""
    sys.path.insert(0, str(LECTURES))
    try:
        spec = importlib.util.spec_from_file_location(f"lecture_{name}", LECTURES / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.main(["--out", str(tmp_path), "--quick"])
    finally:
        sys.path.remove(str(LECTURES))


def test_every_script_is_tested():
    scripts = {p.stem for p in LECTURES.glob("*.py") if not p.stem.startswith("_")}
    tested = {n[len("test_"):] for n in globals() if n.startswith("test_") and n != "test_every_script_is_tested"}
    assert scripts <= tested, f"lecture scripts without a test: {sorted(scripts - tested)}"


def test_knn(tmp_path):
    r = run("knn", tmp_path)
    assert r["train_acc_1"] == 1.0 and r["train_acc_5"] < 1.0
    assert r["best_k"] > 1 and r["cv_mean"][r["best_k"]] > r["cv_mean"][1]
    assert (tmp_path / "knn.png").stat().st_size > 10_000


def test_linear_losses(tmp_path):
    r = run("linear_losses", tmp_path)
    np.testing.assert_allclose(r["svm"], [2.9, 0.0, 12.9], atol=1e-12)
    assert r["svm_mean"] == pytest.approx(15.8 / 3) and r["nn_svm_mean"] == pytest.approx(15.8 / 3)
    np.testing.assert_allclose(r["probs"], [0.13, 0.87, 0.00], atol=0.005)
    assert round(r["cat_loss"], 2) == 2.04 and round(r["cat_loss_log10"], 2) == 0.89
    assert r["softmax_mean"] == pytest.approx(r["nn_ce"])
    assert r["scores_equal"] and r["R"] == (1.0, 0.25)


def test_backprop(tmp_path):
    r = run("backprop", tmp_path)
    assert r["auto1"] == {"dx": -4.0, "dy": -4.0, "dz": 3.0}
    assert round(r["auto2"]["f"], 2) == 0.73
    np.testing.assert_allclose(r["auto2"]["dw"], [-0.20, -0.39, 0.20], atol=0.005)
    np.testing.assert_allclose(r["auto2"]["dx"], [0.39, -0.59], atol=0.005)
    assert r["f3"] == pytest.approx(0.116)
    np.testing.assert_allclose(r["dW"], [[0.088, 0.176], [0.104, 0.208]], atol=1e-12)
    np.testing.assert_allclose(r["dx3"], [-0.112, 0.636], atol=1e-12)
    assert r["max_err"] < 1e-12 and "digraph" in Path(r["dot"]).read_text()


def test_linear_collapse(tmp_path):
    r = run("linear_collapse", tmp_path)
    assert r["collapse_diff"] < 1e-12
    assert r["spread"]["zero"] == 0.0 and r["spread"]["constant"] < 1e-6 and r["spread"]["random"] > 0.1


def test_init(tmp_path):
    r = run("init", tmp_path)
    s = r["stds"]
    assert s["tanh/small"][-1] < 1e-5                                 # collapses
    assert 0.1 < s["tanh/xavier"][-1] < 0.5                           # keeps a spread
    assert s["relu/xavier"][-1] < 0.1 * s["relu/xavier"][0]          # halves the variance a layer
    assert 0.5 < s["relu/he"][-1] / s["relu/he"][0] < 2.0             # stable
    assert (tmp_path / "init_histograms.png").exists()


def test_activations(tmp_path):
    r = run("activations", tmp_path)["results"]
    assert set(r) == {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout"}
    out_layer = 100 * 10 + 10
    assert r["maxout"]["params"] == 2 * (r["relu"]["params"] - out_layer) + out_layer  # 2 pieces: hidden maps double
    assert r["relu"]["epoch1_acc"] > r["sigmoid"]["epoch1_acc"]
    assert max(v["val_acc"] for v in r.values()) > 0.6


def test_batchnorm_dropout(tmp_path):
    r = run("batchnorm_dropout", tmp_path)
    assert r["bn"]["0.01/True"] > r["bn"]["0.01/False"]               # batch norm trains faster at a small lr
    assert set(r["gap"]) == {0.0, 0.5} and all(0 <= t <= 1 and 0 <= v <= 1 for t, v in r["dropout"].values())


def test_optimizers(tmp_path):
    r = run("optimizers", tmp_path)
    f = r["final"]
    assert f["momentum"] < f["SGD"] and f["Nesterov"] < f["SGD"] and f["Adam"] < f["SGD"]
    assert r["lr_at_20"]["step"] == pytest.approx(0.25)
    assert r["lr_at_20"]["exponential"] == pytest.approx(0.9 ** 20)
    assert r["lr_at_20"]["1/t"] == pytest.approx(1 / (1 + 0.2 * 20))
    assert all(math.isfinite(v) for v in r["digits_loss"].values())


def test_search(tmp_path):
    r = run("search", tmp_path)
    assert r["distinct"] == {"grid": 3, "random": 9}
    assert r["mean_best"]["random"] > r["mean_best"]["grid"] + 0.1


def test_conv_sizes(tmp_path):
    r = run("conv_sizes", tmp_path)
    assert r["sizes"]["1/0"] == ("5", 5) and r["sizes"]["2/0"] == ("3", 3) and r["sizes"]["1/1"] == ("7", 7)
    assert r["sizes"]["3/0"][0].startswith("does not fit")
    assert r["shape"] == (10, 32, 32) and r["params"] == 760
    assert r["pooled"] == [[6, 8], [3, 4]]


def test_architectures(tmp_path):
    r = run("architectures", tmp_path)
    assert r["rf"] == (7, 7) and r["weights"] == (27 * 64 * 64, 49 * 64 * 64)
    assert r["macs"] == (27 * 64 * 64 * 32 * 32, 49 * 64 * 64 * 32 * 32)
    assert r["bottleneck"] == (69_632, 589_824)
    assert r["big"]["vgg16"][0] == 138_357_544 and r["big"]["resnet152"][0] == 60_192_808
    assert 15.4e9 < r["big"]["vgg16"][1] < 15.6e9 and 11.3e9 < r["big"]["resnet152"][1] < 11.6e9


def test_ensemble(tmp_path):
    r = run("ensemble", tmp_path)
    assert len(r["members"]) == 3 and all(0.5 < a <= 1 for a in r["members"])
    assert r["gain_over_mean"] > 0                       # the average of probabilities beats the average member
    assert r["ensemble"] == pytest.approx(r["gain_over_best"] + max(r["members"]))
