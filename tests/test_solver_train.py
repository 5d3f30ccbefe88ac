"""cr.Solver: histories, best-model restore, modes, callbacks, options."""
from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import callbacks as C
from chainrule import nn
from chainrule.data import transforms as T

from solver_helpers import params_equal, tiny_cnn, tiny_data


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def make(data, **kw):
    kw.setdefault("verbose", False)
    kw.setdefault("num_epochs", 3)
    kw.setdefault("batch_size", 32)
    kw.setdefault("lr", 1e-2)
    return cr.Solver(kw.pop("model", None) or tiny_cnn(), data, **kw)


def test_histories_and_best_params_restored(data):
    seen_modes, correct = [], []

    def on_batch_end(step, logs):
        seen_modes.append(s.model.training)
        correct.append((logs["correct"], logs["batch_size"]))

    cb = C.LambdaCallback(on_batch_end=on_batch_end)
    s = make(data, callbacks=[cb], train_acc_samples=100, preprocess=T.PerChannelNormalize())
    s.model.eval()  # the Solver must give this mode back
    s.train()
    per_epoch = -(-240 // 32)
    assert len(s.loss_history) == 3 * per_epoch == s.step
    assert len(s.train_acc_history) == len(s.val_acc_history) == len(s.lr_history) == 3
    assert all(np.isfinite(s.loss_history))
    assert s.loss_history[-1] < s.loss_history[0]
    assert seen_modes and all(seen_modes)          # train mode for every step
    assert all(0 <= c <= n for c, n in correct) and correct[-1][0] > correct[0][0]
    assert s.model.training is False               # restored
    assert s.best_val_acc == max(s.val_acc_history)
    assert s.best_epoch == 1 + int(np.argmax(s.val_acc_history))
    # the best parameters are the ones left in the model
    best = s.best_params
    assert all(np.array_equal(best[k], v) for k, v in s.model.state_dict().items())
    assert s.check_accuracy(data.X_val, data.y_val) == pytest.approx(s.best_val_acc)
    pred = s.predict(data.X_test)
    assert pred.dtype == np.int64 and pred.shape == data.y_test.shape
    assert s.check_accuracy(data.X_test, data.y_test) == pytest.approx(np.mean(pred == data.y_test))
    assert s.check_accuracy(data.X_test, data.y_test, batch_size=7) == pytest.approx(np.mean(pred == data.y_test))
    proba = s.predict_proba(data.X_test[:5])
    assert np.allclose(proba.sum(1), 1.0) and np.array_equal(proba.argmax(1), pred[:5])


def test_train_acc_on_fixed_subsample(data):
    s = make(data, num_epochs=1, train_acc_samples=50)
    assert len(s._train_subsample) == 50 and len(set(s._train_subsample)) == 50
    s2 = make(data, num_epochs=1, train_acc_samples=50)
    assert np.array_equal(s._train_subsample, s2._train_subsample)


def test_same_seed_same_weights_other_seed_differs(data):
    a = make(data, num_epochs=1).train()
    b = make(data, num_epochs=1).train()
    c = make(data, num_epochs=1, seed=1).train()
    assert params_equal(a.model, b.model)
    assert not params_equal(a.model, c.model)


def test_callbacks_order_logs_and_stop(data, tmp_path):
    events = []
    cb = C.LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                          on_epoch_begin=lambda e, logs: events.append(f"eb{e}"),
                          on_epoch_end=lambda e, logs: events.append((e, sorted(logs))),
                          on_train_end=lambda logs: events.append("end"))
    # the mean epoch loss falls, so "loss must rise" (mode=max) stops after patience 0 -> epoch 2
    stop = C.EarlyStopping(monitor="loss", mode="max", patience=0)
    s = make(data, num_epochs=5, callbacks=[cb, stop, C.CSVLogger(tmp_path / "m.csv"),
                                            C.JSONLLogger(tmp_path / "m.jsonl")])
    s.train()
    assert s.epoch == 2 and stop.stopped_epoch == 2 and s.stop_training
    assert events[0] == "begin" and events[1] == "eb1" and events[-1] == "end"
    assert events[2] == (1, ["epoch", "loss", "lr", "step", "train_acc", "val_acc", "val_top5"])  # 10 classes: top-5
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["val_acc"] == pytest.approx(s.val_acc_history[1])
    csv_lines = (tmp_path / "m.csv").read_text().splitlines()
    assert csv_lines[0] == "epoch,loss,train_acc,val_acc,lr,step" and len(csv_lines) == 3


def test_callback_exception_propagates_unchanged(data):
    class Pruned(Exception):
        pass

    def boom(epoch, logs):
        raise Pruned(f"pruned at {epoch}")

    s = make(data, callbacks=[C.LambdaCallback(on_epoch_end=boom)])
    with pytest.raises(Pruned, match="pruned at 1"):
        s.train()


def test_model_checkpoint_best_only(data, tmp_path):
    mc = C.ModelCheckpoint(tmp_path / "best.safetensors", monitor="val_acc", save_best_only=True)
    s = make(data, callbacks=[mc])
    s.train()
    assert (tmp_path / "best.safetensors").exists()
    n_improvements = sum(v > max(s.val_acc_history[:i], default=-1) for i, v in enumerate(s.val_acc_history))
    assert len(mc.saved) == n_improvements
    m = cr.load(tmp_path / "best.safetensors")  # cr.load reads checkpoints too
    assert isinstance(m, nn.Module)


