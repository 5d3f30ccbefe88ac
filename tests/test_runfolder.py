"""Run folders stay whole under concurrency and faults (issue 28): one run per folder (a lock,
stale locks taken over), a full disk said in words, write faults as one line before training,
and `tune --out`, `export`, `report` outputs written atomically.

Permissions: root ignores permission bits, so "read-only" folders here are read-only tmpfs
mounts when the tests run as root (skipped where mount is not allowed), chmod 0o555 folders
otherwise; the same cases also run everywhere with os.access mocked."""
from __future__ import annotations

import errno
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.commands import CLIError, runfolder

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--model", "small_cnn", "--model-args", '{"channels": [4, 8, 8]}', "--subsample", "200",
         "--batch-size", "50", "--quiet"]


def env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def one_line_error(capsys, rc, match=""):
    out, err = capsys.readouterr()
    err = err.strip()
    assert rc == 2, (out, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err and match in err, err
    return out, err


def train_cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "chainrule", "train", *argv]


def _mount(*args: str) -> bool:
    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size, ro=False) -> a tmpfs folder of that size (root only; skipped otherwise)."""
    mounted = []

    def make(size: str, ro: bool = False) -> Path:
        d = tmp_path / f"mnt{len(mounted)}"
        d.mkdir()
        if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", f"size={size}" + (",ro" if ro else ""), "tmpfs", str(d)):
            pytest.skip("needs root and mount for a real tmpfs")
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


@pytest.fixture
def read_only_dir(tmp_path, tmpfs):
    """A folder this process cannot write in: a read-only tmpfs as root, mode 0o555 otherwise."""
    if os.geteuid() == 0:
        yield tmpfs("100k", ro=True)
        return
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    yield d
    d.chmod(0o755)


# ------------------------------------------------------------- one run per folder
def test_two_runs_started_at_once_one_wins_and_the_other_touches_nothing(tmp_path):
    """The issue's two shells 50 ms apart: before, both exited 0 and metrics.jsonl held both runs."""
    out = tmp_path / "same"
    first = subprocess.Popen(train_cli("--epochs", "3", "--seed", "0", "--out", str(out), *SMALL), env=env(),
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.05)
    second = subprocess.Popen(train_cli("--epochs", "3", "--seed", "1", "--out", str(out), *SMALL), env=env(),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {p: p.communicate(timeout=300) for p in (first, second)}
    codes = sorted(p.returncode for p in results)
    assert codes == [0, 2], {p.pid: r for p, r in results.items()}
    winner = next(p for p in results if p.returncode == 0)
    loser = next(p for p in results if p.returncode == 2)
    err = results[loser][1].strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    # refused under the lock (naming the winner), or, if it came late, by the finished run's config
    assert f"in use by process {winner.pid}" in err or "already exists" in err, err
    assert "Training" not in results[loser][0]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["args"]["seed"] == (0 if winner is first else 1)
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]
    assert not (out / runfolder.LOCK_NAME).exists()


def test_a_held_folder_refuses_a_new_run_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "r"
    with runfolder.claim(out, "train"):  # this process plays the running one
        rc = main(["train", "--epochs", "1", "--out", str(out), *SMALL])
        text, err = one_line_error(capsys, rc, f"in use by process {os.getpid()}")
        assert "Training" not in text
        assert sorted(p.name for p in out.iterdir()) == [runfolder.LOCK_NAME]  # nothing written beside it
    assert not out.exists()  # the claim made the folder and removed it, still empty, at the end


def test_the_fresh_check_is_made_again_under_the_lock(tmp_path):
    """A run that finished between the first `already exists` check and the lock."""
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(CLIError, match="already exists"):
        with runfolder.claim(out, "train", fresh=True):
            pass
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


@pytest.fixture
def live_run(tmp_path):
    """A real `chainrule train` subprocess, alive, with its first checkpoint written."""
    out = tmp_path / "live"
    proc = subprocess.Popen(train_cli("--epochs", "200", "--out", str(out), *SMALL), env=env(), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = out / "checkpoints" / "last.safetensors"
    deadline = time.time() + 120
    while not ck.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert ck.exists() and proc.poll() is None, "the training subprocess did not write a checkpoint"
    yield proc, out, ck
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_resume_refused_while_the_run_lives_then_taken_over_after_kill_9(live_run, capsys):
    proc, out, ck = live_run
    rc = main(["train", "--resume", str(ck), "--epochs", "200", "--quiet"])
    text, err = one_line_error(capsys, rc, f"in use by process {proc.pid}")
    assert "Resuming" not in text
    assert json.loads((out / runfolder.LOCK_NAME).read_text())["pid"] == proc.pid  # its lock untouched

    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / runfolder.LOCK_NAME).exists()  # kill -9 leaves the file behind
    epochs = int(runfolder._checkpoint_progress(ck).split("epoch ")[1].split(",")[0])  # "after epoch E, ..."
    assert main(["train", "--resume", str(ck), "--epochs", str(epochs + 1), "--quiet"]) == 0
    text, err = capsys.readouterr()
    assert f"taking over the lock of process {proc.pid}" in err and "Resuming" in text
    assert (out / "model.safetensors").is_file() and not (out / runfolder.LOCK_NAME).exists()


