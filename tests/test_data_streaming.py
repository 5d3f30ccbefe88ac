"""folder:PATH as streaming train/val Datasets, and preprocessing fitted on a sample."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import chainrule as cr
from chainrule.data import fit_on_sample, folder_datasets
from chainrule.data.transforms import MeanImage, PCAWhiten, PerChannelNormalize
from chainrule.utils.data import DataLoader


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b", "c"):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (20 + i, 30, 3), np.uint8)).save(tmp_path / c / f"{i}.png")
    return tmp_path


def test_folder_datasets_split_and_shapes(folder):
    d = folder_datasets(folder, 16, val_size=0.2, seed=0)
    assert d.classes == ["a", "b", "c"] and len(d.train) == 24 and len(d.val) == 6 and len(d.fit_view) == 24
    assert sorted(d.val[i][1] for i in range(6)) == [0, 0, 1, 1, 2, 2]          # stratified
    x, y = d.train[0]
    assert x.shape == (3, 16, 16) and x.data.dtype == np.uint8
    # val: the whole image resized, as read_image (and chainrule predict) does it
    path = d.info["val_files"][0]
    np.testing.assert_array_equal(d.val[0][0].data, cr.data.read_image(path, 16))
    xb, yb = next(iter(DataLoader(d.train, 8, shuffle=True, num_workers=2)))
    assert xb.shape == (8, 3, 16, 16) and xb.data.dtype == np.uint8


@pytest.mark.parametrize("pre", [PerChannelNormalize(), PerChannelNormalize(std=False), MeanImage(), PCAWhiten(5)])
def test_fit_on_sample_equals_fit_on_the_stacked_sample(folder, pre):
    d = folder_datasets(folder, 8, val_size=3)
    streamed = fit_on_sample(type(pre)(**pre.get_config()), d.fit_view, max_samples=20, seed=1, batch_size=7)
    from chainrule.data.streaming import sample_indices
    X = np.stack([d.fit_view[i][0].data for i in sample_indices(len(d.fit_view), 20, 1)])
    full = type(pre)(**pre.get_config()).fit(X)
    for k in full._fitted:
        np.testing.assert_allclose(getattr(streamed, k), getattr(full, k), rtol=1e-5, atol=1e-4)


def test_fit_on_sample_with_workers_and_everything(folder):
    d = folder_datasets(folder, 8, val_size=3)
    a = fit_on_sample(PerChannelNormalize(), d.fit_view, max_samples=1000, num_workers=2)
    X = np.stack([d.fit_view[i][0].data for i in range(len(d.fit_view))])
    np.testing.assert_allclose(a.mean_, X.mean(axis=(0, 2, 3)), rtol=1e-6)


def test_batch_transforms_as_collate_fn_are_the_same_with_workers():
    from chainrule.data import TransformCollate
    from chainrule.data import transforms as BT
    from chainrule.utils.data import Generator, TensorDataset
    X = np.random.default_rng(0).random((30, 3, 8, 8)).astype(np.float32)
    tf = TransformCollate(BT.Compose([BT.RandomCrop(8, padding=2), BT.RandomHorizontalFlip()]))
    runs = [[(x.data.copy(), y.data.tolist()) for x, y in
             DataLoader(TensorDataset(X, np.arange(30)), 8, shuffle=True, num_workers=nw, collate_fn=tf,
                        generator=Generator().manual_seed(4))] for nw in (0, 2)]
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(*runs))
    x0, y0 = runs[0][0]
    assert x0.shape == (8, 3, 8, 8) and not np.array_equal(x0, X[y0])   # augmented
