"""`graph_dot`: the computational graph behind a tensor, as Graphviz DOT text.

Draw it with `dot -Tpng graph.dot -o graph.png` to see the picture the
lecture draws: one box per op (with its output shape), one ellipse per leaf.
"""
from __future__ import annotations

from .autograd import topological_order
from .tensor import Tensor


def graph_dot(t: Tensor, names: dict[str, Tensor] | None = None) -> str:
    """DOT text for the graph that produced `t`.

    names: optional labels for tensors, e.g. {"x": x, "w": w}.
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"graph_dot expects a Tensor, got {type(t).__name__}")
    label_of = {id(v): k for k, v in (names or {}).items()}
    nodes = topological_order(t) if t.requires_grad else [t]
    # constants (inputs that need no gradient) are drawn too
    seen = {id(n) for n in nodes}
    for n in list(nodes):
        for inp in (n.grad_fn.inputs if n.grad_fn is not None else ()):
            if isinstance(inp, Tensor) and id(inp) not in seen:
                seen.add(id(inp))
                nodes.insert(0, inp)
    ids = {id(n): f"n{i}" for i, n in enumerate(nodes)}
    lines = ["digraph chainrule {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for n in nodes:
        shape = "x".join(str(s) for s in n.shape) or "scalar"
        name = label_of.get(id(n))
        if n.grad_fn is None:
            text = f"{name or 'leaf'}\\n{shape}"
            lines.append(f'  {ids[id(n)]} [shape=ellipse, label="{text}"];')
        else:
            op = n.grad_fn.fn.__name__
            text = f"{op}\\n{shape}" + (f"\\n{name}" if name else "")
            lines.append(f'  {ids[id(n)]} [shape=box, style=rounded, label="{text}"];')
    for n in nodes:
        if n.grad_fn is None:
            continue
        for inp in n.grad_fn.inputs:
            if isinstance(inp, Tensor) and id(inp) in ids:
                lines.append(f"  {ids[id(inp)]} -> {ids[id(n)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"
