"""Per-image operations with explicit parameters, as torchvision.transforms.functional does them for
PIL images (the same Pillow calls and rounding, so equal parameters give equal pixels). Images are
PIL images; `to_pil` also takes a uint8 array (H, W) or (H, W, C)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...tensor import Tensor


def to_pil(img):
    """A PIL image, or a uint8 array (H, W) / (H, W, 3) made into one; anything else: TypeError."""
    from PIL import Image

    if isinstance(img, Image.Image):
        return img
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))):
        return Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img)
    raise TypeError(f"expected a PIL image or a uint8 array (H, W[, C]), got {type(img).__name__}"
                    + (f" {img.dtype} {img.shape}" if isinstance(img, np.ndarray) else "")
                    + " (the geometric and colour transforms come before ToTensor)")


def size_hw(img) -> tuple[int, int]:
    w, h = to_pil(img).size
    return h, w


def to_tensor(img) -> Tensor:
    """PIL image / uint8 array (H, W, C) -> float32 Tensor (C, H, W) in [0, 1]."""
    a = np.asarray(to_pil(img) if not isinstance(img, np.ndarray) else img)
    if a.ndim == 2:
        a = a[:, :, None]
    out = a.transpose(2, 0, 1)
    return Tensor(np.ascontiguousarray(out, dtype=np.float32) / np.float32(255) if a.dtype == np.uint8
                  else np.ascontiguousarray(out))


def pil_to_tensor(img) -> Tensor:
    """PIL image -> uint8 Tensor (C, H, W), values unchanged."""
    a = np.asarray(to_pil(img))
    return Tensor(np.ascontiguousarray((a[:, :, None] if a.ndim == 2 else a).transpose(2, 0, 1)))


def normalize(x, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """(x - mean) / std per channel; x: (..., C, H, W) float."""
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind != "f":
        raise TypeError(f"Normalize: input should be a float tensor (use ToTensor first), got {a.dtype}")
    if a.ndim < 3:
        raise ValueError(f"Normalize: expected a tensor image of size (..., C, H, W), got shape {a.shape}")
    m = np.asarray(mean, dtype=a.dtype).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=a.dtype).reshape(-1, 1, 1)
    if (s == 0).any():
        raise ValueError(f"Normalize: std evaluated to zero after conversion to {a.dtype}, leading to division by zero")
    return Tensor((a - m) / s)


def resized_output_size(h: int, w: int, size: int | Sequence[int], max_size: int | None = None) -> tuple[int, int]:
    """torchvision's rule: an int is the new SHORTER side, the longer one int(size * long / short)."""
    if not isinstance(size, int):
        return (int(size[0]), int(size[0])) if len(size) == 1 else (int(size[0]), int(size[1]))
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None:
        if max_size <= size:
            raise ValueError(f"max_size = {max_size} must be strictly greater than the requested size {size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def resize(img, size, interpolation=None, max_size: int | None = None):
    """Resize (bilinear by default, Pillow's antialiased filter); an int size sets the shorter side."""
    from PIL import Image

    img = to_pil(img)
    h, w = size_hw(img)
    oh, ow = resized_output_size(h, w, size, max_size)
    if (oh, ow) == (h, w):
        return img
    return img.resize((ow, oh), Image.Resampling.BILINEAR if interpolation is None else interpolation)


def crop(img, top: int, left: int, height: int, width: int):
    """The box at (top, left) of (height, width); outside the image is filled with 0 (Pillow's crop)."""
    return to_pil(img).crop((left, top, left + width, top + height))


def pad(img, padding: Sequence[int], fill=0, padding_mode: str = "constant"):
    """padding: (left, top, right, bottom). Modes as torchvision: constant, edge, reflect, symmetric."""
    from PIL import Image, ImageOps

    img = to_pil(img)
    left, top, right, bottom = (int(p) for p in padding)
    if padding_mode == "constant":
        return ImageOps.expand(img, (left, top, right, bottom), fill=fill)
    np_mode = {"edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}.get(padding_mode)
    if np_mode is None:
        raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}")
    a = np.asarray(img)
    widths = ((top, bottom), (left, right)) + (((0, 0),) if a.ndim == 3 else ())
    return Image.fromarray(np.pad(a, widths, mode=np_mode), img.mode)


def center_crop(img, size: tuple[int, int]):
    """The central (h, w) box, padded with 0 first where the image is smaller (torchvision's rounding)."""
    img = to_pil(img)
    th, tw = size
    h, w = size_hw(img)
    if th > h or tw > w:
        img = pad(img, ((tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                        (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0))
        h, w = size_hw(img)
        if (th, tw) == (h, w):
            return img
    return crop(img, int(round((h - th) / 2.0)), int(round((w - tw) / 2.0)), th, tw)


def resized_crop(img, top: int, left: int, height: int, width: int, size: tuple[int, int], interpolation=None):
    return resize(crop(img, top, left, height, width), list(size), interpolation)


def hflip(img):
    from PIL import Image

    return to_pil(img).transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def adjust_brightness(img, factor: float):
    from PIL import ImageEnhance
    return ImageEnhance.Brightness(to_pil(img)).enhance(factor)


def adjust_contrast(img, factor: float):
    from PIL import ImageEnhance
    return ImageEnhance.Contrast(to_pil(img)).enhance(factor)


def adjust_saturation(img, factor: float):
    from PIL import ImageEnhance
    return ImageEnhance.Color(to_pil(img)).enhance(factor)


def adjust_hue(img, hue_factor: float):
    """Rotate the hue by hue_factor (in [-0.5, 0.5]) of a turn, in Pillow's 8-bit HSV (wrapping)."""
    from PIL import Image

    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5]")
    img = to_pil(img)
    if img.mode in {"L", "1", "I", "F"}:
        return img
    h, s, v = img.convert("HSV").split()
    shift = int(np.trunc(hue_factor * 255)) % 256  # torchvision: np.array(f * 255).astype(uint8), wrapping
    h = Image.fromarray((np.asarray(h, dtype=np.uint8) + np.uint8(shift)).astype(np.uint8), "L")
    return Image.merge("HSV", (h, s, v)).convert(img.mode)
