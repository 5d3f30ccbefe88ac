"""cr.optim: every optimiser against torch.optim, param groups, checkpoints, errors, and a demo."""
from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.nn.parameter import Parameter
from chainrule.optim import lr_scheduler

SHAPES = [(3, 4), (5,), (2, 3), (4,)]
STEPS = 50

# (optimiser name, settings) — every switch of every update rule.
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.2, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, eps=1e-4)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.5, 0.7), eps=1e-3, weight_decay=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.9), maximize=True)),
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(lr=2.0, rho=0.95, weight_decay=0.05, maximize=True)),
]


def _problem(seed: int, dtype=np.float64):
    """Initial values and STEPS lists of gradients; a None is a parameter without a gradient.

    Parameter 1 has no gradient every 4th step, parameter 3 never has one.
    """
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = []
    for t in range(STEPS):
        gs = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        if t % 4 == 1:
            gs[1] = None
        gs[3] = None
        grads.append(gs)
    return init, grads


def _groups(params, lr):
    """Two groups; the second learns 3x faster (a fine-tuned head)."""
    return [{"params": params[:2]}, {"params": params[2:], "lr": 3 * lr}]


def _run_pair(name, settings, dtype=np.float64, seed=0):
    torch = pytest.importorskip("torch")
    init, grads = _problem(seed, dtype)
    cps = [Parameter(a.copy()) for a in init]
    tps = [torch.nn.Parameter(torch.tensor(a.copy())) for a in init]
    copt = getattr(optim, name)(_groups(cps, settings["lr"]), **settings)
    topt = getattr(torch.optim, name)(_groups(tps, settings["lr"]), **settings)
    arrays = [p.data for p in cps]
    for gs in grads:
        for cp, tp, g in zip(cps, tps, gs):
            cp.grad = None if g is None else g.copy()
            tp.grad = None if g is None else torch.tensor(g.copy())
        copt.step()
        topt.step()
    # Updates happen in place, in the parameter's dtype.
    assert all(p.data is a for p, a in zip(cps, arrays))
    assert all(p.data.dtype == dtype for p in cps)
    return init, cps, tps, copt, topt


@pytest.mark.parametrize("name,settings", CONFIGS, ids=[f"{n}-{s}" for n, s in CONFIGS])
def test_trajectory_equals_torch(name, settings):
    init, cps, tps, copt, topt = _run_pair(name, settings)
    for cp, tp in zip(cps, tps):
        np.testing.assert_allclose(cp.data, tp.detach().numpy(), rtol=0, atol=1e-10)
    # The parameter without a gradient never moved; the others did.
    np.testing.assert_array_equal(cps[3].data, init[3])
    assert not np.allclose(cps[0].data, init[0])
    # Same state, entry by entry (torch keeps `step` as a 0-d tensor).
    for cp, tp in zip(cps, tps):
        cs, ts = copt.state.get(cp, {}), topt.state.get(tp, {})
        assert set(cs) == set(ts), (cs.keys(), ts.keys())
        for key, tv in ts.items():
            if key == "step":
                assert cs[key] == int(tv.item())
            else:
                np.testing.assert_allclose(cs[key], tv.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name,settings", [CONFIGS[3], CONFIGS[9], CONFIGS[13], CONFIGS[17], CONFIGS[19], CONFIGS[22]],
                         ids=["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adadelta"])
def test_float32_stays_float32_and_matches_torch(name, settings):
    _, cps, tps, copt, _ = _run_pair(name, settings, dtype=np.float32)
    for cp, tp in zip(cps, tps):
        assert cp.data.dtype == np.float32
        np.testing.assert_allclose(cp.data, tp.detach().numpy(), rtol=1e-4, atol=1e-5)
    for s in copt.state.values():
        for v in s.values():
            assert not isinstance(v, np.ndarray) or v.dtype == np.float32


def _two_steps(opt_class, **settings):
    """The scalar parameter 1.0 after gradients 0.5 then -1.0."""
    p = Parameter(np.array([1.0]))
    opt = opt_class([p], **settings)
    for g in (0.5, -1.0):
        p.grad = np.array([g])
        opt.step()
    return p.data[0]


