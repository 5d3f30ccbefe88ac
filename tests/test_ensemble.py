"""Ensembles: averaged probabilities, snapshots from checkpoints, MC dropout, nll_loss."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.gradcheck import gradcheck
from chainrule.models.ensemble import Ensemble, average_probabilities, mc_dropout_predict
from chainrule.nn import functional as F
from chainrule.nn.config import module_from_config, module_to_config


def _softmax(s):
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _members(n=3, dtype=np.float64):
    cr.manual_seed(0)
    return [nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 4)).to(dtype) for _ in range(n)]


def test_forward_is_log_of_averaged_probabilities():
    ms = _members()
    x = np.random.default_rng(0).normal(size=(6, 5))
    for w in (None, [1.0, 2.0, 5.0]):
        out = Ensemble(ms, weights=w)(cr.tensor(x)).data
        ww = np.ones(3) / 3 if w is None else np.array(w) / 8
        ref = sum(wi * _softmax(m(cr.tensor(x)).data) for wi, m in zip(ww, ms))
        np.testing.assert_allclose(np.exp(out), ref, rtol=1e-12)
        np.testing.assert_allclose(np.exp(out).sum(1), 1.0, rtol=1e-12)


def test_stable_for_huge_logits_and_zero_weight():
    class Const(nn.Module):
        def __init__(self, v):
            super().__init__()
            self.v = v

        def forward(self, x):
            return cr.tensor(np.tile(np.asarray(self.v, float), (x.shape[0], 1)))

    ens = Ensemble([Const([1000.0, 0.0]), Const([0.0, 1000.0]), Const([5.0, 0.0])], weights=[1, 1, 0])
    out = ens(cr.zeros((2, 3))).data
    np.testing.assert_allclose(out, np.log(0.5), rtol=1e-12)


def test_nll_of_the_output_is_the_ensemble_loss_and_gradients_check():
    ms = _members()
    x = cr.tensor(np.random.default_rng(1).normal(size=(4, 5)))
    y = np.array([0, 3, 1, 1])
    ens = Ensemble(ms, weights=[0.2, 0.3, 0.5])
    p = np.exp(ens(x).data)
    np.testing.assert_allclose(F.nll_loss(ens(x), y).data, -np.log(p[np.arange(4), y]).mean(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(ens(x), y).data, F.nll_loss(ens(x), y).data, rtol=1e-12)
    # d loss / d input through every member, float64
    xin = cr.tensor(x.data.copy(), requires_grad=True)
    assert gradcheck(lambda a: F.nll_loss(ens(a), y), (xin,))


def test_nll_loss_equals_torch():
    torch = pytest.importorskip("torch")
    s = np.random.default_rng(2).normal(size=(5, 3))
    y = np.array([2, 0, 1, 1, 0])
    for reduction in ("mean", "sum", "none"):
        a = cr.tensor(s, requires_grad=True)
        out = F.nll_loss(F.log_softmax(a, dim=1), y, reduction=reduction)
        t = torch.tensor(s, requires_grad=True)
        ref = torch.nn.functional.nll_loss(torch.log_softmax(t, 1), torch.tensor(y), reduction=reduction)
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
        out.sum().backward()
        ref.sum().backward()
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert gradcheck(lambda a: F.nll_loss(a, y), (cr.tensor(s, requires_grad=True),))
    assert isinstance(nn.NLLLoss()(cr.tensor(s), y), cr.Tensor)


def test_ensemble_equals_torch_mean_of_softmax():
    torch = pytest.importorskip("torch")
    ms = _members(2)
    x = np.random.default_rng(3).normal(size=(4, 5))
    tms = []
    for m in ms:
        t = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).double()
        t.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in m.state_dict().items()})
        tms.append(t)
    ref = torch.log(torch.stack([torch.softmax(t(torch.tensor(x)), 1) for t in tms]).mean(0))
    np.testing.assert_allclose(Ensemble(ms)(cr.tensor(x)).data, ref.detach().numpy(), rtol=1e-12)


def test_works_as_a_model_summary_config_and_state_dict():
    ms = _members(2, np.float32)
    ens = Ensemble(ms, weights=[1, 3])
    assert list(ens.state_dict())[:2] == ["members.0.0.weight", "members.0.0.bias"]
    rows = cr.summary(ens, (5,), print_table=False)
    assert rows.totals["params"] == 2 * (5 * 8 + 8 + 8 * 4 + 4)
    cfg = module_to_config(ens)
    ens2 = module_from_config(cfg)
    ens2.load_state_dict(ens.state_dict())
    x = cr.randn(3, 5)
    np.testing.assert_array_equal(ens(x).data, ens2(x).data)
    assert ens2.weights == [0.25, 0.75]
    assert "weights=[0.25, 0.75]" in repr(ens)


def test_save_load_and_from_checkpoints(tmp_path):
    data = cr.data.load_digits(subsample=300, seed=0)
    paths = []
    for seed in range(3):
        cr.manual_seed(seed)
        model = cr.models.get("two_layer_net", input_dim=64, hidden_dim=16, num_classes=10)
        flat = nn.Sequential(nn.Flatten(), model)
        solver = cr.Solver(flat, data, lr=1e-2, num_epochs=2, batch_size=64, seed=seed, verbose=False,
                           preprocess=cr.data.transforms.PerChannelNormalize(),
                           checkpoint_dir=tmp_path / f"run{seed}")
        solver.train()
        paths.append(tmp_path / f"run{seed}" / "last.safetensors")
    ens = Ensemble.from_checkpoints(paths)
    assert not ens.training and ens.preprocess is not None and ens.classes == list(data.classes)
    X = ens.preprocess(data.X_test).astype(np.float32)
    members = [cr.load(p) for p in paths]
    probs = [_softmax(m(cr.tensor(X)).data.astype(np.float64)) for m in members]
    np.testing.assert_allclose(np.exp(ens(cr.tensor(X)).data), average_probabilities(probs), rtol=1e-5)
    cr.save(ens, tmp_path / "ens.safetensors", preprocess=ens.preprocess)
    back = cr.load(tmp_path / "ens.safetensors")
    np.testing.assert_array_equal(back(cr.tensor(X)).data, ens(cr.tensor(X)).data)


def test_from_checkpoints_refuses_mixed_preprocessing(tmp_path):
    m = nn.Linear(4, 3)
    a = cr.data.transforms.PerChannelNormalize().fit(np.random.default_rng(0).normal(size=(10, 2, 2, 2)))
    b = cr.data.transforms.PerChannelNormalize().fit(np.random.default_rng(1).normal(size=(10, 2, 2, 2)))
    cr.save(m, tmp_path / "a.safetensors", preprocess=a)
    cr.save(m, tmp_path / "b.safetensors", preprocess=b)
    with pytest.raises(ValueError, match="preprocesses its input differently"):
        Ensemble.from_checkpoints([tmp_path / "a.safetensors", tmp_path / "b.safetensors"])
    assert len(Ensemble.from_checkpoints([tmp_path / "a.safetensors"] * 2).members) == 2


def test_average_probabilities():
    p1, p2 = np.array([[0.9, 0.1]]), np.array([[0.3, 0.7]])
    np.testing.assert_allclose(average_probabilities([p1, p2]), [[0.6, 0.4]])
    np.testing.assert_allclose(average_probabilities([p1, p2], [3, 1]), [[0.75, 0.25]])


def test_mc_dropout_averages_masks_and_restores_modes():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Dropout(0.5), nn.BatchNorm1d(32), nn.Linear(32, 3))
    model.train()
    X = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    p = mc_dropout_predict(model, X, n_samples=30, seed=1, batch_size=4)
    assert p.shape == (7, 3) and model.training and all(m.training for m in model.modules())
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(p, mc_dropout_predict(model, X, n_samples=30, seed=1))  # seeded
    # by hand: BN in eval mode, dropout on, the same masks from the same seed
    state = cr.get_rng_state()
    cr.manual_seed(1)
    model.eval()
    model[2].train()
    ref = np.mean([_softmax(model(cr.tensor(X)).data.astype(np.float64)) for _ in range(30)], axis=0)
    cr.set_rng_state(state)
    # (batches of 4 then 3 rows consume the generator's stream in the same order as one of 7)
    np.testing.assert_allclose(p, ref, rtol=1e-6)
    model.eval()
    det = _softmax(model(cr.tensor(X)).data.astype(np.float64))
    assert not np.allclose(p, det, atol=1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="no models"):
        Ensemble([])
    with pytest.raises(ValueError, match="2 weights"):
        Ensemble(_members(2), weights=[1.0])
    with pytest.raises(ValueError, match="non-negative"):
        Ensemble(_members(2), weights=[1.0, -1.0])
    with pytest.raises(TypeError, match="member 1"):
        Ensemble([nn.Linear(2, 2), "net"])
    with pytest.raises(ValueError, match="no Dropout"):
        mc_dropout_predict(nn.Linear(2, 2), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="class scores"):
        Ensemble([nn.Flatten(0)])(cr.zeros((2, 3)))


def test_cli_evaluate_several_runs_reports_their_ensemble(tmp_path, capsys):
    from chainrule.cli import main

    small = ["--model", "small_cnn", "--model-args", '{"channels": [4, 8, 8]}', "--subsample", "200",
             "--batch-size", "50", "--quiet", "--epochs", "1"]
    runs = [tmp_path / f"r{seed}" for seed in (0, 1)]
    for seed, out in enumerate(runs):
        assert main(["train", "--out", str(out), "--seed", str(seed), *small]) == 0
    capsys.readouterr()
    assert main(["evaluate", *map(str, runs)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[2].startswith("ensemble of 2 runs: test accuracy")
    data = cr.data.load_digits()
    probs = []
    for out in runs:
        m = cr.load(out / "model.safetensors")
        s = cr.metrics.predict_scores(m, m.preprocess(data.X_test).astype(np.float32))
        probs.append(_softmax(s.astype(np.float64)))
    acc = np.mean(average_probabilities(probs).argmax(1) == data.y_test)
    assert f"{acc:.4f}" in lines[2]
