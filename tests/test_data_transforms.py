"""Preprocessing, augmentation and test-time views, checked pixel for pixel and statistically."""

import numpy as np
import pytest

from chainrule.data import transforms as T


def _imgs(n=6, c=3, h=9, w=11, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


# ------------------------------------------------------------------ augmentation
def test_horizontal_flip_pixels_and_frequency():
    x = _imgs(2000, c=1, h=2, w=3)
    t = T.RandomHorizontalFlip(0.5)
    params = t.get_params(x.shape, np.random.default_rng(4))
    out = t(x, rng=np.random.default_rng(4))
    f = params["flip"]
    assert np.array_equal(out[f], x[f][:, :, :, ::-1]) and np.array_equal(out[~f], x[~f])
    # binomial(2000, 0.5): sd 22.4, allow 4.5 sd
    assert abs(int(f.sum()) - 1000) < 100
    assert np.array_equal(T.RandomHorizontalFlip(0)(x), x)
    assert np.array_equal(T.RandomHorizontalFlip(1)(x), x[..., ::-1])
    flips = T.RandomHorizontalFlip(0.2).get_params((2000,), np.random.default_rng(0))["flip"].sum()
    assert abs(int(flips) - 400) < 80                         # sd 17.9


def test_random_crop_equals_slice_of_padded():
    x = _imgs(300, c=2, h=6, w=7)
    t = T.RandomCrop((5, 6), padding=2)
    params = t.get_params(x.shape, np.random.default_rng(1))
    out = t(x, rng=np.random.default_rng(1))
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for n in range(len(x)):
        i, j = params["top"][n], params["left"][n]
        assert np.array_equal(out[n], xp[n, :, i:i + 5, j:j + 6])
    assert set(params["top"]) == set(range(6)) and set(params["left"]) == set(range(6))
    assert np.array_equal(T.RandomCrop(6)(x[:, :, :, :6]), x[:, :, :, :6])   # no room: identity
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(12, padding=2)(x)


def _torch_resize(img, hw):
    torch = pytest.importorskip("torch")
    t = torch.nn.functional.interpolate(torch.from_numpy(img[None]).double(), size=hw, mode="bilinear",
                                        align_corners=False, antialias=False)
    return t[0].numpy()


def test_random_scale_crop_equals_resize_then_slice():
    x = _imgs(12, c=3, h=10, w=14).astype(np.float64)
    t = T.RandomScaleCrop(8, 20, crop=7)
    params = t.get_params(x.shape, np.random.default_rng(2))
    out = t.apply(x, params)
    assert out.shape == (12, 3, 7, 7) and len(set(params["L"])) > 3
    for n in range(len(x)):
        big = _torch_resize(x[n], tuple(params["resized"][n]))
        assert min(big.shape[1:]) == params["L"][n]
        i, j = params["top"][n], params["left"][n]
        np.testing.assert_allclose(out[n], big[:, i:i + 7, j:j + 7], atol=1e-9)


def test_random_resized_crop_equals_crop_then_resize():
    x = _imgs(64, c=3, h=16, w=20).astype(np.float64)
    t = T.RandomResizedCrop((8, 10), scale=(0.2, 1.0))
    params = t.get_params(x.shape, np.random.default_rng(3))
    out = t.apply(x, params)
    area = params["height"] * params["width"] / (16 * 20)
    ratio = params["width"] / params["height"]
    assert np.all(area > 0.15) and np.all(area <= 1.0)
    assert np.all(ratio > 0.7) and np.all(ratio < 1.45)
    for n in range(len(x)):
        t0, l0, h, w = (int(params[k][n]) for k in ("top", "left", "height", "width"))
        ref = _torch_resize(x[n, :, t0:t0 + h, l0:l0 + w], (8, 10))
        np.testing.assert_allclose(out[n], ref, atol=1e-9)
    # an impossible ratio falls back to a centre crop of the nearest allowed ratio
    p = T.RandomResizedCrop(4, ratio=(3.0, 4.0)).get_params((5, 3, 16, 16), np.random.default_rng(0))
    assert np.all(p["width"] <= 16) and np.all(p["height"] >= 1)


def test_color_jitter_matches_formulas():
    x = _imgs(50)
    t = T.ColorJitter(brightness=0.4, contrast=0.3, saturation=0.5)
    params = t.get_params(x.shape, np.random.default_rng(5))
    out = t.apply(x, params)
    b = params["brightness"][:, None, None, None]
    c = params["contrast"][:, None, None, None]
    s = params["saturation"][:, None, None, None]
    grey = lambda im: (0.299 * im[:, 0] + 0.587 * im[:, 1] + 0.114 * im[:, 2])[:, None]  # noqa: E731
    ref = x.astype(np.float64) * b
    ref = ref * c + grey(ref).mean(axis=(1, 2, 3), keepdims=True) * (1 - c)
    ref = ref * s + grey(ref) * (1 - s)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert params["brightness"].min() >= 0.6 and params["brightness"].max() <= 1.4
    assert params["contrast"].min() >= 0.7 and params["saturation"].max() <= 1.5
    clipped = T.ColorJitter(brightness=0.9, clip=(0, 1))(x, rng=np.random.default_rng(0))
    assert clipped.min() >= 0 and clipped.max() <= 1
    with pytest.raises(ValueError, match="saturation needs RGB"):
        T.ColorJitter(saturation=0.5)(x[:, :1])


def test_pca_lighting_adds_exact_offset():
    X = _imgs(40, h=5, w=5)
    t = T.PCALighting(alphastd=0.1).fit(X)
    evals, evecs = np.linalg.eigh(np.cov(X.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float64)))
    np.testing.assert_allclose(t.eigval, evals[::-1], rtol=1e-5)
    np.testing.assert_allclose(np.abs(t.eigvec), np.abs(evecs[:, ::-1]), atol=1e-5)
    params = t.get_params(X.shape, np.random.default_rng(6))
    out = t.apply(X, params)
    for n in range(len(X)):
        off = sum(params["alpha"][n, i] * t.eigval[i] * t.eigvec[:, i] for i in range(3))
        np.testing.assert_allclose(out[n] - X[n], np.broadcast_to(off[:, None, None], X[n].shape), atol=1e-6)
    assert params["alpha"].std() == pytest.approx(0.1, rel=0.3)
    with pytest.raises(RuntimeError, match="not fitted"):
        T.PCALighting()(X)


