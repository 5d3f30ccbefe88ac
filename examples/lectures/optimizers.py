"""Lecture 7: SGD, momentum, Nesterov, AdaGrad, RMSProp and Adam on a 2-D loss surface and on a
real net; step, exponential and 1/t learning-rate decay.

    python examples/lectures/optimizers.py --out runs/lectures

The surface is the slides' "taco shell": f(x, y) = 0.05 x^2 + 2 y^2, steep along y and shallow
along x. Plain SGD zig-zags across the steep direction and crawls along the shallow one;
momentum builds up velocity along x; AdaGrad and RMSProp divide each coordinate by its own
gradient scale; Adam does both. Every step uses chainrule's real optimisers on a 2-vector.
The three decays (the notes' formulas): step (halve every 10 epochs), exponential
a = a0 e^{-kt}, and 1/t: a = a0 / (1 + kt).
"""
from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.optim import lr_scheduler as S
from _common import done, note, parse, plt, save, table

START = (-7.0, 2.0)
OPTIMS = {
    "SGD": lambda p: optim.SGD(p, lr=0.2),
    "momentum": lambda p: optim.SGD(p, lr=0.2, momentum=0.9),
    "Nesterov": lambda p: optim.SGD(p, lr=0.2, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p: optim.Adagrad(p, lr=1.5),
    "RMSProp": lambda p: optim.RMSprop(p, lr=0.1, alpha=0.9),
    "Adam": lambda p: optim.Adam(p, lr=0.3),
}


def surface(xy: cr.Tensor) -> cr.Tensor:
    """The taco shell f = 0.05 x^2 + 2 y^2, minimum 0 at the origin."""
    return 0.05 * xy[0] * xy[0] + 2.0 * xy[1] * xy[1]


def descend(make, steps: int) -> np.ndarray:
    """The path (steps + 1, 2) of an optimiser from START."""
    xy = nn.Parameter(np.array(START))
    opt = make([xy])
    path = [xy.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        surface(xy).backward()
        opt.step()
        path.append(xy.detach().numpy().copy())
    return np.array(path)


def on_digits(make_opt, epochs: int) -> list[float]:
    data = cr.data.load_digits()
    cr.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10))
    solver = cr.Solver(net, data, optimizer=make_opt, batch_size=64, num_epochs=epochs, verbose=False,
                       preprocess=cr.data.transforms.PerChannelNormalize())
    return solver.train().loss_history


def decays(epochs: int = 40) -> dict[str, list[float]]:
    out = {}
    for name, make in {"step": lambda o: S.StepLR(o, 10, 0.5), "exponential": lambda o: S.ExponentialLR(o, 0.9),
                       "1/t": lambda o: S.InverseTimeLR(o, 0.2)}.items():
        opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
        sched, lrs = make(opt), []
        for _ in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        out[name] = lrs
    return out


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    steps = 60
    paths = {name: descend(make, steps) for name, make in OPTIMS.items()}
    final = {name: float(0.05 * p[-1, 0] ** 2 + 2 * p[-1, 1] ** 2) for name, p in paths.items()}
    epochs = 5 if not args.quick else 1
    real = {"SGD": lambda p: optim.SGD(p, lr=0.01), "momentum": lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
            "Adam": lambda p: optim.Adam(p, lr=1e-3)}
    losses = {name: on_digits(make, epochs) for name, make in real.items()}
    lrs = decays()

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
    gx, gy = np.meshgrid(np.linspace(-8, 2, 200), np.linspace(-2.5, 2.5, 200))
    axes[0].contour(gx, gy, 0.05 * gx ** 2 + 2 * gy ** 2, levels=20, cmap="Greys", linewidths=0.6)
    for name, p in paths.items():
        axes[0].plot(p[:, 0], p[:, 1], ".-", ms=3, lw=1, label=name)
    axes[0].set(title=f"{steps} steps on f = 0.05x^2 + 2y^2", xlim=(-8, 2), ylim=(-2.5, 2.5))
    axes[0].legend(fontsize=8)
    for name, l in losses.items():
        k = max(1, len(l) // 50)
        axes[1].plot(np.convolve(l, np.ones(k) / k, mode="valid"), label=name)
    axes[1].set(xlabel="iteration", ylabel="loss (smoothed)", title=f"digits MLP, {epochs} epochs")
    axes[1].legend()
    for name, l in lrs.items():
        axes[2].plot(l, label=name)
    axes[2].set(xlabel="epoch", ylabel="learning rate", title="Decay schedules (a0 = 1)")
    axes[2].legend()
    save(fig, args, "optimizers.png")
    rows = [(f"{name}: f after {steps} steps", "", f"{v:.2e}") for name, v in final.items()]
    rows += [("SGD vs momentum on the taco shell", "momentum gets further", f"{final['SGD']:.1e} vs {final['momentum']:.1e}",
              final["momentum"] < final["SGD"]),
             ("step / exponential / 1-over-t lr at epoch 20", "0.25 / 0.12 / 0.2",
              " / ".join(f"{lrs[k][20]:.3g}" for k in ("step", "exponential", "1/t")),
              [round(lrs[k][20], 2) for k in ("step", "exponential", "1/t")] == [0.25, 0.12, 0.2])]
    rows += [(f"digits MLP, {name}: last-epoch mean loss", "", f"{np.mean(l[-len(l) // epochs:]):.3f}")
             for name, l in losses.items()]
    table(rows, "Optimisers and schedules")
    note("On a 2-D surface each optimiser's best learning rate differs, so the ranking depends on the lr "
         "chosen for each (SGD, momentum 0.9 and Nesterov at 0.2, AdaGrad 1.5, RMSProp 0.1, Adam 0.3); the surface is the notes' \"taco shell\", steep in y and shallow in x.")
    done(args)
    return {"final": final, "lr_at_20": {k: v[20] for k, v in lrs.items()},
            "digits_loss": {k: float(np.mean(v[-len(v) // epochs:])) for k, v in losses.items()}}


if __name__ == "__main__":
    main()
