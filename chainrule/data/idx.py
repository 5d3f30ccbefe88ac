"""Reading IDX files (the MNIST / Fashion-MNIST format), gzipped or not.

An IDX file is: 2 zero bytes, a type byte (0x08 = uint8), a byte giving the
number of dimensions d, d big-endian uint32 sizes, then the data. Every part is
checked so a corrupt or truncated file gives an error naming the file.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .errors import DataFileError

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if it is gzip (detected by its magic, not its name)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        if path.suffix == ".gz":
            raise DataFileError(f"{path}: not a gzip file (first bytes {raw[:4].hex()})")
        return raw
    try:
        # gzip reads headers with or without the original file name (Debian strips it)
        return gzip.decompress(raw)
    except EOFError as e:
        raise DataFileError(f"{path}: truncated gzip stream ({e})") from None
    except (OSError, zlib.error) as e:
        raise DataFileError(f"{path}: corrupt gzip data ({e})") from None


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file into an array of its stored shape and type.

    ndim: the number of dimensions the caller expects (3 for images, 1 for labels).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataFileError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero, code, nd = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in _TYPES:
        raise DataFileError(f"{path}: bad IDX magic number 0x{data[:4].hex()} "
                            "(expected 0x0000 then a type byte such as 0x08)")
    if ndim is not None and nd != ndim:
        raise DataFileError(f"{path}: IDX file has {nd} dimensions, expected {ndim} "
                            f"(magic 0x{data[:4].hex()})")
    header = 4 + 4 * nd
    if len(data) < header:
        raise DataFileError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", nd, offset=4))
    dtype = np.dtype(_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        raise DataFileError(f"{path}: IDX dimensions {shape} need {expected} data bytes, "
                            f"the file has {got} ({'truncated' if got < expected else 'extra bytes'})")
    arr = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, arr: np.ndarray, compress: bool = True) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed if `compress`): for tests and exports."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    payload = header + arr.tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)
