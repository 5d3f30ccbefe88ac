"""One table of op cases shared by the gradcheck test and the PyTorch comparison.

Each case: a name, the chainrule function, the equivalent torch function, and
the shapes of the inputs (all float64 tensors that require grad). `positive`
marks ops defined only for positive inputs (log, sqrt, division).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import chainrule as cr


@dataclass
class OpCase:
    name: str
    fn: Callable
    torch_fn: Callable
    shapes: list[tuple]
    positive: bool = False
    away_from: float | None = None  # keep inputs away from a kink (abs, relu, clip bounds)
    extra: dict = field(default_factory=dict)

    def inputs(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        out = []
        for s in self.shapes:
            x = rng.standard_normal(s)
            if self.positive:
                x = np.abs(x) + 0.5
            if self.away_from is not None:
                # nudge values off the kink so central differences are valid
                x = np.where(np.abs(x - self.away_from) < 0.05, x + 0.2, x)
            out.append(x)
        return out


def _idx():
    return np.array([0, 2, 1, 2])


CASES = [
    # binary, with broadcasting pairs and scalars ()
    OpCase("add", lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (4,)]),
    OpCase("add_scalar_shape", lambda a, b: a + b, lambda a, b: a + b, [(), (2, 3)]),
    OpCase("sub", lambda a, b: a - b, lambda a, b: a - b, [(2, 1, 3), (4, 1)]),
    OpCase("mul", lambda a, b: a * b, lambda a, b: a * b, [(3, 1), (1, 5)]),
    OpCase("mul_scalar", lambda a: 3.0 * a * 2, lambda a: 3.0 * a * 2, [(2, 3)]),
    OpCase("div", lambda a, b: a / b, lambda a, b: a / b, [(2, 3), (3,)], positive=True),
    OpCase("rdiv", lambda a: 1.0 / a, lambda a: 1.0 / a, [(4,)], positive=True),
    OpCase("rsub", lambda a: 1.0 - a, lambda a: 1.0 - a, [(2, 2)]),
    OpCase("neg", lambda a: -a, lambda a: -a, [(3,)]),
    OpCase("pow", lambda a: a ** 3, lambda a: a ** 3, [(2, 3)]),
    OpCase("pow_frac", lambda a: a ** 0.5, lambda a: a ** 0.5, [(5,)], positive=True),
    OpCase("rpow", lambda a: 2.0 ** a, lambda a: 2.0 ** a, [(3,)]),
    OpCase("maximum", lambda a, b: cr.maximum(a, b), lambda a, b: __import__("torch").maximum(a, b), [(3, 4), (4,)]),
    OpCase("minimum", lambda a, b: cr.minimum(a, b), lambda a, b: __import__("torch").minimum(a, b), [(3, 4), (3, 1)]),
    # unary
    OpCase("exp", lambda a: a.exp(), lambda a: a.exp(), [(2, 3)]),
    OpCase("log", lambda a: a.log(), lambda a: a.log(), [(2, 3)], positive=True),
    OpCase("sqrt", lambda a: a.sqrt(), lambda a: a.sqrt(), [(2, 3)], positive=True),
    OpCase("abs", lambda a: a.abs(), lambda a: a.abs(), [(2, 3)], away_from=0.0),
    OpCase("clip", lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), [(4, 5)], away_from=0.7),
    OpCase("relu", lambda a: a.relu(), lambda a: a.relu(), [(3, 4)], away_from=0.0),
    OpCase("sigmoid", lambda a: a.sigmoid(), lambda a: a.sigmoid(), [(3, 4)]),
    OpCase("tanh", lambda a: a.tanh(), lambda a: a.tanh(), [(3, 4)]),
    OpCase("scalar_exp", lambda a: a.exp() * a, lambda a: a.exp() * a, [()]),
    # reductions, with axis/keepdims and PyTorch's dim/keepdim
    OpCase("sum_all", lambda a: a.sum(), lambda a: a.sum(), [(3, 4)]),
    OpCase("sum_axis", lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), [(3, 4, 2)]),
    OpCase("sum_dims_keep", lambda a: a.sum(dim=(0, 2), keepdim=True),
           lambda a: a.sum(dim=(0, 2), keepdim=True), [(3, 4, 2)]),
    OpCase("mean", lambda a: a.mean(axis=0), lambda a: a.mean(dim=0), [(5, 3)]),
    OpCase("mean_all", lambda a: a.mean(), lambda a: a.mean(), [(5, 3)]),
    OpCase("max_axis", lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [(4, 5)]),
    OpCase("max_all", lambda a: a.max(), lambda a: a.amax(), [(4, 5)]),
    OpCase("min_keep", lambda a: a.min(dim=0, keepdim=True), lambda a: a.amin(dim=0, keepdim=True), [(4, 5)]),
    OpCase("var", lambda a: a.var(axis=1), lambda a: a.var(dim=1), [(4, 6)]),
    OpCase("var_biased_all", lambda a: a.var(correction=0), lambda a: a.var(correction=0), [(3, 5)]),
    OpCase("std", lambda a: a.std(axis=0), lambda a: a.std(dim=0), [(6, 3)]),
    # matrix products, batched and 1-D
    OpCase("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 5)]),
    OpCase("matmul_batched", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (2, 4, 5)]),
    OpCase("matmul_broadcast", lambda a, b: cr.matmul(a, b), lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]),
    OpCase("matmul_vec_right", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4,)]),
    OpCase("matmul_vec_left", lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (2, 4, 3)]),
    OpCase("matmul_dot", lambda a, b: a @ b, lambda a, b: a @ b, [(5,), (5,)]),
    # shape ops
    OpCase("reshape", lambda a: a.reshape(6, 2) * 2, lambda a: a.reshape(6, 2) * 2, [(3, 4)]),
    OpCase("view", lambda a: a.view(-1), lambda a: a.view(-1), [(3, 4)]),
    OpCase("transpose", lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), [(2, 3, 4)]),
    OpCase("T", lambda a: a.T @ a, lambda a: a.T @ a, [(3, 2)]),
    OpCase("permute", lambda a: a.permute(0, 2, 3, 1), lambda a: a.permute(0, 2, 3, 1), [(2, 3, 2, 2)]),
    OpCase("flatten", lambda a: a.flatten(1), lambda a: a.flatten(1), [(2, 3, 2, 2)]),
    OpCase("squeeze_unsqueeze", lambda a: a.squeeze(1).unsqueeze(0), lambda a: a.squeeze(1).unsqueeze(0), [(3, 1, 2)]),
    OpCase("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], [(4, 5)]),
    OpCase("getitem_int", lambda a: a[1] * a[2], lambda a: a[1] * a[2], [(4, 3)]),
    OpCase("getitem_fancy", lambda a: a[np.arange(4), _idx()],
           lambda a: a[__import__("torch").arange(4), __import__("torch").tensor(_idx())], [(4, 3)]),
    OpCase("getitem_repeat", lambda a: a[np.array([0, 0, 2])], lambda a: a[[0, 0, 2]], [(3, 2)]),
    OpCase("getitem_bool", lambda a: a[np.array([True, False, True])],
           lambda a: a[__import__("torch").tensor([True, False, True])], [(3, 2)]),
    OpCase("cat", lambda a, b: cr.cat([a, b, a], dim=1), lambda a, b: __import__("torch").cat([a, b, a], dim=1),
           [(2, 3), (2, 1)]),
    OpCase("stack", lambda a, b: cr.stack([a, b], axis=1), lambda a, b: __import__("torch").stack([a, b], dim=1),
           [(2, 3), (2, 3)]),
    OpCase("pad_torch_style", lambda a: cr.pad(a, (1, 2, 0, 1)),
           lambda a: __import__("torch").nn.functional.pad(a, (1, 2, 0, 1)), [(2, 3, 3)]),
    OpCase("where", lambda a, b: cr.where(a.data > 0, a, b),
           lambda a, b: __import__("torch").where(a > 0, a, b), [(3, 4), (4,)]),
    # a small composite: the softmax loss written from primitives
    OpCase("logsumexp_composite",
           lambda s: ((s - s.max(axis=1, keepdims=True)).exp().sum(axis=1).log() + s.max(axis=1)).mean(),
           lambda s: __import__("torch").logsumexp(s, dim=1).mean(), [(4, 5)]),
]
