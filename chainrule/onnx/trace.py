"""Record one forward pass: the autograd graph from the output back to the input.

What this relies on (the smallest public surface of chainrule's autograd):
a tensor made by an op has `grad_fn` (None for leaves); `grad_fn.fn` is the
op's `Function` class and `grad_fn.inputs` the positional arguments given to
`Function.apply` (tensors and constants alike, in order). Ops are recorded
only when an input requires grad, so the example input is made to require it.

Each recorded tensor is attributed to the innermost module whose forward made
it (forward hooks), so that errors can name the module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import warnings

import numpy as np

from ..autograd import enable_grad
from ..nn.module import Module, kept_modes
from ..tensor import Tensor
from .errors import ExportError, TracerWarning


@dataclass
class Trace:
    """input: the traced input tensor; outputs: the model's output tensors; nodes: the
    recorded tensors (grad_fn set), inputs before outputs; owner: id(tensor) -> module path;
    modules: module path -> module; names: id(parameter or buffer array) -> state-dict key."""

    input: Tensor
    outputs: list[Tensor]
    nodes: list[Tensor]
    owner: dict[int, str] = field(default_factory=dict)
    modules: dict[str, Module] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def where(self, t: Tensor) -> str:
        """"module 'features.0' (Conv2d)": where tensor t was made."""
        path = self.owner.get(id(t), "")
        m = self.modules.get(path)
        kind = type(m).__name__ if m is not None else "?"
        return f"module '{path}' ({kind})" if path else f"the model's own forward ({kind})"


def _tensors(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)) and out and all(isinstance(o, Tensor) for o in out):
        return list(out)
    raise ExportError(f"the model must return a Tensor or a tuple of Tensors to be exported, "
                      f"got {type(out).__name__}")


def _parents(t: Tensor) -> list[Tensor]:
    return [a for a in t.grad_fn.inputs if isinstance(a, Tensor)] if t.grad_fn is not None else []


def _attribute(out: Any, stop: set[int], path: str, owner: dict[int, str]) -> None:
    """Give every not yet attributed op tensor between the module's inputs (`stop`) and its
    output to `path` (inner modules finish first, so they keep theirs)."""
    stack = [t for t in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(t, Tensor)]
    while stack:
        t = stack.pop()
        if t.grad_fn is None or id(t) in owner or id(t) in stop:
            continue
        owner[id(t)] = path
        stack.extend(_parents(t))


def _topological(outputs: list[Tensor]) -> list[Tensor]:
    """Op tensors behind `outputs`, inputs before outputs (iterative: deep nets)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(t, False) for t in reversed(outputs)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen or t.grad_fn is None:
            continue
        seen.add(id(t))
        stack.append((t, True))
        stack.extend((p, False) for p in reversed(_parents(t)) if id(p) not in seen)
    return order


def trace(model: Module, example: np.ndarray) -> Trace:
    """Run `model` in eval mode on `example` (restoring its train/eval flags after) and
    return the recorded graph."""
    modules = dict(model.named_modules())
    path_of = {id(m): p for p, m in modules.items()}
    owner: dict[int, str] = {}
    stack: list[set[int]] = []

    def pre(m, args):
        stack.append({id(a) for a in args if isinstance(a, Tensor)})

    def post(m, args, out):
        _attribute(out, stack.pop(), path_of.get(id(m), ""), owner)

    handles = [h for m in modules.values()
               for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    x = Tensor(np.asarray(example, dtype=np.float32), requires_grad=True)
    try:
        with kept_modes(model), enable_grad():
            model.eval()
            outputs = _tensors(model(x))
    finally:
        for h in handles:
            h.remove()
    nodes = _topological(outputs)
    if not any(id(x) in {id(p) for p in _parents(t)} for t in nodes):
        raise ExportError("the model's output does not depend on its input (nothing was recorded: "
                          "does forward detach, or call .numpy()/.data?)")
    names = {id(p): k for k, p in model.named_parameters()}
    names.update({id(b): k for k, b in model.named_buffers() if b is not None})
    tr = Trace(x, outputs, nodes, owner, modules, names)
    _warn_constants(tr)
    return tr


def _warn_constants(tr: Trace) -> None:
    """Tensors made inside forward without a graph (not parameters, not the input) are stored
    as they were for the example: wrong if they came from the input's values (e.g. `.data`)."""
    for t in tr.nodes:
        for a in _parents(t):
            if a.grad_fn is None and a is not tr.input and id(a) not in tr.names and a.data.size > 1:
                warnings.warn(f"{tr.where(t)}: a constant tensor of shape {a.shape}, made in forward, is stored "
                              "in the graph with its values for the example input; if it was computed from the "
                              "input (e.g. through .data), the exported model is wrong for other inputs",
                              TracerWarning, stacklevel=3)
                return
