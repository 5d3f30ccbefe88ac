"""cr.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp against torch.autograd.functional
(float64), against hand-derived values where no torch, and their errors."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

F = cr.autograd.functional


def _rng_arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# the functions, written once and run on both libraries (the same method names exist in both)
def f_two(x, y):                   # two inputs, two outputs
    return (x @ y).tanh(), (x * x).sum() + y.sigmoid().sum()


def f_scalar(x, y):                # scalar of two inputs, for the Hessian
    return ((x @ y).tanh() ** 2).sum() + (x * x * x).sum() + (y.exp()).sum()


def f_one(x):
    return (x.tanh() * x * x).sum() + (x[0] * x[1]).sum()


def _t(torch, a):
    return torch.tensor(a, dtype=torch.float64)


def _c(a):
    return cr.tensor(a, dtype="float64")


def _close(ours, theirs, tol):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _close(o, t, tol)
        return
    assert isinstance(ours, cr.Tensor)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=tol, atol=tol)


def test_jacobian_equals_torch_for_every_nesting():
    torch = pytest.importorskip("torch")
    tf = torch.autograd.functional
    x, y = _rng_arrays((2, 3), (3, 2))
    v, = _rng_arrays((4,), seed=1)
    _close(F.jacobian(f_two, (_c(x), _c(y))), tf.jacobian(f_two, (_t(torch, x), _t(torch, y))), 1e-12)
    _close(F.jacobian(lambda a: f_two(a, _c(y)), _c(x)),
           tf.jacobian(lambda a: f_two(a, _t(torch, y)), _t(torch, x)), 1e-12)
    _close(F.jacobian(lambda a: f_two(a, _c(y))[0], (_c(x),)),
           tf.jacobian(lambda a: f_two(a, _t(torch, y))[0], (_t(torch, x),)), 1e-12)
    g = lambda a: a.tanh() * a[0]  # noqa: E731  (R^4 -> R^4)
    _close(F.jacobian(g, _c(v)), tf.jacobian(g, _t(torch, v)), 1e-12)


def test_vjp_and_jvp_equal_torch():
    torch = pytest.importorskip("torch")
    tf = torch.autograd.functional
    x, y, vx, vy, u0 = _rng_arrays((2, 3), (3, 2), (2, 3), (3, 2), (2, 2))
    ins_c, ins_t = (_c(x), _c(y)), (_t(torch, x), _t(torch, y))
    u_c, u_t = (_c(u0), cr.tensor(1.5, dtype="float64")), (_t(torch, u0), torch.tensor(1.5, dtype=torch.float64))
    _close(F.vjp(f_two, ins_c, u_c), tf.vjp(f_two, ins_t, u_t), 1e-12)
    v_c, v_t = (_c(vx), _c(vy)), (_t(torch, vx), _t(torch, vy))
    _close(F.jvp(f_two, ins_c, v_c), tf.jvp(f_two, ins_t, v_t), 1e-12)
    # single tensors; v=None for a single-element output / input
    _close(F.vjp(f_one, _c(x)), tf.vjp(f_one, _t(torch, x)), 1e-12)
    _close(F.jvp(lambda a: a.tanh() * 3.0, _c(np.array(0.3))),
           tf.jvp(lambda a: a.tanh() * 3.0, _t(torch, np.array(0.3))), 1e-12)


def test_hessian_hvp_vhp_equal_torch():
    torch = pytest.importorskip("torch")
    tf = torch.autograd.functional
    x, y, vx, vy = _rng_arrays((2, 3), (3, 2), (2, 3), (3, 2), seed=3)
    ins_c, ins_t = (_c(x), _c(y)), (_t(torch, x), _t(torch, y))
    _close(F.hessian(f_scalar, ins_c), tf.hessian(f_scalar, ins_t), 1e-8)
    _close(F.hessian(f_one, _c(x)), tf.hessian(f_one, _t(torch, x)), 1e-8)
    v_c, v_t = (_c(vx), _c(vy)), (_t(torch, vx), _t(torch, vy))
    _close(F.hvp(f_scalar, ins_c, v_c), tf.hvp(f_scalar, ins_t, v_t), 1e-8)
    _close(F.vhp(f_scalar, ins_c, v_c), tf.vhp(f_scalar, ins_t, v_t), 1e-8)
    _close(F.hvp(f_one, _c(x), _c(vx)), tf.hvp(f_one, _t(torch, x), _t(torch, vx)), 1e-8)


def test_values_by_hand_without_torch():
    # f(x) = sum(x^3) + x0*x1: gradient 3x^2 + (x1, x0), Hessian diag(6x) + offdiag 1
    x = np.array([0.5, -1.0, 2.0])
    f = lambda a: (a * a * a).sum() + a[0] * a[1]  # noqa: E731
    H = F.hessian(f, _c(x)).data
    want = np.diag(6 * x)
    want[0, 1] = want[1, 0] = 1.0
    np.testing.assert_allclose(H, want, atol=1e-9)
    _, hv = F.hvp(f, _c(x), _c(np.array([1.0, 2.0, -1.0])))
    np.testing.assert_allclose(hv.data, want @ [1.0, 2.0, -1.0], atol=1e-9)
    # the Jacobian of an elementwise op is diagonal (lecture 4)
    J = F.jacobian(lambda a: a.sigmoid(), _c(x)).data
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(J, np.diag(s * (1 - s)), atol=1e-15)
    out, g = F.vjp(f, _c(x))
    assert float(out.data) == pytest.approx(0.125 - 1 + 8 - 0.5)
    np.testing.assert_allclose(g.data, 3 * x ** 2 + np.array([-1.0, 0.5, 0.0]))
    out, jv = F.jvp(lambda a: a * a, _c(x), _c(np.ones(3)))
    np.testing.assert_allclose(jv.data, 2 * x)


def test_inputs_and_their_grads_are_untouched():
    x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    F.jacobian(lambda a: a * a, x)
    F.hessian(lambda a: (a * a).sum(), x)
    assert x.grad is None
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_independent_inputs_zero_or_strict_error():
    x, y = _c(np.ones(2)), _c(np.ones(3))
    J = F.jacobian(lambda a, b: a * 2.0, (x, y))
    np.testing.assert_array_equal(J[1].data, np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.jacobian(lambda a, b: a * 2.0, (x, y), strict=True)


def test_clear_errors():
    x = _c(np.ones(3))
    with pytest.raises(TypeError, match="Tensor or a tuple of Tensors"):
        F.jacobian(lambda a: a, [x])
    with pytest.raises(NotImplementedError, match="create_graph"):
        F.hessian(lambda a: a.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="single element"):
        F.hessian(lambda a: a * a, x)
    with pytest.raises(RuntimeError, match="can only be None"):
        F.vjp(lambda a: a * a, x)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        F.jvp(lambda a: a * a, x, _c(np.ones(2)))
    with pytest.raises(ValueError, match="strategy"):
        F.jacobian(lambda a: a, x, strategy="sideways")


def test_import_paths():
    from chainrule.autograd.functional import hvp  # registered once the module is loaded
    assert hvp is F.hvp
