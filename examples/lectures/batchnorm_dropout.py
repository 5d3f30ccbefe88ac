"""Lecture 6: batch normalisation (higher learning rates, robustness to the initialisation, a mild
regulariser) and dropout (a regulariser: a smaller gap between training and validation accuracy).

    python examples/lectures/batchnorm_dropout.py --data-dir /path/to/datasets --out runs/lectures

The notes: batch norm "improves gradient flow, allows higher learning rates, reduces the strong
dependence on initialisation, acts as a form of regularisation"; dropout lowers training accuracy
and narrows the gap to validation accuracy. Measured with plain SGD (batch 64):
- learning rates: 64-256-256-10 on 300 digits, 25 epochs, with and without batch norm;
- initialisation: 784-256-256-256-256-10 on 2,000 Fashion-MNIST images, 5 epochs at lr 0.05, weights
  drawn N(0, s^2) for s = 0.01 (too small), He's sqrt(2 / fan_in), and 0.2 (too large);
- the gap: 784-512-512-10 on 2,000 Fashion-MNIST images, 30 epochs at lr 0.05: plain, with dropout
  0.5 after each hidden layer, and with batch norm; gap = train - val accuracy, both in eval mode,
  the mean of the last 3 epochs.
"""
from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.interrupt import NonFiniteLossError
from _common import done, load_real, note, parse, plt, save, table


def mlp(dims, bn: bool = False, p: float = 0.0, init_std: float | str | None = None) -> nn.Sequential:
    """Flatten - {Linear - [BatchNorm1d] - ReLU - [Dropout]} per hidden width - Linear. init_std: a number
    (every weight N(0, s^2), biases 0), "he", or None (PyTorch's default)."""
    layers: list[nn.Module] = [nn.Flatten()]
    for d_in, d_out in zip(dims[:-2], dims[1:-1]):
        layers += [nn.Linear(d_in, d_out)] + ([nn.BatchNorm1d(d_out)] if bn else []) + [nn.ReLU()]
        layers += [nn.Dropout(p)] if p else []
    net = nn.Sequential(*layers, nn.Linear(dims[-2], dims[-1]))
    if init_std is not None:
        for m in net.modules():
            if isinstance(m, nn.Linear):
                if init_std == "he":
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                else:
                    nn.init.normal_(m.weight, 0.0, float(init_std))
                nn.init.zeros_(m.bias)
    return net


def train(model, data, lr: float, epochs: int, batch_size: int = 64, seed: int = 0) -> cr.Solver:
    solver = cr.Solver(model, data, optimizer="sgd", lr=lr, batch_size=batch_size, num_epochs=epochs,
                       preprocess=cr.data.transforms.PerChannelNormalize(), verbose=False, seed=seed)
    return solver.train()


def gap_of(s: cr.Solver, k: int = 3) -> tuple[float, float, float]:
    t, v = float(np.mean(s.train_acc_history[-k:])), float(np.mean(s.val_acc_history[-k:]))
    return t, v, t - v


