"""The Solver's state made explicit (issue 24): one TrainState, one run config, one EMA,
callbacks that get the model, params, state and logs; and which weights are kept (issue 21.5)."""
from __future__ import annotations

import json

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.resume import TrainState


def _data():
    return cr.data.load_digits(subsample=200, seed=0)


def _solver(tmp_path=None, epochs=1, **kw):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    return cr.Solver(model, _data(), lr=1e-2, num_epochs=epochs, batch_size=50, verbose=False,
                     checkpoint_dir=None if tmp_path is None else tmp_path, **kw)


def test_constructor_only_stores_and_the_state_is_one_object():
    class Counting(cr.data.transforms.PerChannelNormalize):
        fits = 0

        def fit(self, X):
            Counting.fits += 1
            return super().fit(X)

    s = _solver(preprocess=Counting())
    assert Counting.fits == 0 and s._prepared is None  # nothing fitted or preprocessed yet
    assert isinstance(s.state, TrainState) and s.state.step == 0
    s.train()
    assert Counting.fits == 1
    assert s.step == s.state.step == 4 and s.epoch == s.state.epoch == 1
    assert s.loss_history is s.state.loss_history and len(s.state.loss_history) == 4
    assert s.config is s.settings and s.config["batch_size"] == 50


def test_callbacks_get_model_params_state_and_logs():
    seen = {}

    class Spy(cr.callbacks.Callback):
        def on_train_begin(self, logs):
            seen["begin"] = dict(logs)
            seen["params"] = self.params

        def on_epoch_begin(self, epoch, logs):
            seen["epoch_begin"] = dict(logs)

        def on_epoch_end(self, epoch, logs):
            seen["end"] = dict(logs)
            self.state.stop_training = True  # the one field a callback writes

    spy = Spy()
    s = _solver(epochs=3, callbacks=[spy], ema=0.5)
    s.train()
    assert spy.model is s.model and spy.state is s.state
    assert seen["begin"] == {"epoch": 0, "step": 0, "num_epochs": 3}
    assert seen["epoch_begin"] == {"epoch": 1, "lr": 1e-2, "batch": 0}
    p = seen["params"]
    assert p["num_epochs"] == 3 and p["batches_per_epoch"] == 4 and p["config"] is s.config
    assert p["val_data"][0].shape == (s.data["X_val"].shape[0], 1, 8, 8)
    assert s.epoch == 1  # stopped by the callback through the state
    assert seen["end"]["ema_val_acc"] == s.ema.val_acc_history[-1]  # scored before the callbacks


def test_tensorboard_module_does_not_import_callbacks():
    import ast
    from pathlib import Path

    src = Path(cr.__file__).parent / "viz" / "tensorboard.py"
    names = {n.module for n in ast.walk(ast.parse(src.read_text())) if isinstance(n, ast.ImportFrom)}
    assert "callbacks" not in {(m or "").split(".")[-1] for m in names}


def test_one_ema_an_ema_callback_is_adopted_and_two_are_refused():
    from chainrule.optim.swa_utils import EMA

    ema = EMA(0.9)
    s = _solver(callbacks=[ema])
    assert s.ema is ema and ema not in s.callbacks and s.config["ema"] == 0.9
    try:
        _solver(callbacks=[EMA(0.9), EMA(0.8)])
    except ValueError as e:
        assert "one weight average" in str(e)
    else:
        raise AssertionError("two EMAs were accepted")


def test_ema_warmup_follows_timm():
    from chainrule.optim.swa_utils import EMA

    model = nn.Linear(3, 2)
    ema = EMA(0.99, warmup=True)
    ema.attach(model)
    ref = model.weight.data.copy()
    ema.update(model)  # the first update copies
    for n in range(1, 6):
        model.weight.data[...] += 1.0
        d = min(0.99, (1 + n) / (10 + n))
        assert ema.current_decay() == d
        ema.update(model)
        ref = d * ref + (1 - d) * model.weight.data
    np.testing.assert_allclose(ema.model.weight.data, ref, rtol=1e-6)


def test_choose_weights_keeps_the_raw_ones_when_the_average_is_worse():
    """Issue 21 item 5: a slow average after one short epoch is mostly the random start."""
    s = _solver(epochs=1, ema=0.99)
    s.train()
    raw = s.check_accuracy(s._raw["X_val"], s._raw["y_val"])
    assert s.ema.val_acc_history[-1] < raw - 0.1  # the case the issue met
    name, model = s.choose_weights()
    assert name == "raw" and model is s.model
    s2 = _solver(epochs=1, ema=0.0)  # decay 0: the average is the final weights, as good as themselves
    s2.train()
    assert s2.ema.val_acc_history[-1] == s2.val_acc_history[-1] and s2.choose_weights()[0] == "ema"


