"""Lecture 6: three small claims of the notes, each measured.

    python examples/lectures/centering.py --out runs/lectures

1. Non-zero-centred inputs (all positive, as sigmoid's outputs are) make every gradient of a
   neuron's weights share one sign: dL/dw_i = (dL/df) x_i, and x_i > 0 for all i. The weights can
   then only all grow or all shrink together, so reaching w* = (1, -1) takes a zig-zag path.
   Measured: the fraction of per-example weight gradients whose components all share a sign, for
   positive and for centred inputs, and the path of SGD on a 2-D weight (the fraction of its steps
   along (+, +) or (-, -), each at least 45 degrees off the way to w*, and the path length against
   the straight line).
2. sigmoid's exp() is expensive: time sigmoid against relu on the same array.
3. A loss that plateaus and then drops means a bad initialisation: a 4-hidden-layer ReLU net whose
   weights start at N(0, 0.05^2) on the digits; its loss curve is read by
   cr.diagnostics.loss_curve.diagnose_loss (the same net started at He's initialisation for
   comparison).
"""
from __future__ import annotations

import os
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics.loss_curve import diagnose_loss
from _common import done, note, parse, plt, save, table


def same_sign_fraction(X: np.ndarray, rng: np.random.Generator) -> float:
    """One neuron f = w.x with a squared loss: the fraction of examples whose gradient dL/dw has
    all its components of one sign."""
    w = cr.tensor(rng.standard_normal(X.shape[1]) * 0.1, dtype="float64", requires_grad=True)
    y = rng.standard_normal(X.shape[0])
    count = 0
    for x, t in zip(X, y):
        w.grad = None
        (((cr.tensor(x) * w).sum() - t) ** 2).backward()
        g = np.asarray(w.grad)
        count += bool(np.all(g > 0) or np.all(g < 0))
    return count / X.shape[0]


def descent_path(X: np.ndarray, w_star: np.ndarray, steps: int, lr: float) -> np.ndarray:
    """Plain SGD (one example per step) on L = 1/2 (w.x - w*.x)^2 from w = 0: the path of w (steps + 1, 2)."""
    w = np.zeros(2)
    path = [w.copy()]
    for i in range(steps):
        x = X[i % len(X)]
        w = w - lr * (w @ x - w_star @ x) * x
        path.append(w.copy())
    return np.array(path)


def one_sign_steps(path: np.ndarray) -> float:
    """The fraction of steps along (+, +) or (-, -): with w* - w0 = (1, -1) every such step is at
    least 45 degrees off the straight line, so the path zig-zags."""
    d = np.diff(path, axis=0)
    return float(np.mean(d[:, 0] * d[:, 1] > 0))


def timing(fn, x, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t)
    return best