# Two steps of each update rule written out from PyTorch's documented pseudo-code:
# the check of the arithmetic that runs without torch.
HAND = [
    ("SGD", dict(lr=0.1), 1 - 0.1 * 0.5 + 0.1 * 1.0),
    ("SGD-momentum", dict(lr=0.1, momentum=0.9), 1 - 0.1 * 0.5 - 0.1 * (0.9 * 0.5 - 1.0)),
    ("SGD-nesterov", dict(lr=0.1, momentum=0.9, nesterov=True),
     1 - 0.1 * (0.5 + 0.9 * 0.5) - 0.1 * (-1.0 + 0.9 * (0.9 * 0.5 - 1.0))),
    ("SGD-weight_decay", dict(lr=0.1, weight_decay=0.2),
     (lambda p1: p1 - 0.1 * (-1.0 + 0.2 * p1))(1 - 0.1 * (0.5 + 0.2))),
    ("Adagrad", dict(lr=0.1, eps=0.0), 1 - 0.1 * 0.5 / 0.5 + 0.1 * 1.0 / np.sqrt(1.25)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=0.0),
     1 - 0.01 * 0.5 / np.sqrt(0.1 * 0.25) + 0.01 * 1.0 / np.sqrt(0.9 * 0.1 * 0.25 + 0.1)),
    ("Adam", dict(lr=0.1, eps=0.0),
     1 - 0.1 - 0.1 * ((0.9 * 0.05 - 0.1) / (1 - 0.9 ** 2)) / np.sqrt((0.999 * 0.00025 + 0.001) / (1 - 0.999 ** 2))),
    ("AdamW", dict(lr=0.1, eps=0.0, weight_decay=0.5),
     (0.95 - 0.1) * 0.95 - 0.1 * ((0.9 * 0.05 - 0.1) / (1 - 0.9 ** 2))
     / np.sqrt((0.999 * 0.00025 + 0.001) / (1 - 0.999 ** 2))),
    # square_avg 0.025 then 0.1225; delta1 = sqrt(eps)/sqrt(0.025+eps)*0.5, acc = 0.1*delta1^2
    ("Adadelta", dict(lr=1.0, rho=0.9, eps=0.01),
     (lambda d1: 1 - d1 + np.sqrt(0.1 * d1 * d1 + 0.01) / np.sqrt(0.1225 + 0.01) * 1.0)(
         np.sqrt(0.01) / np.sqrt(0.035) * 0.5)),
]


@pytest.mark.parametrize("name,settings,expected", HAND, ids=[h[0] for h in HAND])
def test_two_steps_by_hand(name, settings, expected):
    np.testing.assert_allclose(_two_steps(getattr(optim, name.split("-")[0]), **settings), expected,
                               rtol=1e-12)


def test_float64_grad_on_float32_param_updates_in_float32():
    p = Parameter(np.ones(3, dtype=np.float32))
    p.grad = np.full(3, 0.5)  # float64
    optim.Adam([p], lr=0.1).step()
    assert p.data.dtype == np.float32
    np.testing.assert_allclose(p.data, 0.9, rtol=1e-6)


# ------------------------------------------------------------ the Optimizer base
def test_zero_grad():
    p, q = Parameter(np.ones(3)), Parameter(np.ones(2))
    opt = optim.SGD([p, q], lr=0.1)
    p.grad = np.ones(3)
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.all(g == 0) and q.grad is None
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_loss_and_uses_fresh_gradient():
    x = Parameter(np.array([3.0]))
    opt = optim.SGD([x], lr=0.25)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert len(calls) == 1 and loss.item() == 9.0
    np.testing.assert_allclose(x.data, [3.0 - 0.25 * 6.0])
    assert opt.step() is None


