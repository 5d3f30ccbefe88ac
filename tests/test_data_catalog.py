"""cr.data.load by name, and preprocessing / augmentation from the command line's specs."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.data import transforms as T
from chainrule.data.catalog import NAMES
from chainrule.data.transforms.spec import (
    AUGMENTATIONS, PREPROCESSORS, augment_from_spec, crop_padding, preprocess_from_spec,
)


def test_load_digits_by_name_matches_the_loader():
    a = cr.data.load("digits", subsample=300, seed=1)
    b = cr.data.load_digits(subsample=300, seed=1)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a.classes == b.classes and a.X_train.shape[0] == 300
    c = cr.data.load("digits", val_size=100)
    assert c.X_val.shape[0] == 100 and c.X_test.shape[0] == 360


def test_load_unknown_names_say_what_exists(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*digits.*cifar10.*folder:PATH"):
        cr.data.load("nope")
    with pytest.raises(ValueError, match="folder:PATH"):
        cr.data.load("folder:")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cr.data.load(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(FileNotFoundError, match="mnist not found"):
        cr.data.load("mnist", root=tmp_path)
    assert NAMES == ("digits", "mnist", "fashion-mnist", "cifar10", "folder:PATH")


def test_load_image_folder_by_name(tmp_path):
    from PIL import Image

    for c, colour in (("cat", 40), ("dog", 200)):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.new("RGB", (12, 10), (colour, i, 0)).save(tmp_path / c / f"{i}.png")
    data = cr.data.load(f"folder:{tmp_path}", val_size=0.25)
    assert data.classes == ["cat", "dog"] and data.X_train.shape[1:] == (3, 32, 32)
    assert data.X_train.shape[0] + data.X_val.shape[0] + data.X_test.shape[0] == 20
    grey = cr.data.read_image(tmp_path / "dog" / "3.png", (5, 6), channels=1)
    assert grey.shape == (1, 5, 6) and grey.dtype == np.uint8
    with pytest.raises(FileNotFoundError, match="nope.png does not exist"):
        cr.data.read_image(tmp_path / "nope.png", 8)


def test_preprocess_specs_build_the_preprocessors():
    X = np.random.default_rng(0).random((40, 1, 4, 4)).astype(np.float32)
    assert preprocess_from_spec("none") is None and preprocess_from_spec(None) is None
    pc = preprocess_from_spec("perchannel").fit(X)
    np.testing.assert_allclose(pc(X), (X - X.mean()) / X.std(), rtol=1e-4, atol=1e-5)
    assert isinstance(preprocess_from_spec("center"), T.PerChannelNormalize)
    assert isinstance(preprocess_from_spec("mean-image"), T.MeanImage)
    assert preprocess_from_spec("zca").fit(X)(X).shape == X.shape
    assert preprocess_from_spec("pca:5").fit(X)(X).shape == (40, 5)
    assert set(PREPROCESSORS) == {"perchannel", "center", "mean-image", "zca", "pca", "none"}
    with pytest.raises(ValueError, match="unknown preprocessing 'whiten'.*perchannel"):
        preprocess_from_spec("whiten")
    with pytest.raises(ValueError, match="bad preprocessing 'pca:x'"):
        preprocess_from_spec("pca:x")


def test_every_augmentation_is_reachable_from_a_spec():
    X = np.random.default_rng(0).random((6, 3, 8, 8)).astype(np.float32)
    spec = ",".join(AUGMENTATIONS)
    aug = augment_from_spec(spec, X)
    kinds = {type(t) for t in aug.transforms}
    assert kinds == {T.RandomHorizontalFlip, T.RandomCrop, T.RandomScaleCrop, T.RandomResizedCrop,
                     T.RandomRotation, T.RandomAffine, T.ColorJitter, T.PCALighting,
                     T.RandomLensDistortion, T.ElasticDistortion}  # the last two: issue 26
    out = aug(X, rng=np.random.default_rng(1))
    assert out.shape == X.shape and np.isfinite(out).all()
    crop = augment_from_spec("crop:2", X)
    assert isinstance(crop, T.RandomCrop) and crop.padding == 2 and crop.size == (8, 8)
    scale = augment_from_spec("scale:8:12", X)
    assert (scale.min_size, scale.max_size, scale.crop) == (8, 12, (8, 8))
    assert augment_from_spec("rcrop:0.5", X).scale == (0.5, 1.0)
    assert augment_from_spec("rotate:30", X).degrees == (-30.0, 30.0)
    aff = augment_from_spec("affine:5:0.2:0.8:1.2", X)
    assert (aff.degrees, aff.translate, aff.scale) == ((-5.0, 5.0), (0.2, 0.2), (0.8, 1.2))
    jit = augment_from_spec("jitter:0.2", X[:, :1])  # grey images: no saturation
    assert (jit.brightness, jit.contrast, jit.saturation) == (0.2, 0.2, 0.0)
    assert augment_from_spec("none", X) is None and augment_from_spec("", X) is None
    assert crop_padding("flip,crop:3", (1, 8, 8)) == 3 and crop_padding("crop", (1, 16, 16)) == 2
    assert crop_padding("flip", (1, 8, 8)) == 0


def test_bad_augmentation_specs_name_the_problem():
    X = np.zeros((2, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match="unknown augmentation 'spin'.*flip"):
        augment_from_spec("flip,spin", X)
    with pytest.raises(ValueError, match="bad augmentation 'crop:x'"):
        augment_from_spec("crop:x", X)
    with pytest.raises(ValueError, match="lighting.*RGB|3 channels"):
        augment_from_spec("lighting", X)
    with pytest.raises(ValueError, match="needs images"):
        augment_from_spec("flip", np.zeros((2, 5), np.float32))
