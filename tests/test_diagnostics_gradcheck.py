"""`chainrule gradcheck`: every layer/loss/op passes, a wrong backward fails, every layer is listed."""
import inspect

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import main
from chainrule.diagnostics.gradcheck_suite import CASES, GradCase, check_case, rel_error, run_gradchecks


class WrongSquare(cr.Function):
    """x^2 with a backward that forgets the factor 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


def _wrong_setup(g):
    x = cr.tensor(g.standard_normal((3, 2)), requires_grad=True, dtype="float64")
    return (lambda: WrongSquare.apply(x)), {"x": x}, (3, 2)


def test_command_passes_and_lists_every_layer(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert f"{len(CASES)}/{len(CASES)} passed" in out
    layers = [name for name, obj in vars(nn).items()
              if inspect.isclass(obj) and issubclass(obj, nn.Module)
              and name not in ("Module", "Sequential", "ModuleList", "ModuleDict")]
    assert len(layers) >= 20
    table_names = [line.split()[1] for line in out.splitlines() if line.startswith(("layer", "loss", "op "))]
    for name in layers:
        assert any(n.startswith(name) for n in table_names), f"{name} is not gradient-checked"
    for op in ("matmul", "exp", "log", "sum_axis", "max_axis", "getitem_fancy", "cat"):
        assert op in table_names


def test_every_case_is_accurate():
    for r in run_gradchecks():
        assert r.passed and r.max_rel_error < 1e-6, (r.name, r.max_rel_error, r.error)
    conv = run_gradchecks("conv2d")[0]
    assert conv.checked == ["x", "weight", "bias"] and conv.input_shape == (2, 2, 5, 5)


def test_wrong_backward_fails_and_exit_code_is_1(monkeypatch, capsys):
    r = check_case(GradCase("WrongSquare", "op", _wrong_setup))
    assert not r.passed and r.max_rel_error == pytest.approx(1 / 3, rel=1e-4)  # |x - 2x| / (|x| + |2x|)
    import chainrule.diagnostics.gradcheck_suite as S
    monkeypatch.setattr(S, "CASES", S.CASES + [GradCase("WrongSquare", "op", _wrong_setup)])
    assert main(["gradcheck", "--only", "Wrong*"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_crashing_case_is_a_failure_not_a_crash():
    def bad(g):
        raise RuntimeError("boom")
    r = check_case(GradCase("Bad", "op", bad))
    assert not r.passed and "boom" in r.error


def test_only_list_and_unknown_pattern(capsys):
    assert main(["gradcheck", "--only", "*loss*"]) == 0
    out = capsys.readouterr().out
    assert "CrossEntropyLoss" in out and "SVMLoss" in out and "Linear" not in out
    assert main(["gradcheck", "--list"]) == 0
    assert "BatchNorm2d" in capsys.readouterr().out
    assert main(["gradcheck", "--only", "nothing*"]) == 2


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0