def test_param_groups_have_their_own_settings():
    body, head = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = optim.SGD([{"params": [body], "lr": 0.01}, {"params": head}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.1]
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["params"] == [head]
    body.grad, head.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(body.data, -0.01)
    np.testing.assert_allclose(head.data, -0.1)
    extra = Parameter(np.zeros(1))
    opt.add_param_group({"params": [extra], "lr": 1.0, "momentum": 0.0})
    assert opt.param_groups[2]["nesterov"] is False
    extra.grad = np.ones(1)
    opt.step()
    np.testing.assert_allclose(extra.data, -1.0)


def test_numpy_scalar_settings_become_python_scalars():
    opt = optim.SGD([{"params": [Parameter(np.zeros(2))], "lr": np.float32(0.5)}], momentum=np.float64(0.9))
    assert type(opt.param_groups[0]["lr"]) is float and type(opt.param_groups[0]["momentum"]) is float
    json.dumps(opt.state_dict()["param_groups"])


def test_adagrad_state_covers_params_added_later():
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    opt = optim.Adagrad([p], initial_accumulator_value=0.5)
    opt.add_param_group({"params": [q]})
    np.testing.assert_array_equal(opt.state[q]["sum"], np.full(3, 0.5))
    assert opt.state[q]["step"] == 0


@pytest.mark.parametrize("bad,exc,msg", [
    (lambda: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
    (lambda: optim.SGD(Parameter(np.zeros(2))), TypeError, "iterable of Tensors or dicts"),
    (lambda: optim.SGD([np.zeros(2)]), TypeError, "can only optimize Tensors, but one of the params is numpy.ndarray"),
    (lambda: optim.SGD([Parameter(np.zeros(2)) * 2]), ValueError, "can't optimize a non-leaf Tensor"),
    (lambda: optim.SGD([{"params": [Parameter(np.zeros(2))], "learning_rate": 1}]), ValueError,
     "unknown settings in a parameter group: ['learning_rate']"),
])
def test_bad_params(bad, exc, msg):
    with pytest.raises(exc) as e:
        bad()
    assert msg in str(e.value)


def test_same_parameter_twice_is_an_error():
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p])
    opt = optim.SGD([p])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})


