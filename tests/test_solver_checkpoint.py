"""Checkpoints: bitwise resume (epoch boundary, mid-epoch, Ctrl-C, SIGKILL), corrupt files,
non-finite losses, cr.save / cr.load."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import callbacks as C
from chainrule import nn
from chainrule.checkpoint import CheckpointError, flatten_state, load_state, save_state, unflatten_state
from chainrule.data import transforms as T
from chainrule.solver import NonFiniteLossError, Solver, TrainingInterrupted

from solver_helpers import augment, params_equal, tiny_cnn, tiny_data

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def settings(**kw):
    base = dict(optimizer="adam", lr=1e-2, lr_schedule="step:1:0.7", batch_size=32, num_epochs=2,
                preprocess=T.PerChannelNormalize(), verbose=False, seed=3)
    base.update(kw)
    return base


def same_histories(a: Solver, b: Solver) -> bool:
    return a.history == b.history and a.best_val_acc == b.best_val_acc and a.best_epoch == b.best_epoch


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    """2 epochs with dropout and augmentation, a checkpoint after each epoch."""
    d = tmp_path_factory.mktemp("full")
    s = Solver(tiny_cnn(), data, augment=augment(), callbacks=[C.ModelCheckpoint(d)], **settings())
    s.train()
    return s, d


def test_flatten_roundtrip():
    state = {"a": np.arange(3.0), "b": {"c": [np.ones((2, 2), np.float32), 5, "x", None],
                                         "n": np.array(7, np.int64)}, "f": 0.1}
    tensors, skel = flatten_state(state)
    assert set(tensors) == {"a", "b.c.0", "b.n"} and tensors["b.n"].shape == ()
    back = unflatten_state(tensors, json.loads(json.dumps(skel)))
    assert np.array_equal(back["a"], state["a"]) and back["b"]["c"][1:] == [5, "x", None]
    assert back["f"] == 0.1 and back["b"]["n"].shape == ()
    with pytest.raises(ValueError, match="type object"):
        flatten_state({"x": object()})


def test_checkpoint_contents(uninterrupted):
    s, d = uninterrupted
    state, meta = load_state(d / "epoch001.safetensors", kind="checkpoint")
    assert meta["format"] == "chainrule-checkpoint" and meta["format_version"] == "1"
    assert state["epoch"] == 1 and state["step"] == 8
    assert "exp_avg" in state["optim"]["state"]["0"]           # optimiser moments are tensors
    from safetensors.numpy import load_file
    keys = set(load_file(d / "epoch001.safetensors"))
    assert "optim.state.0.exp_avg" in keys and "model.0.weight" in keys and "best_params.6.bias" in keys
    assert state["scheduler"]["last_epoch"] == 1
    assert state["model_config"]["class"].endswith(":Sequential")
    assert state["preprocess"]["config"]["class"] == "PerChannelNormalize"
    assert len(state["history"]["loss_history"]) == 8
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]   # atomic write left no temp files


def test_resume_after_epoch_equals_uninterrupted_bitwise(data, uninterrupted):
    full, d = uninterrupted
    r = Solver.resume(d / "epoch001.safetensors", data, augment=augment(), verbose=False)
    assert r.epoch == 1 and r.step == 8
    r.train()
    assert params_equal(r.model, full.model)   # np.array_equal on every parameter and buffer
    assert same_histories(r, full)


def test_checkpoint_written_before_the_preprocessor_rename_resumes(data, uninterrupted, tmp_path):
    """Checkpoints saved the preprocessor's arrays as "mean" (now "mean_"): they still resume bitwise."""
    full, d = uninterrupted
    state, _ = load_state(d / "epoch001.safetensors", kind="checkpoint")
    assert set(state["preprocess"]["state"]) == {"mean_", "std_"}
    state["preprocess"]["state"] = {"mean": state["preprocess"]["state"]["mean_"],
                                    "std_": state["preprocess"]["state"]["std_"]}
    old = save_state(tmp_path / "old.safetensors", state, kind="checkpoint")
    r = Solver.resume(old, data, augment=augment(), verbose=False, checkpoint_dir=None)
    assert np.array_equal(r.preprocess_.mean_, full.preprocess_.mean_)
    r.train()
    assert params_equal(r.model, full.model) and same_histories(r, full)


