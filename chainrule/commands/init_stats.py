"""`chainrule init-stats`: the lecture's initialisation experiment (activations through a deep net)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..diagnostics.init_experiment import init_experiment
from . import CLIError

HELP = "activation statistics of a deep tanh/ReLU net per initialisation (the lecture's experiment)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", default="tanh", choices=["tanh", "relu", "sigmoid"], help="(default tanh)")
    p.add_argument("--init", default="xavier", choices=["small", "xavier", "he", "large"],
                   help="small: 0.01*randn; xavier: randn/sqrt(fan_in); he: randn/sqrt(fan_in/2); "
                        "large: randn (default xavier)")
    p.add_argument("--layers", type=int, default=10, help="number of layers (default 10)")
    p.add_argument("--width", type=int, default=500, help="units per layer and input features (default 500)")
    p.add_argument("--batch", type=int, default=1000, help="examples of unit Gaussian input (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="(default 0)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write the per-layer histograms as DIR/init_<activation>_<init>.png")


def run(args: argparse.Namespace) -> int:
    for name in ("layers", "width", "batch"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name} must be at least 1, got {getattr(args, name)}")
    res = init_experiment(args.activation, args.init, layers=args.layers, width=args.width, batch=args.batch,
                          seed=args.seed)
    print(f"{args.layers}-layer net, {args.width} units, input {args.batch}x{args.width} unit Gaussian")
    print(res)
    if args.out:
        from ..viz.training import plot_activation_histograms

        path = Path(args.out) / f"init_{args.activation}_{args.init}.png"
        names = [f"layer {i}" for i in range(1, len(res.values) + 1)]
        plot_activation_histograms(dict(zip(names, res.values)), path,
                                   title=f"{args.activation} activations, {args.init} init")
        print(f"Histograms written to {path}")
    return 0
