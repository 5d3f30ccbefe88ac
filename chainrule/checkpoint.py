"""Checkpoint files: safetensors tensors + one JSON metadata string, written atomically.

A checkpoint is a nested state (dicts of dicts, lists, numbers, strings and
NumPy arrays). `flatten_state` splits it into

- tensors: every ndarray (a GPU array is copied to the host first), under its dotted path ("model.fc1.weight",
  "optim.state.3.exp_avg"), saved by safetensors (no pickle, ever);
- a JSON skeleton: the same nesting with each array replaced by
  {"__tensor__": "optim.state.3.exp_avg"}.

The skeleton goes into the safetensors header as metadata["chainrule"] (safetensors
metadata is dict[str, str], so it is one JSON string) together with
metadata["format"] = "chainrule-checkpoint" and metadata["format_version"].

Writes are atomic: the bytes go to a temporary file in the same folder, which is
flushed and fsynced, then renamed over the target with os.replace, and the folder
is fsynced; a crash at any moment leaves either the old file or the new one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import backend
from .nn.parameter import Parameter
from .tensor import Tensor

FORMAT = "chainrule-checkpoint"
FORMAT_VERSION = 1
_TENSOR = "__tensor__"


class CheckpointError(ValueError):
    """A checkpoint (or saved model) file that cannot be read: missing, truncated,
    corrupted, or not written by chainrule. The message names the file."""


# ------------------------------------------------------------------ flattening
# Skeleton markers. {"__tensor__": key} is an array; with "__as__" it comes back as a chainrule Tensor
# ("tensor") or Parameter ("parameter"), with its requires_grad flag. "__tuple__" keeps a tuple a tuple,
# "__items__" a dict whose keys are not all strings (an optimizer's {0: {...}}) or clash with a marker.
_AS, _GRAD, _TUPLE, _ITEMS = "__as__", "requires_grad", "__tuple__", "__items__"
_MARKERS = {_TENSOR, _TUPLE, _ITEMS}


def flatten_state(state: Any, prefix: str = "", exact: bool = False) -> tuple[dict[str, np.ndarray], Any]:
    """Split a nested state into ({dotted key: ndarray}, JSON-able skeleton).

    exact=False (the Solver's checkpoints): Tensors are stored as their arrays, tuples as lists,
    dict keys as strings. exact=True (`cr.save` of any object): Tensors, Parameters, tuples and
    int keys come back as they went in.
    """
    tensors: dict[str, np.ndarray] = {}

    def store(v: Any, path: str) -> dict:
        if backend.is_device_array(v):
            v = backend.to_host(v)  # checkpoints hold host arrays: loadable on either device
        if path in tensors:
            raise ValueError(f"flatten_state: two arrays map to the key {path!r}")
        # safetensors needs C-contiguous data; a copy also freezes the value now
        # (not np.ascontiguousarray: it turns 0-d arrays into shape (1,))
        tensors[path] = np.array(v, order="C", copy=True)
        return {_TENSOR: path}

    def walk(v: Any, path: str) -> Any:
        if isinstance(v, Tensor):
            out = store(v.data, path)
            if exact:
                out[_AS] = "parameter" if isinstance(v, Parameter) else "tensor"
                out[_GRAD] = bool(v.requires_grad)
            return out
        if backend.is_device_array(v) or isinstance(v, np.ndarray):
            return store(v, path)
        if isinstance(v, dict):
            return walk_dict(v, path)
        if isinstance(v, tuple) and exact:
            return {_TUPLE: [walk(x, f"{path}.{i}" if path else str(i)) for i, x in enumerate(v)]}
        if isinstance(v, (list, tuple)):
            return [walk(x, f"{path}.{i}" if path else str(i)) for i, x in enumerate(v)]
        if isinstance(v, np.generic):
            return v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise ValueError(f"flatten_state: value at {path or '<root>'} has type {type(v).__name__}, "
                         "which a checkpoint cannot store (use tensors, arrays, numbers, strings, None, "
                         "lists, tuples, dicts)")

    def walk_dict(v: dict, path: str) -> Any:
        for k in v:
            if not isinstance(k, (str, int, np.integer)) or isinstance(k, bool):
                raise ValueError(f"flatten_state: key {k!r} at {path or '<root>'} is not a str or int")
        child = {k: f"{path}.{k}" if path else str(k) for k in v}
        if exact and not all(isinstance(k, str) and k not in _MARKERS for k in v):
            return {_ITEMS: [[k if isinstance(k, str) else int(k), walk(x, child[k])] for k, x in v.items()]}
        return {str(k): walk(x, child[k]) for k, x in v.items()}

    return tensors, walk(state, prefix)


def unflatten_state(tensors: dict[str, np.ndarray], skeleton: Any) -> Any:
    """Inverse of `flatten_state`."""
    if isinstance(skeleton, dict):
        if _TENSOR in skeleton and set(skeleton) <= {_TENSOR, _AS, _GRAD}:
            key = skeleton[_TENSOR]
            if key not in tensors:
                raise KeyError(key)
            return _as_tensor(tensors[key], skeleton.get(_AS), skeleton.get(_GRAD, False))
        if set(skeleton) == {_TUPLE}:
            return tuple(unflatten_state(tensors, v) for v in skeleton[_TUPLE])
        if set(skeleton) == {_ITEMS}:
            return {k: unflatten_state(tensors, v) for k, v in skeleton[_ITEMS]}
        return {k: unflatten_state(tensors, v) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten_state(tensors, v) for v in skeleton]
    return skeleton


def _as_tensor(array: np.ndarray, kind: str | None, requires_grad: bool) -> Any:
    if kind is None:
        return array
    if kind == "parameter":
        return Parameter(array, requires_grad=bool(requires_grad))
    if kind == "tensor":
        return Tensor(array, requires_grad=bool(requires_grad) and array.dtype.kind == "f")
    raise ValueError(f"unknown tensor kind {kind!r}")


# ----------------------------------------------------------------- atomic write
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` so that a crash leaves the old file or the new one, never half."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary file beside `path` for a writer that takes a file name (onnx.save, savefig, to_csv):
    when the block ends it is fsynced and renamed over `path`; on an error it is removed, the old
    `path` (if any) is left as it was, and an OSError without a file name gets `path` as its name
    (so "No space left on device" says which file). The temporary file is named .NAME.XXXX.tmp, or with
    keep_suffix .NAME.XXXX.tmp.png (writers that choose the format by the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".tmp" + (path.suffix if keep_suffix else "")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:  # a full disk or a read-only folder: name the file the caller asked for
        e.filename = str(path)
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.filename in (None, str(tmp)):
            e.filename = str(path)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ------------------------------------------------------------------ save / load
def encode_state(state: Any, kind: str = "checkpoint", exact: bool = False) -> bytes:
    """The bytes of a safetensors file holding a nested state (see `flatten_state` for `exact`)."""
    from safetensors.numpy import save

    tensors, skeleton = flatten_state(state, exact=exact)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": kind,
                "chainrule": json.dumps(skeleton, allow_nan=True)}
    return save(tensors, metadata=metadata)


def save_state(path: Any, state: Any, kind: str = "checkpoint", exact: bool = False) -> Path | None:
    """Write a nested state as a safetensors file (atomically). `kind` is recorded
    ("checkpoint" for a resumable Solver state, "model" for cr.save, "object" for anything else).
    path: a file name, or a binary file object (then None is returned)."""
    data = encode_state(state, kind, exact)
    if hasattr(path, "write"):
        path.write(data)
        return None
    return atomic_write_bytes(path, data)


def read_file(path: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, raw metadata) of any safetensors file (a name or a binary file object),
    with errors that name the file. A pickle or zip file (PyTorch's .pt/.pth) is refused unread."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    data, path = _read_bytes(path)
    refuse_pickle(data, path)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, TypeError, OverflowError) as e:
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or corrupted? {len(data)} bytes): {e}"
        ) from None
    metadata = _read_metadata(path, data)
    return tensors, metadata


def _read_bytes(source: Any) -> tuple[bytes, Any]:
    """(the bytes, a name for messages) of a path or a binary file object."""
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise CheckpointError("cr.load needs a file opened in binary mode ('rb'), got text")
        return data, getattr(source, "name", "<file object>")
    path = Path(source)
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, expected a .safetensors file")
    return path.read_bytes(), path


def refuse_pickle(data: bytes, name: Any) -> None:
    """Raise CheckpointError if `data` is a pickle or a zip archive (PyTorch's torch.save formats).
    Only the first bytes are looked at: no code in the file ever runs."""
    is_pickle = len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5
    is_zip = data[:4] == b"PK\x03\x04"
    if is_pickle or is_zip:
        what = "a pickle" if is_pickle else "a zip archive (PyTorch's torch.save format, pickle inside)"
        raise CheckpointError(
            f"{name} is {what}, which chainrule never loads (unpickling runs code from the file). "
            "If it holds PyTorch weights, convert them once with "
            "`chainrule convert-weights IN.pth OUT.safetensors` and load OUT.safetensors")


def _read_metadata(path: Path, data: bytes) -> dict[str, str]:
    # The safetensors layout: 8-byte little-endian header size, then a JSON header
    # whose "__metadata__" entry holds the string dict (already validated by load()).
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: corrupted safetensors header ({e})") from None
    meta = header.get("__metadata__") or {}
    return dict(meta)


def load_state(path: Any, kind: str | None = None) -> tuple[Any, dict[str, str]]:
    """Read a file written by `save_state` -> (nested state, raw metadata).

    Raises CheckpointError naming the file if it is missing, truncated, corrupted,
    of another format or version, or (with `kind`) of another kind.
    """
    tensors, meta = read_file(path)
    return decode_state(tensors, meta, getattr(path, "name", path), kind), meta


def decode_state(tensors: dict[str, np.ndarray], meta: dict[str, str], path: Any, kind: str | None = None) -> Any:
    """The nested state of a chainrule file already read by `read_file` (see `load_state`)."""
    if meta.get("format") != FORMAT or "chainrule" not in meta:
        raise CheckpointError(f"{path} is a safetensors file but not a chainrule checkpoint or model "
                              f"(no '{FORMAT}' metadata)")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"{path}: bad format_version {meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version}; this chainrule reads versions up to "
                              f"{FORMAT_VERSION} (upgrade chainrule)")
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{path} holds a chainrule {meta.get('kind')!r}, expected a {kind!r}")
    try:
        skeleton = json.loads(meta["chainrule"])
        state = unflatten_state(tensors, skeleton)
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: corrupted chainrule metadata ({type(e).__name__}: {e})") from None
    return state
