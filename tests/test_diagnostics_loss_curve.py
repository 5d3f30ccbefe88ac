"""The loss-curve shapes of lecture 6, each built synthetically and read by diagnose_loss, and
their place in the train/val verdict (diagnose_gap(..., loss_history=...))."""
import numpy as np
import pytest

from chainrule.diagnostics.loss_curve import diagnose_loss
from chainrule.diagnostics.verdict import diagnose_gap

N = 400
t = np.arange(N, dtype=np.float64)
rng = np.random.default_rng(0)


def noisy(curve, level=0.03):
    return curve * (1 + level * rng.standard_normal(curve.size))


SHAPES = {
    "ok": noisy(0.3 + 2.0 * np.exp(-t / 40)),                                    # fast fall, levels off
    "lr_too_high": noisy(2.3 * np.exp(t / 150)),                                  # explodes
    "lr_too_low": noisy(2.3 - 0.6 * t / N),                                      # linear, slow
    "bad_init": noisy(np.where(t < 150, 2.3, 0.3 + 2.0 * np.exp(-(t - 150) / 30))),  # plateau, then drop
    "noisy": noisy(0.5 + 1.8 * np.exp(-t / 40), level=0.6),                       # batch too small
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_gets_its_code(shape):
    d = diagnose_loss(SHAPES[shape])
    assert d.codes == [shape], d.text
    assert d.text.startswith("loss curve:")


def test_nan_is_too_high_and_short_curves_are_not_read():
    x = SHAPES["ok"].copy()
    x[300:] = np.nan
    d = diagnose_loss(x)
    assert d.codes == ["lr_too_high"] and "iteration 300" in d.text
    assert diagnose_loss([1.0, 0.9]).codes == ["too_short"]


def test_the_verdict_reads_the_loss_curve_too():
    acc = [0.5, 0.6, 0.65, 0.7]
    d = diagnose_gap(acc, acc, loss_history=SHAPES["lr_too_low"], low_acc=0.6)
    assert "lr_too_low" in d.codes and "learning rate too low" in d.text
    assert diagnose_gap(acc, acc, low_acc=0.6).codes == ["still_rising"]  # without the losses: as before


def test_the_report_shows_the_loss_shape(tmp_path):
    from chainrule.viz.report import RunRecord
    from chainrule.viz.report_html import render_report
    rec = RunRecord("r", tmp_path, {"args": {"data": "digits"}}, [], list(SHAPES["bad_init"]),
                    [0.5, 0.6, 0.62], [0.5, 0.6, 0.62], [0.01] * 3)
    html = render_report([rec])
    assert 'class="verdict v-bad_init"' in html and "bad initialisation" in html
    assert ".v-bad_init" in html  # the badge has a colour (white text on no colour would vanish)


def test_a_good_curve_near_zero_is_not_noisy():
    x = noisy(0.02 + 2.2 * np.exp(-t / 30), level=0.5)  # noise of half the level, but the level is tiny
    assert diagnose_loss(x).codes == ["ok"]
