"""Small models and data shared by the Solver tests (fast: a few hundred 8x8 digits)."""
from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.data import transforms as T


def tiny_data(n_train: int = 240):
    return cr.data.load_digits(subsample=n_train)


def tiny_cnn(seed: int = 0, dropout: float = 0.3) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(64, 10))


def augment():
    return T.Compose([T.RandomCrop(8, padding=1), T.RandomHorizontalFlip()])


def params_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
