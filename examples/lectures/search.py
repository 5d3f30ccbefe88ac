"""Lecture 6/7: random search vs grid search (Bergstra and Bengio 2012, the notes' figure) on a
function with one important and one unimportant parameter.

    python examples/lectures/search.py --out runs/lectures

f(x, y) = g(x) + 0.02 h(y), where g has a narrow peak in x (important) and h barely matters.
With 9 trials a 3x3 grid tries only 3 distinct values of x; random search tries 9, so it is far
more likely to land near g's peak. Over many repeats (random offsets of the peak) the mean best
value found is reported for both.
"""
from __future__ import annotations

import numpy as np

from _common import done, parse, plt, save, table


def g(x: np.ndarray, peak: float) -> np.ndarray:
    return np.exp(-((x - peak) ** 2) / (2 * 0.06 ** 2))


def f(x: np.ndarray, y: np.ndarray, peak: float) -> np.ndarray:
    return g(x, peak) + 0.02 * np.sin(3 * y)


def grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    side = int(round(np.sqrt(n)))
    v = (np.arange(side) + 0.5) / side
    gx, gy = np.meshgrid(v, v)
    return gx.ravel(), gy.ravel()


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    rng = np.random.default_rng(0)
    n, repeats = 9, (2000 if not args.quick else 300)
    best = {"grid": [], "random": []}
    for _ in range(repeats):
        peak = rng.uniform(0.1, 0.9)
        gx, gy = grid(n)
        rx, ry = rng.random(n), rng.random(n)
        best["grid"].append(f(gx, gy, peak).max())
        best["random"].append(f(rx, ry, peak).max())
    mean = {k: float(np.mean(v)) for k, v in best.items()}
    distinct = {"grid": len(np.unique(grid(n)[0])), "random": n}

    peak = 0.62
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    r = np.random.default_rng(1)
    for ax, (name, (xs, ys)) in zip(axes, {"Grid layout": grid(n), "Random layout": (r.random(n), r.random(n))}.items()):
        t = np.linspace(0, 1, 300)
        ax.plot(t, 1.15 + 0.25 * g(t, peak), c="tab:green")            # important parameter on top
        ax.plot(-0.15 - 0.25 * (0.5 + 0.5 * np.sin(3 * t)), t, c="tab:orange")  # unimportant on the left
        ax.scatter(xs, ys, c="k", s=25)
        ax.vlines(xs, 1.0, 1.15, colors="tab:green", alpha=0.6)
        ax.set(xlim=(-0.45, 1.05), ylim=(-0.05, 1.45), title=name, xlabel="important parameter",
               ylabel="unimportant parameter")
    save(fig, args, "random_vs_grid.png")
    table([("distinct values of the important parameter, 9 trials", "3 vs 9",
            f"{distinct['grid']} vs {distinct['random']}", distinct == {"grid": 3, "random": 9}),
           (f"mean best f over {repeats} problems: grid / random", "random better",
            f"{mean['grid']:.3f} / {mean['random']:.3f}", mean["random"] > mean["grid"])],
          "Random vs grid search (Bergstra and Bengio 2012)")
    done(args)
    return {"mean_best": mean, "distinct": distinct}


if __name__ == "__main__":
    main()
