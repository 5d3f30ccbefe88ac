"""Lecture 6: the weight-initialisation experiment: 10 layers x 500 units, per-layer activation
statistics for small random numbers, Xavier and He, with the histograms of the slides.

    python examples/lectures/init.py --out runs/lectures

The notes: with W = 0.01 randn, tanh activations shrink to zero by the last layer (and so do the
gradients); with Xavier (std 1/sqrt(fan_in)) tanh keeps a spread; ReLU with Xavier halves the
variance at every layer, and He (std sqrt(2/fan_in)) fixes that.
"""
from __future__ import annotations

from chainrule.diagnostics.init_experiment import init_experiment
from _common import done, parse, plt, save, table

RUNS = [("tanh", "small"), ("tanh", "xavier"), ("relu", "xavier"), ("relu", "he")]


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    batch = 1000 if not args.quick else 200
    res = {f"{a}/{i}": init_experiment(a, i, batch=batch) for a, i in RUNS}
    for r in res.values():
        print(r)
    fig, axes = plt.subplots(len(res), 10, figsize=(18, 2.0 * len(res)), sharey="row")
    for row, (name, r) in zip(axes, res.items()):
        for layer, (ax, v) in enumerate(zip(row, r.values), 1):
            ax.hist(v.ravel(), bins=40, color="tab:blue")
            ax.set_title(f"{name} L{layer}\nstd {r.stds[layer - 1]:.2g}", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    save(fig, args, "init_histograms.png")
    last = {k: r.stds[-1] for k, r in res.items()}
    s = {k: r.stds for k, r in res.items()}
    table([("tanh, W = 0.01 randn: std of layer 10", "~0 (collapses)", f"{last['tanh/small']:.1e}",
            last["tanh/small"] < 1e-5),
           ("tanh, Xavier: std of layer 10", "~0.2-0.3, stable", f"{last['tanh/xavier']:.3f}",
            0.1 < last["tanh/xavier"] < 0.5),
           ("ReLU, Xavier: std of layer 10", "shrinks by 1/sqrt(2) a layer", f"{last['relu/xavier']:.4f}",
            last["relu/xavier"] < 0.1 * s["relu/xavier"][0]),
           ("ReLU, He: std of layer 10", "stable", f"{last['relu/he']:.3f}", 0.5 < last["relu/he"] / s["relu/he"][0] < 2)],
          f"Initialisation: 10 layers x 500 units, {batch} unit-Gaussian inputs")
    done(args)
    return {"stds": {k: r.stds for k, r in res.items()}}


if __name__ == "__main__":
    main()
