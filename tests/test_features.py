"""cr.features: HOG and the hue histogram exactly as CS231n assignment 1 computes them (checked
against an independent re-statement of the assignment's steps with scipy's uniform_filter and
matplotlib's rgb_to_hsv), extract_features, feature_splits, and `linear/knn --features`."""
from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.features import (ASSIGNMENT_GREY_WEIGHTS, color_histogram_hsv, extract_features, feature_splits,
                                hog_feature)


def _assignment_hog(im, weights):
    """The assignment's procedure, step by step: a bank of 9 orientation-masked magnitude images,
    each box-filtered with an 8x8 window and sampled at the cell centres, transposed, raveled."""
    from scipy.ndimage import uniform_filter
    image = im[..., :3] @ np.asarray(weights)
    gx = np.zeros(image.shape)
    gy = np.zeros(image.shape)
    gx[:, :-1] = np.diff(image, axis=1)
    gy[:-1, :] = np.diff(image, axis=0)
    mag = np.sqrt(gx ** 2 + gy ** 2)
    ori = np.degrees(np.arctan2(gy, gx + 1e-15)) + 90
    n = image.shape[0] // 8
    hist = np.zeros((n, n, 9))
    for i in range(9):
        sel = (ori >= 20 * i) & (ori < 20 * (i + 1)) & (ori > 0)
        hist[:, :, i] = uniform_filter(np.where(sel, mag, 0), size=(8, 8))[4::8, 4::8].T
    return hist.ravel()


def _images(n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, size, size, 3)).astype(np.float64)
    imgs[0] = 128.0                      # flat: no gradient at all
    imgs[1, :, 16:] = 255.0              # a vertical edge: angles at exactly 0/180 are dropped
    imgs[1, :, :16] = 0.0
    imgs[2, 16:] = 200.0                 # a horizontal edge
    imgs[2, :16] = 10.0
    return imgs


def test_hog_equals_the_assignment_procedure():
    pytest.importorskip("scipy")
    for img in _images():
        ours = hog_feature(img, grey_weights=ASSIGNMENT_GREY_WEIGHTS)
        assert ours.shape == (144,)
        np.testing.assert_allclose(ours, _assignment_hog(img, ASSIGNMENT_GREY_WEIGHTS), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(hog_feature(img), _assignment_hog(img, (0.299, 0.587, 0.114)),
                                   rtol=1e-12, atol=1e-9)


def test_hog_by_hand():
    img = np.zeros((16, 16, 3))
    assert not hog_feature(img).any()
    # a vertical step at column 8: gx = 255 * 1.0 on column 7, gy = 0 -> angle 90 -> bin 4;
    # it lies in the left cells (columns 0-7), one pixel column of 8: mean 255 / 8
    img[:, 8:] = 255.0
    h = hog_feature(img).reshape(2, 2, 9)  # (column-cell, row-cell, bin)
    want = np.zeros((2, 2, 9))
    want[0, :, 4] = 255.0 * (0.299 + 0.587 + 0.114) / 8
    np.testing.assert_allclose(h, want)
    # a horizontal step at row 8: gy on row 7, gx = 0 -> arctan2(+, 1e-15) = 90 deg -> 180: dropped
    img = np.zeros((16, 16, 3))
    img[8:] = 255.0
    assert not hog_feature(img).any()
    img[8:] = 0.0
    img[:8] = 255.0  # gy < 0 -> -90 deg -> 0: dropped too (not folded)
    assert not hog_feature(img).any()
    with pytest.raises(ValueError, match="smaller than one 8x8 cell"):
        hog_feature(np.zeros((7, 7, 3)))


def test_hsv_histogram_equals_the_assignment():
    mpl_colors = pytest.importorskip("matplotlib.colors")
    for img in _images():
        hsv = mpl_colors.rgb_to_hsv(img / 255) * 255
        counts, edges = np.histogram(hsv[:, :, 0], bins=np.linspace(0, 255, 11), density=True)
        np.testing.assert_allclose(color_histogram_hsv(img), counts * np.diff(edges), rtol=1e-12, atol=1e-15)
        counts, edges = np.histogram(hsv[:, :, 0], bins=np.linspace(0, 255, 6), density=False)
        np.testing.assert_allclose(color_histogram_hsv(img, nbin=5, normalized=False), counts * np.diff(edges))
    # ties between channels (the later channel's formula wins, as matplotlib) on [0, 1] data
    img = np.array([[[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.2, 0.2, 0.2]]])
    hue = mpl_colors.rgb_to_hsv(img)[..., 0]
    np.testing.assert_allclose(cr.features.rgb_to_hue(img), hue)


def test_extract_features_concatenates_and_loops_plain_functions():
    imgs = _images(4)
    X = extract_features(imgs, [hog_feature, color_histogram_hsv])
    assert X.shape == (4, 154)
    np.testing.assert_allclose(X[2], np.concatenate([hog_feature(imgs[2]), color_histogram_hsv(imgs[2])]))
    mean_fn = lambda im: np.array([im.mean(), im.max()])  # noqa: E731  (no .batch: looped per image)
    np.testing.assert_allclose(extract_features(imgs, [mean_fn])[:, 0], imgs.mean(axis=(1, 2, 3)))
    with pytest.raises(ValueError, match="1-D vectors"):
        extract_features(imgs, [lambda im: im])
    with pytest.raises(ValueError, match="unknown feature 'sift'"):
        cr.features.feature_functions("hog,sift")


def test_feature_splits_standardise_on_train_and_refuse_grey_hsv():
    data = cr.data.load("digits")
    with pytest.raises(ValueError, match="needs colour images"):
        feature_splits(data, "hsv")
    rng = np.random.default_rng(0)
    fake = cr.data.Splits(X_train=rng.integers(0, 256, (20, 3, 16, 16)).astype(np.uint8), y_train=np.arange(20) % 2,
                          X_val=rng.integers(0, 256, (4, 3, 16, 16)).astype(np.uint8), y_val=np.arange(4) % 2,
                          X_test=rng.integers(0, 256, (5, 3, 16, 16)).astype(np.uint8), y_test=np.arange(5) % 2,
                          classes=["a", "b"], info={"value_range": (0, 255)})
    s = feature_splits(fake, "hog,hsv")
    assert s["X_train"].shape == (20, 2 * 2 * 9 + 10) and s["X_test"].shape == (5, 46)
    np.testing.assert_allclose(s["X_train"].mean(axis=0), 0, atol=1e-5)


def test_linear_and_knn_cli_take_features(tmp_path, capsys):
    from chainrule.cli import main
    rc = main(["linear", "--data", "digits", "--features", "hog", "--iters", "200", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "features hog" in out and re.search(r"test accuracy: 0\.\d+", out)
    rc = main(["knn", "--data", "digits", "--features", "hog", "--ks", "1,3", "--folds", "2", "--out", str(tmp_path)])
    assert rc == 0 and "features hog" in capsys.readouterr().out
    rc = main(["linear", "--data", "digits", "--features", "hsv", "--out", str(tmp_path)])
    assert rc == 2 and "needs colour images" in capsys.readouterr().err
