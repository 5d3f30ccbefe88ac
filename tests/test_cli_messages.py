"""Issue 21 items 4, 6 and 7: every message says what is wrong in the command line's terms, user
errors are one line, a bug keeps its traceback, a run folder never points at a missing file."""
from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main

SMALL = ["--model-args", '{"channels": [4, 8, 8]}', "--subsample", "100", "--batch-size", "50", "--quiet"]


def one_line(capsys, rc, *words):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("msg") / "r"
    assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 0
    return out


def test_misleading_messages_now_say_what_is_wrong(run, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("hi")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    one_line(capsys, main(["predict", str(run), str(folder)]), "a_folder is a folder", "image files")
    one_line(capsys, main(["evaluate", str(notes)]), "notes.txt is a file, not a run folder")
    one_line(capsys, main(["train", "--resume", str(notes)]), "--resume", "expected a run folder")
    one_line(capsys, main(["train", "--model-args", "{bad", "--out", str(tmp_path / "m")]),
             "--model-args", "not valid JSON")
    one_line(capsys, main(["evaluate", str(run), "--batch-size", "0"]), "--batch-size must be at least 1")
    one_line(capsys, main(["train", "--ema", "1.5", "--out", str(tmp_path / "e")]), "--ema", "[0, 1)")
    one_line(capsys, main(["predict", str(run), str(notes), "--top", "0"]), "--top must be at least 1")
    one_line(capsys, main(["train", "--optimizer", "nope", "--out", str(tmp_path / "o"), *SMALL]),
             "--optimizer", "unknown optimizer 'nope'")
    one_line(capsys, main(["train", "--lr-schedule", "nope", "--out", str(tmp_path / "s"), *SMALL]),
             "--lr-schedule")
    one_line(capsys, main(["train", "--preprocess", "nope", "--out", str(tmp_path / "p"), *SMALL]),
             "--preprocess")
    one_line(capsys, main(["train", "--model-args", '{"nope": 1}', "--out", str(tmp_path / "a")]),
             "--model-args")
    one_line(capsys, main(["train", "--lr", "-1", "--out", str(tmp_path / "l"), *SMALL[2:]]), "--lr")
    for d in "moslpae":
        assert not (tmp_path / d).exists() or not (tmp_path / d / "config.json").exists()


def test_resume_accepts_the_run_folder(run, capsys):
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert "Resuming" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["results"]["epochs_done"] == 2


def test_a_run_without_checkpoint_never_points_at_one(tmp_path, capsys, monkeypatch):
    """A double Ctrl-C in epoch 1 leaves config.json and no checkpoint: the rerun message must not
    name checkpoints/last.safetensors as something to resume."""
    from chainrule.solver import Solver

    def killed(self, X, y):
        raise KeyboardInterrupt  # the second Ctrl-C: stop at once, nothing saved

    monkeypatch.setattr(Solver, "_train_step", killed)
    out = tmp_path / "dc"
    assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 130
    capsys.readouterr()
    monkeypatch.undo()
    err = one_line(capsys, main(["train", "--out", str(out), *SMALL]), "already exists", "no checkpoint")
    assert "--resume" not in err
    one_line(capsys, main(["train", "--resume", str(out)]), "no checkpoint to continue from")


def test_device_auto_says_what_it_chose(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--device", "auto", "--out", str(tmp_path / "d"), *SMALL]) == 0
    err = capsys.readouterr().err
    want = "cuda" if cr.cuda.is_available() else "cpu"
    assert f"--device auto: using {want}" in err


def test_quiet_help_says_what_it_hides(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--quiet no progress bar and no per-epoch lines" in text


def test_knn_subsample_is_the_number_of_images_used(tmp_path, capsys):
    assert main(["knn", "--subsample", "300", "--ks", "1,3", "--folds", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "digits: 300 train+val images" in out, out


def test_a_numpy_bug_keeps_its_traceback(monkeypatch):
    from chainrule.commands import evaluate

    def bug(args):
        np.reshape(np.zeros(3), (2, 2))   # ValueError from NumPy: a bug, not the user's

    monkeypatch.setattr(evaluate, "run", bug)
    with pytest.raises(ValueError, match="reshape"):
        main(["evaluate", "x"])
    assert issubclass(cr.UsageError, ValueError)


# ------------------------------------------------------------------ item 4: finding data
def _fake_mnist(folder):
    """The four MNIST files in IDX format: 5020 train images (mnist keeps 5000 for validation), 20 test."""
    import gzip

    from chainrule.data.mnist import FILES

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def idx(arr):
        head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
        return head + arr.tobytes()

    for part, n in (("train", 5020), ("test", 20)):
        X = (rng.integers(0, 2, (n, 28, 28)) * 255).astype(np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        (folder / FILES[part + "_images"][:-3]).write_bytes(idx(X))   # uncompressed twins: fast
        (folder / FILES[part + "_labels"]).write_bytes(gzip.compress(idx(y), compresslevel=1))


def test_data_dir_may_be_the_dataset_folder_or_its_parent(tmp_path):
    _fake_mnist(tmp_path / "data" / "mnist")
    a = cr.data.load("mnist", root=tmp_path / "data" / "mnist", val_size=0)
    b = cr.data.load("mnist", root=tmp_path / "data", val_size=0)
    np.testing.assert_array_equal(a.X_train, b.X_train)


def test_not_found_speaks_the_cli_terms(tmp_path, capsys):
    rc = main(["train", "--data", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "--download" in err and "--data-dir" in err
    assert "download=True" not in err and "root=" not in err
    with pytest.raises(FileNotFoundError, match="download=True"):  # the library keeps its own terms
        cr.data.load("mnist", root=tmp_path)


def test_the_run_stores_absolute_data_paths(tmp_path, capsys, monkeypatch):
    _fake_mnist(tmp_path / "data" / "mnist")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "mnist", "--data-dir", "data", "--epochs", "1", "--model", "two_layer_net",
                 "--batch-size", "10", "--subsample", "20", "--quiet", "--ema", "0", "--augment", "none",
                 "--out", "r"]) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["args"]["data_dir"] == str(tmp_path / "data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "r")]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_download_flag_is_passed_to_the_loader(tmp_path, capsys, monkeypatch):
    import chainrule.data.catalog as catalog

    seen = {}
    real = catalog.load

    def spy(name, **kw):
        seen.update(kw)
        return real("digits", subsample=kw.get("subsample"), seed=kw.get("seed", 0))

    monkeypatch.setattr(catalog, "load", spy)
    monkeypatch.setattr(cr.data, "load", spy)
    assert main(["knn", "--data", "mnist", "--download", "--subsample", "100", "--ks", "1", "--folds", "2",
                 "--out", str(tmp_path)]) == 0
    assert seen["download"] is True


def test_tune_refuses_to_mix_another_space_into_an_existing_study(tmp_path, capsys):
    pytest.importorskip("optuna")
    base = ["tune", "--model", "two_layer_net", "--data", "digits", "--subsample", "50", "--epochs", "1",
            "--trials", "1", "--out", str(tmp_path / "t")]
    assert main([*base, "--space", "lr=1e-3:1e-1:log"]) == 0
    capsys.readouterr()
    one_line(capsys, main([*base, "--space", "weight_decay=1e-6:1e-2:log"]), "another search space", "--out")
    assert main([*base, "--space", "lr=1e-3:1e-1:log"]) == 0   # the same search: more trials


def test_gradcheck_rows_have_distinct_names(capsys):
    """`chainrule gradcheck` listed NLLLoss twice (its sum and mean cases under one name)."""
    assert main(["gradcheck", "--list"]) == 0
    names = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
