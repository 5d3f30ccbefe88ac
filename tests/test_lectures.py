"""The runnable lecture examples (examples/lectures/): each runs in its quick mode and its numbers
match the notes' worked examples (exactly where the notes give exact numbers); docs/lectures.md is
the scripts' own output: every section carries its script's hash, and the deterministic scripts
are re-run in full and must write their documented section again, number for number."""
from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = ROOT / "examples" / "lectures"
DOCS = ROOT / "docs" / "lectures.md"
SCRIPTS = sorted(p.stem for p in LECTURES.glob("*.py") if not p.stem.startswith("_") and p.stem != "make_docs")
# fast and deterministic in full mode: their documented sections are re-made and compared exactly
DETERMINISTIC = ["backprop", "linear_losses", "conv_sizes", "linear_collapse", "search"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"lecture_{name}", LECTURES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(name: str, tmp_path: Path, quick: bool = True) -> dict:
    """Import examples/lectures/<name>.py and call main(["--out", tmp, "--quick"])."""
    sys.path.insert(0, str(LECTURES))
    try:
        return _load(name).main(["--out", str(tmp_path)] + (["--quick"] if quick else []))
    finally:
        sys.path.remove(str(LECTURES))


def test_every_script_is_tested():
    tested = {n[len("test_"):] for n in globals() if n.startswith("test_") and n != "test_every_script_is_tested"}
    assert set(SCRIPTS) <= tested, f"lecture scripts without a test: {sorted(set(SCRIPTS) - tested)}"


def _sections() -> dict[str, str]:
    sys.path.insert(0, str(LECTURES))
    try:
        return _load("make_docs").sections(DOCS.read_text())
    finally:
        sys.path.remove(str(LECTURES))


def test_docs_sections_are_the_current_scripts_output():
    """Each script's section in docs/lectures.md was written by this very script (its SHA-256), in
    full mode: edit a script and not its section, and this fails (make_docs.py regenerates it)."""
    sys.path.insert(0, str(LECTURES))
    try:
        from _common import source_hash
    finally:
        sys.path.remove(str(LECTURES))
    sections = _sections()
    for name in SCRIPTS:
        assert name in sections, f"docs/lectures.md has no section for {name}.py: run make_docs.py {name}"
        head = sections[name].splitlines()[0]
        m = re.match(r"<!-- lecture:(\w+) sha:(\w+) mode:(\w+) -->", head)
        assert m, f"section {name} was not generated: {head}"
        assert m.group(2) == source_hash(LECTURES / f"{name}.py"), (
            f"{name}.py changed since its docs section was written: run examples/lectures/make_docs.py {name}")
        assert m.group(3) == "full", f"the {name} section is from a --quick run"


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_sections_equal_a_fresh_full_run(name, tmp_path):
    run(name, tmp_path, quick=False)
    fresh = (tmp_path / f"{name}.md").read_text()
    assert fresh == _sections()[name], f"docs/lectures.md's {name} section differs from a fresh run"


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
    # Mazur's walk-through, to the notes' nine decimals
    assert {k: round(v, 9) for k, v in r["mazur"].items()} == {
        "E": 0.298371109, "dE/dw5": 0.082167041, "w5+": 0.358916480, "dE/dw1": 0.000438568}
    assert r["jacobian_off_diagonal"] == 0.0
    assert "| Mazur's 2-2-2 net: E | 0.298371109 | 0.298371109 | yes |" in (tmp_path / "backprop.md").read_text()


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
    assert set(r["gap"]) == {"plain", "dropout 0.5", "batch norm"}
    assert all(0 <= t <= 1 and 0 <= v <= 1 for t, v in r["dropout"].values())
    assert set(r["init"]) == {"0.01/False", "0.01/True", "he/False", "he/True"}


def test_centering(tmp_path):
    r = run("centering", tmp_path)
    assert r["same_sign"]["positive"] == 1.0 and r["same_sign"]["centred"] < 0.5
    assert r["turns"]["positive inputs"] == 1.0 and r["turns"]["centred inputs"] < 1.0
    assert r["sigmoid_over_relu"] > 1.0
    assert r["verdicts"]["N(0, 0.05^2) init"] == ["bad_init"]
    text = (tmp_path / "centering.md").read_text()
    assert text.startswith("<!-- lecture:centering sha:") and "mode:quick" in text and "| yes |" in text


def test_relu_speed(tmp_path):
    r = run("relu_speed", tmp_path)                                   # quick: digits, 3 epochs
    assert set(r["errors"]) == {"sigmoid", "tanh", "relu"} and all(len(e) == 3 for e in r["errors"].values())
    assert (tmp_path / "relu_speed.png").exists()


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
    assert set(r["seconds"]) == {"vgg16", "resnet152"} and all(v > 0 for v in r["seconds"].values())


def test_ensemble(tmp_path):
    r = run("ensemble", tmp_path)
    assert len(r["members"]) == 3 and all(0.5 < a <= 1 for a in r["members"])
    assert r["gain_over_mean"] > 0                       # the average of probabilities beats the average member
    assert r["ensemble"] == pytest.approx(r["gain_over_best"] + max(r["members"]))
