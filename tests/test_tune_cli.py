"""`chainrule tune`: progress, top trials, border warnings, files; --create-only then workers
that read the stored settings; coarse-to-fine rounds; clear errors; and (when cr.Solver
exists) a real search on digits reaching 95% validation accuracy."""
import csv
import json
import math

import pytest

pytest.importorskip("optuna")

from chainrule.cli import main  # noqa: E402


def cli_objective(params, report):
    """Used by the CLI through --objective test_tune_cli:cli_objective."""
    v = 1.0 - (math.log10(params["lr"]) + 3) ** 2 / 8 - (params["x"] - 0.5) ** 2
    report(v, 0)
    return v


def edge_objective(params, report):
    return math.log10(params["lr"])  # best at the top of the lr range


def run(capsys, *argv):
    rc = main(["tune", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_search_prints_progress_table_and_writes_files(tmp_path, capsys):
    out_dir = tmp_path / "run1"
    rc, out, err = run(capsys, "--objective", "test_tune_cli:cli_objective", "--trials", "10",
                       "--space", "lr=1e-5:1e-1:log", "--space", "x=0:1", "--out", str(out_dir), "--seed", "3")
    assert rc == 0, err
    assert out.count(" COMPLETE ") + out.count(" PRUNED ") >= 10  # one progress line per trial (+ table)
    assert "[run1 w0] trial   0" in out and "best: trial" in out
    assert "WARNING (border)" not in out
    for name in ("trials.csv", "trials.json", "scatter.png", "study.journal"):
        assert (out_dir / name).exists(), name
    rows = list(csv.DictReader(open(out_dir / "trials.csv")))
    assert len(rows) == 10 and set(rows[0]) >= {"number", "lr", "x", "value", "state", "duration_s"}
    data = json.load(open(out_dir / "trials.json"))
    assert data["study"] == "run1" and data["best"]["value"] == max(float(r["value"]) for r in rows
                                                                    if r["state"] == "COMPLETE")


def test_cli_prints_border_warning(tmp_path, capsys):
    rc, out, _ = run(capsys, "--objective", "test_tune_cli:edge_objective", "--trials", "60", "--pruner", "none",
                     "--space", "lr=1e-5:1e-1:log", "--out", str(tmp_path / "edge"))
    assert rc == 0
    assert "WARNING (border): best lr=" in out and "upper 10%" in out


def test_cli_create_only_then_workers_read_the_stored_settings(tmp_path, capsys):
    storage = str(tmp_path / "shared.journal")
    rc, out, _ = run(capsys, "--create-only", "--storage", storage, "--study", "shared",
                     "--objective", "test_tune_cli:cli_objective", "--trials", "6",
                     "--space", "lr=1e-5:1e-1:log", "--space", "x=0:1", "--seed", "4")
    assert rc == 0 and "created study 'shared'" in out and "chainrule tune --storage" in out
    rc, out, _ = run(capsys, "--create-only", "--storage", storage, "--study", "shared", "--trials", "6",
                     "--space", "lr=1e-5:1e-1:log")
    assert rc == 0 and "already exists" in out
    # a worker names only the storage and the study: the rest comes from the study
    rc, out, err = run(capsys, "--storage", storage, "--study", "shared", "--out", str(tmp_path / "w1"))
    assert rc == 0, err
    assert "6 trials" in out
    rc, out, _ = run(capsys, "--storage", storage, "--study", "shared", "--out", str(tmp_path / "w2"))
    assert rc == 0
    assert " COMPLETE value=" not in out.split("\n\n")[0]  # the budget was already used up: no new trial
    rows = list(csv.DictReader(open(tmp_path / "w2" / "trials.csv")))
    assert sorted(int(r["number"]) for r in rows) == list(range(6))


def test_cli_coarse_to_fine_rounds(tmp_path, capsys):
    rc, out, err = run(capsys, "--objective", "test_tune_cli:cli_objective", "--trials", "10", "--rounds", "2",
                       "--space", "lr=1e-6:1e0:log", "--space", "x=0:1", "--out", str(tmp_path / "c2f"))
    assert rc == 0, err
    assert "round 1/2 (c2f-r1)" in out and "round 2/2 (c2f-r2)" in out
    rows = list(csv.DictReader(open(tmp_path / "c2f" / "trials.csv")))
    assert len(rows) == 20 and {r["round"] for r in rows} == {"1", "2"}
    r2 = [float(r["lr"]) for r in rows if r["round"] == "2"]
    assert max(r2) / min(r2) < 1e5  # the second round searched a narrower lr range than 6 decades


@pytest.mark.parametrize("argv, message", [
    (["--trials", "3", "--objective", "test_tune_cli:cli_objective"], "--space"),
    (["--space", "lr=1:0.1:log", "--trials", "3", "--objective", "test_tune_cli:cli_objective"], "low < high"),
    (["--space", "lr=1e-3:1e-1:log", "--objective", "test_tune_cli:cli_objective"], "--trials"),
    (["--space", "lr=1e-3:1e-1:log", "--trials", "3"], "--model NAME --data NAME"),
    (["--space", "lr=1e-3:1e-1:log", "--trials", "3", "--objective", "nope_module:f"], "nope_module"),
    (["--space", "lr=1e-3:1e-1:log", "--trials", "3", "--objective", "test_tune_cli"], "MODULE:FUNC"),
])
def test_cli_errors_are_one_line_exit_2(tmp_path, capsys, argv, message):
    rc, out, err = run(capsys, *argv, "--out", str(tmp_path / "e"))
    assert rc == 2
    assert message in err and "Traceback" not in err


def test_cli_digits_search_finds_a_learning_rate_reaching_95_percent(tmp_path, capsys):
    # assignment 1's two-layer net (the CLI puts a Flatten in front of an MLP), 10 epochs of
    # minibatches of 32: about 1-2 s per trial
    rc, out, err = run(capsys, "--model", "two_layer_net", "--data", "digits", "--trials", "5",
                       "--space", "lr=1e-6:1e-1:log", "--epochs", "10", "--batch-size", "32",
                       "--out", str(tmp_path / "digits"))
    assert rc == 0, err
    assert out.count("[digits w0] trial") == 5
    data = json.load(open(tmp_path / "digits" / "trials.json"))
    assert data["best"]["value"] >= 0.95, data["best"]
    assert 1e-4 <= data["best"]["params"]["lr"] <= 1e-1
    values = [t["value"] for t in data["trials"]]
    assert min(values) < 0.93  # the range holds learning rates that train worse: the search mattered
    best = data["trials"][0]
    assert best["intermediate"]["9"] is not None and len(best["intermediate"]) == 10  # val_acc per epoch
    assert not (tmp_path / "digits" / "scatter.png").exists()  # one parameter: no scatter
