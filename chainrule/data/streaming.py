"""Training from a folder that does not fit in memory: train/val Datasets that decode on access, and
preprocessing statistics fitted on a sample of the training set.

    data = cr.data.folder_datasets("photos/", image_size=224)     # what `--data folder:PATH` builds
    pre = cr.data.fit_on_sample(cr.data.transforms.PerChannelNormalize(), data.fit_view, max_samples=2000)
    loader = cr.utils.data.DataLoader(data.train, 64, shuffle=True, num_workers=2)

Images come out as uint8 (3, S, S) Tensors, values 0..255, as `load_image_folder` gives them in
memory, so the fitted preprocessors, the saved model's input contract and `chainrule predict`
(read_image: the whole image resized to S x S) see the same scale:
- train: RandomResizedCrop(S) + RandomHorizontalFlip (torchvision's ImageNet recipe), per sample;
- val and fit_view: the whole image resized to S x S (read_image's rule), no randomness.
uint8 batches are also 4x smaller than float32 ones in the workers' shared memory.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..utils.data.dataloader import DataLoader
from ..utils.data.dataset import Dataset, Subset
from ..utils.data.generator import Generator
from .folder import ImageFolder
from .splits import stratified_split
from .transforms.base import image_size as _image_size
from .transforms.preprocess import MeanImage, PerChannelNormalize, Preprocessor
from .vision import transforms as T


@dataclass
class FolderSplits:
    """train / val Datasets of one folder; fit_view: the training files without augmentation."""
    train: Dataset
    val: Dataset
    fit_view: Dataset
    classes: list[str]
    info: dict[str, Any] = field(default_factory=dict)


def folder_datasets(path, image_size, val_size: int | float = 0.1, seed: int = 0, scale=(0.08, 1.0),
                    subsample: int | None = None) -> FolderSplits:
    """`folder:PATH` -> FolderSplits. The validation files are a class-stratified, seeded sample of
    the folder (`val_size`: a fraction or a count); only the file list is read here.
    subsample: use at most this many files of the folder (class-stratified, seeded), then split."""
    h, w = _image_size(image_size, "folder_datasets")
    folder = ImageFolder(path)
    targets = np.asarray(folder.targets, np.int64)
    kept = np.arange(len(targets))
    if subsample is not None and subsample < len(targets):
        kept = stratified_split(targets, int(subsample), seed=seed, what="subsample")[1]
    train_idx, val_idx = (kept[i] for i in stratified_split(targets[kept], val_size, seed=seed, what="val_size"))
    train_tf = T.Compose([T.RandomResizedCrop((h, w), scale=scale), T.RandomHorizontalFlip(), T.PILToTensor()])
    eval_tf = T.Compose([T.Resize((h, w)), T.PILToTensor()])

    def view(transform):
        v = copy.copy(folder)
        v.transform = transform
        return v

    info = dict(name=folder.root.rstrip("/").split("/")[-1], source=folder.root, image_shape=(3, h, w),
                dtype="uint8", value_range=(0, 255), counts={"train": len(train_idx), "val": len(val_idx)},
                val_files=[folder.samples[i][0] for i in val_idx])
    return FolderSplits(Subset(view(train_tf), train_idx), Subset(view(eval_tf), val_idx),
                        Subset(view(eval_tf), train_idx), list(folder.classes), info)


def sample_indices(n: int, max_samples: int, seed: int) -> list[int]:
    """At most max_samples distinct indices of range(n), seeded, sorted (sequential reads)."""
    if n <= max_samples:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, max_samples, replace=False).tolist())


def fit_on_sample(preprocessor: Preprocessor, dataset: Dataset, max_samples: int = 2000, seed: int = 0,
                  batch_size: int = 64, num_workers: int = 0) -> Preprocessor:
    """Fit `preprocessor` on at most `max_samples` images of `dataset` (samples (image (C, H, W), label)).

    PerChannelNormalize and MeanImage are fitted streaming (float64 sums over batches: memory is one
    batch, whatever the sample size); any other preprocessor (PCAWhiten) gets the sample stacked into
    one array, so keep max_samples x C x H x W x 4 bytes in mind.
    """
    idx = sample_indices(len(dataset), max_samples, seed)
    loader = DataLoader(Subset(dataset, idx), batch_size, num_workers=num_workers,
                        generator=Generator().manual_seed(seed))
    batches = (np.asarray(b[0].data if hasattr(b[0], "data") else b[0]) for b in loader)
    if isinstance(preprocessor, (PerChannelNormalize, MeanImage)):
        return _fit_streaming(preprocessor, batches)
    return preprocessor.fit(np.concatenate(list(batches)))


def _fit_streaming(pre: Preprocessor, batches) -> Preprocessor:
    """The statistics fit() computes, from running float64 sums (per channel, or per pixel)."""
    per_channel = isinstance(pre, PerChannelNormalize)
    axes = (0, 2, 3) if per_channel else (0,)
    total = total_sq = None
    count = 0
    for x in batches:
        x = x.astype(np.float64)
        s = x.sum(axis=axes)
        sq = (x * x).sum(axis=axes) if per_channel else None
        total = s if total is None else total + s
        if per_channel:
            total_sq = sq if total_sq is None else total_sq + sq
        count += x.shape[0] * (x.shape[2] * x.shape[3] if per_channel else 1)
    if total is None:
        raise ValueError("fit_on_sample: the dataset is empty")
    mean = total / count
    pre.mean_ = mean.astype(np.float32)
    if per_channel:
        sd = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0)) if pre.std else np.ones_like(mean)
        pre.std_ = np.maximum(sd, pre.eps).astype(np.float32)
    return pre