def test_resume_mid_epoch_after_ctrl_c(data, uninterrupted, tmp_path):
    full, _ = uninterrupted

    def press_ctrl_c(step, logs):
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)   # the handler lets step 5 finish, then saves

    s = Solver(tiny_cnn(), data, augment=augment(), checkpoint_dir=tmp_path,
               callbacks=[C.LambdaCallback(on_batch_end=press_ctrl_c)], **settings())
    with pytest.raises(TrainingInterrupted, match="chainrule train --resume") as e:
        s.train()
    assert isinstance(e.value, KeyboardInterrupt)
    assert e.value.checkpoint == tmp_path / "last.safetensors"
    state, _ = load_state(e.value.checkpoint)
    assert state["step"] == 5 and state["loader"]["batch"] == 5
    r = Solver.resume(e.value.checkpoint, data, augment=augment(), verbose=False)
    r.train()
    assert params_equal(r.model, full.model) and same_histories(r, full)


def test_keyboard_interrupt_from_code_without_checkpoint_dir(data):
    def stop(step, logs):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    s = Solver(tiny_cnn(), data, callbacks=[C.LambdaCallback(on_batch_end=stop)], **settings())
    with pytest.raises(TrainingInterrupted, match="no checkpoint written"):
        s.train()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored


SCRIPT = """
import sys, time
sys.path[:0] = [{repo!r}, {tests!r}]
import chainrule as cr
from chainrule import callbacks as C
from chainrule.data import transforms as T
from solver_helpers import augment, tiny_cnn, tiny_data
slow = C.LambdaCallback(on_batch_end=lambda step, logs: time.sleep(0.15))
s = cr.Solver(tiny_cnn(), tiny_data(), augment=augment(), checkpoint_dir={ckdir!r}, checkpoint_every=3,
              callbacks=[slow], optimizer="adam", lr=1e-2, lr_schedule="step:1:0.7", batch_size=32,
              num_epochs=2, preprocess=T.PerChannelNormalize(), verbose=False, seed=3)
s.train()
"""


def test_sigkill_mid_epoch_then_resume(data, uninterrupted, tmp_path):
    full, _ = uninterrupted
    ckdir = tmp_path / "ck"
    script = SCRIPT.format(repo=str(REPO), tests=str(REPO / "tests"), ckdir=str(ckdir))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    last = ckdir / "last.safetensors"
    try:
        deadline = time.monotonic() + 60
        while not last.exists():
            assert proc.poll() is None, "the training subprocess ended before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state, _ = load_state(last)
    assert 0 < state["step"] < 16 and state["step"] % 3 == 0   # killed mid-run, at a 3-step checkpoint
    r = Solver.resume(last, data, augment=augment(), verbose=False)
    r.train()
    assert params_equal(r.model, full.model) and same_histories(r, full)


def test_resume_checks(data, uninterrupted):
    _, d = uninterrupted
    path = d / "epoch001.safetensors"
    with pytest.raises(ValueError, match="augment="):
        Solver.resume(path, data, verbose=False)
    other = tiny_data(200)
    with pytest.raises(ValueError, match="other data"):
        Solver.resume(path, other, augment=augment(), verbose=False)


