"""Image decoding (every mode, EXIF), ImageFolder (torchvision's layout rules), per-sample transforms
(torchvision's formulas) and the built-in datasets as Datasets."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageStat

import chainrule as cr
from chainrule.data import DataFileError, ImageFolder, read_image
from chainrule.data.decode import open_image
from chainrule.data.vision import functional as VF
from chainrule.data.vision import transforms as T
from chainrule.utils.data import DataLoader, Generator

from _shared_data import shared_data


def _arr(im):
    return np.asarray(im).astype(np.int64)


# ------------------------------------------------------------------ decoding
def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    v = np.array([[0, 257, 32768, 65535], [1000, 20000, 40000, 60000]], np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode in ("I;16", "I")   # older Pillow opens it as I
    want = np.rint(v * 255.0 / 65535.0).astype(np.int64)
    assert (_arr(open_image(tmp_path / "g16.png", "L")) == want).all()
    rgb = read_image(tmp_path / "g16.png", (2, 4))
    assert (rgb == want[None]).all()          # grey in all 3 channels, no longer black and white
    assert len(np.unique(rgb)) == 8


def test_32bit_integer_grey_and_float(tmp_path):
    v = np.array([[0, 65535], [256, 1000]], np.int32)
    Image.fromarray(v, "I").save(tmp_path / "i32.tif")
    assert (_arr(open_image(tmp_path / "i32.tif", "L")) == np.rint(v * 255 / 65535)).all()
    Image.fromarray(np.ones((2, 2), np.float32), "F").save(tmp_path / "f.tif")
    with pytest.raises(DataFileError, match="float"):
        open_image(tmp_path / "f.tif")


def test_palette_with_and_without_transparency(tmp_path):
    p = Image.new("P", (2, 1))
    p.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    p.putpixel((0, 0), 0)
    p.putpixel((1, 0), 1)
    p.save(tmp_path / "p.png")
    assert _arr(open_image(tmp_path / "p.png")).tolist() == [[[10, 20, 30], [200, 100, 50]]]
    p.save(tmp_path / "pt.png", transparency=0)
    assert _arr(open_image(tmp_path / "pt.png")).tolist() == [[[10, 20, 30], [200, 100, 50]]]  # alpha dropped
    white = open_image(tmp_path / "pt.png", background=(255, 255, 255))
    assert _arr(white).tolist() == [[[255, 255, 255], [200, 100, 50]]]


def test_rgba_and_la_drop_alpha_or_composite(tmp_path):
    Image.fromarray(np.array([[[200, 100, 0, 0], [200, 100, 0, 128]]], np.uint8), "RGBA").save(tmp_path / "a.png")
    assert _arr(open_image(tmp_path / "a.png")).tolist() == [[[200, 100, 0], [200, 100, 0]]]
    over = _arr(open_image(tmp_path / "a.png", background=(0, 0, 255)))
    assert over[0, 0].tolist() == [0, 0, 255]
    assert np.abs(over[0, 1] - np.array([200, 100, 0]) * 128 / 255 - np.array([0, 0, 255]) * 127 / 255).max() <= 1
    Image.fromarray(np.array([[[90, 0], [90, 255]]], np.uint8), "LA").save(tmp_path / "la.png")
    assert _arr(open_image(tmp_path / "la.png")).tolist() == [[[90] * 3, [90] * 3]]
    assert read_image(tmp_path / "la.png", (1, 2), channels=1).tolist() == [[[90, 90]]]


def test_cmyk_grey_and_bilevel(tmp_path):
    cmyk = Image.new("CMYK", (3, 2), (0, 255, 255, 0))     # no black ink, full magenta + yellow: red
    cmyk.save(tmp_path / "c.tif")
    assert (_arr(open_image(tmp_path / "c.tif")) == [255, 0, 0]).all()
    cmyk.save(tmp_path / "c.jpg", quality=100)
    assert np.abs(_arr(open_image(tmp_path / "c.jpg")) - [255, 0, 0]).max() <= 3
    Image.new("L", (2, 2), 77).save(tmp_path / "l.png")
    assert (_arr(open_image(tmp_path / "l.png")) == 77).all() and open_image(tmp_path / "l.png").mode == "RGB"
    Image.new("1", (2, 2), 1).save(tmp_path / "b.png")
    assert (_arr(open_image(tmp_path / "b.png", "L")) == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = [255, 0, 0]                      # left half red, right half blue
    a[:, 20:] = [0, 0, 255]
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6                              # "rotate 90 CW to display"
    im.save(tmp_path / "o.jpg", exif=exif, quality=95)
    up = _arr(open_image(tmp_path / "o.jpg"))
    assert up.shape == (40, 20, 3)                # portrait, as a viewer shows it
    assert up[5, 10, 0] > 200 and up[35, 10, 2] > 200   # red on top after the rotation
    assert read_image(tmp_path / "o.jpg", (40, 20)).shape == (3, 40, 20)


def test_errors_name_the_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DataFileError, match="bad.png"):
        open_image(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        open_image(tmp_path / "nope.png")


def test_jpeg_draft_decodes_at_reduced_size_close_to_full(tmp_path):
    yy, xx = np.mgrid[0:480, 0:640]
    a = np.stack([xx * 255 // 640, yy * 255 // 480, (xx + yy) % 256 // 2], -1).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "big.jpg", quality=90)
    small = open_image(tmp_path / "big.jpg", draft=(100, 100))
    assert small.size == (160, 120)               # 1/4 scale: still >= the requested 100 x 100
    full = read_image(tmp_path / "big.jpg", (60, 80)).astype(np.int64)
    ref = np.asarray(Image.open(tmp_path / "big.jpg").convert("RGB").resize((80, 60), Image.BILINEAR)).transpose(2, 0, 1)
    assert np.abs(full - ref).mean() < 3


# --------------------------------------------------------------- ImageFolder
def _folder(root, layout):
    for rel, colour in layout.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 10), colour).save(p)


def test_image_folder_follows_torchvisions_rules(tmp_path):
    _folder(tmp_path, {"dog/b.png": (1, 1, 1), "dog/A.JPG": (2, 2, 2), "cat/z/1.png": (3, 3, 3),
                       "cat/0.png": (4, 4, 4), ".hidden/x.png": (5, 5, 5), "Zebra/q.bmp": (6, 6, 6)})
    (tmp_path / "cat" / "notes.txt").write_text("skip me")
    ds = ImageFolder(tmp_path)
    assert ds.classes == [".hidden", "Zebra", "cat", "dog"]          # sorted, hidden folders too
    assert ds.class_to_idx == {".hidden": 0, "Zebra": 1, "cat": 2, "dog": 3}
    rel = [(os.path.relpath(p, tmp_path), t) for p, t in ds.samples]
    assert rel == [(".hidden/x.png", 0), ("Zebra/q.bmp", 1), ("cat/0.png", 2), ("cat/z/1.png", 2),
                   ("dog/A.JPG", 3), ("dog/b.png", 3)]
    assert ds.targets == [0, 1, 2, 2, 3, 3] and ds.imgs is ds.samples and len(ds) == 6
    img, t = ds[3]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and _arr(img)[0, 0].tolist() == [3, 3, 3] and t == 2


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="class folder"):
        ImageFolder(tmp_path)
    (tmp_path / "empty").mkdir()
    _folder(tmp_path, {"full/a.png": (0, 0, 0)})
    with pytest.raises(FileNotFoundError, match="no valid file for the classes empty"):
        ImageFolder(tmp_path)
    assert len(ImageFolder(tmp_path, allow_empty=True)) == 1


def test_image_folder_streams_through_workers_with_the_same_augmentation(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for i in range(7):
            p = tmp_path / c / f"{i}.jpg"
            p.parent.mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (40, 50, 3), np.uint8)).save(p)
    tf = T.Compose([T.RandomResizedCrop(24), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4, 0.1),
                    T.ToTensor(), T.Normalize([0.5] * 3, [0.25] * 3)])
    ds = ImageFolder(tmp_path, transform=tf)
    runs = [[(x.data.copy(), y.data.tolist()) for x, y in
             DataLoader(ds, 4, shuffle=True, num_workers=nw, generator=Generator().manual_seed(1))] for nw in (0, 2)]
    assert runs[0][0][0].shape == (4, 3, 24, 24) and runs[0][0][0].dtype == np.float32
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(*runs))
    assert sorted(sum((r[1] for r in runs[0]), [])) == [0] * 7 + [1] * 7


# ---------------------------------------------------------------- transforms
def _img(h=6, w=8, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8))


def test_to_tensor_and_normalize_formulas():
    im = _img()
    x = T.ToTensor()(im)
    assert x.shape == (3, 6, 8) and x.data.dtype == np.float32
    np.testing.assert_allclose(x.data, np.asarray(im).transpose(2, 0, 1) / 255.0, rtol=1e-6)
    y = T.Normalize([0.1, 0.2, 0.3], [0.5, 0.25, 2.0])(x)
    np.testing.assert_allclose(y.data[1], (x.data[1] - 0.2) / 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize([0.0] * 3, [1.0, 0.0, 1.0])(x)
    with pytest.raises(TypeError, match="ToTensor"):
        T.Normalize([0.0], [1.0])(T.PILToTensor()(im))


def test_resize_sets_the_shorter_side_as_torchvision():
    assert T.Resize(15)(_img(30, 40)).size == (20, 15)     # (w, h): h short -> 15, w = int(15 * 40 / 30)
    assert T.Resize(15)(_img(41, 30)).size == (15, 20)     # int(15 * 41 / 30) = 20
    assert T.Resize((7, 9))(_img()).size == (9, 7)
    assert T.Resize(10, max_size=12)(_img(10, 30)).size == (12, 4)
    im = _img(10, 20)
    ref = im.resize((10, 5), Image.BILINEAR)
    assert np.array_equal(_arr(T.Resize(5)(im)), _arr(ref))


def test_center_crop_rounding_and_padding():
    im = _img(6, 7)
    a = _arr(im)
    assert np.array_equal(_arr(T.CenterCrop(3)(im)), a[2:5, 2:5])   # round(1.5) = 2, round(2.0) = 2
    big = _arr(T.CenterCrop((8, 9))(im))                              # pads (9-7)//2=1 left, (8-6)//2=1 top
    assert big.shape == (8, 9, 3) and np.array_equal(big[1:7, 1:8], a) and big[0].sum() == 0


def test_random_crop_is_a_window_of_the_padded_image():
    im = _img(5, 5)
    padded = np.pad(_arr(im), ((2, 2), (2, 2), (0, 0)))
    cr.manual_seed(0)
    for _ in range(10):
        out = _arr(T.RandomCrop(5, padding=2)(im))
        assert any(np.array_equal(out, padded[i:i + 5, j:j + 5]) for i in range(5) for j in range(5))
    assert _arr(T.RandomCrop((7, 5), pad_if_needed=True)(im)).shape == (7, 5, 3)
    with pytest.raises(ValueError, match="larger than input image"):
        T.RandomCrop(9)(im)


def test_flip_probability():
    im = _img()
    assert np.array_equal(_arr(T.RandomHorizontalFlip(1.0)(im)), _arr(im)[:, ::-1])
    assert np.array_equal(_arr(T.RandomHorizontalFlip(0.0)(im)), _arr(im))


def test_random_resized_crop_params_and_fallback():
    im = _img(60, 80)
    cr.manual_seed(3)
    for _ in range(200):
        i, j, h, w = T.RandomResizedCrop.get_params(im, (0.08, 1.0), (3 / 4, 4 / 3))
        assert 0 <= i <= 60 - h and 0 <= j <= 80 - w
        assert 0.08 * 4800 * 0.85 <= h * w <= 4800 and 0.6 < w / h < 1.5
    # an impossible scale: 10 tries fail, then the central crop at the widest allowed ratio
    assert T.RandomResizedCrop.get_params(_img(10, 100), (2.0, 2.0), (3 / 4, 4 / 3)) == (0, 43, 10, 13)
    assert T.RandomResizedCrop.get_params(_img(100, 10), (2.0, 2.0), (3 / 4, 4 / 3)) == (43, 0, 13, 10)
    assert T.RandomResizedCrop(24)(im).size == (24, 24)


def test_color_jitter_formulas():
    im = _img(8, 8, seed=1)
    a = _arr(im).astype(np.float64)
    assert np.abs(_arr(VF.adjust_brightness(im, 1.5)) - np.clip(a * 1.5, 0, 255)).max() <= 1
    mean = int(ImageStat.Stat(im.convert("L")).mean[0] + 0.5)
    assert np.abs(_arr(VF.adjust_contrast(im, 0.3)) - np.clip(mean + 0.3 * (a - mean), 0, 255)).max() <= 1
    grey = _arr(im.convert("L").convert("RGB"))
    assert np.abs(_arr(VF.adjust_saturation(im, 0.0)) - grey).max() <= 1
    green = _arr(VF.adjust_hue(Image.new("RGB", (1, 1), (255, 0, 0)), 1 / 3))[0, 0]
    assert green[1] > 240 and green[0] < 20 and green[2] < 20
    assert T.ColorJitter(brightness=0.4).brightness == (0.6, 1.4)
    assert T.ColorJitter(hue=0.1).hue == (-0.1, 0.1) and T.ColorJitter().hue is None
    with pytest.raises(ValueError):
        T.ColorJitter(hue=0.6)
    cr.manual_seed(0)
    out = T.ColorJitter(0.5, 0.5, 0.5, 0.2)(im)
    assert out.size == im.size and not np.array_equal(_arr(out), _arr(im))


# ------------------------------------------------------- built-in datasets
def test_splits_and_the_official_datasets_are_datasets():
    d = cr.data.load_digits()
    ds = d.dataset("val")
    x, y = ds[0]
    assert len(ds) == 360 and x.shape == (1, 8, 8) and y == d.y_val[0]
    xb, yb = next(iter(DataLoader(ds, 16)))
    np.testing.assert_array_equal(xb.data, d.X_val[:16])
    root = shared_data() / "mnist"
    if not root.is_dir():
        pytest.skip("no shared MNIST copy")
    m = cr.data.MNIST(root, train=False, transform=T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    x, y = m[0]
    assert len(m) == 10000 and x.shape == (1, 28, 28) and isinstance(y, int)
    raw = cr.data.MNIST(root, train=False)[0][0]
    assert isinstance(raw, Image.Image) and raw.mode == "L"
    np.testing.assert_allclose(x.data[0], (np.asarray(raw) / 255.0 - 0.1307) / 0.3081, rtol=1e-5)
