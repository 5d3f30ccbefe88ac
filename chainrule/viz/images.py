"""Arrays to PNG bytes, for TensorBoard image summaries and the inline images of the HTML report."""
from __future__ import annotations

import io

import numpy as np

__all__ = ["png_bytes", "upscale", "scale_for", "display_image"]


def png_bytes(img: np.ndarray) -> bytes:
    """PNG file bytes of an image in [0, 1]: (H, W) grey or (H, W, 3) RGB; NaN pixels are drawn white."""
    from PIL import Image

    a = np.nan_to_num(np.asarray(img, np.float64), nan=1.0)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"png_bytes: expected (H, W) or (H, W, 3), got shape {a.shape}")
    a = (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a, mode="L" if a.ndim == 2 else "RGB").save(buf, format="PNG")
    return buf.getvalue()


def upscale(img: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel repeated `scale` times in both directions (nearest neighbour)."""
    scale = max(1, int(scale))
    return img.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else img


def scale_for(shape: tuple[int, ...], target: int = 256) -> int:
    """A whole-number upscale that brings the longer side of an (H, W, ...) image near `target` pixels."""
    return max(1, target // max(shape[:2]))


def display_image(x: np.ndarray) -> np.ndarray:
    """One example (C, H, W) in any value range -> (H, W) or (H, W, 3) in [0, 1] (its own min-max)."""
    from .training import _display

    return _display(x)
