"""Lecture 5: convolution arithmetic, checked by running chainrule's layers.

    python examples/lectures/conv_sizes.py --out runs/lectures

The notes' examples:
- a 7x7 input and a 3x3 filter: stride 1 -> 5x5, stride 2 -> 3x3, stride 3 does not fit
  ((7 - 3) / 3 + 1 = 2.33); with pad 1 and stride 1 the output stays 7x7. Output size
  (N - F + 2P) / S + 1.
- a 32x32x3 input with ten 5x5 filters, stride 1, pad 2 -> 32x32x10, with
  (5*5*3 + 1) * 10 = 760 parameters.
- 2x2 max pooling with stride 2 of [[1,1,2,4],[5,6,7,8],[3,2,1,0],[1,2,3,4]] -> [[6, 8], [3, 4]].
- a vertical-edge filter [[1, 0, -1]] x 3 responds where the image changes from left to right.
"""
from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.ops.geometry import conv_output_size
from _common import done, note, parse, plt, save, table


def out_size(n: int, f: int, stride: int, pad: int) -> str:
    """The formula, or 'does not fit' when (N - F + 2P) is not a multiple of S (the notes' rule)."""
    if (n - f + 2 * pad) % stride:
        return f"does not fit ({(n - f + 2 * pad) / stride + 1:.2f})"
    return str(conv_output_size(n, f, stride, pad))


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    sizes = {}
    for stride, pad in ((1, 0), (2, 0), (3, 0), (1, 1)):
        formula = out_size(7, 3, stride, pad)
        ran = nn.Conv2d(1, 1, 3, stride=stride, padding=pad)(cr.zeros(1, 1, 7, 7)).shape[-1]
        sizes[(stride, pad)] = (formula, ran)
    conv = nn.Conv2d(3, 10, 5, stride=1, padding=2)
    shape = tuple(conv(cr.zeros(1, 3, 32, 32)).shape[1:])
    params = sum(p.numel() for p in conv.parameters())
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float32)
    pooled = nn.MaxPool2d(2, 2)(cr.tensor(x[None, None])).numpy()[0, 0]

    img = cr.data.load_digits().X_test[:1]               # (1, 1, 8, 8), a handwritten digit
    img = np.kron(img, np.ones((1, 1, 4, 4), np.float32))  # 32x32 to see the edges
    edge = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    edge.load_state_dict({"weight": np.array([[[[1, 0, -1]] * 3]], np.float32)})
    with cr.no_grad():
        resp = edge(cr.tensor(img)).numpy()[0, 0]
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
    axes[0].imshow(img[0, 0], cmap="gray")
    axes[0].set_title("input")
    axes[1].imshow(resp, cmap="RdBu")
    axes[1].set_title("vertical-edge filter [1, 0, -1]")
    for a in axes:
        a.axis("off")
    save(fig, args, "conv_edges.png")

    rows = [(f"7x7 input, 3x3 filter, stride {s}, pad {p}", {(1, 0): "5x5", (2, 0): "3x3", (3, 0): "doesn't fit",
                                                            (1, 1): "7x7"}[(s, p)],
             f"{v[0]} (ran: {v[1]}x{v[1]})", str(v[0]) == str(v[1]) or (s, p) == (3, 0)) for (s, p), v in sizes.items()]
    rows += [("32x32x3, ten 5x5 filters, pad 2: output", "32x32x10", "x".join(map(str, shape[1:] + shape[:1])),
              shape == (10, 32, 32)),
             ("... parameters", "760", str(params), params == 760),
             ("2x2 max pool, stride 2", "[[6, 8], [3, 4]]", str(pooled.astype(int).tolist()),
              pooled.astype(int).tolist() == [[6, 8], [3, 4]]),
             ("vertical-edge response: max |value|", "strong at vertical strokes", f"{np.abs(resp).max():.2f}")]
    table(rows, "Convolution and pooling sizes")
    note("Stride 3 on a 7x7 input gives (7 - 3) / 3 + 1 = 2.33: the notes' \"doesn't fit\"; the layer floors "
         "it to 2x2, as PyTorch does.")
    done(args)
    return {"sizes": {f"{s}/{p}": v for (s, p), v in sizes.items()}, "shape": shape, "params": params,
            "pooled": pooled.tolist()}


if __name__ == "__main__":
    main()
