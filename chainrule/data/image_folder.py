"""A folder of images, one sub-folder per class (the torchvision ImageFolder layout).

    root/cat/001.png
    root/cat/x.jpg
    root/dog/a.jpeg

`load_image_folder` decodes every image into memory: uint8 (N, 3, H, W) resized to `size`, for
folders that fit in memory. `ImageFolder` (chainrule.data.folder) streams instead.
Classes are the sub-folder names, sorted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .decode import open_image
from .transforms.base import image_size
from .splits import Splits, make_splits, stratified_split

EXTENSIONS = (".png", ".jpg", ".jpeg")


def read_image(path: str | Path, size, channels: int = 3, background=None) -> np.ndarray:
    """One image file -> uint8 (channels, H, W): RGB for 3 channels, grey for 1, upright (EXIF),
    any bit depth or mode (see chainrule.data.decode; alpha dropped unless `background`), resized
    (bilinear, aspect ratio not kept; a large JPEG is decoded at a reduced size first).
    FileNotFoundError / DataFileError name the file."""
    from PIL import Image

    if channels not in (1, 3):
        raise ValueError(f"read_image: channels must be 1 (grey) or 3 (RGB), got {channels}")
    h, w = image_size(size, "read_image")
    im = open_image(path, "RGB" if channels == 3 else "L", background, draft=(w, h))
    if im.size != (w, h):
        im = im.resize((w, h), Image.Resampling.BILINEAR)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_image_folder(root, size=32, val_size: int | float | None = 0.1,
                      test_size: int | float = 0.2, subsample: int | None = None,
                      seed: int = 0) -> Splits:
    """Images under root/<class>/ -> Splits of uint8 (N, 3, H, W), split train/val/test.

    size: int or (height, width). The test set is taken first (stratified by class,
    seeded), then the validation set from the rest.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist (expected root/<class>/<image>.png)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files, labels = [], []
    for c, name in enumerate(classes):
        for f in sorted((root / name).rglob("*")):
            if f.is_file() and f.suffix.lower() in EXTENSIONS:
                files.append(f)
                labels.append(c)
    if not files:
        raise FileNotFoundError(f"no {'/'.join(EXTENSIONS)} images found in class sub-folders of {root}")
    h, w = image_size(size, "load_image_folder")
    X = np.empty((len(files), 3, h, w), np.uint8)
    for i, f in enumerate(files):
        X[i] = read_image(f, (h, w))
    y = np.asarray(labels, np.int64)
    train, test = stratified_split(y, test_size, seed=seed, what="test_size")
    info = dict(name=root.name, source=str(root), image_shape=(3, h, w), dtype="uint8",
                value_range=(0, 255), test_size=test_size,
                test_files=[str(files[i]) for i in test])
    return make_splits(X[train], y[train], X[test], y[test], classes, info,
                       val_size=val_size, subsample=subsample, seed=seed)
