"""In-place changes in the graph (issue 22): PyTorch's rules and numbers, version counters,
item assignment, views. Each scenario runs on chainrule and, where torch is installed, on torch."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

X = np.array([[1.0, -2.0, 3.0], [0.5, 2.5, -1.5]])
W = np.array([[0.3, -0.1], [0.2, 0.4], [-0.5, 0.6]])


def _both(fn):
    """fn(lib, x, w) -> scalar loss on chainrule and on torch; returns [(x.grad, w.grad)] for each."""
    out = []
    libs = [cr]
    try:
        import torch
        libs.append(torch)
    except ImportError:
        pass
    for lib in libs:
        x = lib.tensor(X, requires_grad=True)
        w = lib.tensor(W, requires_grad=True)
        loss = fn(lib, x, w)
        loss.backward()
        out.append((float(loss.item()), np.asarray(x.grad.detach() if lib is not cr else x.grad),
                    np.asarray(w.grad.detach() if lib is not cr else w.grad)))
    return out


def _agree(results):
    ours = results[0]
    for theirs in results[1:]:
        assert abs(ours[0] - theirs[0]) < 1e-12
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-12, atol=1e-12)
    return ours


def test_residual_iadd_in_a_forward_matches_torch():
    def block(lib, x, w):
        identity = x @ w      # (2, 2)
        out = (x * 2.0) @ w
        out += identity       # torchvision ResNet's `out += identity`, then relu
        return out.relu().sum()

    loss, gx, gw = _agree(_both(block))
    h = X @ W
    want = np.maximum(3 * h, 0).sum()
    assert abs(loss - want) < 1e-12 and np.abs(gx).sum() > 0


def test_consumers_before_the_change_see_the_old_value():
    def fn(lib, x, w):
        h = x * 2.0
        before = h.sum() * 3.0       # uses h (saving nothing), then h changes in place
        h.add_(w.sum())
        h.mul_(3.0)
        return before + h.sum()

    _agree(_both(fn))


def test_item_assignment_is_differentiable_in_the_tensor_and_the_value():
    def fn(lib, x, w):
        y = x * 1.0
        y[:, 1] = 0
        y[0, :2] = w[:2, 0] * 5.0
        y[1] = y[1] * 2.0
        return (y * y).sum()

    _agree(_both(fn))


def test_inplace_change_through_a_view_changes_the_base_in_the_graph():
    def fn(lib, x, w):
        y = x * 1.0
        y[1:].mul_(w[0, 0])
        y.view(-1)[0:2].add_(1.0)
        return (y * y).sum()

    _agree(_both(fn))


def test_masked_fill_fill_zero_and_copy_in_a_graph():
    def fn(lib, x, w):
        y = x * 1.0
        y.masked_fill_(y > 2, 0.0)
        z = (x * 2.0).clone()
        z.copy_(w.t())
        v = x.sum(1)
        v.fill_(1.5)
        return (y * y).sum() + (z * x).sum() + v.sum()

    _agree(_both(fn))


def _raises_both(fn, match):
    import importlib

    libs = [cr]
    try:
        libs.append(importlib.import_module("torch"))
    except ImportError:
        pass
    for lib in libs:
        with pytest.raises(RuntimeError, match=match):
            fn(lib)


def test_changing_a_saved_input_raises_at_backward():
    def fn(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1.0
        y = h * h            # saves h
        h.add_(1.0)          # allowed now...
        y.sum().backward()   # ...refused here

    _raises_both(fn, "modified by an inplace operation")


def test_changing_a_saved_output_raises_at_backward():
    def fn(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()          # saves its output
        y.add_(1.0)
        y.sum().backward()

    _raises_both(fn, "modified by an inplace operation")


def test_a_leaf_that_requires_grad_refuses_inplace_changes_and_so_does_its_view():
    _raises_both(lambda lib: lib.tensor([1.0], requires_grad=True).add_(1.0),
                 "a leaf Variable that requires grad is being used in an in-place operation")
    _raises_both(lambda lib: lib.tensor([1.0, 2.0], requires_grad=True)[0:1].mul_(2.0),
                 "view of a leaf Variable that requires grad")


def test_no_grad_updates_bump_the_version_and_the_optimizer_idiom_works():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    (p * p).sum().backward()
    assert p._version == 0
    with cr.no_grad():
        p.add_(p.grad, alpha=-0.25)
        p -= 0.25 * p.grad
    np.testing.assert_allclose(p.data, [0.0, 0.0])
    assert p._version == 2 and p.is_leaf and p.requires_grad
    d = p.detach()
    d.add_(1.0)  # detach shares the memory and the version counter, as in PyTorch
    assert p._version == 3 and p.data[0] == 1.0
    p.grad.zero_()
    np.testing.assert_array_equal(p.grad.data, [0.0, 0.0])


def test_inplace_dtype_and_shape_rules():
    i = cr.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(cr.tensor([0.5, 0.5], requires_grad=True) * 1.0)
    x = cr.tensor([1.0, 2.0]) * cr.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        x.add_(cr.ones(3, 2))


def test_inplace_on_expand_view_is_a_clear_error():
    y = cr.tensor([1.0, 2.0]).expand(3, 2)
    with pytest.raises((RuntimeError, ValueError)):
        y.add_(1.0)
