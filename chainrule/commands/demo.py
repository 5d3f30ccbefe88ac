"""`chainrule demo`: the lecture's two worked backpropagation examples."""
from __future__ import annotations

import argparse

import chainrule as cr

HELP = "print the forward values and gradients of the lecture's two worked backprop examples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dot", metavar="FILE", help="also write the sigmoid neuron's graph as Graphviz DOT")


def run(args: argparse.Namespace) -> int:
    # Example 1: f(x, y, z) = (x + y) z at x=-2, y=5, z=-4
    x, y, z = (cr.tensor(v, requires_grad=True, dtype="float64") for v in (-2.0, 5.0, -4.0))
    q = x + y
    q.retain_grad()
    f = q * z
    f.backward()
    print("Example 1: f(x, y, z) = (x + y) * z   at x=-2, y=5, z=-4")
    print(f"  forward:  q = x + y = {q.item():g},  f = q * z = {f.item():g}")
    print(f"  backward: df/dq = z = {q.grad.item():g},  df/dz = q = {z.grad.item():g}")
    print(f"            df/dx = df/dq * dq/dx = {x.grad.item():g},  df/dy = {y.grad.item():g}")

    # Example 2: a 2-input sigmoid neuron f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))
    w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True, dtype="float64")
    xs = cr.tensor([-1.0, -2.0], requires_grad=True, dtype="float64")
    dot = w[0] * xs[0] + w[1] * xs[1] + w[2]
    out = 1.0 / (1.0 + cr.exp(-dot))
    out.backward()
    print()
    print("Example 2: f(w, x) = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))   at w=(2,-3,-3), x=(-1,-2)")
    print(f"  forward:  w.x + b = {dot.item():g},  f = sigmoid(1) = {out.item():.4f}")
    print(f"  backward: local gradient (1 - f) f = {(1 - out.item()) * out.item():.4f}")
    print(f"            df/dw = [{', '.join(f'{g:.4f}' for g in w.grad)}]")
    print(f"            df/dx = [{', '.join(f'{g:.4f}' for g in xs.grad)}]")
    if args.dot:
        w.grad = xs.grad = None
        dot = w[0] * xs[0] + w[1] * xs[1] + w[2]
        out = 1.0 / (1.0 + cr.exp(-dot))
        with open(args.dot, "w") as fh:
            fh.write(cr.graph_dot(out, {"w": w, "x": xs}))
        print(f"\nGraph written to {args.dot} (draw it with: dot -Tpng {args.dot} -o graph.png)")
    return 0
