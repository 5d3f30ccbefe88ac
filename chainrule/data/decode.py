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

With the optional `simplejpeg` installed (pip install chainrule[jpeg]), RGB and greyscale JPEGs are
decoded by it instead of by Pillow: the same libjpeg-turbo defaults, so the same pixels (the tests
compare them), ~1.7x faster here on 500x375 photos because it skips Pillow's per-image setup. Pillow
still reads the header (mode, EXIF orientation); CMYK and other JPEGs stay with Pillow.
CHAINRULE_JPEG=pillow turns simplejpeg off.
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
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


@lru_cache(maxsize=1)
def _simplejpeg():
    """The simplejpeg module, or None when it is not installed or CHAINRULE_JPEG=pillow."""
    if os.environ.get("CHAINRULE_JPEG", "").lower() == "pillow":
        return None
    try:
        import simplejpeg
    except ImportError:
        return None
    return simplejpeg


_ORIENT = {2: ["FLIP_LEFT_RIGHT"], 3: ["ROTATE_180"], 4: ["FLIP_TOP_BOTTOM"], 5: ["TRANSPOSE"],
           6: ["ROTATE_270"], 7: ["TRANSVERSE"], 8: ["ROTATE_90"]}  # EXIF orientation -> what ImageOps does


def _decode_jpeg_fast(data: bytes, header, mode: str, draft: tuple[int, int] | None):
    """simplejpeg decode of an RGB/L JPEG whose header Pillow already read; EXIF orientation applied."""
    from PIL import Image

    sj = _simplejpeg()
    kw = {}
    if draft is not None:  # Pillow's draft scale (1, 2, 4 or 8: W // w and H // h rounded down), not simplejpeg's M/8
        W, H = header.size
        scale = next(r for r in (8, 4, 2, 1) if min(W // int(draft[0]), H // int(draft[1])) >= r or r == 1)
        kw = {"min_width": -(-W // scale), "min_height": -(-H // scale)}
    # a colour JPEG is decoded to RGB even for mode L: its Y plane alone is not what Pillow's
    # RGB -> L conversion gives (chroma upsampling differs), and the pixels must be Pillow's
    grey = header.mode == "L"
    a = sj.decode_jpeg(data, colorspace="GRAY" if grey else "RGB", **kw)
    im = Image.fromarray(a[:, :, 0] if grey else a, "L" if grey else "RGB")
    for op in _ORIENT.get(header.getexif().get(0x0112, 1), []):
        im = im.transpose(getattr(Image.Transpose, op))
    return im


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
        if _simplejpeg() is not None and str(path).lower().endswith((".jpg", ".jpeg")):
            data = Path(path).read_bytes()
            header = Image.open(io.BytesIO(data))
            if header.format == "JPEG" and header.mode in ("RGB", "L"):
                return to_mode(_decode_jpeg_fast(data, header, mode, draft), mode, None, str(path))
        with Image.open(path) as im:
            if draft is not None and im.format == "JPEG":
                im.draft(mode if im.mode in ("RGB", "L") else None, tuple(int(v) for v in draft))
            im = ImageOps.exif_transpose(im)
            im.load()
            return to_mode(im, mode, background, str(path))
    except DataFileError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:  # simplejpeg raises ValueError
        raise DataFileError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from e