def test_optimizer_and_schedule_objects(data):
    m = tiny_cnn()
    opt = cr.optim.SGD(m.parameters(), lr=0.1)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1)
    s = make(data, model=m, optimizer=opt, lr_schedule=sched)
    assert s.optimizer is opt and s.scheduler is sched and s.settings["optimizer"] is None
    s = make(data, optimizer=lambda p: cr.optim.Adam(p, lr=0.5), lr_schedule="inverse:0.5")
    assert isinstance(s.optimizer, cr.optim.Adam) and s.lr == 0.5
    assert isinstance(s.scheduler, cr.optim.lr_scheduler.InverseTimeLR)
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*sgd, momentum"):
        make(data, optimizer="adamax")
    with pytest.raises(ValueError, match="not the model's"):
        make(data, optimizer=cr.optim.SGD(tiny_cnn().parameters(), lr=0.1))
    with pytest.raises(ValueError, match="another optimizer"):
        make(data, lr_schedule=cr.optim.lr_scheduler.StepLR(cr.optim.SGD(m.parameters(), lr=0.1), 1))
    with pytest.raises(ValueError, match="unknown lr schedule 'bogus'.*inverse:K"):
        make(data, lr_schedule="bogus")
    with pytest.raises(TypeError, match="factory returned"):
        make(data, optimizer=lambda p: None)


def test_schedule_changes_lr_history(data):
    s = make(data, lr=0.1, optimizer="sgd", lr_schedule="step:1:0.5").train()
    assert s.lr_history == [0.1, 0.05, 0.025]
    s = make(data, lr=0.1, optimizer="momentum",
             lr_schedule=lambda opt: cr.optim.lr_scheduler.ExponentialLR(opt, gamma=0.1)).train()
    assert s.lr_history == pytest.approx([0.1, 0.01, 0.001])


def test_svm_loss_and_plateau(data):
    s = make(data, loss="svm", lr_schedule="plateau:0").train()
    assert s.best_val_acc > 0.5
    with pytest.raises(ValueError, match="unknown loss"):
        make(data, loss="hinge")


def test_preprocess_fitted_on_train_only_and_never_modified(data):
    pre = T.PerChannelNormalize()
    s = make(data, num_epochs=1, preprocess=pre)
    assert not T.is_fitted(pre) and not hasattr(pre, "mean_")   # the caller's object is untouched
    assert s.preprocess is pre and s.preprocess_ is not pre and T.is_fitted(s.preprocess_)
    assert np.allclose(s.preprocess_.mean_, data.X_train.mean(axis=(0, 2, 3)), atol=1e-6)
    assert abs(float(s.data["X_train"].mean())) < 1e-5
    assert s.data["X_train"].dtype == np.float32
    # an already fitted preprocessor is used as it is
    fitted = T.PerChannelNormalize().fit(data.X_val)
    before = fitted.state_dict()
    s = make(data, num_epochs=1, preprocess=fitted)
    assert s.preprocess_ is fitted
    assert all(np.array_equal(v, fitted.state_dict()[k]) for k, v in before.items())
    np.testing.assert_array_equal(s.data["X_test"], fitted(data.X_test))


def test_bad_arguments(data):
    with pytest.raises(ValueError, match="batch_size"):
        make(data, batch_size=0)
    with pytest.raises(ValueError, match="missing"):
        cr.Solver(tiny_cnn(), {"X_train": data.X_train, "y_train": data.y_train})
    with pytest.raises(TypeError, match="Module"):
        cr.Solver(lambda x: x, data)


def test_progress_bar_verbose(data, capsys):
    import io
    buf = io.StringIO()
    s = make(data, num_epochs=1, callbacks=[C.ProgressBar(file=buf, mininterval=0, bar=True)], verbose=True)
    s.train()
    out = buf.getvalue()
    assert "(Epoch 1 / 1)" in out and "img/s" in out and "val acc" in out and "acc=" in out
    assert "\r" in out                                         # a bar, drawn with carriage returns


def test_progress_without_a_terminal_is_one_plain_line_per_epoch(data):
    import io
    buf = io.StringIO()                                       # not a terminal: no bar frames
    make(data, num_epochs=2, callbacks=[C.ProgressBar(file=buf, mininterval=0)], verbose=True).train()
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue() and len(lines) == 2
    assert lines[0].startswith("(Epoch 1 / 2) loss ") and lines[1].startswith("(Epoch 2 / 2) loss ")
    assert all("img/s" in line and "val acc" in line for line in lines)


def test_progress_bar_on_a_terminal(monkeypatch):
    import io
    tty = io.StringIO()
    monkeypatch.setattr(tty, "isatty", lambda: True, raising=False)
    assert C.ProgressBar(file=tty)._draws_bar() and not C.ProgressBar(file=io.StringIO())._draws_bar()
    assert not C.ProgressBar(file=tty, bar=False)._draws_bar()


def test_per_step_hook_runs_after_every_optimizer_step(data):
    seen = []

    class Hooked(cr.Solver):
        def _after_optimizer_step(self):
            seen.append((self.step, int(self.optimizer.state_dict()["state"][0]["step"])))

    s = Hooked(tiny_cnn(), data, num_epochs=1, batch_size=32, verbose=False).train()
    assert seen == [(i, i + 1) for i in range(s.step)]      # before the step count, after the update
