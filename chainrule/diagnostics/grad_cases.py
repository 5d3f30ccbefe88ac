"""The one table of gradient-check cases: every layer, loss and core op on tiny float64 inputs.

`chainrule gradcheck` (gradcheck_suite.py) runs CASES; the tests run the same table with
`cr.gradcheck` and compare OP_CASES with PyTorch through each case's `torch_fn`.

A case's setup(g) draws its inputs from the generator g and returns (fn, {name: tensor to
check}, input shape); fn() recomputes the output from the checked tensors (it closes over them).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import nn, ops, rng
from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["GradCase", "OpCase", "CASES", "OP_CASES", "draw"]


@dataclass
class GradCase:
    """name; kind ("layer", "loss" or "op"); setup(g) -> (fn, {name: tensor to check}, input shape)."""

    name: str
    kind: str
    setup: Callable[[np.random.Generator], tuple[Callable[[], Tensor], dict[str, Tensor], tuple]]


def draw(g: np.random.Generator, shape: tuple, away_from: float | None = None, positive: bool = False) -> np.ndarray:
    """Standard-normal float64 values; `positive` for log/sqrt/division; `away_from` nudges
    values off a kink (ReLU's 0, a clip bound) so that central differences are valid there."""
    x = g.standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    if away_from is not None:
        x = np.where(np.abs(x - away_from) < 0.05, x + 0.2 * np.sign(x - away_from + 1e-12), x)
    return x


@dataclass
class OpCase:
    """A core op: fn(*tensors) on inputs of `shapes`; torch_fn(*torch tensors) is how PyTorch
    spells it (the tests' oracle; it may call `torch_module()`, this module never imports torch)."""

    name: str
    fn: Callable[..., Tensor]
    torch_fn: Callable
    shapes: list[tuple]
    positive: bool = False
    away_from: float | None = None

    def inputs(self, seed: int | np.random.Generator = 0) -> list[np.ndarray]:
        g = np.random.default_rng(seed)
        return [draw(g, s, self.away_from, self.positive) for s in self.shapes]

    def grad_case(self) -> GradCase:
        def setup(g):
            xs = [Tensor(x, requires_grad=True) for x in self.inputs(g)]
            shape = self.shapes[0] if len(self.shapes) == 1 else tuple(self.shapes)
            return (lambda: self.fn(*xs)), {f"x{i}": x for i, x in enumerate(xs)}, shape
        return GradCase(self.name, "op", setup)


def torch_module():
    """PyTorch, imported when a comparison asks for it."""
    return importlib.import_module("torch")


# ------------------------------------------------------------------ layers and losses
def _layer(module_fn: Callable[[], nn.Module], shape: tuple, away_from: float | None = None,
           reseed: bool = False, train: bool = True):
    """A case for a module: checks the input and every parameter."""
    def setup(g):
        m = module_fn().double()
        for p in m.parameters():  # random, not the default init: biases of 0 would hide bugs
            p.data = g.standard_normal(p.shape) * 0.5
        m.train(train)
        x = Tensor(draw(g, shape, away_from), requires_grad=True)

        def fn():
            if reseed:
                rng.manual_seed(0)  # the same dropout mask in every evaluation
            return m(x)
        return fn, {"x": x, **dict(m.named_parameters())}, shape
    return setup


def _loss(loss_fn: Callable, shape: tuple, target: str = "class"):
    """target: "class" (indices), "value" (real numbers) or "probability" (in [0, 1])."""
    def setup(g):
        x = Tensor(draw(g, shape), requires_grad=True)
        y = {"class": lambda: g.integers(0, shape[1], size=shape[0]),
             "value": lambda: Tensor(g.standard_normal(shape)),
             "probability": lambda: Tensor(g.uniform(0, 1, shape))}[target]()
        return (lambda: loss_fn(x, y)), {"input": x}, shape
    return setup


def _svm_setup(g):
    # Keep every margin s_j - s_y + 1 away from the hinge's kink at 0.
    y = g.integers(0, 5, size=4)
    s = g.standard_normal((4, 5))
    m = s - s[np.arange(4), y][:, None] + 1.0
    s = np.where(np.abs(m) < 0.1, s + 0.3, s)
    x = Tensor(s, requires_grad=True)
    return (lambda: F.svm_loss(x, y)), {"input": x}, (4, 5)


def _penalty(fn: Callable):
    def setup(g):
        w1, w2 = (Tensor(draw(g, s, away_from=0.0), requires_grad=True) for s in ((3, 4), (5,)))
        return (lambda: fn([w1, w2])), {"w1": w1, "w2": w2}, ((3, 4), (5,))
    return setup


LAYER_CASES: list[GradCase] = [
    GradCase("Linear", "layer", _layer(lambda: nn.Linear(4, 3), (2, 4))),
    GradCase("Conv2d", "layer", _layer(lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5))),
    GradCase("Conv2d(stride=2)", "layer", _layer(lambda: nn.Conv2d(2, 2, 3, stride=2, padding=1), (1, 2, 5, 5))),
    GradCase("MaxPool2d", "layer", _layer(lambda: nn.MaxPool2d(2), (2, 2, 4, 4))),
    GradCase("AvgPool2d", "layer", _layer(lambda: nn.AvgPool2d(2), (2, 2, 4, 4))),
    GradCase("AdaptiveAvgPool2d", "layer", _layer(lambda: nn.AdaptiveAvgPool2d(2), (2, 2, 5, 5))),
    GradCase("BatchNorm1d", "layer", _layer(lambda: nn.BatchNorm1d(3), (5, 3))),
    GradCase("BatchNorm2d", "layer", _layer(lambda: nn.BatchNorm2d(2), (3, 2, 3, 3))),
    GradCase("BatchNorm2d(eval)", "layer", _layer(lambda: nn.BatchNorm2d(2), (2, 2, 3, 3), train=False)),
    GradCase("LocalResponseNorm", "layer", _layer(lambda: nn.LocalResponseNorm(3, alpha=0.1), (2, 4, 3, 3))),
    GradCase("Dropout", "layer", _layer(lambda: nn.Dropout(0.5), (3, 4), reseed=True)),
    GradCase("ReLU", "layer", _layer(nn.ReLU, (3, 4), away_from=0.0)),
    GradCase("LeakyReLU", "layer", _layer(lambda: nn.LeakyReLU(0.1), (3, 4), away_from=0.0)),
    GradCase("ELU", "layer", _layer(nn.ELU, (3, 4), away_from=0.0)),
    GradCase("Sigmoid", "layer", _layer(nn.Sigmoid, (3, 4))),
    GradCase("Tanh", "layer", _layer(nn.Tanh, (3, 4))),
    GradCase("Softmax", "layer", _layer(lambda: nn.Softmax(dim=1), (3, 4))),
    GradCase("LogSoftmax", "layer", _layer(lambda: nn.LogSoftmax(dim=1), (3, 4))),
    GradCase("Maxout", "layer", _layer(lambda: nn.Maxout(4, 3, pieces=2), (2, 4))),
    GradCase("Identity", "layer", _layer(nn.Identity, (2, 3))),
    GradCase("Flatten", "layer", _layer(nn.Flatten, (2, 2, 2, 2))),
]

