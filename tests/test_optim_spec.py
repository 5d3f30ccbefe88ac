"""The optimizer and schedule names the Solver and the CLI use: cr.optim.create and
cr.optim.lr_scheduler.from_spec."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import lr_scheduler as S


def params():
    return [cr.tensor(np.ones((2, 3), np.float32), requires_grad=True)]


def sgd(lr=1.0):
    return cr.optim.SGD(params(), lr=lr)


@pytest.mark.parametrize("name, cls, extra", [
    ("sgd", cr.optim.SGD, {"momentum": 0, "nesterov": False}),
    ("momentum", cr.optim.SGD, {"momentum": 0.9, "nesterov": False}),
    ("Nesterov", cr.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    ("adagrad", cr.optim.Adagrad, {}),
    ("rmsprop", cr.optim.RMSprop, {}),
    ("adam", cr.optim.Adam, {"betas": (0.9, 0.999)}),
    ("adamw", cr.optim.AdamW, {}),
])
def test_create_names(name, cls, extra):
    opt = cr.optim.create(name, params(), lr=0.05, weight_decay=1e-3)
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["lr"] == 0.05 and group["weight_decay"] == 1e-3
    for k, v in extra.items():
        assert group[k] == v


def test_create_kwargs_override_the_name_defaults_and_errors():
    assert cr.optim.create("momentum", params(), lr=0.1, momentum=0.5).param_groups[0]["momentum"] == 0.5
    assert cr.optim.create("adam", params(), betas=(0.5, 0.9)).param_groups[0]["betas"] == (0.5, 0.9)
    assert cr.optim.create("adam", params()).param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'; expected one of sgd, momentum, nesterov, "
                                         "adagrad, rmsprop, adam, adamw"):
        cr.optim.create("adamax", params())
    with pytest.raises(TypeError, match="spec must be a name"):
        cr.optim.create(cr.optim.SGD, params())


def test_create_steps_like_the_class():
    a, b = params(), params()
    oa, ob = cr.optim.create("nesterov", a, lr=0.1), cr.optim.SGD(b, lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(3):
        for p, o in ((a[0], oa), (b[0], ob)):
            o.zero_grad()
            (p * p).sum().backward()
            o.step()
    assert np.array_equal(a[0].data, b[0].data)


def lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.optimizer.param_groups[0]["lr"])
        sched.step()
    return out


def test_from_spec_every_form():
    s = S.from_spec("step:2:0.5", sgd(), 10)
    assert isinstance(s, S.StepLR) and s.step_size == 2 and s.gamma == 0.5
    assert lrs(S.from_spec("step:2", sgd(), 10), 5) == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    s = S.from_spec("multistep:3,6:0.5", sgd(), 9)
    assert isinstance(s, S.MultiStepLR) and lrs(s, 7) == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25])
    assert lrs(S.from_spec("exp:0.9", sgd(), 3), 3) == pytest.approx([1, 0.9, 0.81])
    s = S.from_spec("cosine", sgd(), 7)
    assert isinstance(s, S.CosineAnnealingLR) and s.T_max == 7 and s.eta_min == 0
    assert S.from_spec("cosine:0.01", sgd(), 4).eta_min == 0.01
    s = S.from_spec("plateau:3:0.5", sgd(), 3)
    assert isinstance(s, S.ReduceLROnPlateau) and s.patience == 3 and s.factor == 0.5 and s.mode == "max"
    assert S.from_spec("plateau", sgd(), 3).patience == 2
    assert lrs(S.from_spec("inverse:0.5", sgd(), 3), 3) == pytest.approx([1, 1 / 1.5, 0.5])
    s = S.from_spec("warmup:2+cosine", sgd(), 9)
    assert isinstance(s, S.LinearWarmup) and s.warmup_steps == 2
    assert isinstance(s.after, S.CosineAnnealingLR) and s.after.T_max == 7
    assert S.from_spec("warmup:3", sgd(), 9).after is None
    for none in (None, "", "none", "NONE"):
        assert S.from_spec(none, sgd(), 3) is None
    assert isinstance(S.from_spec("Cosine", sgd(), 3), S.CosineAnnealingLR)


@pytest.mark.parametrize("spec, message", [
    ("bogus", "unknown lr schedule 'bogus'"),
    ("step", "bad lr schedule 'step'"),
    ("step:x", "bad lr schedule 'step:x'"),
    ("exp", "bad lr schedule 'exp'"),
    ("inverse", "bad lr schedule 'inverse'"),
    ("multistep:a,b", "bad lr schedule 'multistep:a,b'"),
    ("warmup:x+cosine", "bad lr schedule 'warmup:x\\+cosine'"),
    ("warmup:2+bogus", "unknown lr schedule 'bogus'"),
])
def test_from_spec_errors_name_the_accepted_forms(spec, message):
    with pytest.raises(ValueError, match=message) as e:
        S.from_spec(spec, sgd(), 5)
    for form in S.SPEC_FORMS:
        assert form in str(e.value)


def test_from_spec_rejects_objects():
    with pytest.raises(TypeError, match="spec must be a string"):
        S.from_spec(3, sgd(), 5)
