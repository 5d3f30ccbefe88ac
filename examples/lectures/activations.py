"""Lecture 6: sigmoid, tanh, ReLU, leaky ReLU, ELU and maxout on the same small net.

    python examples/lectures/activations.py --out runs/lectures

Each 64-100-100-10 net trains on the built-in digits with the same SGD recipe and the same
(PyTorch default) initialisation. The notes' claims, measured: sigmoid saturates and trains
slowest (its outputs are not zero-centred and its gradient is at most 1/4); tanh is
zero-centred but still saturates; ReLU converges much faster (the notes: 6x in AlexNet) but a
unit that is 0 for every input is dead; leaky ReLU and ELU have no dead units; maxout doubles the
parameters. `dead` is the fraction of hidden units never active on the validation set after
training with a large learning rate (lr 0.7), which is how units die.
"""
from __future__ import annotations

import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics.stats import dead_fraction, saturated_fraction
from _common import done, note, parse, plt, save, table

ACTS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01),
        "elu": nn.ELU, "maxout": None}


def build(name: str, width: int = 100) -> nn.Sequential:
    if name == "maxout":
        return nn.Sequential(nn.Flatten(), nn.Maxout(64, width, 2), nn.Maxout(width, width, 2), nn.Linear(width, 10))
    act = ACTS[name]
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), act(), nn.Linear(width, width), act(),
                         nn.Linear(width, 10))


def hidden_outputs(model: nn.Sequential, X: np.ndarray) -> list[np.ndarray]:
    """The two hidden non-linearities' outputs on X, read by forward hooks."""
    layers = [m for m in model if isinstance(m, (nn.Maxout, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Sigmoid, nn.Tanh))]
    outs: list[np.ndarray] = []
    handles = [m.register_forward_hook(lambda m, i, o: outs.append(o.detach().numpy())) for m in layers]
    with cr.no_grad():
        model.eval()(cr.tensor(X))
    for h in handles:
        h.remove()
    return outs


def run(name: str, data, epochs: int, lr: float, seed: int = 0) -> dict:
    cr.manual_seed(seed)
    model = build(name)
    t = time.perf_counter()
    solver = cr.Solver(model, data, optimizer="sgd", lr=lr, batch_size=64, num_epochs=epochs,
                       preprocess=cr.data.transforms.PerChannelNormalize(), verbose=False, seed=seed)
    solver.train()
    seconds = time.perf_counter() - t
    hidden = hidden_outputs(model, solver.data["X_val"])
    kind = type(model[2]).__name__
    return {"val_acc": max(solver.val_acc_history), "loss": solver.loss_history,
            "epoch1_acc": solver.val_acc_history[0], "seconds": seconds,
            "saturated": float(np.mean([saturated_fraction(h, kind) for h in hidden])),
            "dead": float(np.mean([dead_fraction(h) for h in hidden])),
            "params": sum(p.numel() for p in model.parameters())}


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    data = cr.data.load_digits(subsample=None if not args.quick else 500)
    epochs = 10 if not args.quick else 3
    res = {name: run(name, data, epochs, lr=0.1) for name in ACTS}
    dead = {name: run(name, data, 2, lr=0.7)["dead"] for name in ("relu", "leaky_relu", "elu")}
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in res.items():
        k = max(1, len(r["loss"]) // 60)
        ax.plot(np.convolve(r["loss"], np.ones(k) / k, mode="valid"), label=name)
    ax.set(xlabel="iteration", ylabel="training loss (smoothed)", title="Same net, same SGD, six activations")
    ax.legend()
    save(fig, args, "activations.png")
    rows = [(f"{n}: val acc after 1 / {epochs} epochs, time", "", f"{r['epoch1_acc']:.1%} / {r['val_acc']:.1%}, "
             f"{r['seconds']:.1f} s") for n, r in res.items()]
    sat_s, sat_t = res["sigmoid"]["saturated"], res["tanh"]["saturated"]
    rows += [("sigmoid: saturated outputs (<0.01 or >0.99)", "saturates", f"{sat_s:.1%}", sat_s > 0.05),
             ("tanh: saturated outputs (|x| > 0.99)", "saturates", f"{sat_t:.1%}", sat_t > 0.05),
             ("ReLU vs sigmoid: val acc after 1 epoch", "ReLU much faster",
              f"{res['relu']['epoch1_acc']:.1%} vs {res['sigmoid']['epoch1_acc']:.1%}",
              res["relu"]["epoch1_acc"] > res["sigmoid"]["epoch1_acc"] + 0.1),
             ("ReLU vs tanh: val acc after 1 epoch", "ReLU faster (deep conv nets: relu_speed.py)",
              f"{res['relu']['epoch1_acc']:.1%} vs {res['tanh']['epoch1_acc']:.1%}",
              res["relu"]["epoch1_acc"] > res["tanh"]["epoch1_acc"]),
             ("dead units after lr 0.7: ReLU / leaky / ELU", "ReLU can die; leaky, ELU don't",
              f"{dead['relu']:.0%} / {dead['leaky_relu']:.0%} / {dead['elu']:.0%}",
              dead["relu"] > 0 and dead["leaky_relu"] == 0 and dead["elu"] == 0),
             ("maxout parameters vs ReLU", "2x per layer", f"{res['maxout']['params']} vs {res['relu']['params']}",
              res["maxout"]["params"] == 2 * (res["relu"]["params"] - 1010) + 1010)]
    table(rows, f"Activation functions on digits (64-100-100-10, SGD lr 0.1, {epochs} epochs)")
    note("A small shallow net on an easy dataset: sigmoid is the slowest, as the notes say, but tanh can "
         "match or beat ReLU here; the notes' \"ReLU converges 6x faster\" is for a deep conv net "
         "(Krizhevsky et al.), measured in relu_speed.py. Saturation needs a bad initialisation or large "
         "inputs: with PyTorch's default initialisation few units saturate (init.py shows the bad case).")
    done(args)
    return {"results": {n: {k: v for k, v in r.items() if k != "loss"} for n, r in res.items()}, "dead": dead}


if __name__ == "__main__":
    main()
