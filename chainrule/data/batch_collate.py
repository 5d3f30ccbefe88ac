"""chainrule's batch transforms (`chainrule.data.transforms`: a whole (N, C, H, W) batch at once,
vectorised) inside PyTorch's DataLoader: as its collate_fn.

    loader = DataLoader(TensorDataset(X, y), 64, shuffle=True, num_workers=2,
                        collate_fn=TransformCollate(T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])))

The transform draws from the batch's own generator (`current_rng()`), so batches are the same with
0 or N workers and after a mid-epoch resume, as with per-sample transforms.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..tensor import Tensor
from ..utils.data.collate import default_collate
from ..utils.data.worker import current_rng
from .transforms.base import call


class TransformCollate:
    """collate_fn: default_collate, then `transform(X_batch, rng=current_rng())` on the first field
    of each sample (the images); the other fields are left as collated."""

    def __init__(self, transform: Callable, collate_fn: Callable = default_collate):
        self.transform, self.collate_fn = transform, collate_fn

    def __call__(self, samples: Sequence[Any]) -> Any:
        batch = self.collate_fn(samples)
        first = batch[0]
        images = np.asarray(first.data if isinstance(first, Tensor) else first)
        x = call(self.transform, images, current_rng())
        return [Tensor(np.asarray(x))] + list(batch[1:])

    def __repr__(self) -> str:
        return f"TransformCollate({self.transform!r})"
