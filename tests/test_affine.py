"""RandomAffine / RandomRotation: exact geometry, seeding, and scipy's bilinear warp."""
import numpy as np
import pytest

from chainrule.data import transforms as T
from chainrule.data.transforms.affine import affine_matrices, warp_affine


def _batch(n=3, c=2, h=6, w=6, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, c, h, w)).astype(dtype)


def _params(n, angle=0.0, translate=(0, 0), scale=1.0, shear=(0.0, 0.0)):
    return {"angle": np.full(n, float(angle)), "translate": np.tile(np.asarray(translate), (n, 1)),
            "scale": np.full(n, float(scale)), "shear": np.tile(np.asarray(shear, float), (n, 1))}


def test_zero_transform_is_the_identity():
    x = _batch(h=5, w=7)
    out = T.RandomAffine(0)(x, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(T.RandomAffine(30).apply(x, _params(3)), x)


@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_quarter_turns_equal_rot90_counter_clockwise(k):
    x = _batch(h=6, w=6)
    out = T.RandomRotation(90).apply(x, {"angle": np.full(3, 90.0 * k)})
    np.testing.assert_array_equal(out, np.rot90(x, k, axes=(2, 3)))  # rot90: counter-clockwise
    odd = _batch(h=5, w=5, dtype=np.float32)
    np.testing.assert_array_equal(T.RandomRotation(90).apply(odd, {"angle": np.full(3, 90.0 * k)}),
                                  np.rot90(odd, k, axes=(2, 3)))


def test_direction_on_a_single_pixel():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 4] = 1.0                                  # right of the centre
    out = T.RandomRotation(90).apply(x, {"angle": np.array([90.0])})
    assert out[0, 0, 0, 2] == 1.0 and out.sum() == 1.0   # now above it: counter-clockwise


@pytest.mark.parametrize("tx,ty", [(2, 0), (0, -1), (-3, 2)])
def test_whole_pixel_translation_is_a_roll_with_fill(tx, ty):
    x = _batch(h=6, w=8)
    fill = -7.0
    out = T.RandomAffine(0, fill=fill).apply(x, _params(3, translate=(tx, ty)))
    ref = np.roll(x, (ty, tx), axis=(2, 3))
    if ty > 0:
        ref[:, :, :ty] = fill
    elif ty < 0:
        ref[:, :, ty:] = fill
    if tx > 0:
        ref[:, :, :, :tx] = fill
    elif tx < 0:
        ref[:, :, :, tx:] = fill
    np.testing.assert_array_equal(out, ref)


def test_matrices_compose_rotation_scale_shear():
    A = affine_matrices([30.0], [2.0], [[10.0, -5.0]])[0]
    a, sx, sy = np.radians(30), np.radians(10), np.radians(-5)
    R = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    ref = 2 * R @ np.array([[1, 0], [-np.tan(sy), 1]]) @ np.array([[1, -np.tan(sx)], [0, 1]])
    np.testing.assert_allclose(A, ref, rtol=1e-14)


@pytest.mark.parametrize("fill", [0.0, 0.5])
def test_general_transform_equals_scipy_bilinear(fill):
    ndimage = pytest.importorskip("scipy.ndimage")
    x = _batch(n=4, c=2, h=9, w=11, seed=3)
    aug = T.RandomAffine(40, translate=(0.2, 0.2), scale=(0.7, 1.3), shear=(-20, 20, -10, 10), fill=fill)
    params = aug.get_params(x.shape, np.random.default_rng(5))
    out = aug.apply(x, params)
    A = affine_matrices(params["angle"], params["scale"], params["shear"])
    H, W = x.shape[2:]
    c = np.array([(H - 1) / 2, (W - 1) / 2])             # (row, col)
    P = np.array([[0, 1], [1, 0]])                       # (x, y) <-> (row, col)
    for n in range(x.shape[0]):
        M = P @ np.linalg.inv(A[n]) @ P                  # output (row, col) -> input (row, col)
        t = params["translate"][n][::-1]
        offset = c - M @ (c + t)
        for ch in range(x.shape[1]):
            ref = ndimage.affine_transform(x[n, ch], M, offset=offset, order=1, mode="grid-constant", cval=fill)
            np.testing.assert_allclose(out[n, ch], ref, rtol=1e-10, atol=1e-12)


def test_seeded_and_per_image():
    x = np.repeat(_batch(n=1), 8, axis=0)
    aug = T.RandomAffine(30, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10)
    a = aug(x, rng=np.random.default_rng(1))
    b = aug(x, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])                   # each image its own draw
    p = aug.get_params(x.shape, np.random.default_rng(2))
    assert np.all(np.abs(p["angle"]) <= 30) and np.all(np.abs(p["translate"]) <= 1)  # round(0.1 * 6)
    assert p["translate"].dtype.kind == "i"


def test_dtype_kept_and_used_in_compose():
    x = _batch(dtype=np.float32)
    out = T.Compose([T.RandomRotation(15), T.RandomHorizontalFlip()])(x, rng=np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == x.shape


def test_repr_holds_the_settings():
    assert repr(T.RandomRotation(10)) == "RandomRotation(degrees=(-10.0, 10.0), fill=0.0)"
    r = repr(T.RandomAffine(5, translate=(0.1, 0.2), scale=(0.9, 1.1), shear=3, fill=1))
    assert "translate=(0.1, 0.2)" in r and "shear=(-3.0, 3.0, 0.0, 0.0)" in r and "fill=1.0" in r


def test_bad_arguments():
    with pytest.raises(ValueError, match="non-negative"):
        T.RandomRotation(-5)
    with pytest.raises(ValueError, match="translate"):
        T.RandomAffine(0, translate=(0.1, 2.0))
    with pytest.raises(ValueError, match="scale"):
        T.RandomAffine(0, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="shear"):
        T.RandomAffine(0, shear=(1, 2, 3))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        T.RandomRotation(5)(np.zeros((3, 4, 4)))
    with pytest.raises(TypeError, match="float"):
        T.RandomRotation(5)(np.zeros((1, 1, 4, 4), np.uint8))


def test_warp_keeps_a_constant_image_inside():
    x = np.full((2, 1, 8, 8), 3.0)
    out = warp_affine(x, affine_matrices([10.0, -20.0]), fill=3.0)
    np.testing.assert_allclose(out, 3.0)


def test_rotation_equals_torch_grid_sample():
    torch = pytest.importorskip("torch")
    x = _batch(n=3, c=2, h=9, w=9, seed=4)
    angles = np.array([17.0, -33.0, 120.0])
    out = T.RandomRotation(180).apply(x, {"angle": angles})
    inv = np.linalg.inv(affine_matrices(angles))       # output -> input, (x, y) about the centre
    theta = torch.tensor(np.concatenate([inv, np.zeros((3, 2, 1))], axis=2))  # square: same in [-1, 1]
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    ref = torch.nn.functional.grid_sample(torch.tensor(x), grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10, atol=1e-12)
