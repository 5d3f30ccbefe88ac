"""Issue 21 item 1: what predict and export need (input shape, value range, normalisation, class
names) travels with every saved model; when it is missing they refuse, naming it. No guess."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main


def _error(capsys, rc):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small CNN trained 1 epoch by cr.Solver on digits (pixels in [0, 1]), saved as the docs show:
    cr.save(solver.model, path), no other argument."""
    data = cr.data.load("digits", subsample=300)
    cr.manual_seed(0)
    model = cr.models.build_for("small_cnn", data, channels=[4, 8, 8])
    solver = cr.Solver(model, data, lr=1e-2, num_epochs=1, batch_size=50, verbose=False,
                       preprocess=cr.data.transforms.PerChannelNormalize())
    solver.train()
    path = tmp_path_factory.mktemp("contract") / "digits.safetensors"
    cr.save(solver.model, path)
    return data, solver, path


def _png(folder, data, n=4):
    from PIL import Image

    files = []
    for i in range(n):
        f = folder / f"digit{i}.png"
        Image.fromarray((data.X_test[i, 0] * 255).round().astype(np.uint8)).save(f)
        files.append(str(f))
    return files


def test_cr_save_of_a_solver_model_records_the_contract(trained):
    data, solver, path = trained
    m = cr.load(path)
    assert m.info["input_shape"] == [1, 8, 8] and m.info["value_range"] == [0.0, 1.0]
    assert m.info["preprocess"] == "PerChannelNormalize" and m.classes == data.classes
    X = data.X_test[:5]
    np.testing.assert_allclose(m.preprocess(X), solver.preprocess_(X))


def test_predict_reads_pixels_in_the_models_range(trained, tmp_path, capsys):
    """The bug: the file had no value range, predict assumed 0..255 and fed 255x inputs."""
    data, solver, path = trained
    files = _png(tmp_path, data)
    assert main(["predict", str(path), *files, "--top", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    probs = solver.predict_proba(data.X_test[:4])  # PNG rounding: 1/255 per pixel at most
    for line, p in zip(lines, probs):
        cls, prob = line.split(": ")[1].split(" (")
        assert int(cls) == int(np.argmax(p)) and abs(float(prob.rstrip(")")) - p.max()) < 0.02, (line, p)


def test_a_model_without_a_contract_is_refused_naming_what_is_missing(tmp_path, capsys):
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Flatten(), cr.nn.Linear(64, 10))
    path = tmp_path / "bare.safetensors"
    cr.save(model, path)
    files = _png(tmp_path, cr.data.load("digits"), n=1)
    err = _error(capsys, main(["predict", str(path), *files]))
    for words in ("input shape", "value range", "normalisation", "class names", 'info={"value_range"'):
        assert words in err, (words, err)
    err = _error(capsys, main(["export", str(path), "--out", str(tmp_path / "m.onnx")]))
    assert "value range" in err and "export" in err
    assert not (tmp_path / "m.onnx").exists()
    # everything but the value range given: exactly that one is named
    cr.save(model, path, preprocess=None, classes=list("0123456789"), info={"input_shape": [1, 8, 8]})
    err = _error(capsys, main(["predict", str(path), *files]))
    assert "value range" in err and "input shape" not in err and "class names" not in err


def test_float_data_without_a_described_range_records_none(tmp_path):
    """A CS231n dict of float arrays says nothing about its range: min/max is not one."""
    from chainrule.model_contract import from_data, missing

    rng = np.random.default_rng(0)
    d = {"X_train": rng.random((20, 1, 8, 8), dtype=np.float32) * 0.7, "y_train": np.arange(20) % 10,
         "X_val": rng.random((10, 1, 8, 8), dtype=np.float32), "y_val": np.arange(10) % 10}
    c = from_data(d)
    assert "value_range" not in c and c["input_shape"] == [1, 8, 8]
    model = cr.nn.Sequential(cr.nn.Flatten(), cr.nn.Linear(64, 10))
    cr.Solver(model, d, num_epochs=1, verbose=False)
    assert missing(model) == ["value_range", "classes"]
    u8 = dict(d, X_train=(d["X_train"] * 255).astype(np.uint8))
    assert from_data(u8)["value_range"] == [0.0, 255.0]   # the dtype's own range


def test_the_cli_run_records_no_guessed_range(tmp_path, capsys):
    import json

    out = tmp_path / "r"
    assert main(["train", "--epochs", "1", "--subsample", "100", "--model-args", '{"channels": [4, 8, 8]}',
                 "--quiet", "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["value_range"] == [0.0, 1.0] and cfg["data"]["preprocess"] == "PerChannelNormalize"
    m = cr.load(out / "model.safetensors")
    assert m.info["preprocess"] == "PerChannelNormalize" and m.classes == [str(i) for i in range(10)]
