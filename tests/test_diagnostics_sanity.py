"""sanity_check: passes on a good model, flags huge final weights and a model that cannot learn."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics import sanity_check, expected_initial_loss, final_layer


@pytest.fixture(scope="module")
def digits():
    d = cr.data.load_digits()
    X = (d.X_train - d.X_train.mean()) / d.X_train.std()
    return {"X_train": X.astype(np.float32), "y_train": d.y_train}


def mlp(seed=0):
    cr.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 50), nn.ReLU(), nn.Linear(50, 10))


def test_expected_initial_loss():
    assert expected_initial_loss("cross_entropy", 10) == pytest.approx(math.log(10))
    assert expected_initial_loss("svm", 10) == 9.0
    with pytest.raises(ValueError, match="unknown loss"):
        expected_initial_loss("hinge", 10)


@pytest.mark.parametrize("loss", ["cross_entropy", "svm"])
def test_good_model_passes_and_is_untouched(digits, loss):
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = sanity_check(model, digits, loss=loss)
    assert report.passed, str(report)
    assert [c.name for c in report.checks] == ["initial loss", "initial loss, small final weights",
                                               "loss goes up with regularisation", "overfit 20 examples"]
    expected = math.log(10) if loss == "cross_entropy" else 9.0
    assert report.info["initial_loss_small_weights"] == pytest.approx(expected, rel=1e-2)
    assert report.info["overfit_acc"] == 1.0
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    text = str(report)
    assert "PASS" in text and "FAIL" not in text and "4/4 checks passed" in text


def test_huge_final_weights_fail_initial_loss(digits):
    model = mlp()
    model[3].weight.data *= 100
    report = sanity_check(model, digits, n_overfit=20)
    assert not report["initial loss"].passed
    assert float(report["initial loss"].measured) > 3 * math.log(10)
    # the loss itself is right: scaling the final layer down gives log C
    assert report["initial loss, small final weights"].passed
    assert not report.passed
    assert "FAIL" in str(report) and "fix the failures" in str(report)


def test_zero_learning_rate_fails_overfit(digits):
    report = sanity_check(mlp(), digits, lr=0.0, max_iters=20)
    assert not report["overfit 20 examples"].passed
    assert report.info["overfit_acc"] < 0.5
    assert report["initial loss"].passed and report["loss goes up with regularisation"].passed


def test_regularisation_check_measures_the_penalty(digits):
    model = mlp()
    report = sanity_check(model, digits, reg=1.0, n_overfit=10)
    c = report["loss goes up with regularisation"]
    penalty = sum(float((p.data.astype(np.float64) ** 2).sum()) for p in model.parameters() if p.data.ndim >= 2)
    base = float(c.expected.split()[1])
    assert float(c.measured.split()[0]) == pytest.approx(base + penalty, rel=1e-3)


def test_tuple_data_n_overfit_and_errors(digits):
    X, y = digits["X_train"][:40], digits["y_train"][:40]
    report = sanity_check(mlp(), (X, y), n_overfit=30, num_classes=10)
    assert report["overfit 30 examples"].passed
    with pytest.raises(ValueError, match="do not match"):
        sanity_check(mlp(), (X, y[:10]))
    with pytest.raises(ValueError, match=r"expected \(N, 10\)"):
        sanity_check(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), (X, y))


def test_final_layer_is_the_last_weight_matrix():
    name, layer = final_layer(mlp())
    assert name == "3" and isinstance(layer, nn.Linear)
    with pytest.raises(ValueError, match="no layer with a weight matrix"):
        final_layer(nn.Sequential(nn.ReLU()))
