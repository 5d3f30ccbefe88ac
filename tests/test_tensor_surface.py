"""The Tensor and autograd surface PyTorch scripts use (issue 22): each call spelled as in
PyTorch runs on chainrule and, where torch is installed, gives torch's values."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

A = np.array([[1.0, -2.0, 3.0, 0.5], [4.0, 2.0, -6.0, 2.0], [0.0, 1.5, 1.5, -1.0]], dtype=np.float32)
B = np.array([[0.5, 1.0, -1.0, 2.0], [1.0, 1.0, 2.0, -3.0], [2.0, 0.0, 1.0, 1.0]], dtype=np.float32)

# name -> fn(lib, a, b): the same code for chainrule and torch
METHODS = {
    "pow": lambda L, a, b: a.pow(2) + a ** 3,
    "tensor_exponent": lambda L, a, b: a.abs() ** b.abs(),
    "eq_ne": lambda L, a, b: a.eq(b).long() + a.ne(2.0).long() + (a == a).long(),
    "lt_le_gt_ge": lambda L, a, b: a.lt(b).int() + a.le(b).int() + a.gt(0).int() + a.ge(b).int(),
    "t_mm_matmul": lambda L, a, b: a.t().mm(b) + a.t().matmul(b),
    "type_cast": lambda L, a, b: a.type(L.float64) * 2 + a.long().double(),
    "contiguous_view_as": lambda L, a, b: a.t().contiguous().view_as(b),
    "mul_add_sub_div": lambda L, a, b: a.mul(b).add(b, alpha=2).sub(1.0).div(2.0),
    "fill_zero_inplace": lambda L, a, b: a.clone().fill_(3.0) + b.clone().zero_(),
    "add_inplace_alpha": lambda L, a, b: a.clone().add_(b, alpha=-0.5).mul_(2).sub_(b).div_(4),
    "clamp": lambda L, a, b: a.clamp(min=-1.0, max=2.0) + a.clamp(max=0.0) + a.clamp_min(0.5),
    "abs_sqrt_exp_log": lambda L, a, b: a.abs().sqrt() + a.exp().log() + a.sin() + a.cos() + a.tanh() + a.sigmoid(),
    "reductions_dim": lambda L, a, b: a.sum(dim=1, keepdim=True) + a.mean(1, keepdim=True) + a.std(dim=1, keepdim=True),
    "var_all": lambda L, a, b: a.var() + a.std(),
    "argmax_argmin": lambda L, a, b: a.argmax(dim=1) + a.argmin(1) * 10 + a.argmax(),
    "all_any": lambda L, a, b: (a > -10).all().long() + (a > 5).any().long() + (a > 0).all(dim=1).long(),
    "expand_repeat": lambda L, a, b: a[:, :1].expand(3, 4) + a[:1].expand(3, -1) + a[:1, :2].repeat(3, 2),
    "unsqueeze_squeeze_permute_flatten": lambda L, a, b: a.unsqueeze(0).unsqueeze(-1).permute(3, 0, 2, 1)
    .squeeze(0).flatten(),
    "chunk_split": lambda L, a, b: L.cat(a.chunk(2, dim=1)[::-1], dim=1) + L.cat(a.split(1, 0)[::-1], 0),
    "masked_fill_where": lambda L, a, b: a.masked_fill(a < 0, 0.0) + L.where(a > b, a, b) + a.where(a > 0, b),
    "max_min_values": lambda L, a, b: a.max() + a.min() + L.max(a, b) + L.min(a, b),
    "norm_prod": lambda L, a, b: a.norm() + a.norm(p=1, dim=1).sum() + a.prod(dim=0).sum(),
    "gather_index_select": lambda L, a, b: a.gather(1, L.tensor([[0, 3], [1, 1], [2, 0]])).sum()
    + a.index_select(1, L.tensor([3, 0])).sum(),
    "torch_functions": lambda L, a, b: L.sin(a) + L.cos(b) + L.exp(a / 4) + L.mm(a, b.t()).sum() + L.pow(a, 2)
    + L.argmax(a, dim=1).unsqueeze(1),
    "floor_round_sign": lambda L, a, b: L.floor(a / 3) + (a / 3).round() + a.sign(),
    "isclose_isnan": lambda L, a, b: L.isclose(a, b).long() + L.isnan(a).long() + L.isfinite(a).long(),
}


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", list(METHODS))
def test_method_matches_torch(name):
    torch = _torch()
    ours = METHODS[name](cr, cr.tensor(A), cr.tensor(B))
    theirs = METHODS[name](torch, torch.tensor(A), torch.tensor(B))
    assert tuple(ours.shape) == tuple(theirs.shape), name
    assert np.dtype(ours.dtype) == np.dtype(str(theirs.dtype).replace("torch.", "")), name
    np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_over_a_dim_return_named_values_and_indices(name):
    torch = _torch()
    x = np.array([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]], dtype=np.float32)
    ours = getattr(cr, name)(cr.tensor(x, requires_grad=True), 1)
    theirs = getattr(torch, name)(torch.tensor(x, requires_grad=True), 1)
    _, predicted = ours  # the classification tutorials' unpacking
    assert type(ours).__name__ == name and predicted is ours.indices and ours[0] is ours.values
    np.testing.assert_array_equal(ours.values.data, theirs.values.detach().numpy())
    np.testing.assert_array_equal(ours.indices.data, theirs.indices.numpy())  # the first of ties
    k = getattr(cr.tensor(x), name)(dim=0, keepdim=True)
    assert k.values.shape == (1, 3) and k.indices.dtype == cr.long


def test_sort_topk_argsort_match_torch_with_ties():
    torch = _torch()
    x = np.array([[3.0, 1.0, 3.0, 2.0], [0.0, 0.0, -1.0, 5.0]], dtype=np.float32)
    for kw in ({}, {"descending": True}, {"dim": 0}):
        o, t = cr.tensor(x).sort(**kw), torch.tensor(x).sort(stable=True, **kw)
        np.testing.assert_array_equal(o.values.data, t.values.numpy())
        np.testing.assert_array_equal(o.indices.data, t.indices.numpy())
    o, t = cr.topk(cr.tensor(x), 2), torch.topk(torch.tensor(x), 2)
    np.testing.assert_array_equal(o.values.data, t.values.numpy())
    o = cr.tensor(x).topk(3, dim=1, largest=False)
    t = torch.tensor(x).topk(3, dim=1, largest=False)
    np.testing.assert_array_equal(o.values.data, t.values.numpy())
    np.testing.assert_array_equal(cr.argsort(cr.tensor(x), dim=1).data, torch.argsort(torch.tensor(x), dim=1,
                                                                                         stable=True).numpy())


def test_dtype_names_compare_and_print_as_torchs():
    assert repr(cr.float32) == "chainrule.float32" and repr(cr.long) == "chainrule.int64"
    assert cr.float is cr.float32 and cr.double is cr.float64 and cr.long is cr.int64
    x = cr.tensor([1.0, 2.0])
    assert x.dtype == cr.float32 and x.dtype != cr.float64 and cr.float32 == np.float32
    assert x.long().dtype == cr.long and x.double().dtype == cr.double and x.bool().dtype == cr.bool
    assert x.int().dtype == cr.int32 and x.byte().dtype == cr.uint8 and x.half().dtype == cr.float16
    assert x.type() == "chainrule.FloatTensor" and x.long().type() == "chainrule.LongTensor"
    assert x.type(cr.float64).dtype == cr.float64 and x.type("torch.LongTensor").dtype == cr.long
    assert np.zeros(2, dtype=cr.float64).dtype == np.float64  # NumPy takes them as dtypes
    assert {cr.float32: 1}[np.dtype(np.float32)] == 1


def test_size_is_a_tuple_that_prints_as_torchs():
    x = cr.zeros(2, 3, 4)
    s = x.size()
    assert isinstance(s, tuple) and s == (2, 3, 4) and s == cr.Size([2, 3, 4])
    assert repr(s) == "chainrule.Size([2, 3, 4])" and s.numel() == 24 and x.size(1) == 3 and x.size(-1) == 4
    assert repr(s[1:]) == "chainrule.Size([3, 4])" and x.numel() == 24 and x.dim() == 3


def test_factories_match_torch():
    torch = _torch()
    for ours, theirs in [
        (cr.linspace(-1, 1, 5), torch.linspace(-1, 1, 5)),
        (cr.eye(3), torch.eye(3)), (cr.eye(2, 3), torch.eye(2, 3)),
        (cr.full((2, 3), 1.5), torch.full((2, 3), 1.5)), (cr.full((2,), 7), torch.full((2,), 7)),
        (cr.full((2,), True), torch.full((2,), True)),
        (cr.arange(5), torch.arange(5)), (cr.arange(0, 1, 0.25), torch.arange(0, 1, 0.25)),
        (cr.zeros(2, 3, dtype=cr.long), torch.zeros(2, 3, dtype=torch.long)),
        (cr.empty(2, 3).shape, torch.empty(2, 3).shape),
    ]:
        if isinstance(ours, tuple):
            assert ours == tuple(theirs)
            continue
        assert ours.shape == tuple(theirs.shape) and np.dtype(ours.dtype).name == str(theirs.dtype).split(".")[1]
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_random_factories_shapes_dtypes_ranges_and_seed():
    cr.manual_seed(3)
    r = cr.randint(0, 10, (1000,))
    assert r.dtype == cr.int64 and r.shape == (1000,) and 0 <= int(r.min()) and int(r.max()) < 10
    assert cr.randint(5, (2, 2)).shape == (2, 2)
    x = cr.randn(2, 3, dtype=cr.float64)
    for f in (cr.rand_like, cr.randn_like, cr.zeros_like, cr.ones_like, cr.empty_like):
        y = f(x)
        assert y.shape == x.shape and y.dtype == cr.float64
    assert cr.full_like(x, 2.0).data.sum() == 12.0
    assert sorted(cr.randperm(6).tolist()) == list(range(6))
    cr.manual_seed(3)
    assert cr.randint(0, 10, (1000,)).equal(r)


def test_from_numpy_shares_memory_and_as_tensor():
    a = np.arange(4.0)
    t = cr.from_numpy(a)
    a[0] = 10.0
    assert t[0].item() == 10.0 and t.dtype == cr.float64
    assert cr.as_tensor(t) is t and cr.as_tensor([1, 2]).dtype == cr.long and cr.is_tensor(t)
    with pytest.raises(TypeError, match="expected np.ndarray"):
        cr.from_numpy([1.0])


def test_backward_with_gradient_and_grad_fn_graph_match_torch():
    torch = _torch()
    names = []
    for lib in (cr, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * x + x
        y.backward(gradient=lib.tensor([1.0, 0.5, 2.0]))
        names.append((y.grad_fn.name(), [type(f).__name__ if f.__class__.__name__ == "AccumulateGrad" else f.name()
                                         for f, _ in y.grad_fn.next_functions], np.asarray(x.grad).tolist()))
        assert repr(y.grad_fn).startswith("<AddBackward0 object at")
        leaf = y.grad_fn.next_functions[0][0].next_functions[0][0]
        assert leaf.variable is x
    assert names[0] == names[1]


def test_out_argument_and_its_refusal_with_grad():
    out = cr.zeros(2)
    r = cr.add(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]), out=out)
    assert r is out and out.tolist() == [4.0, 6.0]
    vals, idx = cr.zeros(2), cr.zeros(2, dtype=cr.long)
    cr.max(cr.tensor([[1.0, 3.0], [5.0, 2.0]]), 1, out=(vals, idx))
    assert vals.tolist() == [3.0, 5.0] and idx.tolist() == [1, 0]
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic differentiation"):
        cr.mul(cr.tensor([1.0], requires_grad=True), 2.0, out=cr.zeros(1))


def test_format_iteration_and_item():
    loss = cr.tensor(0.123456)
    assert f"{loss:.3f}" == "0.123" and f"{loss.item():.2f}" == "0.12"
    rows = list(cr.tensor([[1, 2], [3, 4]]))
    assert len(rows) == 2 and rows[1].tolist() == [3, 4]
    with pytest.raises(TypeError):
        iter(cr.tensor(1.0))