def test_a_lock_whose_owner_is_gone_is_taken_over_with_a_line(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / runfolder.LOCK_NAME).write_text(json.dumps({"pid": 999999, "command": "chainrule train"}))
    with runfolder.claim(out, "train"):
        held = json.loads((out / runfolder.LOCK_NAME).read_text())
    assert held["pid"] == os.getpid()
    assert "taking over the lock of process 999999" in capsys.readouterr().err


# ------------------------------------------------------------------ a full disk
def _last_checkpoint_write_fails(monkeypatch, nth: int):
    """The nth write of checkpoints/last.safetensors runs out of space halfway (after the bytes
    start going to the temporary file, as a real full disk does)."""
    real = pathlib.Path.write_bytes
    seen = []

    def write_bytes(self, data):
        if self.name.startswith(".last.safetensors."):
            seen.append(self)
            if len(seen) == nth:
                real(self, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)


def test_disk_full_names_the_file_the_intact_checkpoint_and_the_resume_command(tmp_path, capsys, monkeypatch):
    """Before: `error: [Errno 28] No space left on device`, naming nothing."""
    out = tmp_path / "r"
    _last_checkpoint_write_fails(monkeypatch, nth=2)
    rc = main(["train", "--epochs", "3", "--out", str(out), *SMALL])
    _, err = one_line_error(capsys, rc, "no space left")
    ck = out / "checkpoints" / "last.safetensors"
    assert f"could not write {ck}" in err
    assert f"the last checkpoint {ck} (after epoch 1, iteration 4) is intact" in err
    assert err.endswith(f"continue with: chainrule train --resume {ck}")
    assert [p.name for p in ck.parent.iterdir()] == ["last.safetensors"]  # no temporary file left
    monkeypatch.undo()  # space freed
    cmd = err.split("continue with: chainrule ")[1].split()
    assert main(cmd + ["--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["results"]["epochs_done"] == 3


def test_disk_full_before_any_checkpoint_says_nothing_can_be_resumed(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    _last_checkpoint_write_fails(monkeypatch, nth=1)
    _, err = one_line_error(capsys, main(["train", "--epochs", "2", "--out", str(out), *SMALL]), "no space left")
    assert "no checkpoint was written yet" in err and f"remove {out}" in err


def test_disk_full_on_a_real_600k_tmpfs_then_resume_after_freeing_space(tmpfs, capsys):
    """The issue's own setting: a 600 KB tmpfs (root and mount needed)."""
    d = tmpfs("600k")
    out = d / "run"
    rc = main(["train", "--epochs", "3", "--subsample", "200", "--out", str(out), "--quiet"])
    _, err = one_line_error(capsys, rc, "no space left on the device: could not write ")
    ck = out / "checkpoints" / "last.safetensors"
    assert f"the last checkpoint {ck} (after epoch" in err and f"--resume {ck}" in err
    assert _mount("-o", "remount,size=20m", str(d))
    assert main(["train", "--resume", str(ck), "--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["results"]["epochs_done"] == 3


def test_failed_file_finds_an_unnamed_write_error(tmp_path):
    """A buffered write that fails at close reports no file name: it is found in the traceback."""
    target = tmp_path / "metrics.jsonl"
    try:
        with open(target, "a") as fh:
            fh.write("x")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as e:
        assert runfolder.failed_file(e) == str(target)


# ---------------------------------------------------- write faults before training
def _nothing_made(capsys, argv, match, must_not_exist):
    rc = main(["train", *argv, *SMALL])
    text, err = one_line_error(capsys, rc, match)
    assert "Training" not in text
    assert not os.path.lexists(must_not_exist)
    return err


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    _nothing_made(capsys, ["--out", str(f)], "is a file, not a folder", tmp_path / "nothing")
    _nothing_made(capsys, ["--out", str(f / "run")], f"{f} is a file, not a folder", f / "run")
    assert f.read_text() == "mine"


def test_read_only_parent(read_only_dir, capsys):
    _nothing_made(capsys, ["--out", str(read_only_dir / "a" / "run")], f"cannot write the run folder",
                  read_only_dir / "a")


def test_folder_without_write_permission(read_only_dir, capsys):
    err = _nothing_made(capsys, ["--out", str(read_only_dir)], f"cannot write the run folder {read_only_dir}",
                        read_only_dir / "config.json")
    assert "read-only file system" in err or "no write permission" in err


def test_no_write_permission_mocked(tmp_path, capsys, monkeypatch):
    """The same as the two above on any machine and user: os.access says no."""
    parent = tmp_path / "p"
    parent.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == parent else real(p, mode, **kw))
    err = _nothing_made(capsys, ["--out", str(parent / "run")], f"cannot write the run folder {parent / 'run'}",
                        parent / "run")
    assert f"{parent} is not writable by you (no write permission)" in err
    _nothing_made(capsys, ["--out", str(parent)], "it is not writable by you", parent / "config.json")


def test_mkdir_refused_after_the_check_leaves_nothing(tmp_path, capsys, monkeypatch):
    """Permission lost between the check and the mkdir (or an ACL the check cannot see)."""
    real = pathlib.Path.mkdir

    def mkdir(self, *a, **kw):
        if self.name == "b":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    _nothing_made(capsys, ["--out", str(tmp_path / "a" / "b")], "no write permission", tmp_path / "a")


def test_path_too_long(tmp_path, capsys):
    _nothing_made(capsys, ["--out", str(tmp_path / ("x" * 300))], "is 300 bytes long; this file system allows",
                  tmp_path / ("x" * 300))
    deep = tmp_path.joinpath(*["y" * 200] * 21)
    _nothing_made(capsys, ["--out", str(deep)], "choose a shorter --out", tmp_path / ("y" * 200))


# ------------------------------------------------------------- tune, export, report
def test_tune_out_is_claimed_and_checked(tmp_path, capsys, read_only_dir):
    pytest.importorskip("optuna")  # without it tune stops first, at its install line
    out = tmp_path / "study"
    with runfolder.claim(out, "tune"):
        rc = main(["tune", "--out", str(out), "--model", "small_cnn", "--data", "digits",
                   "--space", "lr=1e-3:1e-1:log", "--trials", "1"])
        one_line_error(capsys, rc, f"in use by process {os.getpid()}")
    rc = main(["tune", "--out", str(read_only_dir / "study"), "--model", "small_cnn", "--data", "digits",
               "--space", "lr=1e-3:1e-1:log", "--trials", "1"])
    one_line_error(capsys, rc, "cannot write the run folder")


def test_write_atomically_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "trials.csv"
    target.write_text("old")

    def half_then_full(tmp):
        Path(tmp).write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as e:
        runfolder.write_atomically(target, half_then_full)
    assert e.value.filename == str(target) and target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["trials.csv"]


def test_write_atomically_keeps_the_suffix_for_savefig(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    fig = plt.figure(figsize=(1, 1))
    path = runfolder.write_atomically(tmp_path / "scatter.png", lambda tmp: fig.savefig(tmp))
    plt.close(fig)
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scatter.png"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r"
    assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 0
    return out


def _fail_replace(monkeypatch, name: str):
    """os.replace onto `name` fails with a full disk (the temporary file is complete)."""
    real = os.replace

    def replace(src, dst, **kw):
        if Path(dst).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, **kw)

    monkeypatch.setattr(os, "replace", replace)


def test_report_output_is_atomic_and_checked_first(digits_run, tmp_path, capsys, monkeypatch):
    """Before: a fixed report.html.tmp was left behind and the error named no file."""
    out = tmp_path / "report.html"
    out.write_text("old report")
    _fail_replace(monkeypatch, "report.html")
    rc = main(["report", str(digits_run), "--out", str(out), "--no-data"])
    one_line_error(capsys, rc, f"No space left on device: '{out}'")
    assert out.read_text() == "old report" and [p.name for p in tmp_path.iterdir()] == ["report.html"]
    monkeypatch.undo()
    one_line_error(capsys, main(["report", str(digits_run), "--out", str(tmp_path)]), "is a folder; give a file name")


def test_export_output_is_atomic_and_checked_first(digits_run, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnx")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"old")
    _fail_replace(monkeypatch, "m.onnx")
    rc = main(["export", str(digits_run), "--out", str(out)])
    one_line_error(capsys, rc, f"No space left on device: '{out}'")
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
    monkeypatch.undo()
    one_line_error(capsys, main(["export", str(digits_run), "--out", str(tmp_path)]), "is a folder; give a file name")
    assert main(["export", str(digits_run), "--out", str(out)]) == 0 and out.read_bytes()[:3] != b"old"
