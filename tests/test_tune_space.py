"""cr.tune search spaces: the readable form, the CLI form, log-uniform sampling, narrowing."""
import math

import numpy as np
import pytest

pytest.importorskip("optuna")
from scipy import stats  # noqa: E402

from chainrule.tune import Choice, IntUniform, LogUniform, Uniform, parse_space, search  # noqa: E402
from chainrule.tune.space import parse_dimension, space_from_dict, space_to_dict  # noqa: E402


def test_parse_cli_forms():
    space = parse_space(["lr=1e-5:1e-1:log", "dropout=0:0.5", "hidden_dim=64,128,256", "layers=1:4:int",
                         "width=16:1024:int,log", "act=relu,tanh"])
    assert space["lr"] == LogUniform(1e-5, 1e-1)
    assert space["dropout"] == Uniform(0, 0.5)
    assert space["hidden_dim"] == Choice([64, 128, 256])
    assert space["layers"] == IntUniform(1, 4)
    assert space["width"] == IntUniform(16, 1024, log=True)
    assert space["act"].choices == ("relu", "tanh")
    assert parse_dimension("w=16:1024:log:int")[1] == IntUniform(16, 1024, log=True)
    assert isinstance(space["hidden_dim"].choices[0], int)
    assert parse_dimension("p=0.1,0.2")[1].choices == (0.1, 0.2)


@pytest.mark.parametrize("bad, match", [
    ("lr", "NAME=LOW:HIGH"), ("lr=1e-1:1e-5:log", "low < high"), ("lr=0:1:log", "low > 0"),
    ("lr=a:1", "expected a number"), ("lr=1:2:cubic", "unknown flag"), ("n=1.5:4:int", "integer"),
    ("lr=1:2:3:4:5", "LOW:HIGH"),
])
def test_parse_errors_name_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_space([bad])


def test_parse_rejects_duplicates_and_empty():
    with pytest.raises(ValueError, match="twice"):
        parse_space(["lr=1:2", "lr=1:3"])
    with pytest.raises(ValueError, match="at least one"):
        parse_space([])


def test_space_round_trips_through_json_dict():
    space = {"lr": LogUniform(1e-5, 1e-1), "d": Uniform(0, 0.5), "n": IntUniform(1, 8, log=True),
             "h": Choice([64, 128])}
    assert space_from_dict(space_to_dict(space)) == space


def test_position_is_on_the_sampling_scale():
    assert LogUniform(1e-5, 1e-1).position(1e-3) == pytest.approx(0.5)
    assert Uniform(0, 0.5).position(0.25) == pytest.approx(0.5)
    assert LogUniform(1e-4, 1e0).position(1e-4) == pytest.approx(0.0)


def test_narrow_log_range_around_values_with_margin_and_clip():
    dim = LogUniform(1e-6, 1e0)  # 6 decades
    new = dim.narrow([1e-3, 1e-2], margin=0.1)  # pad = 0.6 decade each side
    assert math.log10(new.low) == pytest.approx(-3.6)
    assert math.log10(new.high) == pytest.approx(-1.4)
    clipped = dim.narrow([2e-6, 1e-5], margin=0.1)
    assert clipped.low == 1e-6  # clipped to the original range
    assert IntUniform(1, 64).narrow([8, 10], margin=0.0) == IntUniform(8, 10)
    single = Uniform(0, 1).narrow([0.5], margin=0.0)
    assert single.low < 0.5 < single.high  # one value still leaves a searchable range


def _draws(space, n, seed=0):
    res = search(lambda params, report: 0.0, space, n, seed=seed, pruner=None, warn_border=False)
    return res.trials


def test_random_sampling_is_log_uniform_for_log_ranges():
    trials = _draws({"lr": LogUniform(1e-5, 1e-1), "d": Uniform(0.0, 0.5)}, 400, seed=3)
    lr = np.array([t.params["lr"] for t in trials])
    d = np.array([t.params["d"] for t in trials])
    assert lr.min() >= 1e-5 and lr.max() <= 1e-1
    # log10(lr) is uniform on [-5, -1] ...
    assert stats.kstest((np.log10(lr) + 5) / 4, "uniform").pvalue > 0.01
    # ... and lr itself is far from uniform on [1e-5, 1e-1] (most draws are small).
    assert stats.kstest((lr - 1e-5) / (1e-1 - 1e-5), "uniform").pvalue < 1e-10
    # a linear range is uniform in linear space
    assert stats.kstest(d / 0.5, "uniform").pvalue > 0.01
    # each decade gets about a quarter of the draws
    counts = np.histogram(np.log10(lr), bins=[-5, -4, -3, -2, -1])[0]
    assert counts.min() > 70


def test_int_and_choice_sampling_cover_all_values_evenly():
    trials = _draws({"n": IntUniform(1, 4), "h": Choice([64, 128, 256])}, 300)
    n = [t.params["n"] for t in trials]
    h = [t.params["h"] for t in trials]
    assert set(n) == {1, 2, 3, 4} and set(h) == {64, 128, 256}
    assert stats.chisquare(np.bincount(n)[1:]).pvalue > 0.01
    assert stats.chisquare([h.count(v) for v in (64, 128, 256)]).pvalue > 0.01
