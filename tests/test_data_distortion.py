"""Lens and elastic distortion (issue 26 item 8): exact on a ramp image (bilinear reads a linear
function exactly), identity at zero strength, per-image randomness from the loader's rng, the
--augment specs."""
import numpy as np
import pytest

from chainrule.data.transforms import ElasticDistortion, RandomLensDistortion
from chainrule.data.transforms.spec import augment_from_spec

H, W = 12, 16


def ramps(n=3):
    yy, xx = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    return np.broadcast_to(np.stack([xx, yy])[None], (n, 2, H, W)).copy()  # channel 0: x, channel 1: y


def test_zero_strength_is_the_identity():
    x = np.random.default_rng(0).standard_normal((2, 3, H, W))
    np.testing.assert_allclose(RandomLensDistortion(0.0)(x, rng=np.random.default_rng(0)), x, atol=1e-12)
    np.testing.assert_allclose(ElasticDistortion(0.0, 3.0)(x, rng=np.random.default_rng(0)), x, atol=1e-12)


def test_lens_reads_each_pixel_from_the_radial_formula():
    t = RandomLensDistortion(0.3)
    x = ramps()
    params = t.get_params(x.shape, np.random.default_rng(1))
    out = t.apply(x, params)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    yy, xx = np.meshgrid(np.arange(H) - cy, np.arange(W) - cx, indexing="ij")
    for n, k in enumerate(params["k"]):
        g = 1 + k * (xx ** 2 + yy ** 2) / (cx ** 2 + cy ** 2)
        qx, qy = cx + xx * g, cy + yy * g
        inside = (qx >= 0) & (qx <= W - 1) & (qy >= 0) & (qy <= H - 1)
        np.testing.assert_allclose(out[n, 0][inside], qx[inside], atol=1e-9)
        np.testing.assert_allclose(out[n, 1][inside], qy[inside], atol=1e-9)
    assert len(set(np.round(params["k"], 12))) == 3 and np.all(np.abs(params["k"]) <= 0.3)


def test_elastic_displaces_by_a_smooth_field_of_alpha_pixels():
    t = ElasticDistortion(alpha=8.0, sigma=3.0)
    x = ramps(2)
    params = t.get_params(x.shape, np.random.default_rng(2))
    out = t.apply(x, params)
    d = params["d"]
    qx = x[:, 0] + d[:, 0]
    inside = (qx >= 0) & (qx <= W - 1) & (x[:, 1] + d[:, 1] >= 0) & (x[:, 1] + d[:, 1] <= H - 1)
    np.testing.assert_allclose(out[:, 0][inside], qx[inside], atol=1e-9)
    # smooth: neighbouring displacements differ much less than the displacements themselves
    assert np.abs(np.diff(d, axis=-1)).mean() < 0.5 * np.abs(d).mean()
    assert not np.allclose(d[0], d[1])  # a new field per image
    a = t(x, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, t(x, rng=np.random.default_rng(5)))  # reproducible from the rng


def test_specs_and_errors():
    X = np.zeros((4, 1, 8, 8), np.float32)
    aug = augment_from_spec("lens:0.2,elastic:5:2", X)
    assert aug(X, rng=np.random.default_rng(0)).shape == X.shape
    assert augment_from_spec("lens", X).k == 0.3
    with pytest.raises(ValueError, match="bad augmentation 'lens:1.5'"):
        augment_from_spec("lens:1.5", X)
    with pytest.raises(ValueError, match="sigma > 0"):
        ElasticDistortion(3.0, 0.0)


def test_train_cli_takes_the_specs(tmp_path, capsys):
    from chainrule.cli import main
    assert main(["train", "--model", "small_cnn", "--model-args", '{"channels": [4, 8, 8]}', "--subsample", "100",
                 "--epochs", "1", "--batch-size", "50", "--augment", "lens:0.2,elastic:4:2", "--quiet",
                 "--out", str(tmp_path / "r")]) == 0