LOSS_CASES: list[GradCase] = [
    GradCase("CrossEntropyLoss", "loss", _loss(nn.CrossEntropyLoss(), (4, 5))),
    GradCase("NLLLoss(sum)", "loss", _loss(nn.NLLLoss(reduction="sum"), (4, 5))),  # (issue 21: two rows, two names)
    GradCase("SVMLoss", "loss", _svm_setup),
    GradCase("MSELoss", "loss", _loss(nn.MSELoss(), (3, 4), target="value")),
    GradCase("NLLLoss", "loss", _loss(nn.NLLLoss(), (4, 5))),
    GradCase("BCEWithLogitsLoss", "loss",
             _loss(nn.BCEWithLogitsLoss(pos_weight=np.array([0.5, 1.0, 2.0, 3.0])), (3, 4), target="probability")),
    GradCase("l2_penalty", "loss", _penalty(F.l2_penalty)),
    GradCase("l1_penalty", "loss", _penalty(F.l1_penalty)),
    GradCase("elastic_net_penalty", "loss", _penalty(lambda ps: F.elastic_net_penalty(ps, 0.5))),
]


# ------------------------------------------------------------------ core ops
def _idx() -> np.ndarray:
    return np.array([0, 2, 1, 2])


def _iadd(x, y):
    x += y
    return x


def _setitem(x, index, value):
    x[index] = value
    return x


def _view_mul(x):
    x[1:].mul_(3.0)  # an in-place change through a view changes x
    return x * x