def deep_relu(std: float | None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = 64
    for _ in range(4):
        layers += [nn.Linear(fan_in, 100), nn.ReLU()]
        fan_in = 100
    net = nn.Sequential(*layers, nn.Linear(fan_in, 10))
    for p in net.parameters():  # the bad start: every weight N(0, std^2); else He's; biases 0
        if p.ndim == 2:
            nn.init.normal_(p, 0.0, std) if std is not None else nn.init.kaiming_normal_(p, nonlinearity="relu")
        else:
            nn.init.zeros_(p)
    return net


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    rng = np.random.default_rng(0)
    # 1. same-sign gradients and the zig-zag
    n = 400 if not args.quick else 100
    positive = rng.uniform(0.0, 1.0, (n, 10))                  # like sigmoid outputs
    centred = positive - positive.mean(axis=0)
    frac = {"positive": same_sign_fraction(positive, rng), "centred": same_sign_fraction(centred, rng)}
    X2 = rng.uniform(0.0, 1.0, (200, 2))
    w_star = np.array([1.0, -1.0])
    paths = {"positive inputs": descent_path(X2, w_star, 200, 0.5),
             "centred inputs": descent_path(X2 - X2.mean(axis=0), w_star, 200, 0.5)}
    zig = {k: one_sign_steps(p) for k, p in paths.items()}
    length = {k: float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum() / np.linalg.norm(w_star)) for k, p in paths.items()}

    # 2. exp is expensive
    x = cr.randn(2_000_000 if not args.quick else 200_000)
    t_sig, t_relu = timing(cr.sigmoid, x, 5), timing(cr.relu, x, 5)

    # 3. plateau then drop: a bad initialisation
    data = cr.data.load_digits()  # all 1,077 training digits, also in --quick: a plateau needs ~300 steps
    epochs = 20
    curves, verdicts = {}, {}
    for name, std in (("N(0, 0.05^2) init", 0.05), ("He init", None)):
        cr.manual_seed(0)
        s = cr.Solver(deep_relu(std), data, optimizer="sgd", lr=0.1, batch_size=64, num_epochs=epochs,
                      preprocess=cr.data.transforms.PerChannelNormalize(), verbose=False, seed=0).train()
        curves[name], verdicts[name] = s.loss_history, diagnose_loss(s.loss_history).codes

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, p in paths.items():
        axes[0].plot(p[:40, 0], p[:40, 1], ".-", label=f"{k} ({zig[k]:.0%} of steps along (+,+) or (-,-))")
    axes[0].plot(*w_star, "r*", ms=12)
    axes[0].set(xlabel="w1", ylabel="w2", title="SGD towards w* = (1, -1): the first 40 steps")
    axes[0].legend(fontsize=8)
    for k, c in curves.items():
        axes[1].plot(c, label=f"{k}: {', '.join(verdicts[k])}")
    axes[1].set(xlabel="iteration", ylabel="training loss", title="Plateau, then a drop: a bad initialisation")
    axes[1].legend(fontsize=8)
    save(fig, args, "centering.png")

    load = os.getloadavg()[0]
    bad = verdicts["N(0, 0.05^2) init"]
    table([("one neuron, all-positive inputs: gradients with all components of one sign", "all of them",
            f"{frac['positive']:.0%}", frac["positive"] == 1.0),
           ("the same, centred inputs", "no longer", f"{frac['centred']:.0%}", frac["centred"] < 0.5),
           ("SGD from 0 to w* = (1, -1), 200 steps: steps along (+,+) or (-,-), positive / centred inputs",
            "all (a zig-zag)", f"{zig['positive inputs']:.0%} / {zig['centred inputs']:.0%}",
            zig["positive inputs"] == 1.0 and zig["centred inputs"] < 1.0),
           ("... path length / straight distance", "longer", f"{length['positive inputs']:.1f} / "
            f"{length['centred inputs']:.1f}", length["positive inputs"] > length["centred inputs"]),
           (f"sigmoid vs relu on {x.numel():,} float32 values", "exp() is expensive",
            f"{t_sig * 1e3:.1f} ms vs {t_relu * 1e3:.1f} ms ({t_sig / t_relu:.1f}x)", t_sig > 1.5 * t_relu),
           ("loss of a 4x100 ReLU net started at N(0, 0.05^2): diagnose_loss", "plateau then drop = bad init",
            ", ".join(bad), bad == ["bad_init"]),
           ("the same net at He init", "no plateau", ", ".join(verdicts["He init"]),
            "bad_init" not in verdicts["He init"])],
          "Zero-centred inputs, the cost of exp, and a plateau")
    note(f"Timings: best of 5, on a machine with load average {load:.1f} (other jobs running), so the ratio "
         "is indicative. A bias or a zero-centred preprocessing (PerChannelNormalize) removes the one-sign "
         "constraint; the notes' case is a layer fed by sigmoid outputs.")
    done(args)
    return {"same_sign": frac, "turns": zig, "path_length": length, "sigmoid_over_relu": t_sig / t_relu,
            "verdicts": verdicts}


if __name__ == "__main__":
    main()