def main(argv=None) -> dict:
    args = parse(__doc__, argv, data=True)
    # 1. learning rates (digits)
    digits = cr.data.load_digits(subsample=300)
    epochs = 25 if not args.quick else 4
    lrs = [0.003, 0.03, 0.3, 1.0] if not args.quick else [0.01, 0.3]
    bn = {}
    for lr in lrs:
        for use_bn in (False, True):
            cr.manual_seed(0)
            bn[(lr, use_bn)] = max(train(mlp((64, 256, 256, 10), bn=use_bn), digits, lr, epochs).val_acc_history)

    # 2. initialisation, 3. the gap (Fashion-MNIST)
    n = 2000 if not args.quick else 300
    data, name = load_real(args, "fashion-mnist", subsample=n) if not args.quick else \
        (cr.data.load_digits(subsample=n), "digits")
    d_in = int(np.prod(data.X_train.shape[1:]))
    init_epochs, inits = (5, [0.01, "he", 0.2]) if not args.quick else (2, [0.01, "he"])
    by_init = {}
    for std in inits:
        for use_bn in (False, True):
            cr.manual_seed(0)
            try:
                s = train(mlp((d_in, 256, 256, 256, 256, 10), bn=use_bn, init_std=std), data, 0.05, init_epochs)
                by_init[(std, use_bn)] = max(s.val_acc_history)
            except NonFiniteLossError:  # the loss overflowed: it learned nothing
                by_init[(std, use_bn)] = float("nan")
    gap_epochs = 30 if not args.quick else 3
    runs = {}
    for label, kw in (("plain", {}), ("dropout 0.5", {"p": 0.5}), ("batch norm", {"bn": True})):
        cr.manual_seed(0)
        runs[label] = train(mlp((d_in, 512, 512, 10), init_std="he", **kw), data, 0.05, gap_epochs)
    gaps = {k: gap_of(s) for k, s in runs.items()}

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    axes[0].semilogx(lrs, [bn[(lr, False)] for lr in lrs], "o-", label="no batch norm")
    axes[0].semilogx(lrs, [bn[(lr, True)] for lr in lrs], "o-", label="batch norm")
    axes[0].set(xlabel="learning rate", ylabel="best val accuracy", title="Batch norm widens the usable lr range")
    axes[0].legend()
    xs = np.arange(len(inits))
    axes[1].bar(xs - 0.2, [np.nan_to_num(by_init[(s, False)]) for s in inits], 0.4, label="no batch norm")
    axes[1].bar(xs + 0.2, [np.nan_to_num(by_init[(s, True)]) for s in inits], 0.4, label="batch norm")
    axes[1].set(xticks=xs, xticklabels=[f"init {s}" for s in inits], ylabel=f"best val acc, {init_epochs} epochs",
                title="Batch norm and the initialisation")
    axes[1].legend(fontsize=8)
    for label, s in runs.items():
        line, = axes[2].plot(s.train_acc_history, "--", label=f"train, {label}")
        axes[2].plot(s.val_acc_history, c=line.get_color(), label=f"val, {label}")
    axes[2].set(xlabel="epoch", ylabel="accuracy", title="The train/val gap")
    axes[2].legend(fontsize=7)
    save(fig, args, "batchnorm_dropout.png")

    rows = [(f"lr {lr}: best val acc without / with batch norm", "BN tolerates higher lr",
             f"{bn[(lr, False)]:.1%} / {bn[(lr, True)]:.1%}", bn[(lr, True)] >= bn[(lr, False)] if lr == lrs[-1] else None)
            for lr in lrs]
    worst = {b: min(np.nan_to_num(by_init[(s, b)]) for s in inits) for b in (False, True)}
    acc = lambda v: "diverged" if np.isnan(v) else f"{v:.1%}"  # noqa: E731
    rows += [(f"init {s}: best val acc without / with batch norm ({name})", "BN: less dependence on init",
              f"{acc(by_init[(s, False)])} / {acc(by_init[(s, True)])}") for s in inits]
    rows.append(("worst init's val acc without / with batch norm (diverged = 0)", "BN robust to the init",
                 f"{worst[False]:.1%} / {worst[True]:.1%}", worst[True] > worst[False] + 0.2))
    rows += [(f"{k}: train / val acc (gap)", {"plain": "overfits", "dropout 0.5": "smaller gap",
                                              "batch norm": "some regularisation"}[k],
              f"{t:.1%} / {v:.1%} ({g:+.1%})", None if k == "plain" else g < gaps["plain"][2] - 0.01)
             for k, (t, v, g) in gaps.items()]
    table(rows, f"Batch norm and dropout (SGD; {name} for the init and gap rows, {len(data.y_train)} training images)")
    note(f"The gap rows: {gap_epochs} epochs of {d_in}-512-512-10 (He init) on {len(data.y_train)} {name} images; "
         "a row counts as shown when its gap is at least 1 point below the plain net's. Batch norm's "
         "regularisation comes from the noise of each batch's statistics; with batch 64 it is mild, and "
         "the notes call it \"a form of\" regularisation, not a replacement for dropout or weight decay.")
    done(args)
    return {"bn": {f"{lr}/{b}": v for (lr, b), v in bn.items()}, "init": {f"{s}/{b}": v for (s, b), v in by_init.items()},
            "gap": {k: g for k, (_, _, g) in gaps.items()}, "dropout": {k: (t, v) for k, (t, v, _) in gaps.items()}}


if __name__ == "__main__":
    main()