def test_corrupted_and_truncated_checkpoints(uninterrupted, tmp_path):
    _, d = uninterrupted
    good = (d / "epoch001.safetensors").read_bytes()
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=r"trunc\.safetensors.*truncated or corrupted"):
        load_state(trunc)
    with pytest.raises(CheckpointError, match="trunc.safetensors"):
        Solver.resume(trunc, {}, verbose=False)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        load_state(garbage)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.safetensors"):
        cr.load(empty)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state(tmp_path / "missing.safetensors")
    # a valid safetensors file that chainrule did not write
    from safetensors.numpy import save_file
    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not a chainrule checkpoint"):
        load_state(tmp_path / "plain.safetensors")
    # a newer format version
    save_state(tmp_path / "new.safetensors", {"x": 1})
    from safetensors.numpy import load as st_load, save as st_save
    raw = (tmp_path / "new.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8:8 + n])["__metadata__"]
    meta["format_version"] = "99"
    (tmp_path / "new.safetensors").write_bytes(st_save(st_load(raw), metadata=meta))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_state(tmp_path / "new.safetensors")
    # a model file is not a checkpoint
    cr.save(tiny_cnn(), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="expected a 'checkpoint'"):
        Solver.resume(tmp_path / "m.safetensors", {}, verbose=False)


class NaNAfter(nn.Module):
    """Linear scores that turn NaN from the `after`-th forward call in train mode."""

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out = self.fc(x.reshape(x.shape[0], -1))
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                out = out * float("nan")
        return out


def test_nan_loss_stops_with_iteration_and_checkpoint(data, tmp_path):
    s = Solver(NaNAfter(after=10), data, checkpoint_dir=tmp_path, **settings(num_epochs=3))
    with pytest.raises(NonFiniteLossError, match="loss is nan at iteration 10") as e:
        s.train()
    assert isinstance(e.value, FloatingPointError)
    assert e.value.iteration == 10 and e.value.epoch == 2
    assert str(tmp_path / "last.safetensors") in str(e.value)   # the epoch-1 checkpoint
    assert len(s.loss_history) == 9


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to inf
def test_huge_lr_diverges_to_nonfinite(data):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    s = Solver(model, data, **settings(optimizer="sgd", lr=1e38, lr_schedule=None, num_epochs=5))
    with pytest.raises(NonFiniteLossError, match=r"at iteration \d+ .*no checkpoint was written"):
        s.train()


def test_save_load_roundtrip_identical_predictions(data, uninterrupted, tmp_path):
    full, _ = uninterrupted
    path = cr.save(full.model, tmp_path / "model.safetensors", preprocess=full.preprocess_,
                   classes=data.classes, info={"input_shape": [1, 8, 8]})
    m = cr.load(path)
    assert m.classes == data.classes and m.info["input_shape"] == [1, 8, 8]  # (+ the recorded input contract)
    assert m.training is False
    X = m.preprocess(data.X_test)
    assert np.array_equal(X, full.data["X_test"])
    with cr.no_grad():
        got = m(cr.tensor(X)).data
    want = full._scores(full.data["X_test"], batch_size=len(X))  # same batch: same BLAS blocking
    assert np.array_equal(got, want)
    assert np.array_equal(got.argmax(1), full.predict(data.X_test))
    # no preprocessing, no classes
    m2 = cr.load(cr.save(nn.Linear(3, 2), tmp_path / "lin.safetensors"))
    assert m2.preprocess is None and m2.classes is None and isinstance(m2, nn.Linear)


def test_save_rejects_unregistered_module(tmp_path):
    with pytest.raises(ValueError, match="register_module"):
        cr.save(NaNAfter(3), tmp_path / "x.safetensors")


def test_callback_states_go_to_callbacks_of_their_class(data, tmp_path):
    # a resumed Solver with its callbacks in another order (or one fewer) must not hand
    # EarlyStopping's state to ModelCheckpoint
    stop, keep = C.EarlyStopping(patience=5), C.ModelCheckpoint(tmp_path / "ck")
    s = Solver(tiny_cnn(), data, callbacks=[stop, keep], checkpoint_dir=tmp_path, **settings())
    s.train()
    stop2, keep2 = C.EarlyStopping(patience=5), C.ModelCheckpoint(tmp_path / "ck2")
    r = Solver.resume(tmp_path / "last.safetensors", data, callbacks=[keep2, stop2])
    assert stop2.state_dict() == stop.state_dict() and keep2.state_dict() == keep.state_dict()
    lone = C.EarlyStopping(patience=5)
    Solver.resume(tmp_path / "last.safetensors", data, callbacks=[lone])
    assert lone.state_dict() == stop.state_dict()
    assert r.epoch == s.epoch
