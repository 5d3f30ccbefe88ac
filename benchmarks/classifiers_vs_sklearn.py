"""chainrule's classical classifiers vs scikit-learn on the same digits split.

    python benchmarks/classifiers_vs_sklearn.py            # from the repository root

Data: chainrule.data.load_digits() (seeded stratified split 1257 / 180 / 360, pixels
in [0, 1]), mean image of the training set subtracted. Prints a Markdown table of
test accuracy and fit+predict wall time.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.classifiers import KNearestNeighbor, LinearSVM, Softmax  # noqa: E402


def timed(clf, Xtr, ytr, Xte, yte):
    t = time.perf_counter()
    acc = clf.fit(Xtr, ytr).score(Xte, yte)
    return acc, time.perf_counter() - t


def main() -> None:
    d = cr.data.load_digits()
    mean = d.X_train.mean(axis=0)
    Xtr = (d.X_train - mean).reshape(len(d.X_train), -1).astype(np.float64)
    Xte = (d.X_test - mean).reshape(len(d.X_test), -1).astype(np.float64)
    ytr, yte = d.y_train, d.y_test
    rows = [
        ("LinearSVM(lr=0.5, reg=1e-4), 1500 SGD steps of 200", LinearSVM(lr=0.5, reg=1e-4),
         "LinearSVC(C=1)", LinearSVC(C=1.0, max_iter=5000)),
        ("Softmax(lr=0.5, reg=1e-4), 1500 SGD steps of 200", Softmax(lr=0.5, reg=1e-4),
         "LogisticRegression(C=1, newton-cg)", LogisticRegression(C=1.0, solver="newton-cg")),
        ("KNearestNeighbor(k=1)", KNearestNeighbor(k=1),
         "KNeighborsClassifier(1, brute)", KNeighborsClassifier(1, algorithm="brute")),
        ("KNearestNeighbor(k=5, l1)", KNearestNeighbor(k=5, metric="l1"),
         "KNeighborsClassifier(5, brute, p=1)", KNeighborsClassifier(5, algorithm="brute", p=1)),
    ]
    print(f"digits: {len(ytr)} train / {len(yte)} test, mean image subtracted\n")
    print("| chainrule | test acc | time | scikit-learn | test acc | time |")
    print("|---|---|---|---|---|---|")
    for name, ours, sk_name, sk in rows:
        a, ta = timed(ours, Xtr, ytr, Xte, yte)
        b, tb = timed(sk, Xtr, ytr, Xte, yte)
        print(f"| {name} | {a:.4f} | {ta:.2f} s | {sk_name} | {b:.4f} | {tb:.2f} s |")


if __name__ == "__main__":
    main()
