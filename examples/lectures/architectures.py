"""Lecture 5/9: why stacks of small filters and 1x1 bottlenecks, and what the big networks cost,
computed from the layers themselves.

    python examples/lectures/architectures.py --out runs/lectures

- Three 3x3 convolutions (stride 1) see a 7x7 patch of the input, like one 7x7 convolution,
  with 3 * 9 C^2 = 27 C^2 weights against 49 C^2 (C channels in and out), and as many fewer
  multiply-adds per output pixel, and two more non-linearities.
- A bottleneck (1x1 to 64, 3x3 at 64, 1x1 back to 256) instead of a 3x3 convolution at 256
  channels: 69,632 weights against 589,824.
- VGG-16 against ResNet-152 at 224x224 (the notes: VGG-16 ~138M parameters and ~15.5 GFLOPs
  (multiply-adds) per image; ResNet-152 ~60M and ~11.3 G): `cr.summary` counts both.
"""
from __future__ import annotations

import chainrule as cr
from chainrule import nn
from chainrule.models.receptive_field import receptive_field
from _common import parse, plt, save, table


def weights(m: nn.Module) -> int:
    """Parameters without biases (the notes count weights)."""
    return sum(p.numel() for name, p in m.named_parameters() if name.endswith("weight"))


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
    big = {}
    for name in ("vgg16", "resnet152"):
        t = cr.summary(cr.models.get(name), (3, 224, 224), print_table=False).totals
        big[name] = (t["params"], t["macs"])

    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = list(big)
    ax.bar([n + "\nparams (M)" for n in names], [big[n][0] / 1e6 for n in names], color="tab:blue")
    ax.bar([n + "\nGMACs" for n in names], [big[n][1] / 1e9 for n in names], color="tab:orange")
    ax.set_title("Cost at 224x224, from cr.summary")
    save(fig, args, "architectures.png")
    table([("receptive field: three 3x3 vs one 7x7", "7 vs 7", f"{rf3} vs {rf7}"),
           (f"weights at C = {C}: three 3x3 vs one 7x7", f"27C^2 = {27 * C * C} vs 49C^2 = {49 * C * C}",
            f"{weights(three)} vs {weights(seven)}"),
           ("multiply-adds per image at 32x32", "27C^2 vs 49C^2 per pixel", f"{s3['macs']:,} vs {s7['macs']:,}"),
           ("bottleneck 256-64-64-256 vs 3x3 at 256: weights", "69,632 vs 589,824",
            f"{weights(bottleneck):,} vs {weights(plain):,}"),
           ("VGG-16: parameters, multiply-adds", "138M, 15.5G", f"{big['vgg16'][0] / 1e6:.1f}M, {big['vgg16'][1] / 1e9:.2f}G"),
           ("ResNet-152: parameters, multiply-adds", "60M, 11.3G",
            f"{big['resnet152'][0] / 1e6:.1f}M, {big['resnet152'][1] / 1e9:.2f}G")],
          "Small filters, bottlenecks and the cost of deep networks")
    return {"rf": (rf3, rf7), "weights": (weights(three), weights(seven)), "macs": (s3["macs"], s7["macs"]),
            "bottleneck": (weights(bottleneck), weights(plain)), "big": big}


if __name__ == "__main__":
    main()
