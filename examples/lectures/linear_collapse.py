"""Lecture 6 (and 4): why a network needs a non-linearity, and why it must not start symmetric.

    python examples/lectures/linear_collapse.py --out runs/lectures

1. Two (or ten) linear layers with nothing in between are one linear map: W2 (W1 x + b1) + b2 =
   (W2 W1) x + (W2 b1 + b2). The script builds the single layer from the stack and compares outputs.
2. "Pitfall: all zero initialization": if every weight starts equal, every hidden unit computes the
   same output and receives the same gradient, so they stay identical however long you train.
   With ReLU and exactly zero weights nothing moves at all (every gradient is zero); with a
   constant non-zero start the units move, but in lockstep. Random init breaks the symmetry.
"""
from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn
from _common import done, parse, plt, save, table


def collapse(depth: int = 10, width: int = 32, seed: int = 0) -> tuple[float, nn.Linear]:
    """A stack of `depth` Linear layers and the single Linear equal to it; the largest output difference."""
    cr.manual_seed(seed)
    stack = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)]).to(cr.float64)
    W, b = np.eye(width), np.zeros(width)
    for lin in stack:  # y = A x + c; the next layer makes it W_l (A x + c) + b_l
        W, b = lin.weight.data @ W, lin.weight.data @ b + lin.bias.data
    single = nn.Linear(width, width).to(cr.float64)
    single.load_state_dict({"weight": W, "bias": b})
    x = cr.randn(64, width, dtype="float64")
    with cr.no_grad():
        diff = np.abs(stack(x).detach().numpy() - single(x).detach().numpy()).max()
    return float(diff), single


def hidden_unit_spread(init: str, steps: int, seed: int = 0) -> float:
    """Train a 64-32-10 ReLU net on digits; the largest difference between two hidden units' weights."""
    data = cr.data.load_digits()
    X, y = data.X_train.reshape(len(data.X_train), -1), data.y_train
    cr.manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    for p in net.parameters():
        if init == "zero":
            nn.init.zeros_(p)
        elif init == "constant":
            nn.init.constant_(p, 0.05)
    opt = cr.optim.SGD(net.parameters(), lr=0.1)
    for i in range(steps):
        idx = np.arange(i * 64, i * 64 + 64) % len(X)
        loss = nn.functional.cross_entropy(net(cr.tensor(X[idx])), cr.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    W1 = net[0].weight.detach().numpy()
    return float(np.abs(W1 - W1[0]).max())


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    diff, single = collapse()
    steps = 300 if not args.quick else 60
    spread = {init: hidden_unit_spread(init, steps) for init in ("zero", "constant", "random")}
    table([("10 stacked Linear layers vs their product: max |difference|", "0 (one linear map)", f"{diff:.1e}",
            diff < 1e-12),
           ("hidden units' weights after training, zero init: max spread", "identical", f"{spread['zero']:.1e}",
            spread["zero"] == 0.0),
           ("same, constant init 0.05", "identical", f"{spread['constant']:.1e}", spread["constant"] < 1e-6),
           ("same, random init (PyTorch's default)", "different", f"{spread['random']:.2f}", spread["random"] > 0.1)],
          f"Linear stacks collapse; symmetric starts stay symmetric ({steps} SGD steps on digits)")
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.bar(list(spread), [max(v, 1e-16) for v in spread.values()], color=["tab:gray", "tab:orange", "tab:blue"])
    ax.set(yscale="log", ylabel="max spread between hidden units' weights", title="Symmetry breaking")
    save(fig, args, "linear_collapse.png")
    done(args)
    return {"collapse_diff": diff, "spread": spread}


if __name__ == "__main__":
    main()
