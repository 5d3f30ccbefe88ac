"""The engine: worked examples, accumulation, graph release, no_grad, dtypes, errors, Function."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main as cli_main


def test_lecture_example_add_multiply():
    x, y, z = (cr.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    q = x + y
    q.retain_grad()
    f = q * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad, y.grad, z.grad, q.grad) == (-4.0, -4.0, 3.0, -4.0)


def test_lecture_example_sigmoid_neuron():
    w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True, dtype="float64")
    x = cr.tensor([-1.0, -2.0], requires_grad=True, dtype="float64")
    f = 1.0 / (1.0 + cr.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))
    f.backward()
    s = 1 / (1 + np.exp(-1.0))
    assert f.item() == pytest.approx(0.7310585786)
    # the lecture: dw = [-0.2, -0.39, 0.2], dx = [0.39, -0.59]
    np.testing.assert_allclose(w.grad, [-1 * s * (1 - s), -2 * s * (1 - s), s * (1 - s)])
    np.testing.assert_allclose(x.grad, [2 * s * (1 - s), -3 * s * (1 - s)])
    np.testing.assert_allclose(np.round(w.grad, 2), [-0.20, -0.39, 0.20])
    np.testing.assert_allclose(np.round(x.grad, 2), [0.39, -0.59])


def test_reused_node_receives_sum_of_gradients():
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x + x  # x used three times
    y.backward()
    assert x.grad == 7.0


def test_gradients_accumulate_across_backward_calls_and_zero():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_second_backward_through_released_graph_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_backward_on_non_scalar_needs_grad_and_names_shape():
    x = cr.randn(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        y.backward()
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_backward_grad_of_wrong_shape():
    y = cr.randn(2, 3, requires_grad=True) * 1
    with pytest.raises(ValueError, match=r"expects shape \(2, 3\), got \(3,\)"):
        y.backward(np.ones(3))


def test_no_grad_as_context_and_decorator():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None

    @cr.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert cr.is_grad_enabled()
    assert (x * 2).requires_grad


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ZeroDivisionError):
        with cr.no_grad():
            1 / 0
    assert cr.is_grad_enabled()


def test_dtype_preserved_through_ops_and_gradients():
    for dt in (cr.float32, cr.float64):
        x = cr.randn(3, 4, dtype=dt, requires_grad=True)
        w = cr.randn(4, 2, dtype=dt, requires_grad=True)
        y = ((x @ w).relu() * 2.0 + 1).exp().mean()
        assert y.dtype == dt
        y.backward()
        assert x.grad.dtype == dt and w.grad.dtype == dt


def test_default_dtype_and_integer_tensors():
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor(np.zeros(2)).dtype == np.float64  # ndarrays keep their dtype, as in torch.tensor
    assert cr.arange(5).dtype == np.int64 and cr.arange(0.0, 1.0, 0.5).dtype == np.float32
    cr.set_default_dtype("float64")
    try:
        assert cr.tensor([1.0]).dtype == np.float64 and cr.zeros(2).dtype == np.float64
    finally:
        cr.set_default_dtype(np.float32)
    with pytest.raises(TypeError, match="floating-point"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError):
        cr.set_default_dtype("int64")


def test_labels_index_scores_cs231n_style():
    scores = cr.randn(4, 3, requires_grad=True, dtype="float64")
    y = cr.tensor([0, 2, 1, 2])
    picked = scores[np.arange(4), y]
    np.testing.assert_array_equal(picked.data, scores.data[np.arange(4), y.data])
    picked.sum().backward()
    expected = np.zeros((4, 3))
    expected[np.arange(4), y.data] = 1
    np.testing.assert_array_equal(scores.grad, expected)


def test_matmul_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        cr.randn(2, 3) @ cr.randn(4, 5)


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*\(4,\)"):
        cr.randn(2, 3).reshape(4)


def test_tensor_basics():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.shape == (2, 2) and t.ndim == 2 and len(t) == 2 and t.dtype == np.float32
    assert np.asarray(t).shape == (2, 2)
    assert "requires_grad=True" in repr(t) and "tensor(" in repr(t)
    assert "grad_fn=<AddBackward0>" in repr(t + 1)
    d = t.detach()
    assert not d.requires_grad and d.data is t.data
    with pytest.raises(RuntimeError, match="detach"):
        t.numpy()
    assert d.numpy() is t.data
    assert cr.tensor(3.5).item() == 3.5
    with pytest.raises(ValueError):
        t.item()
    # ndarray on the left dispatches to the tensor's reflected operator
    out = np.ones((2, 2)) + t
    assert isinstance(out, cr.Tensor) and out.requires_grad


def test_manual_seed_reproduces_every_draw():
    cr.manual_seed(123)
    a = cr.randn(5).data.copy()
    b = cr.rand(3).data.copy()
    cr.manual_seed(123)
    np.testing.assert_array_equal(cr.randn(5).data, a)
    np.testing.assert_array_equal(cr.rand(3).data, b)
    state = cr.get_rng_state()
    c = cr.randn(4).data.copy()
    cr.set_rng_state(state)
    np.testing.assert_array_equal(cr.randn(4).data, c)


def test_custom_function_api_like_pytorch():
    class Cube(cr.Function):
        @staticmethod
        def forward(ctx, a, scale):
            ctx.save_for_backward(a)
            ctx.scale = scale
            return scale * a ** 3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * ctx.scale * a ** 2 * g, None

    x = cr.tensor([1.0, -2.0], requires_grad=True, dtype="float64")
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "CubeBackward0"
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 24.0])
    assert cr.gradcheck(lambda t: Cube.apply(t, 2.0), [cr.randn(3, dtype="float64", requires_grad=True)])


def test_gradcheck_catches_a_wrong_backward():
    class BadSquare(cr.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return a * g  # should be 2 a g

    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
    with pytest.raises(cr.GradcheckError, match=r"input 0 \(shape \(2, 2\)\) at index \(\d, \d\)") as err:
        cr.gradcheck(BadSquare.apply, [x])
    import re
    analytic, numerical = map(float, re.search(r"analytic (\S+), numerical (\S+)", str(err.value)).groups())
    assert numerical == pytest.approx(2 * analytic, rel=1e-6)  # the missing factor 2


def test_numerical_gradient_for_teaching():
    x = np.array([1.0, -2.0, 3.0])
    g = cr.numerical_gradient(lambda v: np.sum(v ** 2), x)
    np.testing.assert_allclose(g, 2 * x, atol=1e-6)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])  # restored


def test_graph_dot_lists_ops_and_edges():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    loss = (x * w).sum()
    dot = cr.graph_dot(loss, names={"x": x, "w": w})
    assert dot.startswith("digraph")
    assert dot.count("->") == 3  # x->Mul, w->Mul, Mul->Sum
    assert 'label="Mul\\n2"' in dot and 'label="Sum\\nscalar"' in dot and 'label="x\\n2"' in dot


def test_deep_graph_does_not_hit_recursion_limit():
    x = cr.tensor(1.0, requires_grad=True, dtype="float64")
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 5000)


def test_cli_demo_prints_both_examples(capsys, tmp_path):
    assert cli_main(["demo", "--dot", str(tmp_path / "g.dot")]) == 0
    out = capsys.readouterr().out
    assert "df/dx = df/dq * dq/dx = -4" in out and "df/dz = q = 3" in out
    assert "df/dw = [-0.1966, -0.3932, 0.1966]" in out and "df/dx = [0.3932, -0.5898]" in out
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


def test_leaf_gradients_never_alias_each_other_or_the_callers_array():
    # Add hands the same upstream array to both inputs; each leaf must get its own.
    a = cr.tensor([[1.0, 2.0]], requires_grad=True)
    b = cr.tensor([[3.0, 4.0]], requires_grad=True)
    s = a + b
    g = np.ones((1, 2), dtype=np.float32)
    s.backward(g)
    assert not np.shares_memory(a.grad.data, b.grad.data) and not np.shares_memory(a.grad.data, g)
    a.grad *= 0  # e.g. gradient clipping in place
    np.testing.assert_array_equal(b.grad, [[1.0, 1.0]])
    np.testing.assert_array_equal(g, [[1.0, 1.0]])
    # a leaf whose gradient is a fresh array takes it over (no copy), and it is writeable
    x = cr.randn(3, 4, requires_grad=True)
    (x * 2.0).sum().backward()
    assert x.grad.data.flags.writeable and x.grad.data.flags.owndata
    np.testing.assert_array_equal(x.grad, np.full((3, 4), 2.0))


def test_second_gradient_added_in_place_never_touches_shared_arrays():
    # h feeds two ops: its two gradients are summed, in place when only the engine holds the first.
    x = cr.tensor(np.arange(6.0).reshape(2, 3) - 2, requires_grad=True, dtype=np.float64)
    h = x * 2.0
    ((h.relu() * 3.0) + h * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad, 2.0 * (3.0 * (x.data * 2 > 0) + 5.0))
    # x + x + x: Add hands one upstream array to both inputs; the caller's gradient stays as it was
    y = cr.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([1.0, 10.0], np.float32)
    (y + y + y).backward(g)
    np.testing.assert_array_equal(y.grad, [3.0, 30.0])
    np.testing.assert_array_equal(g, [1.0, 10.0])
    # a retained intermediate gradient is a copy: later accumulation does not change it
    a = cr.tensor([1.0, -1.0], requires_grad=True)
    b = a * 1.0
    b.retain_grad()
    (b * 2.0 + b * 3.0).sum().backward()
    np.testing.assert_array_equal(b.grad, [5.0, 5.0])
    np.testing.assert_array_equal(a.grad, [5.0, 5.0])


def test_keep_freed_memory_can_be_switched_off(monkeypatch):
    from chainrule.ops import memory

    monkeypatch.setenv("CHAINRULE_KEEP_FREED_MEMORY", "0")
    assert memory.keep_freed_memory() is False
    assert isinstance(memory.KEPT, bool)


# ------------------------------------------------------------ .grad is a Tensor (issue 22)
def test_grad_is_a_tensor_that_numpy_reads_and_zero_clears():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, cr.Tensor) and not x.grad.requires_grad and x.grad.grad_fn is None
    np.testing.assert_array_equal(np.asarray(x.grad), [2.0, 4.0, 6.0])
    assert repr(x.grad) == "tensor([2., 4., 6.])"
    g = x.grad
    (x * 3.0).sum().backward()  # accumulates into the same Tensor, as PyTorch's
    assert x.grad is g
    np.testing.assert_array_equal(g.data, [5.0, 7.0, 9.0])
    assert x.grad.zero_() is g
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])


def test_the_old_sgd_idiom_on_data_still_works():
    w = cr.tensor([1.0, -2.0], requires_grad=True)
    (w * w).sum().backward()
    w.data -= 0.25 * w.grad.data
    np.testing.assert_array_equal(w.data, [0.5, -1.0])
    with cr.no_grad():
        w -= 0.25 * w.grad  # the Tensor form, under no_grad
    np.testing.assert_array_equal(w.data, [0.0, 0.0])


def test_assigning_grad_wraps_arrays_and_checks_type_and_shape():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    p.grad = np.array([0.5, 0.5], np.float32)
    assert isinstance(p.grad, cr.Tensor)
    np.testing.assert_array_equal(p.grad.data, [0.5, 0.5])
    with pytest.raises(RuntimeError, match="different size"):
        p.grad = cr.zeros(3)
    with pytest.raises(TypeError, match="Tensor or None"):
        p.grad = [1.0, 2.0]
    p.grad = None
    assert p.grad is None


def test_grad_matches_torch():
    torch = pytest.importorskip("torch")
    x = cr.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    xt = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    for a in (x, xt):
        (a * a * a).sum().backward()
        a.grad.zero_()
        (a * 2.0).sum().backward()
    assert type(xt.grad).__name__ == "Tensor" and type(x.grad).__name__ == "Tensor"
    np.testing.assert_array_equal(np.asarray(x.grad), xt.grad.numpy())
