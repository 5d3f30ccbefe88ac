"""Lecture 3: the multiclass SVM and softmax worked examples, and why L2 prefers spread weights.

    python examples/lectures/linear_losses.py --out runs/lectures

Scores of three images (columns) for the classes cat, car, frog (rows), as on the slides:

             cat image  car image  frog image
    cat         3.2        1.3        2.2
    car         5.1        4.9        2.5
    frog       -1.7        2.0       -3.1

SVM (hinge, delta 1): L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + 1)  ->  2.9, 0, 12.9; mean 5.27.
Softmax for the cat image: probabilities 0.13, 0.87, 0.00 and L = -log 0.13 = 2.04 in natural
log; the slide's 0.89 is log base 10.
L2 on x = [1, 1, 1, 1]: w1 = [1, 0, 0, 0] and w2 = [.25]*4 give the same score 1, but
R(w1) = 1 and R(w2) = 0.25, so L2 prefers w2, which uses every input a little.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import nn
from chainrule.classifiers.softmax_loss import softmax_loss_vectorized
from chainrule.classifiers.svm_loss import svm_loss_vectorized
from _common import done, note, parse, plt, save, table

SCORES = np.array([[3.2, 1.3, 2.2], [5.1, 4.9, 2.5], [-1.7, 2.0, -3.1]])  # (classes, images)
LABELS = np.array([0, 1, 2])  # cat image is a cat, car image a car, frog image a frog


def per_example_svm(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Hinge losses of each column. scores: (C, N); y: (N,)."""
    margins = np.maximum(0, scores - scores[y, np.arange(len(y))] + 1)
    margins[y, np.arange(len(y))] = 0
    return margins.sum(axis=0)


def main(argv=None) -> dict:
    args = parse(__doc__, argv)
    # The library's loss functions take W and X: scores = X @ W, so X = identity rows, W = SCORES^T.
    X, W = np.eye(3), SCORES.T.copy()
    svm_each = per_example_svm(SCORES, LABELS)
    svm_mean, _ = svm_loss_vectorized(W, X, LABELS, reg=0.0)
    soft_mean, _ = softmax_loss_vectorized(W, X, LABELS, reg=0.0)
    e = np.exp(SCORES[:, 0])
    probs = e / e.sum()
    cat_loss = -math.log(probs[0])
    # the same through nn: CrossEntropyLoss / SVMLoss on the scores
    import chainrule as cr
    ce = nn.CrossEntropyLoss()(cr.tensor(SCORES.T, dtype="float64"), cr.tensor(LABELS)).item()
    hinge = nn.SVMLoss()(cr.tensor(SCORES.T, dtype="float64"), cr.tensor(LABELS)).item()

    x = np.ones(4)
    w1, w2 = np.array([1.0, 0, 0, 0]), np.full(4, 0.25)
    r1, r2 = float(w1 @ w1), float(w2 @ w2)

    table([("SVM loss: cat, car, frog image", "2.9, 0, 12.9", ", ".join(f"{v:.1f}" for v in svm_each),
            np.allclose(svm_each, [2.9, 0.0, 12.9])),
           ("SVM loss: mean", "5.27", f"{svm_mean:.4f}", round(svm_mean, 2) == 5.27),
           ("softmax probabilities, cat image", "0.13, 0.87, 0.00", ", ".join(f"{p:.2f}" for p in probs),
            np.allclose(np.round(probs, 2), [0.13, 0.87, 0.0])),
           ("softmax loss, cat image", "0.89 (log10)", f"{cat_loss:.2f} (ln) = {cat_loss / math.log(10):.2f} (log10)",
            round(cat_loss / math.log(10), 2) == 0.89),
           ("softmax loss, mean of the three", "-", f"{soft_mean:.4f} (nn.CrossEntropyLoss {ce:.4f})"),
           ("w1.x and w2.x", "1, 1", f"{w1 @ x:g}, {w2 @ x:g}", float(w1 @ x) == float(w2 @ x) == 1.0),
           ("R(w1), R(w2) (L2)", "1, 0.25", f"{r1:g}, {r2:g}", (r1, r2) == (1.0, 0.25))],
          "Linear classifier losses on the slides' three images")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].bar(["cat", "car", "frog"], svm_each, color="tab:blue")
    axes[0].set(title=f"SVM loss per image (mean {svm_mean:.2f})")
    axes[1].bar(["cat", "car", "frog"], probs, color="tab:orange")
    axes[1].set(title=f"softmax of the cat image's scores (loss {cat_loss:.2f})", ylim=(0, 1))
    save(fig, args, "linear_losses.png")
    note(f"The softmax slide's 0.89 is -log10(0.13); the loss every framework (and the rest of the course) "
         f"uses is the natural log, {cat_loss:.2f}. The SVM mean is 15.8 / 3 = {svm_mean:.4f}. The same numbers "
         "come out of cr.classifiers (svm_loss_vectorized, softmax_loss_vectorized) and of nn.SVMLoss / "
         "nn.CrossEntropyLoss, which the script checks against each other.")
    done(args)
    return {"svm": svm_each.tolist(), "svm_mean": float(svm_mean), "nn_svm_mean": hinge,
            "probs": probs.tolist(), "cat_loss": cat_loss, "cat_loss_log10": cat_loss / math.log(10),
            "softmax_mean": float(soft_mean), "nn_ce": ce, "scores_equal": float(w1 @ x) == float(w2 @ x),
            "R": (r1, r2)}


if __name__ == "__main__":
    main()