@pytest.mark.parametrize("make,msg", [
    (lambda ps: optim.SGD(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: optim.SGD(ps, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda ps: optim.SGD(ps, weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    (lambda ps: optim.SGD(ps, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda ps: optim.SGD(ps, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda ps: optim.SGD([{"params": ps, "lr": -0.5}], lr=0.1), "Invalid learning rate: -0.5"),
    (lambda ps: optim.Adagrad(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (lambda ps: optim.Adagrad(ps, eps=-1e-10), "Invalid epsilon value: -1e-10"),
    (lambda ps: optim.RMSprop(ps, alpha=-0.9), "Invalid alpha value: -0.9"),
    (lambda ps: optim.RMSprop(ps, momentum=-1), "Invalid momentum value: -1"),
    (lambda ps: optim.RMSprop(ps, eps=-1), "Invalid epsilon value: -1"),
    (lambda ps: optim.Adam(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda ps: optim.Adam(ps, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda ps: optim.AdamW(ps, betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
])
def test_bad_hyperparameters_say_which_and_why(make, msg):
    with pytest.raises(ValueError) as e:
        make([Parameter(np.zeros(2))])
    assert str(e.value) == msg


def test_error_messages_are_torchs():
    """Same text as torch.optim for the same mistakes."""
    torch = pytest.importorskip("torch")
    for name, kw in [("SGD", dict(lr=-1)), ("SGD", dict(nesterov=True)), ("Adam", dict(betas=(1.0, 0.9))),
                     ("RMSprop", dict(alpha=-1)), ("Adagrad", dict(eps=-1)), ("Adadelta", dict(rho=1.5))]:
        with pytest.raises(ValueError) as ours:
            getattr(optim, name)([Parameter(np.zeros(1))], **kw)
        with pytest.raises(ValueError) as theirs:
            getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))], **kw)
        assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------------ checkpoints
def _adam_after_one_step():
    """An AMSGrad Adam over SHAPES in two groups after one step; parameter 3 had no gradient."""
    ps = [Parameter(np.ones(s)) for s in SHAPES]
    opt = optim.Adam(_groups(ps, 1e-3), lr=1e-3, amsgrad=True)
    for p in ps[:3]:
        p.grad = np.ones(p.shape)
    opt.step()
    return opt


def test_state_dict_layout_is_torchs():
    opt = _adam_after_one_step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sorted(sd["state"]) == [0, 1, 2]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    for s in sd["state"].values():
        for v in s.values():
            assert isinstance(v, (np.ndarray, int, float))
    json.dumps(sd["param_groups"], allow_nan=False)
    # A snapshot: the optimiser's next step does not change it.
    before = sd["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before)


def test_state_dict_keys_are_torchs():
    torch = pytest.importorskip("torch")
    sd = _adam_after_one_step().state_dict()
    tps = [torch.nn.Parameter(torch.ones(s, dtype=torch.float64)) for s in SHAPES]
    topt = torch.optim.Adam(_groups(tps, 1e-3), lr=1e-3, amsgrad=True)
    for p in tps[:3]:
        p.grad = torch.ones(p.shape, dtype=torch.float64)
    topt.step()
    tsd = topt.state_dict()
    assert set(tsd["state"][0]) == set(sd["state"][0])
    assert set(tsd["param_groups"][0]) - {"foreach", "capturable", "differentiable", "fused"} == \
        set(sd["param_groups"][0])


def _to_checkpoint(sd):
    """What a Solver does: arrays to safetensors bytes, everything else to JSON text."""
    from safetensors.numpy import save

    arrays, rest = {}, {"state": {}, "param_groups": sd["param_groups"]}
    for idx, s in sd["state"].items():
        rest["state"][idx] = {}
        for k, v in s.items():
            if isinstance(v, np.ndarray):
                arrays[f"{idx}.{k}"] = v
                rest["state"][idx][k] = None
            else:
                rest["state"][idx][k] = v
    return save(arrays) if arrays else b"", json.dumps(rest, allow_nan=False)


def _from_checkpoint(blob, text):
    from safetensors.numpy import load

    arrays = load(blob) if blob else {}
    sd = json.loads(text)  # keys of "state" are strings now
    for idx, s in sd["state"].items():
        for k in s:
            if s[k] is None:
                s[k] = arrays[f"{idx}.{k}"]
    return sd


RESUME = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
     lambda o: lr_scheduler.StepLR(o, 7, gamma=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01), lambda o: lr_scheduler.InverseTimeLR(o, 0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True), lambda o: lr_scheduler.ExponentialLR(o, 0.95)),
    ("Adam", dict(lr=0.01, amsgrad=True),
     lambda o: lr_scheduler.LinearWarmup(o, 5, lr_scheduler.CosineAnnealingLR(o, 30, 1e-4))),
    ("AdamW", dict(lr=0.01, weight_decay=0.1), lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=1)),
]


@pytest.mark.parametrize("name,settings,make_sched", RESUME, ids=[r[0] for r in RESUME])
def test_resume_from_checkpoint_is_bitwise_identical(name, settings, make_sched):
    init, grads = _problem(1)
    metrics = [0.1, 0.2, 0.2, 0.2, 0.25, 0.25, 0.25, 0.25] * 4

    def run(params, opt, sched, steps):
        for t in steps:
            for p, g in zip(params, grads[t]):
                p.grad = None if g is None else g.copy()
            opt.step()
            if isinstance(sched, lr_scheduler.ReduceLROnPlateau):
                sched.step(metrics[t])
            else:
                sched.step()

    def build(values):
        ps = [Parameter(v.copy()) for v in values]
        opt = getattr(optim, name)(_groups(ps, settings["lr"]), **settings)
        return ps, opt, make_sched(opt)

    ps, opt, sched = build(init)
    run(ps, opt, sched, range(30))

    ps1, opt1, sched1 = build(init)
    run(ps1, opt1, sched1, range(13))
    blob, text = _to_checkpoint(opt1.state_dict())
    sched_text = json.dumps(sched1.state_dict(), allow_nan=False)
    values = [p.data.copy() for p in ps1]
    del ps1, opt1, sched1

    ps2, opt2, sched2 = build(values)
    sched2.load_state_dict(json.loads(sched_text))
    opt2.load_state_dict(_from_checkpoint(blob, text))
    run(ps2, opt2, sched2, range(13, 30))
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.data, b.data)
    assert sched.get_last_lr() == sched2.get_last_lr()
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt2.param_groups]


def test_load_state_dict_copies_and_casts():
    p = Parameter(np.zeros(3, dtype=np.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    buf = np.arange(3.0)  # float64
    opt.load_state_dict({"state": {0: {"momentum_buffer": buf}},
                         "param_groups": [dict(opt.state_dict()["param_groups"][0], lr=0.5)]})
    loaded = opt.state[p]["momentum_buffer"]
    assert loaded.dtype == np.float32 and loaded is not buf
    buf[:] = 100
    np.testing.assert_array_equal(loaded, [0, 1, 2])
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["params"] == [p]


def test_load_state_dict_restores_tuple_betas_after_json():
    p = Parameter(np.zeros(2))
    opt = optim.Adam([p], betas=(0.8, 0.9))
    opt.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert opt.param_groups[0]["betas"] == (0.8, 0.9)


@pytest.mark.parametrize("change,msg", [
    (lambda sd: sd["param_groups"].pop(), "different number of parameter groups: it has 1, this optimizer has 2"),
    (lambda sd: sd["param_groups"][1]["params"].pop(),
     "group 1 has 1 parameters in the state dict and 2 in this optimizer"),
    (lambda sd: sd["state"][0].update(exp_avg=np.zeros(7)), "state 'exp_avg' has shape (7,), but its parameter"),
    (lambda sd: sd["state"].update({9: {}}), "state for parameter 9, which no group lists"),
    (lambda sd: sd["param_groups"][0].update(lr=-1.0), "Invalid learning rate: -1.0"),
])
def test_load_state_dict_validates(change, msg):
    ps = [Parameter(np.ones(s)) for s in SHAPES]
    opt = optim.Adam(_groups(ps, 0.1), lr=0.1)
    for p in ps:
        p.grad = np.ones(p.shape)
    opt.step()
    sd = opt.state_dict()
    change(sd)
    with pytest.raises(ValueError) as e:
        opt.load_state_dict(sd)
    assert msg in str(e.value)


# ------------------------------------------------------------------ the demo
def _spiral(n_per_class=60, classes=3, seed=0):
    """CS231n's 2D spiral: `classes` arms of noisy points."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        t = np.linspace(c * 4, (c + 1) * 4, n_per_class) + rng.standard_normal(n_per_class) * 0.2
        X.append(np.c_[r * np.sin(t), r * np.cos(t)])
        y.append(np.full(n_per_class, c))
    return np.concatenate(X), np.concatenate(y)


def _cross_entropy(scores, onehot):
    """Softmax cross-entropy from cr ops: mean of log-sum-exp(s) - s[y].

    Scores are shifted by their row max (a constant: the loss does not depend
    on it) so exp cannot overflow. Row sums are `@ ones` (matmul's backward).
    """
    ones = cr.ones(scores.shape[1], 1, dtype=scores.dtype)
    shifted = scores - cr.tensor(scores.data.max(axis=1, keepdims=True), dtype=scores.dtype)
    lse = (shifted.exp() @ ones).log()
    return (lse - (shifted * onehot) @ ones).mean()


def _train(make_opt, steps=150, hidden=32):
    X, y = _spiral()
    Xt = cr.tensor(X, dtype=cr.float64)
    onehot = cr.tensor(np.eye(3)[y])
    rng = np.random.default_rng(1)  # the same start for every optimiser
    W1 = Parameter(rng.standard_normal((2, hidden)) * 0.5)
    b1 = Parameter(np.zeros(hidden))
    W2 = Parameter(rng.standard_normal((hidden, 3)) * 0.1)
    b2 = Parameter(np.zeros(3))
    opt = make_opt([W1, b1, W2, b2])
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = _cross_entropy((Xt @ W1 + b1).relu() @ W2 + b2, onehot)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_demo_every_optimiser_learns_and_momentum_adam_beat_sgd():
    lr = 0.05
    final = {}
    for name, make in [
        ("sgd", lambda ps: optim.SGD(ps, lr=lr)),
        ("momentum", lambda ps: optim.SGD(ps, lr=lr, momentum=0.9)),
        ("nesterov", lambda ps: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True)),
        ("adagrad", lambda ps: optim.Adagrad(ps, lr=lr)),
        ("rmsprop", lambda ps: optim.RMSprop(ps, lr=lr / 10)),
        ("adam", lambda ps: optim.Adam(ps, lr=lr)),
        ("adamw", lambda ps: optim.AdamW(ps, lr=lr)),
    ]:
        losses = _train(make)
        assert losses[-1] < losses[0] - 0.1, (name, losses[0], losses[-1])
        final[name] = losses[-1]
    assert final["momentum"] < final["sgd"] - 0.1
    assert final["nesterov"] < final["sgd"] - 0.1
    assert final["adam"] < final["sgd"] - 0.1
