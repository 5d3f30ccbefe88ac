"""Lecture 4: backpropagation by hand against autograd, on the slides' three worked examples.

    python examples/lectures/backprop.py --out runs/lectures

1. f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4: q = 3, f = -12; df/dx = df/dy = z = -4, df/dz = q = 3.
2. The sigmoid neuron f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) at w = (2, -3, -3), x = (-1, -2):
   f = 0.73; the sigmoid gate's local gradient (1 - f) f = 0.20; dw = (-0.20, -0.39, 0.20), dx = (0.39, -0.59).
3. Vectorised: f(x, W) = ||W x||^2 with W = [[0.1, 0.5], [-0.3, 0.8]], x = (0.2, 0.4):
   q = W x = (0.22, 0.26), f = 0.116; dW = 2 q x^T = [[0.088, 0.176], [0.104, 0.208]], dx = 2 W^T q = (-0.112, 0.636).
"""
from __future__ import annotations

import math

import numpy as np

import chainrule as cr
from _common import parse, save, table


def f64(v, grad: bool = True) -> cr.Tensor:
    return cr.tensor(v, dtype="float64", requires_grad=grad)


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    # 1. (x + y) z, by hand: the add gate distributes, the multiply gate swaps
    x, y, z = f64(-2.0), f64(5.0), f64(-4.0)
    f = (x + y) * z
    f.backward()
    q = -2.0 + 5.0
    hand1 = {"dx": -4.0 * 1, "dy": -4.0 * 1, "dz": q}
    auto1 = {"dx": x.grad.item(), "dy": y.grad.item(), "dz": z.grad.item()}

    # 2. the sigmoid neuron, by hand: dsigma/da = (1 - sigma) sigma
    w, xs = f64([2.0, -3.0, -3.0]), f64([-1.0, -2.0])
    out = cr.sigmoid(w[0] * xs[0] + w[1] * xs[1] + w[2])
    out.backward()
    a = 2 * -1 + -3 * -2 - 3
    s = 1 / (1 + math.exp(-a))
    local = (1 - s) * s
    hand2 = {"f": s, "dw": [local * -1, local * -2, local], "dx": [local * 2, local * -3]}
    auto2 = {"f": out.item(), "dw": w.grad.tolist(), "dx": xs.grad.tolist()}

    # 3. ||W x||^2, by hand: dq = 2 q, dW = dq x^T, dx = W^T dq
    Wn, xn = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    W, xv = f64(Wn), f64(xn)
    qt = W @ xv
    f3 = (qt * qt).sum()
    f3.backward()
    qn = Wn @ xn
    hand3 = {"f": float(qn @ qn), "dW": np.outer(2 * qn, xn), "dx": Wn.T @ (2 * qn)}

    dot = args.out / "sigmoid_neuron.dot"
    dot.write_text(cr.graph_dot(cr.sigmoid(w[0] * xs[0] + w[1] * xs[1] + w[2]), {"w": w, "x": xs}))
    print(f"  graph: {dot} (draw it with: dot -Tpng {dot} -o graph.png)")
    fmt = lambda v: ", ".join(f"{t:.3f}" for t in np.ravel(v))  # noqa: E731
    table([("(x+y)z: df/dx, df/dy, df/dz", "-4, -4, 3", fmt(list(auto1.values()))),
           ("sigmoid neuron: f", "0.73", f"{auto2['f']:.2f}"),
           ("sigmoid neuron: dw", "-0.20, -0.39, 0.20", fmt(auto2["dw"])),
           ("sigmoid neuron: dx", "0.39, -0.59", fmt(auto2["dx"])),
           ("||Wx||^2: f", "0.116", f"{f3.item():.3f}"),
           ("||Wx||^2: dW = 2 q x^T", "0.088, 0.176, 0.104, 0.208", fmt(W.grad)),
           ("||Wx||^2: dx = 2 W^T q", "-0.112, 0.636", fmt(xv.grad))],
          "Backprop by hand = autograd (the hand values are in the returned dict)")
    err = max(max(abs(hand1[k] - auto1[k]) for k in hand1),
              abs(hand2["f"] - auto2["f"]), np.abs(np.subtract(hand2["dw"], auto2["dw"])).max(),
              np.abs(np.subtract(hand2["dx"], auto2["dx"])).max(),
              abs(hand3["f"] - f3.item()), np.abs(hand3["dW"] - W.grad.data).max(), np.abs(hand3["dx"] - xv.grad.data).max())
    print(f"  largest difference between hand and autograd: {err:.1e}")
    return {"auto1": auto1, "auto2": auto2, "f3": f3.item(), "dW": W.grad.tolist(), "dx3": xv.grad.tolist(),
            "max_err": float(err), "dot": str(dot)}


if __name__ == "__main__":
    main()
