"""Lecture 5/9: why stacks of small filters and 1x1 bottlenecks, and what the big networks cost,
computed from the layers themselves.

    python examples/lectures/architectures.py --out runs/lectures

- Three 3x3 convolutions (stride 1) see a 7x7 patch of the input, like one 7x7 convolution,
  with 3 * 9 C^2 = 27 C^2 weights against 49 C^2 (C channels in and out), and as many fewer
  multiply-adds per output pixel, and two more non-linearities.
- A bottleneck (1x1 to 64, 3x3 at 64, 1x1 back to 256) instead of a 3x3 convolution at 256
  channels: 69,632 weights against 589,824.
- VGG-16 against ResNet-152 at 224x224 (the notes: VGG-16 ~138M parameters and ~15.5 GFLOPs
  (multiply-adds) per image; ResNet-152 ~60M and ~11.3 G): `cr.summary` counts both, and both are
  timed (one image, eval mode, no_grad, the library's threads, best of 3 after a warm-up): the notes
  say ResNet-152 runs faster "even though it has 8x more layers". Timings need a quiet machine:
  the load average is recorded beside them. Inception-v3 and its factorised 7x7 join the counts.
"""
from __future__ import annotations

import os
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.models.receptive_field import receptive_field
from _common import done, note, parse, plt, save, table


def weights(m: nn.Module) -> int:
    """Parameters without biases (the notes count weights)."""
    return sum(p.numel() for name, p in m.named_parameters() if name.endswith("weight"))


def forward_seconds(model: nn.Module, size: int, repeats: int = 3) -> float:
    """The best of `repeats` timed forward passes of one image (after one untimed warm-up)."""
    x = cr.randn(1, 3, size, size)
    model.eval()
    best = np.inf
    with cr.no_grad():
        model(x)
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    C = 64
    three = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv2d(C, C, 3, padding=1, bias=False), nn.ReLU())])
    seven = nn.Sequential(nn.Conv2d(C, C, 7, padding=3, bias=False), nn.ReLU())
    rf3, rf7 = receptive_field(three).size[0], receptive_field(seven).size[0]
    s3 = cr.summary(three, (C, 32, 32), print_table=False).totals
    s7 = cr.summary(seven, (C, 32, 32), print_table=False).totals
    bottleneck = nn.Sequential(nn.Conv2d(256, 64, 1, bias=False), nn.Conv2d(64, 64, 3, padding=1, bias=False),
                               nn.Conv2d(64, 256, 1, bias=False))
    plain = nn.Conv2d(256, 256, 3, padding=1, bias=False)
    big, secs = {}, {}
    size = 224 if not args.quick else 64
    load_before = os.getloadavg()[0]
    for name in ("vgg16", "resnet152"):
        cr.manual_seed(0)
        model = cr.models.get(name)
        t = cr.summary(model, (3, 224, 224), print_table=False).totals
        big[name] = (t["params"], t["macs"])
        secs[name] = forward_seconds(model, size, repeats=3 if not args.quick else 1)
        del model
    load = max(load_before, os.getloadavg()[0])
    quiet = load < 0.5 * (os.cpu_count() or 1)
    with cr.models.skip_init():
        inc = cr.models.inception_v3()
    fac = cr.models.Factorized(C, C, n=7)
    fac_w = sum(m.weight.numel() for m in fac.modules() if isinstance(m, nn.Conv2d))

    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = list(big)
    ax.bar([n + "\nparams (M)" for n in names], [big[n][0] / 1e6 for n in names], color="tab:blue")
    ax.bar([n + "\nGMACs" for n in names], [big[n][1] / 1e9 for n in names], color="tab:orange")
    ax.set_title("Cost at 224x224, from cr.summary")
    save(fig, args, "architectures.png")
    near = lambda a, b: abs(a / b - 1) < 0.03  # noqa: E731  (the notes round)
    table([("receptive field: three 3x3 vs one 7x7", "7 vs 7", f"{rf3} vs {rf7}", rf3 == rf7 == 7),
           (f"weights at C = {C}: three 3x3 vs one 7x7", f"27C^2 = {27 * C * C} vs 49C^2 = {49 * C * C}",
            f"{weights(three)} vs {weights(seven)}", (weights(three), weights(seven)) == (27 * C * C, 49 * C * C)),
           ("multiply-adds per image at 32x32", "27C^2 vs 49C^2 per pixel", f"{s3['macs']:,} vs {s7['macs']:,}",
            (s3["macs"], s7["macs"]) == (27 * C * C * 32 * 32, 49 * C * C * 32 * 32)),
           ("bottleneck 256-64-64-256 vs 3x3 at 256: weights", "69,632 vs 589,824",
            f"{weights(bottleneck):,} vs {weights(plain):,}", (weights(bottleneck), weights(plain)) == (69_632, 589_824)),
           ("VGG-16: parameters, multiply-adds", "138M, 15.5G", f"{big['vgg16'][0] / 1e6:.1f}M, {big['vgg16'][1] / 1e9:.2f}G",
            near(big["vgg16"][0], 138e6) and near(big["vgg16"][1], 15.5e9)),
           ("ResNet-152: parameters, multiply-adds", "60M, 11.3G",
            f"{big['resnet152'][0] / 1e6:.1f}M, {big['resnet152'][1] / 1e9:.2f}G",
            near(big["resnet152"][0], 60e6) and near(big["resnet152"][1], 11.3e9)),
           (f"forward time, one {size}x{size} image: VGG-16 vs ResNet-152", "ResNet-152 faster despite 8x the layers",
            f"{secs['vgg16']:.2f} s vs {secs['resnet152']:.2f} s (load {load:.1f}, {os.cpu_count()} cores)",
            (secs["resnet152"] < secs["vgg16"]) if quiet and size == 224 else None),
           ("Inception-v3 parameters, with the auxiliary classifier", "(torchvision: 27,161,264)",
            f"{sum(p.numel() for p in inc.parameters()):,}", sum(p.numel() for p in inc.parameters()) == 27_161_264),
           (f"a 7x7 factorised as 1x7 then 7x1, C = {C}: weights", f"14C^2 = {14 * C * C} vs 49C^2", f"{fac_w:,}",
            fac_w == 14 * C * C)],
          "Small filters, bottlenecks and the cost of deep networks")
    verdict = ("ResNet-152 was faster" if secs["resnet152"] < secs["vgg16"] else "VGG-16 was faster")
    note(f"Timing: {verdict} here ({secs['vgg16']:.2f} s against {secs['resnet152']:.2f} s for one image). "
         + ("The machine was quiet enough to count it. " if quiet and size == 224 else
            f"The machine was not quiet (load average {load:.1f} on {os.cpu_count()} cores, other jobs running), "
            "so this run neither shows nor refutes the claim: the shown column is left empty. ")
         + "On a CPU, ResNet-152's 152 small layers pay per-layer overhead that a GPU hides; the notes' "
           "claim is about FLOPs (11.5 G against 15.5 G) and GPU time.")
    done(args)
    return {"seconds": secs, "load": load, "rf": (rf3, rf7), "weights": (weights(three), weights(seven)), "macs": (s3["macs"], s7["macs"]),
            "bottleneck": (weights(bottleneck), weights(plain)), "big": big}


if __name__ == "__main__":
    main()
