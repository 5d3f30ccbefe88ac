"""cr.optim.lr_scheduler: every schedule's lr sequence against torch's, state dicts, errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from chainrule import optim
from chainrule.nn.parameter import Parameter
from chainrule.optim import lr_scheduler as S

STEPS = 30
LRS = (0.1, 0.03)  # two param groups with their own base lr


def _cr_opt():
    return optim.SGD([{"params": [Parameter(np.zeros(2))], "lr": LRS[0]},
                      {"params": [Parameter(np.zeros(2))], "lr": LRS[1]}], lr=1.0, momentum=0.9)


def _torch_opt():
    torch = pytest.importorskip("torch")
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": LRS[0]},
                            {"params": [torch.nn.Parameter(torch.zeros(2))], "lr": LRS[1]}],
                           lr=1.0, momentum=0.9)


def _torch_schedulers():
    """torch.optim.lr_scheduler, the oracle; the test that asks for it skips without torch."""
    return pytest.importorskip("torch").optim.lr_scheduler


def _sequence(opt, sched, metrics=None, steps=STEPS):
    """lrs at construction and after each of `steps` (optimizer.step(); scheduler.step())."""
    seq = [sched.get_last_lr()]
    for t in range(steps):
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[t])
        seq.append(sched.get_last_lr())
        assert seq[-1] == [g["lr"] for g in opt.param_groups]
    return np.array(seq, dtype=float)


SAME_AS_TORCH = {
    "StepLR": (lambda o: S.StepLR(o, step_size=7, gamma=0.5), lambda o, T: T.StepLR(o, step_size=7, gamma=0.5)),
    "StepLR-default-gamma": (lambda o: S.StepLR(o, 3), lambda o, T: T.StepLR(o, 3)),
    "MultiStepLR": (lambda o: S.MultiStepLR(o, [20, 5, 12, 12], gamma=0.3),
                    lambda o, T: T.MultiStepLR(o, [20, 5, 12, 12], gamma=0.3)),
    "ExponentialLR": (lambda o: S.ExponentialLR(o, 0.9), lambda o, T: T.ExponentialLR(o, 0.9)),
    "CosineAnnealingLR": (lambda o: S.CosineAnnealingLR(o, T_max=30), lambda o, T: T.CosineAnnealingLR(o, T_max=30)),
    # T_max < STEPS: through the trough (the special branch) and up again.
    "CosineAnnealingLR-past-T_max": (lambda o: S.CosineAnnealingLR(o, T_max=8, eta_min=1e-3),
                                     lambda o, T: T.CosineAnnealingLR(o, T_max=8, eta_min=1e-3)),
    "LinearWarmup-alone": (lambda o: S.LinearWarmup(o, 10), lambda o, T: T.LinearLR(o, total_iters=10)),
    "LinearWarmup-alone-0.01": (lambda o: S.LinearWarmup(o, 7, start_factor=0.01),
                                lambda o, T: T.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=7)),
    "LinearWarmup+Cosine": (
        lambda o: S.LinearWarmup(o, 5, S.CosineAnnealingLR(o, T_max=25, eta_min=1e-4), start_factor=0.1),
        lambda o, T: T.SequentialLR(o, [T.LinearLR(o, start_factor=0.1, total_iters=5),
                                        T.CosineAnnealingLR(o, T_max=25, eta_min=1e-4)], milestones=[5])),
    "LinearWarmup+StepLR": (
        lambda o: S.LinearWarmup(o, 4, S.StepLR(o, 6, gamma=0.5)),
        lambda o, T: T.SequentialLR(o, [T.LinearLR(o, total_iters=4), T.StepLR(o, 6, gamma=0.5)], milestones=[4])),
    "LinearWarmup+MultiStepLR": (
        lambda o: S.LinearWarmup(o, 3, S.MultiStepLR(o, [0, 4, 10]), start_factor=0.5),
        lambda o, T: T.SequentialLR(o, [T.LinearLR(o, start_factor=0.5, total_iters=3), T.MultiStepLR(o, [0, 4, 10])],
                                    milestones=[3])),
    "LinearWarmup+ExponentialLR": (
        lambda o: S.LinearWarmup(o, 6, S.ExponentialLR(o, 0.8), start_factor=0.2),
        lambda o, T: T.SequentialLR(o, [T.LinearLR(o, start_factor=0.2, total_iters=6), T.ExponentialLR(o, 0.8)],
                                    milestones=[6])),
}


@pytest.mark.parametrize("name", list(SAME_AS_TORCH))
def test_lr_sequence_equals_torch(name):
    make_cr, make_torch = SAME_AS_TORCH[name]
    ours = _sequence(*(lambda o: (o, make_cr(o)))(_cr_opt()))
    T = _torch_schedulers()
    theirs = _sequence(*(lambda o: (o, make_torch(o, T)))(_torch_opt()))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert len(np.unique(ours[:, 0])) > 2  # the schedule does change the lr


# Closed forms of the factor on the base lr at epoch t: the check without torch.
CLOSED_FORM = {
    "StepLR": (lambda o: S.StepLR(o, step_size=7, gamma=0.5), lambda t: 0.5 ** (t // 7)),
    "MultiStepLR": (lambda o: S.MultiStepLR(o, [20, 5, 12, 12], gamma=0.3),
                    lambda t: 0.3 ** ((t >= 5) + 2 * (t >= 12) + (t >= 20))),
    "ExponentialLR": (lambda o: S.ExponentialLR(o, 0.9), lambda t: 0.9 ** t),
    "LinearWarmup-alone-0.01": (lambda o: S.LinearWarmup(o, 7, start_factor=0.01),
                                lambda t: 0.01 + 0.99 * np.minimum(t, 7) / 7),
    "LinearWarmup+StepLR": (lambda o: S.LinearWarmup(o, 4, S.StepLR(o, 6, gamma=0.5)),
                            lambda t: np.where(t < 4, (2 + t) / 6, 0.5 ** ((t - 4) // 6))),  # start 1/3
}


@pytest.mark.parametrize("name", list(CLOSED_FORM))
def test_lr_sequence_closed_form(name):
    make, factor = CLOSED_FORM[name]
    opt = _cr_opt()
    t = np.arange(STEPS + 1)[:, None]
    np.testing.assert_allclose(_sequence(opt, make(opt)), np.array(LRS)[None, :] * factor(t), rtol=1e-12, atol=0)


def test_constructor_sets_initial_lr_and_last_epoch():
    opt = _cr_opt()
    sched = S.LinearWarmup(opt, 4, start_factor=0.25)
    assert sched.last_epoch == 0
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    assert sched.get_last_lr() == [LRS[0] * 0.25, LRS[1] * 0.25] == [g["lr"] for g in opt.param_groups]
    assert sched.base_lrs == list(LRS)


def test_inverse_time_decay_is_the_lectures_formula():
    opt = _cr_opt()
    lrs = _sequence(opt, S.InverseTimeLR(opt, k=0.5))
    t = np.arange(STEPS + 1)[:, None]
    np.testing.assert_array_equal(lrs, np.array(LRS)[None, :] / (1 + 0.5 * t))


def test_inverse_time_decay_equals_torchs_lambda_lr():
    T = _torch_schedulers()
    opt, topt = _cr_opt(), _torch_opt()
    ours = _sequence(opt, S.InverseTimeLR(opt, k=0.5))
    theirs = _sequence(topt, T.LambdaLR(topt, lambda e: 1 / (1 + 0.5 * e)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)


def test_cosine_closed_form():
    """The recursive form is the closed form up to rounding."""
    opt = _cr_opt()
    lrs = _sequence(opt, S.CosineAnnealingLR(opt, T_max=STEPS, eta_min=0.001))
    t = np.arange(STEPS + 1)[:, None]
    closed = 0.001 + (np.array(LRS) - 0.001) * (1 + np.cos(np.pi * t / STEPS)) / 2
    np.testing.assert_allclose(lrs, closed, rtol=0, atol=1e-14)


PLATEAU = {
    "max-rel": (dict(mode="max", patience=2), dict(mode="max", patience=2)),
    "max-cooldown": (dict(mode="max", patience=1, cooldown=2, factor=0.5),
                     dict(mode="max", patience=1, cooldown=2, factor=0.5)),
    "min-default": (dict(patience=2), dict(patience=2)),
    "min-abs-min_lr": (dict(mode="min", patience=1, threshold=0.01, threshold_mode="abs", min_lr=[0.02, 0.0]),
                       dict(mode="min", patience=1, threshold=0.01, threshold_mode="abs", min_lr=[0.02, 0.0])),
    "min-rel-eps": (dict(mode="min", patience=0, factor=0.1, eps=1e-3), dict(mode="min", patience=0, eps=1e-3)),
}
# Validation accuracy: rises, stalls, creeps up by less than the threshold, rises again.
ACCURACY = [0.10, 0.30, 0.40, 0.40, 0.41, 0.41, 0.41, 0.41, 0.410001, 0.45, 0.45, 0.45, 0.45,
            0.46, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.52, 0.52, 0.52, 0.52, 0.52, 0.53, 0.53, 0.53, 0.53, 0.53]


@pytest.mark.parametrize("name", list(PLATEAU))
def test_reduce_on_plateau_equals_torch(name):
    ours_kw, torch_kw = PLATEAU[name]
    metrics = ACCURACY if ours_kw.get("mode", "min") == "max" else [1 - a for a in ACCURACY]
    T = _torch_schedulers()
    opt, topt = _cr_opt(), _torch_opt()
    ours = _sequence(opt, S.ReduceLROnPlateau(opt, **ours_kw), metrics)
    theirs = _sequence(topt, T.ReduceLROnPlateau(topt, **torch_kw), metrics)
    np.testing.assert_array_equal(ours, theirs)
    assert len(np.unique(ours[:, 0])) > 1


def test_reduce_on_plateau_defaults_to_min_mode_as_torch():
    opt = _cr_opt()
    sched = S.ReduceLROnPlateau(opt, patience=0)
    assert sched.mode == "min"
    sched.step(0.5)
    sched.step(0.4)  # the loss went down: no change
    assert sched.get_last_lr() == list(LRS)
    sched.step(0.45)  # went up: divide by 10
    assert sched.get_last_lr() == [LRS[0] * 0.1, LRS[1] * 0.1]


# ------------------------------------------------------------------ checkpoints
RESUMABLE = {
    "StepLR": lambda o: S.StepLR(o, 4, gamma=0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, [3, 9, 9, 20]),
    "ExponentialLR": lambda o: S.ExponentialLR(o, 0.9),
    "InverseTimeLR": lambda o: S.InverseTimeLR(o, 0.2),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, 12, eta_min=1e-3),
    "LinearWarmup": lambda o: S.LinearWarmup(o, 20),
    "LinearWarmup+Cosine": lambda o: S.LinearWarmup(o, 6, S.CosineAnnealingLR(o, 20)),
    "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, patience=1, cooldown=1),
}


@pytest.mark.parametrize("name", list(RESUMABLE))
@pytest.mark.parametrize("stop", [0, 3, 6, 11])
def test_resume_gives_the_same_lrs(name, stop):
    make = RESUMABLE[name]
    metrics = ACCURACY if name == "ReduceLROnPlateau" else None
    opt = _cr_opt()
    full = _sequence(opt, make(opt), metrics)

    opt1 = _cr_opt()
    sched1 = make(opt1)
    first = _sequence(opt1, sched1, metrics, steps=stop)
    text = json.dumps(sched1.state_dict(), allow_nan=False)  # strict JSON: no optimizer, no inf
    opt_groups = json.dumps(opt1.state_dict()["param_groups"])

    opt2 = _cr_opt()
    sched2 = make(opt2)
    sched2.load_state_dict(json.loads(text))
    opt2.load_state_dict({"state": {}, "param_groups": json.loads(opt_groups)})
    rest = _sequence(opt2, sched2, None if metrics is None else metrics[stop:], steps=STEPS - stop)
    np.testing.assert_array_equal(np.concatenate([first, rest[1:]]), full)


def test_state_dict_has_no_optimizer_and_is_a_copy():
    opt = _cr_opt()
    sched = S.LinearWarmup(opt, 3, S.MultiStepLR(opt, [2, 4]))
    sd = sched.state_dict()
    assert "optimizer" not in sd and "optimizer" not in sd["after"]["state"]
    assert sd["after"]["type"] == "MultiStepLR"
    sd["base_lrs"].append(5.0)
    assert sched.base_lrs == list(LRS)


def test_load_state_dict_of_another_kind_is_refused():
    opt = _cr_opt()
    with pytest.raises(ValueError, match="missing keys"):
        S.StepLR(opt, 3).load_state_dict(S.ExponentialLR(_cr_opt(), 0.5).state_dict())
    warm = S.LinearWarmup(opt, 3, S.StepLR(opt, 2))
    o2 = _cr_opt()
    other = S.LinearWarmup(o2, 3, S.ExponentialLR(o2, 0.5))
    with pytest.raises(ValueError, match="saved `after` is a ExponentialLR"):
        warm.load_state_dict(other.state_dict())


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("make,exc,msg", [
    (lambda o: S.StepLR(object(), 3), TypeError, "object is not an Optimizer"),
    (lambda o: S.StepLR(o, 0), ValueError, "StepLR: step_size must be a positive integer, got 0"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError, "CosineAnnealingLR: T_max must be a positive integer"),
    (lambda o: S.InverseTimeLR(o, k=-1), ValueError, "InverseTimeLR: k must be >= 0, got -1"),
    (lambda o: S.MultiStepLR(o, [-1, 3]), ValueError, "milestones must be non-negative"),
    (lambda o: S.LinearWarmup(o, 0), ValueError, "warmup_steps must be a positive integer"),
    (lambda o: S.LinearWarmup(o, 5, start_factor=0), ValueError, "start_factor expected to be greater than 0"),
    (lambda o: S.LinearWarmup(o, 5, after=S.StepLR(_cr_opt(), 3)), ValueError, "same optimizer"),
    (lambda o: S.LinearWarmup(o, 5, after=S.ReduceLROnPlateau(o)), ValueError, "epoch-based scheduler"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
    (lambda o: S.ReduceLROnPlateau(o, mode="maximum"), ValueError, "mode must be 'min' or 'max'"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="relative"), ValueError, "threshold_mode must be"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.0]), ValueError, "expected 2 min_lrs, got 1"),
])
def test_bad_arguments(make, exc, msg):
    with pytest.raises(exc) as e:
        make(_cr_opt())
    assert msg in str(e.value)


def test_warmup_then_cosine_shape():
    """Sanity of the combined schedule: rises for warmup_steps, peaks at the base lr, then decays."""
    opt = _cr_opt()
    lrs = _sequence(opt, S.LinearWarmup(opt, 5, S.CosineAnnealingLR(opt, 25), start_factor=0.2))[:, 0]
    assert np.all(np.diff(lrs[:6]) > 0) and lrs[5] == LRS[0]
    assert np.all(np.diff(lrs[5:]) < 0) and math.isclose(lrs[-1], 0.0, abs_tol=1e-15)
