"""LambdaLR and OneCycleLR against torch.optim.lr_scheduler, value for value (lr and momentum)."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import Parameter
from chainrule.optim import lr_scheduler


def _pair(make_opt, make_sched, steps, opt_name="SGD", **opt_kw):
    torch = pytest.importorskip("torch")
    cps = [Parameter(np.ones(3)), Parameter(np.ones(2))]
    tps = [torch.nn.Parameter(torch.ones(3, dtype=torch.float64)), torch.nn.Parameter(torch.ones(2, dtype=torch.float64))]
    copt = getattr(cr.optim, opt_name)([{"params": cps[:1]}, {"params": cps[1:]}], **opt_kw)
    topt = getattr(torch.optim, opt_name)([{"params": tps[:1]}, {"params": tps[1:]}], **opt_kw)
    cs, ts = make_sched(cr.optim.lr_scheduler, copt), make_sched(torch.optim.lr_scheduler, topt)
    key = "betas" if opt_name.startswith("Adam") else "momentum"
    for step in range(steps):
        for cp, tp in zip(cps, tps):
            g = np.full(cp.shape, 0.1 * (step + 1))
            cp.grad, tp.grad = cr.tensor(g), torch.tensor(g)
        copt.step()
        topt.step()
        cs.step()
        ts.step()
        assert cs.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=1e-15)
        for cg, tg in zip(copt.param_groups, topt.param_groups):
            assert np.ravel(cg.get(key, 0)) == pytest.approx(np.ravel(tg.get(key, 0)), rel=1e-12)
    for cp, tp in zip(cps, tps):
        np.testing.assert_allclose(cp.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    return cs, copt


ONE_CYCLE = [
    dict(max_lr=1.0, total_steps=20),
    dict(max_lr=[0.5, 2.0], epochs=4, steps_per_epoch=5, pct_start=0.25, anneal_strategy="linear"),
    dict(max_lr=1.0, total_steps=20, three_phase=True, div_factor=10.0, final_div_factor=100.0),
    dict(max_lr=0.3, total_steps=20, cycle_momentum=False),
    dict(max_lr=0.3, total_steps=20, base_momentum=[0.8, 0.7], max_momentum=0.9),
]


@pytest.mark.parametrize("kw", ONE_CYCLE, ids=[str(i) for i in range(len(ONE_CYCLE))])
@pytest.mark.parametrize("opt", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1))], ids=["SGD", "Adam"])
def test_one_cycle_equals_torch(kw, opt):
    name, opt_kw = opt
    _pair(None, lambda mod, o: mod.OneCycleLR(o, **kw), 20, name, **opt_kw)


def test_lambda_lr_equals_torch_and_saves_without_the_function():
    sched, opt = _pair(None, lambda mod, o: mod.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1 / (1 + e)]), 6,
                       lr=0.1, momentum=0.5)
    state = sched.state_dict()
    assert "lr_lambdas" not in state and state["last_epoch"] == 6
    again = lr_scheduler.LambdaLR(opt, lambda e: 0.95 ** e)
    again.load_state_dict(state)
    assert again.last_epoch == 6


def test_one_cycle_errors_are_torchs():
    opt = cr.optim.SGD([Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="either total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="pct_start"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=1.5)
    with pytest.raises(ValueError, match="optimizer must support momentum"):
        lr_scheduler.OneCycleLR(cr.optim.Adagrad([Parameter(np.ones(2))]), max_lr=1.0, total_steps=5)
    s = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        s.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        s.step()
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1, lambda e: 1])


def test_one_cycle_state_round_trips_through_cr_save(tmp_path):
    p = Parameter(np.ones(2))
    opt = cr.optim.SGD([p], lr=0.1, momentum=0.9)
    s = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    for _ in range(4):
        s.step()
    cr.save({"sched": s.state_dict(), "opt": opt.state_dict()}, tmp_path / "c.pt")
    back = cr.load(tmp_path / "c.pt")
    opt2 = cr.optim.SGD([Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    s2 = lr_scheduler.OneCycleLR(opt2, max_lr=1.0, total_steps=10)
    s2.load_state_dict(back["sched"])
    opt2.load_state_dict(back["opt"])
    s.step()
    s2.step()
    assert s2.get_last_lr() == s.get_last_lr()
    assert opt2.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]
