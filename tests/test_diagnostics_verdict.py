"""gap_verdict: each verdict from constructed accuracy histories."""
import types

import pytest

from chainrule.diagnostics import GapVerdict, diagnose_gap, gap_verdict


def test_big_gap_is_overfitting():
    tr = [0.6, 0.8, 0.9, 0.97, 0.99, 1.0, 1.0]
    va = [0.55, 0.7, 0.75, 0.76, 0.75, 0.76, 0.75]
    d = diagnose_gap(tr, va)
    assert d.codes == ["overfitting"]
    assert d.gap == pytest.approx((0.99 + 1 + 1) / 3 - (0.75 + 0.76 + 0.75) / 3)
    assert "overfitting" in d.text and "regularisation" in d.text


def test_no_gap_low_accuracy_is_underfitting():
    tr = [0.3, 0.4, 0.45, 0.47, 0.48, 0.48]
    va = [0.3, 0.4, 0.47, 0.48, 0.47, 0.48]
    d = diagnose_gap(tr, va)
    assert d.codes == ["underfitting"]
    assert "capacity" in gap_verdict(tr, va)


def test_rising_validation_accuracy_means_train_longer():
    tr = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
    va = [0.5, 0.6, 0.7, 0.78, 0.83, 0.88]
    d = diagnose_gap(tr, va)
    assert "still_rising" in d.codes and "overfitting" not in d.codes
    assert "train longer" in d.text


def test_overfitting_and_still_rising_together():
    tr = [0.5, 0.7, 0.9, 0.99, 1.0, 1.0]
    va = [0.4, 0.5, 0.55, 0.6, 0.65, 0.7]
    assert diagnose_gap(tr, va).codes == ["overfitting", "still_rising"]


def test_converged_with_small_gap_is_ok():
    tr = [0.9, 0.95, 0.97, 0.98, 0.98, 0.98]
    va = [0.88, 0.93, 0.95, 0.95, 0.95, 0.95]
    d = diagnose_gap(tr, va)
    assert d.codes == ["ok"]
    # the same curves are underfitting when the task should reach more than 99%
    assert diagnose_gap([0.9, 0.95, 0.95, 0.95], [0.9, 0.94, 0.94, 0.94], low_acc=0.99).codes == ["underfitting"]


def test_errors_and_single_epoch():
    with pytest.raises(ValueError, match="empty"):
        gap_verdict([], [])
    with pytest.raises(ValueError, match="3 epochs"):
        gap_verdict([0.1, 0.2, 0.3], [0.1])
    assert diagnose_gap([1.0], [0.5]).codes == ["overfitting"]


def test_callback_at_train_end(capsys):
    cb = GapVerdict()
    cb.solver = types.SimpleNamespace(train_acc_history=[0.6, 0.9, 1.0, 1.0], val_acc_history=[0.5, 0.6, 0.6, 0.6])
    cb.on_train_end({})
    assert cb.diagnosis.codes == ["overfitting"]
    assert "Train/val verdict" in capsys.readouterr().out
