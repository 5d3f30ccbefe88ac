"""AveragedModel with EMA / SWA: equal to torch.optim.swa_utils step by step, buffers included."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.optim.swa_utils import (AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn,
                                       get_swa_avg_fn, update_bn)


def _net(dtype=np.float64):
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2)).to(dtype)


def test_ema_by_hand():
    model = _net()
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    rng = np.random.default_rng(0)
    ref = None
    for _ in range(4):
        for p in model.parameters():
            p.data[...] = rng.normal(size=p.shape)
        w = model[0].weight.data.copy()
        ref = w if ref is None else 0.9 * ref + 0.1 * w
        ema.update_parameters(model)
        np.testing.assert_allclose(ema.module[0].weight.data, ref, rtol=1e-14)
    assert int(ema.n_averaged) == 4
    assert ema.module is not model and ema.module[0].weight is not model[0].weight
    assert list(ema.state_dict())[0] == "n_averaged" and "module.0.weight" in ema.state_dict()


def test_swa_is_the_mean_and_avg_fn_forms_agree():
    model = _net()
    swa, ema1 = AveragedModel(model), AveragedModel(model, avg_fn=get_ema_avg_fn(0.8))
    ema2 = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.8))
    rng = np.random.default_rng(1)
    seen = []
    for _ in range(5):
        for p in model.parameters():
            p.data[...] = rng.normal(size=p.shape)
        seen.append(model[3].weight.data.copy())
        for m in (swa, ema1, ema2):
            m.update_parameters(model)
    np.testing.assert_allclose(swa.module[3].weight.data, np.mean(seen, axis=0), rtol=1e-13)
    np.testing.assert_allclose(ema1.module[3].weight.data, ema2.module[3].weight.data, rtol=1e-13)
    a = np.ones(3)
    np.testing.assert_allclose(get_swa_avg_fn()(a, 3 * a, 1), 2 * a)


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_equals_torch_step_by_step(use_buffers, dtype):
    torch = pytest.importorskip("torch")
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    tn = torch.nn
    tmodel = tn.Sequential(tn.Linear(4, 3), tn.BatchNorm1d(3), tn.ReLU(), tn.Linear(3, 2)).to(tdtype)
    model = _net(dtype)
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    decay = 0.9
    tema = torch.optim.swa_utils.AveragedModel(
        tmodel, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=use_buffers)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=use_buffers)
    rng = np.random.default_rng(2)
    for step in range(6):
        # a "training step": new weights, and a forward in train mode that moves the BN buffers
        for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
            new = rng.normal(size=p.shape).astype(dtype)
            p.data[...] = new
            with torch.no_grad():
                tp.copy_(torch.from_numpy(new))
        x = rng.normal(size=(8, 4)).astype(dtype)
        model.train(), tmodel.train()
        model(cr.tensor(x))
        tmodel(torch.from_numpy(x))
        ema.update_parameters(model)
        tema.update_parameters(tmodel)
        ours, theirs = ema.state_dict(), tema.state_dict()
        assert list(ours) == list(theirs)
        for k in theirs:
            t = theirs[k].numpy()
            assert ours[k].dtype == t.dtype, k
            if t.dtype.kind == "i":
                np.testing.assert_array_equal(ours[k], t, err_msg=f"step {step} {k}")
            else:
                np.testing.assert_allclose(ours[k], t, rtol=1e-6 if dtype == np.float32 else 1e-14,
                                           atol=1e-7 if dtype == np.float32 else 1e-15,
                                           err_msg=f"step {step} {k}")
    if use_buffers:  # the counter is averaged too: 0.9 * n + 0.1 * 6, truncated, as torch
        assert int(ema.state_dict()["module.1.num_batches_tracked"]) < 6
    x = rng.normal(size=(5, 4)).astype(dtype)
    ema.eval(), tema.eval()
    np.testing.assert_allclose(ema(cr.tensor(x)).data, tema(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_update_bn_recomputes_statistics():
    model = _net()
    X = np.random.default_rng(3).normal(2.0, 3.0, size=(64, 4))
    update_bn([(X[i:i + 16], None) for i in range(0, 64, 16)], model)
    h = X @ model[0].weight.data.T + model[0].bias.data
    np.testing.assert_allclose(model[1].running_mean, h.mean(0), rtol=1e-10)
    assert model[1].momentum == 0.1 and model.training


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay"):
        get_ema_multi_avg_fn(1.5)
    with pytest.raises(TypeError, match="Module"):
        AveragedModel("net")
    ema = AveragedModel(_net())
    with pytest.raises(ValueError, match="same architecture"):
        ema.update_parameters(nn.Linear(4, 3))


def _digits_solver(tmp_path, callbacks, epochs, name="run"):
    data = cr.data.load_digits(subsample=200, seed=0)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    return cr.Solver(model, data, lr=1e-2, num_epochs=epochs, batch_size=50, verbose=False, callbacks=callbacks,
                     checkpoint_dir=tmp_path / name)


def test_ema_callback_averages_every_step_and_scores_each_epoch(tmp_path):
    from chainrule.optim.swa_utils import EMA

    ema = EMA(0.8)
    seen = []
    rec = cr.callbacks.LambdaCallback(on_batch_end=lambda step, logs: seen.append(
        solver.model[1].weight.data.copy()))
    logged = []
    log = cr.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logged.append(logs["ema_val_acc"]))
    solver = _digits_solver(tmp_path, [ema, rec, log], epochs=2)
    solver.train()
    ref = seen[0]
    for w in seen[1:]:
        ref = 0.8 * ref + 0.2 * w
    np.testing.assert_allclose(ema.model[1].weight.data, ref, rtol=1e-5, atol=1e-7)  # float32
    assert int(ema.averaged.n_averaged) == len(seen) == solver.step
    assert logged == ema.val_acc_history and len(logged) == 2 and 0.0 <= logged[-1] <= 1.0
    X, y = solver.data["X_val"], solver.data["y_val"]
    assert ema.accuracy(X, y) == logged[-1]


def test_ema_callback_survives_resume(tmp_path):
    from chainrule.optim.swa_utils import EMA

    full = EMA(0.9)
    _digits_solver(tmp_path, [full], epochs=3, name="full").train()
    first = EMA(0.9)
    _digits_solver(tmp_path, [first], epochs=2, name="part").train()
    again = EMA(0.5)  # the resumed run keeps the decay it was averaging with
    data = cr.data.load_digits(subsample=200, seed=0)
    resumed = cr.Solver.resume(tmp_path / "part" / "last.safetensors", data, num_epochs=3, callbacks=[again],
                               verbose=False)
    resumed.train()
    for a, b in zip(full.model.state_dict().values(), again.model.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    assert again.val_acc_history == full.val_acc_history and again.decay == 0.9


def test_solver_ema_keyword_and_resume(tmp_path):
    data = cr.data.load_digits(subsample=200, seed=0)

    def solver(epochs, name, **kw):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        return cr.Solver(model, data, lr=1e-2, num_epochs=epochs, batch_size=50, verbose=False,
                         checkpoint_dir=tmp_path / name, ema=0.9, **kw)

    full = solver(3, "full")
    assert full.ema not in full.callbacks and full.config["ema"] == 0.9  # one EMA: the Solver's own
    full.train()
    assert len(full.ema.val_acc_history) == 3 and int(full.ema.averaged.n_averaged) == full.step
    solver(2, "part").train()
    resumed = cr.Solver.resume(tmp_path / "part" / "last.safetensors", data, num_epochs=3, verbose=False)
    assert resumed.ema is not None and resumed.ema.decay == 0.9
    resumed.train()
    for a, b in zip(full.ema.model.state_dict().values(), resumed.ema.model.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    assert cr.Solver(nn.Linear(64, 10), data, verbose=False).ema is None


def test_solver_predict_with_mc_dropout():
    data = cr.data.load_digits(subsample=200, seed=0)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
    s = cr.Solver(model, data, lr=1e-2, num_epochs=2, batch_size=50, verbose=False)
    s.train()
    from chainrule.models.ensemble import mc_dropout_predict

    state = cr.get_rng_state()
    p = s.predict_proba(data.X_test, mc_samples=10)
    cr.set_rng_state(state)  # the same masks again
    ref = mc_dropout_predict(model, s._prepare(data.X_test), 10)
    np.testing.assert_allclose(p, ref, rtol=1e-12)
    cr.set_rng_state(state)
    labels = s.predict(data.X_test, mc_samples=10)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, p.argmax(1))
    assert not np.allclose(p, s.predict_proba(data.X_test), atol=1e-3)  # dropout was on
    np.testing.assert_array_equal(s.predict(data.X_test), s.predict_proba(data.X_test).argmax(1))
