"""`ImageFolder`: a folder of images, one sub-folder per class, read lazily (torchvision's ImageFolder).

    root/cat/001.png
    root/dog/x/a.jpeg        (sub-folders of a class count too)

Construction lists the classes and files only (no image is opened); `dataset[i]` decodes one image
(chainrule.data.decode: every bit depth and mode, EXIF orientation applied) and applies `transform`.
Classes, their indices and the file order are torchvision's: every sub-folder of root is a class
(hidden ones too), sorted by name; files sorted within each (os.walk order, sorted); extensions
matched case-insensitively. One difference: torchvision ignores EXIF orientation; this does not.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..utils.data.dataset import Dataset
from .decode import open_image

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def default_loader(path: str):
    """Decode one image file to an RGB PIL image."""
    return open_image(path, "RGB")


def find_classes(directory: str | Path) -> tuple[list[str], dict[str, int]]:
    """Sub-folder names, sorted, and name -> index."""
    classes = sorted(e.name for e in os.scandir(directory) if e.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory} (expected {directory}/<class>/<image>)")
    return classes, {c: i for i, c in enumerate(classes)}


def make_dataset(directory: str | Path, class_to_idx: dict[str, int], extensions: tuple[str, ...] | None = IMG_EXTENSIONS,
                 is_valid_file: Callable[[str], bool] | None = None, allow_empty: bool = False) -> list[tuple[str, int]]:
    """(path, class index) for every valid file under directory/<class>/, in torchvision's order."""
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
    valid = is_valid_file or (lambda p: p.lower().endswith(extensions))
    instances, found = [], set()
    for target_class in sorted(class_to_idx):
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if valid(path):
                    instances.append((path, class_to_idx[target_class]))
                    found.add(target_class)
    empty = set(class_to_idx) - found
    if empty and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
        if extensions is not None:
            msg += f"Supported extensions are: {', '.join(extensions)}"
        raise FileNotFoundError(msg)
    return instances


class ImageFolder(Dataset):
    """`dataset[i] -> (transform(image), target_transform(class index))`.

    classes: the class names; class_to_idx: name -> index; samples (also imgs): (path, index) pairs;
    targets: the indices. loader(path) decodes one file (default: an RGB PIL image).
    """

    def __init__(self, root: str | Path, transform: Callable | None = None, target_transform: Callable | None = None,
                 loader: Callable[[str], Any] = default_loader, is_valid_file: Callable[[str], bool] | None = None,
                 allow_empty: bool = False):
        self.root = os.fspath(Path(root).expanduser())
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"image folder {self.root} does not exist (expected root/<class>/<image>)")
        self.transform, self.target_transform, self.loader = transform, target_transform, loader
        self.classes, self.class_to_idx = find_classes(self.root)
        self.extensions = None if is_valid_file is not None else IMG_EXTENSIONS
        self.samples = make_dataset(self.root, self.class_to_idx, self.extensions, is_valid_file, allow_empty)
        self.imgs = self.samples
        self.targets = [t for _, t in self.samples]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[index]
        sample = self.loader(path)
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target

    def __len__(self) -> int:
        return len(self.samples)

    def __repr__(self) -> str:
        return (f"ImageFolder(root={self.root!r}, {len(self)} images, {len(self.classes)} classes, "
                f"transform={self.transform!r})")
