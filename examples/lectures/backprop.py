"""Lecture 4: backpropagation by hand against autograd, on the slides' three worked examples.

    python examples/lectures/backprop.py --out runs/lectures

1. f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4: q = 3, f = -12; df/dx = df/dy = z = -4, df/dz = q = 3.
2. The sigmoid neuron f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) at w = (2, -3, -3), x = (-1, -2):
   f = 0.73; the sigmoid gate's local gradient (1 - f) f = 0.20; dw = (-0.20, -0.39, 0.20), dx = (0.39, -0.59).
3. Vectorised: f(x, W) = ||W x||^2 with W = [[0.1, 0.5], [-0.3, 0.8]], x = (0.2, 0.4):
   q = W x = (0.22, 0.26), f = 0.116; dW = 2 q x^T = [[0.088, 0.176], [0.104, 0.208]], dx = 2 W^T q = (-0.112, 0.636).
4. The notes' two-layer walk-through with numbers (Matt Mazur's example): inputs (0.05, 0.10), weights
   w1..w8 = 0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55, biases 0.35 and 0.60, sigmoid units,
   targets (0.01, 0.99), E = sum 1/2 (target - out)^2: E = 0.298371109, dE/dw5 = 0.082167041,
   w5 after one step of lr 0.5 = 0.358916480, dE/dw1 = 0.000438568.
5. The Jacobian of an elementwise op is diagonal (cr.autograd.functional.jacobian of sigmoid).
"""
from __future__ import annotations

import math

import numpy as np

import chainrule as cr
from _common import done, note, parse, table


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

    # 4. Mazur's 2-2-2 network, float64, one backward pass
    i = f64([0.05, 0.10], grad=False)
    W1, b1 = f64([[0.15, 0.20], [0.25, 0.30]]), f64(0.35)
    W2, b2 = f64([[0.40, 0.45], [0.50, 0.55]]), f64(0.60)
    target = f64([0.01, 0.99], grad=False)
    o = cr.sigmoid(W2 @ cr.sigmoid(W1 @ i + b1) + b2)
    E = (0.5 * (target - o) ** 2).sum()
    E.backward()
    mazur = {"E": E.item(), "dE/dw5": float(W2.grad[0, 0]), "w5+": 0.40 - 0.5 * float(W2.grad[0, 0]),
             "dE/dw1": float(W1.grad[0, 0])}
    mazur_notes = {"E": 0.298371109, "dE/dw5": 0.082167041, "w5+": 0.358916480, "dE/dw1": 0.000438568}

    # 5. the Jacobian of an elementwise op: diagonal
    J = cr.autograd.functional.jacobian(cr.sigmoid, f64([-1.0, 0.5, 2.0], grad=False)).data
    off_diag = float(np.abs(J - np.diag(np.diag(J))).max())

    dot = args.out / "sigmoid_neuron.dot"
    dot.write_text(cr.graph_dot(cr.sigmoid(w[0] * xs[0] + w[1] * xs[1] + w[2]), {"w": w, "x": xs}))
    print(f"  graph: {dot} (draw it with: dot -Tpng {dot} -o graph.png)")
    fmt = lambda v: ", ".join(f"{t:.3f}" for t in np.ravel(v))  # noqa: E731
    r2 = lambda v: np.round(np.ravel(v), 2).tolist()  # noqa: E731
    table([("(x+y)z: df/dx, df/dy, df/dz", "-4, -4, 3", fmt(list(auto1.values())), list(auto1.values()) == [-4, -4, 3]),
           ("sigmoid neuron: f", "0.73", f"{auto2['f']:.2f}", round(auto2["f"], 2) == 0.73),
           ("sigmoid neuron: dw", "-0.20, -0.39, 0.20", fmt(auto2["dw"]), r2(auto2["dw"]) == [-0.2, -0.39, 0.2]),
           ("sigmoid neuron: dx", "0.39, -0.59", fmt(auto2["dx"]), r2(auto2["dx"]) == [0.39, -0.59]),
           ("||Wx||^2: f", "0.116", f"{f3.item():.3f}", round(f3.item(), 3) == 0.116),
           ("||Wx||^2: dW = 2 q x^T", "0.088, 0.176, 0.104, 0.208", fmt(W.grad),
            np.allclose(np.asarray(W.grad), [[0.088, 0.176], [0.104, 0.208]])),
           ("||Wx||^2: dx = 2 W^T q", "-0.112, 0.636", fmt(xv.grad), np.allclose(np.asarray(xv.grad), [-0.112, 0.636]))]
          + [(f"Mazur's 2-2-2 net: {k}", f"{v:.9f}", f"{mazur[k]:.9f}", round(mazur[k], 9) == v)
             for k, v in mazur_notes.items()]
          + [("Jacobian of sigmoid on 3 values: largest off-diagonal entry", "0 (diagonal)", f"{off_diag:g}",
              off_diag == 0.0)],
          "Backprop by hand = autograd (the hand values are in the returned dict)")
    err = max(max(abs(hand1[k] - auto1[k]) for k in hand1),
              abs(hand2["f"] - auto2["f"]), np.abs(np.subtract(hand2["dw"], auto2["dw"])).max(),
              np.abs(np.subtract(hand2["dx"], auto2["dx"])).max(),
              abs(hand3["f"] - f3.item()), np.abs(hand3["dW"] - W.grad.data).max(), np.abs(hand3["dx"] - xv.grad.data).max())
    print(f"  largest difference between hand and autograd: {err:.1e}")
    note(f"Every gradient is computed twice, by the lecture's hand rules (add gate distributes, multiply gate "
         f"swaps, sigmoid gate (1 - s) s, dW = 2 q x^T) and by backward(): the largest difference is {err:.1e}.")
    done(args)
    return {"mazur": mazur, "jacobian_off_diagonal": off_diag, "auto1": auto1, "auto2": auto2, "f3": f3.item(), "dW": W.grad.tolist(), "dx3": xv.grad.tolist(),
            "max_err": float(err), "dot": str(dot)}


if __name__ == "__main__":
    main()
