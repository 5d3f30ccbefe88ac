"""Image files -> 8-bit RGB or greyscale PIL images, right for every mode Pillow opens.

`convert("L")` / `convert("RGB")` alone is wrong for some files: Pillow clips 16-bit greyscale
(I;16, I) to 0..255, so a 16-bit PNG comes out almost pure white or black; and a camera JPEG is
shown sideways unless its EXIF orientation is applied. Here:
- EXIF orientation is applied (ImageOps.exif_transpose), as a viewer shows the photo;
- 16- and 32-bit integer greyscale is scaled to 8 bits (v * 255 / 65535, rounded);
- palette images go through RGBA when they carry transparency, through RGB otherwise;
- alpha (RGBA, LA, PA) is DROPPED by default, as torchvision's `convert("RGB")` does, so a file gives
  the same pixels as in PyTorch; pass `background=(r, g, b)` to composite over a colour instead;
- CMYK, YCbCr, LAB, HSV, 1-bit: Pillow's own conversions;
- 32-bit float images (mode F) have no agreed range: a DataFileError says so, nothing is guessed.
JPEGs can be decoded at a reduced size (`draft`): libjpeg scales by 1/2, 1/4 or 1/8 while decoding,
which is several times faster than decoding in full and resizing.

"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DataFileError

_WIDE_GREY = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def _to_8bit_grey(im):
    """16/32-bit integer greyscale -> L, scaled (16-bit full range -> 0..255), not clipped."""
    from PIL import Image

    a = np.asarray(im, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8), "L")


def _flatten_alpha(im, background: Sequence[int] | None):
    """RGBA -> RGB: alpha dropped (background None) or composited over `background`."""
    from PIL import Image

    if background is None:
        return im.convert("RGB")
    bg = Image.new("RGB", im.size, tuple(int(c) for c in background))
    bg.paste(im, mask=im.getchannel("A"))
    return bg


def to_mode(im, mode: str = "RGB", background: Sequence[int] | None = None, where: str = "image"):
    """A PIL image of any mode -> `mode` ("RGB" or "L"), 8 bits per channel, as the module says."""
    if mode not in ("RGB", "L"):
        raise ValueError(f"to_mode: mode must be 'RGB' or 'L', got {mode!r}")
    if im.mode == "F":
        raise DataFileError(f"{where}: 32-bit float image (mode F): its value range is unknown; "
                            "convert it to 8 or 16 bits first")
    if im.mode in _WIDE_GREY:
        im = _to_8bit_grey(im)
    elif im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "PA":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "RGBa", "La"):
        im = _flatten_alpha(im.convert("RGBA"), background)
    return im if im.mode == mode else im.convert(mode)


def open_image(path: str | Path, mode: str = "RGB", background: Sequence[int] | None = None,
               draft: tuple[int, int] | None = None):
    """Decode one file -> PIL image in `mode`, upright (EXIF). draft=(w, h): a JPEG may be decoded
    at the smallest 1/2, 1/4, 1/8 scale that is still at least w x h (the caller resizes after).
    FileNotFoundError or DataFileError name the file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not Path(path).is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    if draft is not None:  # before the EXIF rotation width and height may be swapped: ask for the larger both ways
        draft = (max(draft),) * 2
    try:
        with Image.open(path) as im:
            if draft is not None and im.format == "JPEG":
                im.draft(mode if im.mode in ("RGB", "L") else None, tuple(int(v) for v in draft))
            im.load()
            if im.getexif().get(0x0112, 1) != 1:  # exif_transpose copies even an upright image: only when needed
                im = ImageOps.exif_transpose(im)
            return to_mode(im, mode, background, str(path))
    except DataFileError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataFileError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from e
