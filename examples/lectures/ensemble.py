"""Lecture 7: model ensembles: "train multiple independent models, average their predictions at
test time" (the notes: 7 CNNs took ImageNet top-5 error from 18.2% to 15.4%).

    python examples/lectures/ensemble.py --out runs/lectures

Five small convnets on the built-in digits, identical but for their seed (initialisation,
shuffling, augmentation), each trained briefly; then `cr.models.Ensemble` averages their softmax
probabilities. The script prints each member's test accuracy, the ensemble's, and the gain over
the best member. (docs/ensembles.md measures the same on Fashion-MNIST and CIFAR-10.)
"""
from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.metrics import accuracy, predict_scores
from _common import done, parse, plt, save, table


def member(data, seed: int, epochs: int) -> cr.Solver:
    cr.manual_seed(seed)
    net = cr.models.build_for("small_cnn", data)
    solver = cr.Solver(net, data, optimizer="adam", lr=2e-3, batch_size=64, num_epochs=epochs, seed=seed,
                       preprocess=cr.data.transforms.PerChannelNormalize(), verbose=False)
    return solver.train()


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    data = cr.data.load_digits(subsample=None if not args.quick else 800)
    n, epochs = (5, 3) if not args.quick else (3, 3)
    solvers = [member(data, seed, epochs) for seed in range(n)]
    X = solvers[0].preprocess_(data.X_test)
    accs = [accuracy(predict_scores(s.model, X), data.y_test) for s in solvers]
    ens = cr.models.Ensemble([s.model for s in solvers])
    ens_acc = accuracy(predict_scores(ens, X), data.y_test)

    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.bar([f"member {i}" for i in range(n)] + ["ensemble"], accs + [ens_acc],
           color=["tab:blue"] * n + ["tab:orange"])
    ax.set(ylim=(min(accs + [ens_acc]) - 0.03, 1.0), ylabel="test accuracy",
           title=f"{n} small convnets on digits and their ensemble")
    save(fig, args, "ensemble.png")
    table([(f"member {i} test accuracy", "", f"{a:.2%}") for i, a in enumerate(accs)] +
          [("ensemble (averaged probabilities)", "a few % better", f"{ens_acc:.2%}", ens_acc > float(np.mean(accs))),
           ("gain over the best member", "18.2% -> 15.4% top-5 error (ImageNet)",
            f"{ens_acc - max(accs):+.2%} points")],
          f"Ensembles: {n} members, {epochs} epochs each")
    done(args)
    return {"members": accs, "ensemble": ens_acc, "gain_over_best": ens_acc - max(accs),
            "gain_over_mean": ens_acc - float(np.mean(accs))}


if __name__ == "__main__":
    main()