def test_augmentations_reject_bad_input_and_are_seeded():
    u8 = np.zeros((2, 3, 8, 8), np.uint8)
    for t in [T.RandomHorizontalFlip(), T.RandomCrop(4), T.ColorJitter(0.1), T.RandomResizedCrop(4)]:
        with pytest.raises(TypeError, match="ToFloat"):
            t(u8)
        with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
            t(np.zeros((3, 8, 8), np.float32))
    x = _imgs(8)
    pipe = T.Compose([T.ToFloat(1.0), T.RandomScaleCrop(9, 12, 8), T.RandomHorizontalFlip(),
                      T.ColorJitter(0.2, 0.2, 0.2)])
    a = pipe(x, rng=np.random.default_rng(0))
    assert np.array_equal(a, pipe(x, rng=np.random.default_rng(0)))
    assert not np.array_equal(a, pipe(x, rng=np.random.default_rng(1)))
    import chainrule as cr
    cr.manual_seed(3)
    b = pipe(x)
    cr.manual_seed(3)
    assert np.array_equal(b, pipe(x))   # without rng: the shared generator


def test_to_float_and_center_crop():
    u8 = np.arange(2 * 1 * 4 * 5, dtype=np.uint8).reshape(2, 1, 4, 5)
    f = T.ToFloat()(u8)
    assert f.dtype == np.float32 and np.allclose(f * 255, u8)
    assert np.array_equal(T.CenterCrop((2, 3))(u8), u8[:, :, 1:3, 1:4])


# ------------------------------------------------------------------ test time
def test_ten_crop_layout():
    x = _imgs(3, h=6, w=7)
    v = T.TenCrop((4, 5))(x)
    assert v.shape == (10, 3, 3, 4, 5)
    refs = [x[:, :, :4, :5], x[:, :, :4, 2:], x[:, :, 2:, :5], x[:, :, 2:, 2:], x[:, :, 1:5, 1:6]]
    for k, r in enumerate(refs):
        assert np.array_equal(v[k], r)
        # the flipped five are the crops of the mirrored image
        m = x[..., ::-1]
        assert np.array_equal(v[5 + k], [m[:, :, :4, :5], m[:, :, :4, 2:], m[:, :, 2:, :5],
                                         m[:, :, 2:, 2:], m[:, :, 1:5, 1:6]][k])
    with pytest.raises(ValueError, match="larger than the images"):
        T.TenCrop(8)(x)


def _linear_model(seed=0, d=3 * 4 * 5, k=4):
    W = np.random.default_rng(seed).standard_normal((d, k))
    return lambda v: v.reshape(len(v), -1) @ W


def test_predict_tta_averages_probabilities():
    x = _imgs(5, h=6, w=7)
    f = _linear_model()
    probs = T.predict_tta(f, x, T.TenCrop((4, 5)), logits=True, batch_size=2)
    views = T.TenCrop((4, 5))(x)

    def sm(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    ref = np.mean([sm(f(views[i])) for i in range(10)], axis=0)
    np.testing.assert_allclose(probs, ref, atol=1e-10)
    np.testing.assert_allclose(probs.sum(1), 1)
    # probabilities in: averaged as given
    p = T.predict_tta(lambda v: sm(f(v)), x, T.TenCrop((4, 5)))
    np.testing.assert_allclose(p, ref, atol=1e-10)
    with pytest.raises(ValueError, match=r"\(N, num_classes\)"):
        T.predict_tta(lambda v: v, x)


def test_predict_multiscale():
    x = _imgs(4, h=6, w=8)
    f = _linear_model(d=3 * 4 * 5)
    got = T.predict_multiscale(f, x, scales=[6, 9], crops=T.TenCrop((4, 5)), logits=True)
    ref = (T.predict_tta(f, x, T.TenCrop((4, 5)), logits=True)
           + T.predict_tta(f, T.Resize(9)(x), T.TenCrop((4, 5)), logits=True)) / 2
    np.testing.assert_allclose(got, ref, atol=1e-10)
    assert T.Resize(9)(x).shape == (4, 3, 9, 12)
    np.testing.assert_allclose(T.Resize(6)(x), x)   # same size: unchanged
    # the resize is torch's bilinear (align_corners=False, no antialias)
    np.testing.assert_allclose(T.Resize((5, 11))(x.astype(np.float64))[1], _torch_resize(x[1].astype(np.float64), (5, 11)),
                               atol=1e-9)