def test_with_an_ema_the_model_keeps_its_final_weights():
    """h-28runs' main job: the best epoch's snapshot is the fragile candidate; with an EMA both
    candidates are end-of-training weights (no best-epoch swap)."""
    finals = []
    s = _solver(epochs=3, ema=0.5, callbacks=[cr.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: finals.append({k: np.array(v) for k, v in s.model.state_dict().items()}))])
    s.train()
    for k, v in s.model.state_dict().items():
        np.testing.assert_array_equal(v, finals[-1][k])


def test_choose_weights_compares_the_final_scores_not_the_best_epoch():
    """The best epoch's val is a max over epochs; the EMA is compared with the raw weights at the
    same moment (h-28runs' main job: the max rule dropped good averages)."""
    s = _solver(epochs=1, ema=0.5)
    s.state.val_acc_history[:] = [0.90, 0.80]       # best epoch 0.90, final raw 0.80
    s.ema.attach(s.model)
    s.ema.val_acc_history[:] = [0.5, 0.85]          # the average ends above the final raw weights
    assert s.choose_weights()[0] == "ema"
    s.ema.val_acc_history[-1] = 0.79
    assert s.choose_weights()[0] == "raw"


def test_cli_saves_the_better_weights_and_says_which(tmp_path, capsys, monkeypatch):
    """Before the fix `chainrule train` saved the EMA weights whatever they scored. An average
    that keeps its initial weights (decay 0.9999 over 63 steps) scores as the random start."""
    from chainrule.cli import main
    from chainrule.commands import train

    monkeypatch.setattr(train, "ema_decay", lambda decay, n, a: 0.9999)
    out = tmp_path / "run"
    args = ["train", "--epochs", "1", "--out", str(out), "--model", "small_cnn", "--model-args",
            '{"channels": [4, 8, 8]}', "--subsample", "1000", "--batch-size", "16", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "config.json").read_text())["results"]
    assert res["ema_val_acc"] < res["best_val_acc"] - 0.1  # (1 epoch: best = final)
    assert res["saved_weights"] == "raw" and "saved the final raw weights" in printed
    assert res["test_acc"] == res["raw_test_acc"]
    saved = cr.load(out / "model.safetensors")
    raw = cr.load(out / "model_raw.safetensors")
    for a, b in zip(saved.state_dict().values(), raw.state_dict().values()):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_message_says_whether_a_checkpoint_is_saved(capsys):
    """Issue 21 item 6: without checkpoint_dir (tune trials) Ctrl-C must not promise a checkpoint."""
    import os
    import signal

    from chainrule.interrupt import deferred_sigint

    for saves, expected in ((True, "saving a checkpoint after this step"),
                            (False, "stopping after this step (no checkpoint_dir: nothing is saved)")):
        hits = []
        with deferred_sigint(lambda: hits.append(1), saves=saves):
            os.kill(os.getpid(), signal.SIGINT)
        assert hits == [1] and expected in capsys.readouterr().err


class _Batches:
    """A minimal resumable loader: seeded shuffled batches of (X, y), state_dict with "batch"."""

    def __init__(self, X, y, batch_size=50, seed=0):
        self.X, self.y, self.bs, self.seed = X, y, batch_size, seed
        self.epoch, self.batch = 0, 0

    def __len__(self):
        return -(-len(self.y) // self.bs)

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.y))
        while self.batch < len(self):
            i = order[self.batch * self.bs:(self.batch + 1) * self.bs]
            self.batch += 1
            yield cr.tensor(self.X[i]), cr.tensor(self.y[i])
        self.epoch, self.batch = self.epoch + 1, 0

    def state_dict(self):
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state):
        self.epoch, self.batch = state["epoch"], state["batch"]


def _batch_solver(tmp_path, epochs, name, **kw):
    d = _data()
    X = (d.X_train / 16.0).astype(np.float32)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    return cr.Solver(model, _Batches(X, d.y_train), val_data=((d.X_val / 16.0).astype(np.float32), d.y_val),
                     lr=5e-2, num_epochs=epochs, verbose=False, checkpoint_dir=tmp_path / name, **kw)


