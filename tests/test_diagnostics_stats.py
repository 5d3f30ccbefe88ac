"""ActivationStats and UpdateRatio: known dead-ReLU fractions, ratios equal to a direct computation."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.callbacks import LambdaCallback
from chainrule.diagnostics import (ActivationStats, DiagnosticWarning, UpdateRatio, activation_summary,
                                   dead_fraction, layer_activations, saturated_fraction)


@pytest.fixture(scope="module")
def data():
    d = cr.data.load_digits(subsample=256)
    return {"X_train": d.X_train, "y_train": d.y_train, "X_val": d.X_val[:50], "y_val": d.y_val[:50]}


def dead_net():
    """Flatten - Linear(64, 10) - ReLU - Linear(10, 10) with 6 of the 10 hidden units dead:
    a bias of -1000 keeps them below 0 for any input in [0, 1]; the other 4 get +10."""
    cr.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(), nn.Linear(10, 10))
    net[1].bias.data[:] = np.array([-1000] * 6 + [10] * 4, dtype=np.float32)
    return net


def test_dead_and_saturated_fractions_on_arrays():
    out = np.ones((5, 4, 2, 2))
    out[:, 1] = 0          # channel 1 dead everywhere: 4 of 16 units
    out[:, 2, 0, 0] = 0    # one more unit dead
    out[0, 3, 0, 0] = 0    # zero for one example only: alive
    assert dead_fraction(out) == pytest.approx(5 / 16)
    t = np.array([[0.995, -0.999, 0.5, 0.0]])
    assert saturated_fraction(t, "Tanh") == 0.5
    s = np.array([[0.005, 0.999, 0.5, 0.98]])
    assert saturated_fraction(s, "Sigmoid") == 0.5
    summ = activation_summary(np.array([[1.0, 3.0], [1.0, 3.0]]), "ReLU")
    assert summ["mean"] == 2.0 and summ["std"] == 1.0 and summ["dead_frac"] == 0.0
    assert np.isnan(summ["saturated_frac"])


def test_layer_activations_hooks_and_restores_mode():
    net = dead_net()
    net.train()
    acts = layer_activations(net, np.random.default_rng(0).random((8, 1, 8, 8)).astype(np.float32))
    assert list(acts) == ["0", "1", "2", "3"]
    assert dead_fraction(acts["2"]) == pytest.approx(0.6)
    assert acts["3"].shape == (8, 10)
    assert net.training and all(not m._forward_hooks for m in net.modules())


def test_activation_stats_dead_relu_in_training(data):
    stats = ActivationStats(every=2, warn=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        cr.Solver(dead_net(), data, optimizer="sgd", lr=0.01, batch_size=64, num_epochs=2, callbacks=[stats],
                  verbose=False).train()
    relu = [r for r in stats.history if r["kind"] == "ReLU"]
    # 4 batches per epoch, 8 iterations: recorded at 1, 3, 5, 7 (and never on evaluation passes)
    assert [r["step"] for r in relu] == [1, 3, 5, 7]
    assert all(r["dead_frac"] == pytest.approx(0.6) for r in relu)
    assert len(stats.history) == 4 * 4  # 4 leaf layers
    lin = [r for r in stats.history if r["layer"] == "3"]
    assert all(np.isfinite(r["grad_std"]) and r["grad_std"] > 0 for r in lin)
    msgs = [str(x.message) for x in w if issubclass(x.category, DiagnosticWarning)]
    assert len([m for m in msgs if "dead units" in m]) == 1  # once per layer
    assert "60% dead" in stats.warnings[0]
    assert set(stats.last_values) == {"0", "1", "2", "3"}
    assert all(not m._forward_hooks for m in stats.solver.model.modules())  # detached at the end


def test_activation_stats_no_warning_on_a_healthy_net(data):
    cr.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    stats = ActivationStats(every=1, warn=False)
    cr.Solver(net, data, batch_size=128, num_epochs=1, callbacks=[stats], verbose=False).train()
    assert stats.warnings == []
    assert [r["step"] for r in stats.history if r["layer"] == "2"] == [1, 2]
    assert all(r["dead_frac"] < 0.5 for r in stats.history if r["kind"] == "ReLU")


def test_update_ratio_equals_direct_sgd_computation(data):
    cr.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    lr = 0.05
    ratio = UpdateRatio(every=1, warn=False)
    direct = []

    def record(step, logs):
        # SGD: w_after = w_before - lr * grad, and the grad is still there after the step
        for name, p in net.named_parameters():
            g = p.grad.astype(np.float64)
            before = p.data.astype(np.float64) + lr * g
            direct.append((step, name, lr * np.linalg.norm(g) / np.linalg.norm(before)))

    cr.Solver(net, data, optimizer="sgd", lr=lr, batch_size=64, num_epochs=1, verbose=False,
              callbacks=[ratio, LambdaCallback(on_batch_end=record)]).train()
    assert len(ratio.history) == len(direct) == 4 * 4
    for row, (step, name, r) in zip(ratio.history, direct):
        assert (row["step"], row["param"]) == (step, name)
        assert row["ratio"] == pytest.approx(r, rel=1e-4)
        assert row["lr"] == lr
    steps, values = ratio.ratios("1.weight")
    assert steps == [1, 2, 3, 4] and len(values) == 4


def test_update_ratio_every_and_manual_api():
    w = nn.Parameter(cr.tensor(np.full((2, 2), 2.0, dtype=np.float32)))
    u = UpdateRatio(warn=False)
    u.snapshot([("w", w)])
    w.data = w.data - 0.004  # ||dW|| = 0.008, ||W|| = 4
    row = u.measure([("w", w)], step=7)[0]
    assert row["ratio"] == pytest.approx(2e-3, rel=1e-4) and row["step"] == 7
    with pytest.raises(RuntimeError, match="snapshot"):
        u.measure([("w", w)], step=8)
    with pytest.raises(ValueError, match="every"):
        UpdateRatio(every=0)


def test_update_ratio_warns_when_lr_is_far_too_low_or_high(data):
    for lr, word in [(1e-9, "too low"), (5.0, "too high")]:
        cr.manual_seed(0)
        net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        u = UpdateRatio(every=1, window=3)
        with pytest.warns(DiagnosticWarning, match=word):
            cr.Solver(net, data, optimizer="sgd", lr=lr, batch_size=64, num_epochs=1, verbose=False,
                      callbacks=[u]).train()
        assert len(u.warnings) == 1 and "1.weight" in u.warnings[0]  # the bias is not warned about
