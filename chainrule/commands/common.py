"""What the commands share: the same options for the same things, data and preprocessing
by name, threads, and the run folder layout.

A run folder (runs/NAME/) holds
    config.json         the command's arguments, the data's description, and results
    metrics.jsonl       one JSON line per epoch (loss, train_acc, val_acc, lr, ...)
    model.safetensors   the trained model (cr.load), with its preprocessing and class names
    checkpoints/        last.safetensors: the resumable training state
    plots/              training curves, filters, confusion matrix, misclassified examples
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import backend
from .. import data as crdata
from ..checkpoint import atomic_write_bytes
from ..data.catalog import NAMES
from ..data.transforms.spec import preprocess_from_spec, preprocess_help
from ..ops import parallel
from ..serialization import load
from . import CLIError

BATCH_SIZE = 64          # one default for every command that trains
PREPROCESS = "perchannel"  # one default preprocessing for train, tune, sanity, knn and linear


# ------------------------------------------------------------------ options
def add_data_arguments(p: argparse.ArgumentParser, default: str | None = "digits") -> None:
    """--data, --data-dir, --subsample: the same in every command that loads a dataset."""
    shown = f" (default {default})" if default else ""
    p.add_argument("--data", default=default, metavar="NAME", help=f"{' | '.join(NAMES)}{shown}")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder with the dataset files (default: $CHAINRULE_DATA/<name>, then ~/.cache/chainrule)")
    p.add_argument("--subsample", type=int, default=None, metavar="N",
                   help="use at most N training examples")


def add_preprocess_argument(p: argparse.ArgumentParser, default: str | None = PREPROCESS) -> None:
    """--preprocess SPEC, the same choices in every command (data.transforms.spec)."""
    shown = f" (default {default})" if default else ""
    p.add_argument("--preprocess", default=default, metavar="SPEC",
                   help=f"fitted on the training split only: {preprocess_help()}{shown}")


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    """--threads N (default: the library's own settings, chainrule.ops.parallel)."""
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads for chainrule's ops and BLAS (default: the library's, "
                        f"{parallel.default_num_threads()} here; $CHAINRULE_NUM_THREADS sets it)")


# --------------------------------------------------------------------- data
def add_device_argument(p: argparse.ArgumentParser, default: str | None = "cpu") -> None:
    """--device cpu|cuda|cuda:N|auto (auto: cuda when cr.cuda.is_available())."""
    p.add_argument("--device", default=default, metavar="DEVICE",
                   help="where the model runs: cpu, cuda, cuda:N or auto (cuda when a GPU and CuPy are "
                        f"there; default {default or 'cpu'}; cuda needs the [cuda] extra)")


def resolve_device(spec: str | None) -> Any:
    """The cr.device for a --device value; CLIError (one line: what to install, or that no GPU
    is there) when CUDA is asked for and cannot be had."""
    try:
        dev = backend.device(spec or "cpu")
    except (ValueError, TypeError) as e:
        raise CLIError(f"--device: {e}") from None
    if dev.type == "cuda":
        try:
            backend.cupy()
        except ImportError as e:
            raise CLIError(f"--device {spec}: {e}") from None
        if not backend.is_available():
            raise CLIError(f"--device {spec}: CuPy is installed but sees no CUDA device "
                           "(check the driver, or use --device cpu)")
    return dev


def load_data(name: str, data_dir: str | None = None, subsample: int | None = None, seed: int = 0):
    """cr.data.load with the command-line wording of its errors."""
    if subsample is not None and subsample < 1:
        raise CLIError(f"--subsample must be at least 1, got {subsample}")
    return crdata.load(name, root=data_dir, subsample=subsample, seed=seed)


def fit_preprocess(spec: str | None, X_train: np.ndarray):
    """The preprocessor `spec` fitted on the training images (None for "none")."""
    pre = preprocess_from_spec(spec)
    return pre.fit(X_train) if pre is not None else None


def prepare(pre, X: np.ndarray) -> np.ndarray:
    """Raw images -> what a model eats: preprocessed by the fitted `pre` (or as they are), float32."""
    X = pre(X) if pre is not None else X
    return np.asarray(X, dtype=np.float32)


def prepared_splits(args: argparse.Namespace) -> tuple[dict[str, np.ndarray], list[str]]:
    """(X_train, X_val, X_test preprocessed as `chainrule train` does (fitted on X_train only),
    float32, with their labels y_*; the class names): what `knn` and `linear` classify."""
    data = load_data(args.data, args.data_dir, args.subsample)
    pre = fit_preprocess(args.preprocess, data.X_train)
    out = {}
    for part in ("train", "val", "test"):
        out["X_" + part] = prepare(pre, data["X_" + part])
        out["y_" + part] = data["y_" + part]
    return out, data.classes


def data_info(data) -> dict[str, Any]:
    """What predict needs to turn an image file into the data's raw form."""
    X = data.X_train
    vr = data.info.get("value_range")
    if vr is None:
        vr = [0, 255] if X.dtype == np.uint8 else [float(X.min()), float(X.max())]
    return {"name": data.info.get("name"), "input_shape": [int(s) for s in X.shape[1:]], "dtype": str(X.dtype),
            "value_range": [float(v) for v in vr], "classes": list(data.classes),
            "counts": data.info.get("counts")}


# ------------------------------------------------------------------ threads
@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run the block on n threads (chainrule's ops and BLAS); None leaves the library's defaults."""
    if n is None:
        yield
        return
    if n < 1:
        raise CLIError(f"--threads must be at least 1, got {n}")
    from threadpoolctl import threadpool_limits

    with parallel.threads(n), threadpool_limits(limits=n, user_api="blas"):
        yield


# --------------------------------------------------------------- run folders
def read_config(run: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """(run folder, its config.json) of a run made by `chainrule train`; CLIError if it is not one."""
    run = Path(run)
    if not run.is_dir():
        raise CLIError(f"run folder {run} does not exist (expected a folder made by `chainrule train`)")
    cfg_path = run / "config.json"
    if not cfg_path.exists():
        raise CLIError(f"{run} has no config.json: not a run folder made by `chainrule train`")
    try:
        return run, json.loads(cfg_path.read_text())
    except ValueError as e:
        raise CLIError(f"{cfg_path} is not valid JSON: {e}") from None


def write_config(run: Path, cfg: dict[str, Any]) -> None:
    """Write run/config.json atomically (a crash never leaves half a file)."""
    atomic_write_bytes(run / "config.json", (json.dumps(cfg, indent=2) + "\n").encode())


def load_model(run: Path, device: Any = None):
    """The run's model (cr.load: with .preprocess, .classes, .info), on `device` (default cpu);
    an unfinished run's latest weights."""
    path = run / "model.safetensors"
    if not path.exists():
        ck = run / "checkpoints" / "last.safetensors"
        if ck.exists():
            return load(ck, device=device)
        raise CLIError(f"{run} has no model.safetensors (did training finish?)")
    return load(path, device=device)
