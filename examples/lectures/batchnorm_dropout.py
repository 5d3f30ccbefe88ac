"""Lecture 6: training with and without batch normalisation at several learning rates, and
dropout on and off (the train/validation gap).

    python examples/lectures/batchnorm_dropout.py --out runs/lectures

The notes: batch norm "improves gradient flow, allows higher learning rates, reduces the strong
dependence on initialisation"; dropout is a regulariser: it lowers training accuracy and narrows
the gap to validation accuracy. Nets: 64-256-256-10 (batch norm) and 64-512-512-10 (dropout) on
small subsets of the built-in digits, so that the plain net overfits; plain SGD.
"""
from __future__ import annotations

import chainrule as cr
from chainrule import nn
from _common import parse, plt, save, table


def mlp(bn: bool = False, p: float = 0.0, width: int = 256) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = 64
    for _ in range(2):
        layers += [nn.Linear(fan_in, width)] + ([nn.BatchNorm1d(width)] if bn else []) + [nn.ReLU()]
        layers += [nn.Dropout(p)] if p else []
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(width, 10))


def train(model, data, lr: float, epochs: int, seed: int = 0) -> cr.Solver:
    solver = cr.Solver(model, data, optimizer="sgd", lr=lr, batch_size=32, num_epochs=epochs,
                       preprocess=cr.data.transforms.PerChannelNormalize(), verbose=False, seed=seed)
    return solver.train()


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    data = cr.data.load_digits(subsample=300)
    epochs = 25 if not args.quick else 4
    lrs = [0.003, 0.03, 0.3, 1.0] if not args.quick else [0.01, 0.3]
    bn = {}
    for lr in lrs:
        for use_bn in (False, True):
            cr.manual_seed(0)
            s = train(mlp(bn=use_bn), data, lr, epochs)
            bn[(lr, use_bn)] = max(s.val_acc_history)
    drop, small = {}, cr.data.load_digits(subsample=200)
    for p in (0.0, 0.5):
        cr.manual_seed(0)
        s = train(mlp(p=p, width=512), small, 0.1, 40 if not args.quick else 4)
        drop[p] = (s.train_acc_history[-1], s.val_acc_history[-1], s)

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].semilogx(lrs, [bn[(lr, False)] for lr in lrs], "o-", label="no batch norm")
    axes[0].semilogx(lrs, [bn[(lr, True)] for lr in lrs], "o-", label="batch norm")
    axes[0].set(xlabel="learning rate", ylabel="best val accuracy", title="Batch norm widens the usable lr range")
    axes[0].legend()
    for p, (_, _, s) in drop.items():
        line, = axes[1].plot(s.train_acc_history, "--", label=f"train, dropout {p}")
        axes[1].plot(s.val_acc_history, c=line.get_color(), label=f"val, dropout {p}")
    axes[1].set(xlabel="epoch", ylabel="accuracy", title="Dropout narrows the train/val gap")
    axes[1].legend(fontsize=8)
    save(fig, args, "batchnorm_dropout.png")
    rows = [(f"lr {lr}: best val acc without / with batch norm", "BN tolerates higher lr",
             f"{bn[(lr, False)]:.1%} / {bn[(lr, True)]:.1%}") for lr in lrs]
    gap = {p: t - v for p, (t, v, _) in drop.items()}
    rows += [(f"dropout {p}: train / val acc (gap)", "dropout: smaller gap" if p else "overfits",
              f"{drop[p][0]:.1%} / {drop[p][1]:.1%} ({gap[p]:+.1%})") for p in drop]
    table(rows, f"Batch norm (64-256-256-10, 300 digits, {epochs} epochs) and dropout (64-512-512-10, 200 digits), SGD")
    return {"bn": {f"{lr}/{b}": v for (lr, b), v in bn.items()}, "gap": gap,
            "dropout": {p: (t, v) for p, (t, v, _) in drop.items()}}


if __name__ == "__main__":
    main()