def _same(fn: Callable) -> tuple[Callable, Callable]:
    """An op spelled the same way for chainrule and torch tensors."""
    return fn, fn


OP_CASES: list[OpCase] = [
    # binary, with broadcasting pairs and scalars ()
    OpCase("add", *_same(lambda a, b: a + b), [(3, 4), (4,)]),
    OpCase("add_scalar_shape", *_same(lambda a, b: a + b), [(), (2, 3)]),
    OpCase("sub", *_same(lambda a, b: a - b), [(2, 1, 3), (4, 1)]),
    OpCase("mul", *_same(lambda a, b: a * b), [(3, 1), (1, 5)]),
    OpCase("mul_scalar", *_same(lambda a: 3.0 * a * 2), [(2, 3)]),
    OpCase("div", *_same(lambda a, b: a / b), [(2, 3), (3,)], positive=True),
    OpCase("rdiv", *_same(lambda a: 1.0 / a), [(4,)], positive=True),
    OpCase("rsub", *_same(lambda a: 1.0 - a), [(2, 2)]),
    OpCase("neg", *_same(lambda a: -a), [(3,)]),
    OpCase("pow", *_same(lambda a: a ** 3), [(2, 3)]),
    OpCase("pow_frac", *_same(lambda a: a ** 0.5), [(5,)], positive=True),
    OpCase("rpow", *_same(lambda a: 2.0 ** a), [(3,)]),
    OpCase("maximum", ops.maximum, lambda a, b: torch_module().maximum(a, b), [(3, 4), (4,)]),
    OpCase("minimum", ops.minimum, lambda a, b: torch_module().minimum(a, b), [(3, 4), (3, 1)]),
    # unary
    OpCase("exp", *_same(lambda a: a.exp()), [(2, 3)]),
    OpCase("log", *_same(lambda a: a.log()), [(2, 3)], positive=True),
    OpCase("sqrt", *_same(lambda a: a.sqrt()), [(2, 3)], positive=True),
    OpCase("abs", *_same(lambda a: a.abs()), [(2, 3)], away_from=0.0),
    OpCase("clip", lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), [(4, 5)], away_from=0.7),
    OpCase("relu", *_same(lambda a: a.relu()), [(3, 4)], away_from=0.0),
    OpCase("sigmoid", *_same(lambda a: a.sigmoid()), [(3, 4)]),
    OpCase("tanh", *_same(lambda a: a.tanh()), [(3, 4)]),
    OpCase("scalar_exp", *_same(lambda a: a.exp() * a), [()]),
    # reductions, with axis/keepdims and PyTorch's dim/keepdim
    OpCase("sum_all", *_same(lambda a: a.sum()), [(3, 4)]),
    OpCase("sum_axis", lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), [(3, 4, 2)]),
    OpCase("sum_dims_keep", *_same(lambda a: a.sum(dim=(0, 2), keepdim=True)), [(3, 4, 2)]),
    OpCase("mean", lambda a: a.mean(axis=0), lambda a: a.mean(dim=0), [(5, 3)]),
    OpCase("mean_all", *_same(lambda a: a.mean()), [(5, 3)]),
    OpCase("max_axis", lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [(4, 5)]),
    OpCase("max_all", lambda a: a.max(), lambda a: a.amax(), [(4, 5)]),
    OpCase("min_keep", lambda a: a.amin(dim=0, keepdim=True), lambda a: a.amin(dim=0, keepdim=True), [(4, 5)]),
    OpCase("var", lambda a: a.var(axis=1), lambda a: a.var(dim=1), [(4, 6)]),
    OpCase("var_biased_all", *_same(lambda a: a.var(correction=0)), [(3, 5)]),
    OpCase("std", lambda a: a.std(axis=0), lambda a: a.std(dim=0), [(6, 3)]),
    # matrix products, batched and 1-D
    OpCase("matmul", *_same(lambda a, b: a @ b), [(3, 4), (4, 5)]),
    OpCase("matmul_batched", *_same(lambda a, b: a @ b), [(2, 3, 4), (2, 4, 5)]),
    OpCase("matmul_broadcast", ops.matmul, lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]),
    OpCase("matmul_vec_right", *_same(lambda a, b: a @ b), [(2, 3, 4), (4,)]),
    OpCase("matmul_vec_left", *_same(lambda a, b: a @ b), [(4,), (2, 4, 3)]),
    OpCase("matmul_dot", *_same(lambda a, b: a @ b), [(5,), (5,)]),
    # shape ops
    OpCase("reshape", *_same(lambda a: a.reshape(6, 2) * 2), [(3, 4)]),
    OpCase("view", *_same(lambda a: a.view(-1)), [(3, 4)]),
    OpCase("transpose", *_same(lambda a: a.transpose(0, 2)), [(2, 3, 4)]),
    OpCase("T", *_same(lambda a: a.T @ a), [(3, 2)]),
    OpCase("permute", *_same(lambda a: a.permute(0, 2, 3, 1)), [(2, 3, 2, 2)]),
    OpCase("flatten", *_same(lambda a: a.flatten(1)), [(2, 3, 2, 2)]),
    OpCase("squeeze_unsqueeze", *_same(lambda a: a.squeeze(1).unsqueeze(0)), [(3, 1, 2)]),
    OpCase("getitem_slice", *_same(lambda a: a[1:, ::2]), [(4, 5)]),
    OpCase("getitem_int", *_same(lambda a: a[1] * a[2]), [(4, 3)]),
    OpCase("getitem_fancy", lambda a: a[np.arange(4), _idx()],
           lambda a: a[torch_module().arange(4), torch_module().tensor(_idx())], [(4, 3)]),
    OpCase("getitem_fancy_slice", lambda a: a[_idx(), 1:3], lambda a: a[torch_module().tensor(_idx()), 1:3], [(3, 4)]),
    OpCase("getitem_repeat", lambda a: a[np.array([0, 0, 2])], lambda a: a[[0, 0, 2]], [(3, 2)]),
    OpCase("getitem_bool", lambda a: a[np.array([True, False, True])],
           lambda a: a[torch_module().tensor([True, False, True])], [(3, 2)]),
    OpCase("cat", lambda a, b: ops.cat([a, b, a], dim=1), lambda a, b: torch_module().cat([a, b, a], dim=1),
           [(2, 3), (2, 1)]),
    OpCase("stack", lambda a, b: ops.stack([a, b], axis=1), lambda a, b: torch_module().stack([a, b], dim=1),
           [(2, 3), (2, 3)]),
    OpCase("pad_torch_style", lambda a: ops.pad(a, (1, 2, 0, 1)),
           lambda a: torch_module().nn.functional.pad(a, (1, 2, 0, 1)), [(2, 3, 3)]),
    OpCase("where", lambda a, b: ops.where(a.data > 0, a, b), lambda a, b: torch_module().where(a > 0, a, b),
           [(3, 4), (4,)]),
    # ops.device's ToDevice, both ways: a round trip through the host (the identity on the CPU)
    OpCase("to_device_round_trip", lambda a: ops.to_device(ops.to_device(a, "cpu"), a.device) * 2,
           lambda a: a.cpu().to(a.device) * 2, [(2, 3)]),
    # a small composite: the softmax loss written from primitives
    OpCase("logsumexp_composite",
           lambda s: ((s - s.max(axis=1, keepdims=True)).exp().sum(axis=1).log() + s.max(axis=1)).mean(),
           lambda s: torch_module().logsumexp(s, dim=1).mean(), [(4, 5)]),
    # issue 22 (h-22core): PyTorch's tensor surface
    OpCase("pow_tensor", *_same(lambda a, b: a ** b), [(2, 3), (3,)], positive=True),
    OpCase("rpow_tensor_base", *_same(lambda a: 2.0 ** a * a.pow(2)), [(3,)]),
    OpCase("sin", *_same(lambda a: a.sin()), [(2, 3)]),
    OpCase("cos", *_same(lambda a: a.cos()), [(2, 3)]),
    OpCase("tan", *_same(lambda a: a.tan()), [(2, 3)]),
    OpCase("max_dim_values", lambda a: a.max(1).values, lambda a: a.max(1).values, [(4, 5)]),
    OpCase("min_dim_keepdim", lambda a: a.min(dim=0, keepdim=True)[0], lambda a: a.min(dim=0, keepdim=True)[0],
           [(4, 5)]),
    OpCase("sort_desc", lambda a: a.sort(dim=0, descending=True).values * a,
           lambda a: a.sort(dim=0, descending=True).values * a, [(4, 3)]),
    OpCase("topk", lambda a: a.topk(2, dim=1).values, lambda a: a.topk(2, dim=1).values, [(3, 5)]),
    OpCase("gather", lambda a: a.gather(1, np.array([[0, 0], [2, 1], [1, 1]])),
           lambda a: a.gather(1, torch_module().tensor([[0, 0], [2, 1], [1, 1]])), [(3, 4)]),
    OpCase("prod_dim", *_same(lambda a: a.prod(1)), [(3, 4)]),
    OpCase("prod_all", *_same(lambda a: a.prod()), [(2, 3)]),
    OpCase("norm", *_same(lambda a: a.norm()), [(3, 4)]),
    OpCase("norm_dim_p1", *_same(lambda a: a.norm(p=1, dim=1)), [(3, 4)], away_from=0.0),
    OpCase("expand", *_same(lambda a: a.expand(2, 3, 4) * 1.5), [(3, 1)]),
    OpCase("repeat", *_same(lambda a: a.repeat(2, 1, 3)), [(2, 3)]),
    OpCase("chunk_split", lambda a: a.chunk(2, dim=1)[1] * a.split([1, 2], dim=0)[1].sum(),
           lambda a: a.chunk(2, dim=1)[1] * a.split([1, 2], dim=0)[1].sum(), [(3, 4)]),
    OpCase("unbind_narrow", lambda a: a.unbind(1)[2] + a.narrow(0, 1, 2).sum(0)[:3],
           lambda a: a.unbind(1)[2] + a.narrow(0, 1, 2).sum(0)[:3], [(3, 4)]),
    OpCase("index_select", lambda a: a.index_select(0, np.array([2, 0, 2])),
           lambda a: a.index_select(0, torch_module().tensor([2, 0, 2])), [(3, 2)]),
    OpCase("masked_fill", lambda a: a.masked_fill(a.data > 0, 0.5),
           lambda a: a.masked_fill(a > 0, 0.5), [(3, 4)]),
    OpCase("t_mm", *_same(lambda a, b: a.t().mm(b)), [(4, 3), (4, 2)]),
    OpCase("view_as_contiguous", *_same(lambda a, b: a.t().contiguous().view_as(b) * b), [(2, 3), (6,)]),
    # in-place forms inside a graph (on a non-leaf, as in a forward pass)
    OpCase("iadd_residual", lambda a, b: _iadd(a * 2, b).relu(), lambda a, b: _iadd(a * 2, b).relu(),
           [(3, 4), (4,)], away_from=0.0),
    OpCase("mul_inplace", *_same(lambda a, b: (a * 1).mul_(b).add_(a, alpha=2)), [(2, 3), (2, 3)]),
    OpCase("setitem", lambda a, b: _setitem(a * 1, (slice(None), 1), b), lambda a, b: _setitem(a * 1, (slice(None), 1), b),
           [(3, 4), (3,)]),
    OpCase("setitem_scalar_view", lambda a: _setitem(a * 1, (0,), 0.0) * a, lambda a: _setitem(a * 1, (0,), 0.0) * a,
           [(2, 3)]),
    OpCase("inplace_on_view", lambda a: _view_mul(a * 1), lambda a: _view_mul(a * 1), [(3, 4)]),
    OpCase("clamp_relu_inplace", *_same(lambda a: (a * 1).clamp_(-0.5, 0.5).relu_() * a), [(3, 4)], away_from=0.5),
]

# issue 22 (h-22surface): the PyTorch-surface layers and loss options
LAYER_CASES += [
    GradCase("Conv2d(padding='same', even kernel)", "layer", _layer(lambda: nn.Conv2d(2, 2, 4, padding="same"),
                                                                    (1, 2, 5, 4))),
    GradCase("Dropout2d", "layer", _layer(lambda: nn.Dropout2d(0.5), (3, 4, 2, 2), reseed=True)),
    GradCase("Unflatten", "layer", _layer(lambda: nn.Unflatten(1, (2, 3)), (2, 6))),
]
LOSS_CASES += [
    GradCase("CrossEntropyLoss(weight, ignore_index, label_smoothing)", "loss",
             _loss(nn.CrossEntropyLoss(weight=np.array([0.5, 1.0, 2.0, 1.5, 0.25]), ignore_index=1,
                                       label_smoothing=0.1), (4, 5))),
]

CASES: list[GradCase] = LAYER_CASES + LOSS_CASES + [op.grad_case() for op in OP_CASES]