def test_solver_takes_an_iterable_of_batches_and_resumes_it_bitwise(tmp_path):
    full = _batch_solver(tmp_path, 3, "full", checkpoint_every=3)
    full.train()
    assert full.step == 12 and full.val_acc_history[-1] > 0.3 and len(full.train_acc_history) == 3
    part = _batch_solver(tmp_path, 3, "part", checkpoint_every=3)

    def stop_at_step_6(step, logs):
        if step == 6:
            part._request_stop()  # as Ctrl-C: finish the step, checkpoint, stop
    part.callbacks.append(cr.callbacks.LambdaCallback(on_batch_end=stop_at_step_6))
    try:
        part.train()
    except cr.solver.TrainingInterrupted:
        pass
    assert part.step == 6  # mid-epoch (4 batches an epoch)
    again = _batch_solver(tmp_path, 3, "again")
    again.load_checkpoint(tmp_path / "part" / "last.safetensors")
    again.train()
    for a, b in zip(full.model.state_dict().values(), again.model.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    assert again.loss_history == full.loss_history


def test_batches_need_val_data_and_no_preprocess():
    d = _data()
    loader = _Batches(d.X_train, d.y_train)
    model = nn.Linear(64, 10)
    for kw, msg in (({}, "pass val_data"), ({"val_data": (d.X_val, d.y_val),
                                              "preprocess": cr.data.transforms.PerChannelNormalize()},
                                             "belong to the loader")):
        try:
            cr.Solver(model, loader, verbose=False, **kw)
        except ValueError as e:
            assert msg in str(e)
        else:
            raise AssertionError(kw)
    try:
        cr.Solver(model, 3, verbose=False)
    except TypeError as e:
        assert "iterable of (X, y) batches" in str(e)


def test_solver_takes_datasets_and_resumes_them_bitwise(tmp_path):
    """A map-style Dataset (chainrule.utils.data) is loaded by a seeded DataLoader with augment as
    its collate transform; Ctrl-C mid-epoch and a resume give the uninterrupted weights."""
    from chainrule.utils.data import TensorDataset

    d = _data()
    train = TensorDataset(cr.tensor((d.X_train / 16.0).astype(np.float32)), cr.tensor(d.y_train))
    val = TensorDataset(cr.tensor((d.X_val / 16.0).astype(np.float32)), cr.tensor(d.y_val))
    flip = cr.data.transforms.RandomHorizontalFlip()

    def make(name):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        return cr.Solver(model, train, val_data=val, augment=flip, lr=5e-2, batch_size=50, num_epochs=2,
                         verbose=False, checkpoint_dir=tmp_path / name)

    full = make("full")
    full.train()
    assert full.step == 8 and full.val_acc_history[-1] > 0.2  # (chance: 0.1)
    part = make("part")
    part.callbacks.append(cr.callbacks.LambdaCallback(
        on_batch_end=lambda step, logs: part._request_stop() if step == 3 else None))
    try:
        part.train()
    except cr.solver.TrainingInterrupted:
        pass
    assert part.step == 3
    again = make("again").load_checkpoint(tmp_path / "part" / "last.safetensors")
    again.train()
    assert again.loss_history == full.loss_history
    for a, b in zip(full.model.state_dict().values(), again.model.state_dict().values()):
        np.testing.assert_array_equal(a, b)


def test_a_checkpoint_from_when_the_ema_was_a_callback_still_resumes(tmp_path):
    """Older checkpoints kept the EMA's state among the callbacks' (name "EMA"), not under "ema"."""
    from chainrule.checkpoint import load_state, save_state

    s = _solver(tmp_path / "new", epochs=1, ema=0.9)
    s.train()
    state, _ = load_state(tmp_path / "new" / "last.safetensors", kind="checkpoint")
    old = dict(state, callbacks=[state["ema"]], callback_names=["EMA"])
    del old["ema"]
    old["settings"] = dict(state["settings"], ema=None)  # the callback was not recorded as ema=
    save_state(tmp_path / "old.safetensors", old, kind="checkpoint")
    resumed = cr.Solver.resume(tmp_path / "old.safetensors", _data(), num_epochs=1, verbose=False,
                               checkpoint_dir=tmp_path / "r")
    assert resumed.ema is not None and resumed.ema.decay == 0.9
    for a, b in zip(resumed.ema.model.state_dict().values(), s.ema.model.state_dict().values()):
        np.testing.assert_array_equal(a, b)


def test_a_nan_loss_stops_with_its_error():
    s = _solver(epochs=1, optimizer="sgd")
    s.optimizer.param_groups[0]["lr"] = 1e38
    try:
        s.train()
    except cr.solver.NonFiniteLossError as e:
        assert "at iteration" in str(e) and e.iteration >= 1
    else:
        raise AssertionError("a NaN loss trained on")
