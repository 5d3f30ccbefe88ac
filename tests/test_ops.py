"""Every built-in op: gradcheck in float64, and forward + backward equal to PyTorch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.diagnostics.grad_cases import OP_CASES as CASES


def _tensors(case, seed=0):
    return [cr.tensor(x, requires_grad=True) for x in case.inputs(seed)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gradcheck(case):
    assert cr.gradcheck(case.fn, _tensors(case))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    arrays = case.inputs(seed=1)
    ours = [cr.tensor(x, requires_grad=True) for x in arrays]
    theirs = [torch.tensor(x, requires_grad=True) for x in arrays]
    out, ref = case.fn(*ours), case.torch_fn(*theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)


# --- hypothesis: elementwise ops over random shapes and broadcasting pairs
_floats = st.floats(-3, 3, allow_nan=False, width=64)


@settings(deadline=None, max_examples=25)
@given(data=st.data(), op=st.sampled_from(["add", "sub", "mul", "div", "maximum"]))
def test_binary_broadcast_property(data, op):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=_floats))
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=_floats))
    if op == "div":
        b = np.abs(b) + 0.5
    if op == "maximum":
        b = b + 0.25 * (np.abs(a - b) < 0.01) if a.shape == b.shape else b  # stay off ties
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
          "div": lambda x, y: x / y, "maximum": cr.maximum}[op]
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    ref = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "maximum": np.maximum}[op](a, b)
    np.testing.assert_allclose(out.data, ref)
    out.sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    if op == "add":  # d/da sum(a + b) counts how often each a_i was broadcast
        np.testing.assert_allclose(ta.grad, np.ones_like(a) * (ref.size / max(a.size, 1)))


@settings(deadline=None, max_examples=25)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), elements=_floats),
       op=st.sampled_from(["exp", "tanh", "sigmoid", "square"]))
def test_unary_derivative_property(x, op):
    """The analytic gradient of each smooth unary op equals its known derivative."""
    t = cr.tensor(x, requires_grad=True)
    y = {"exp": t.exp, "tanh": t.tanh, "sigmoid": t.sigmoid, "square": lambda: t ** 2}[op]()
    y.sum().backward()
    expected = {
        "exp": np.exp(x),
        "tanh": 1 - np.tanh(x) ** 2,
        "sigmoid": np.exp(-x) / (1 + np.exp(-x)) ** 2,
        "square": 2 * x,
    }[op]
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12, atol=1e-15)


def test_sigmoid_is_stable_for_large_inputs():
    x = cr.tensor([-1000.0, 0.0, 1000.0], requires_grad=True, dtype="float64")
    y = x.sigmoid()
    np.testing.assert_allclose(y.data, [0.0, 0.5, 1.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.25, 0.0])


def test_max_splits_gradient_between_ties_like_torch_amax():
    x = cr.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [[0.0, 0.5, 0.5]])


def test_pad_numpy_style_equals_torch_style():
    x = cr.randn(1, 2, 3, 3)
    a = cr.pad(x, ((0, 0), (0, 0), (1, 1), (2, 0)))
    b = cr.pad(x, (2, 0, 1, 1))
    np.testing.assert_array_equal(a.data, b.data)
    assert a.shape == (1, 2, 5, 5)


# --- big arrays: ReLU and same-shape adds split between threads, in chunks
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_relu_and_add_equal_the_single_thread_result(dtype):
    from chainrule.ops import parallel

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3, 300, 301)).astype(dtype)  # > 1M elements, not a multiple of a chunk
    b = rng.standard_normal(a.shape).astype(dtype)
    g = rng.standard_normal(a.shape).astype(dtype)
    results = []
    for n in (1, 3):
        with parallel.threads(n):
            x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
            out = (x + y).relu()
            out.backward(g)
            results.append((out.data, x.grad, y.grad))
    (o1, gx1, gy1), (o3, gx3, gy3) = results
    assert o3.dtype == dtype and gx3.dtype == dtype
    np.testing.assert_array_equal(o3, o1)
    np.testing.assert_array_equal(o1, np.maximum(a + b, 0))
    np.testing.assert_array_equal(gx3, gx1)
    np.testing.assert_array_equal(gx3, g * (a + b > 0))
    np.testing.assert_array_equal(gy3, gx3)


def test_threaded_relu_keeps_nan_and_broadcast_add_still_works():
    from chainrule.ops import parallel

    a = np.random.default_rng(1).standard_normal((2, 1 << 20)).astype(np.float32)
    a[0, 5] = np.nan
    with parallel.threads(2):
        out = cr.tensor(a).relu()
        s = cr.tensor(a) + cr.tensor(np.ones((1, 1 << 20), np.float32))  # broadcast: NumPy's path
    assert np.isnan(out.data[0, 5])
    np.testing.assert_array_equal(s.data, a + 1)
