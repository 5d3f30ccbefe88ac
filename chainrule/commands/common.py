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
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import backend
from .. import data as crdata
from ..checkpoint import atomic_write_bytes
from ..data.catalog import NAMES
from ..data.paths import DataNotFoundError
from ..data.transforms.spec import preprocess_from_spec, preprocess_help
from ..ops import parallel
from ..model_contract import from_data
from ..serialization import load
from . import CLIError

BATCH_SIZE = 64          # one default for every command that trains
PREPROCESS = "perchannel"  # one default preprocessing for train, tune, sanity, knn and linear


# ------------------------------------------------------------------ options
def add_data_arguments(p: argparse.ArgumentParser, default: str | None = "digits",
                       subsample_help: str = "use at most N training examples") -> None:
    """--data, --data-dir, --download, --subsample: the same in every command that loads a dataset."""
    shown = f" (default {default})" if default else ""
    p.add_argument("--data", default=default, metavar="NAME", help=f"{' | '.join(NAMES)}{shown}")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="the dataset's folder, or the folder holding it as DIR/<name>/ (mnist, fashion-mnist, "
                        "cifar-10) (default: $CHAINRULE_DATA/<name>, then ~/.cache/chainrule/<name>)")
    p.add_argument("--download", action="store_true",
                   help="download the dataset's files if they are missing (into --data-dir, else "
                        "$CHAINRULE_DATA/<name> or ~/.cache/chainrule/<name>); checksums verified")
    p.add_argument("--subsample", type=int, default=None, metavar="N", help=subsample_help)


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


# ------------------------------------------------------------- user input
@contextlib.contextmanager
def option(name: str) -> Iterator[None]:
    """The library's complaint about the value of option `name` (a ValueError or KeyError raised
    while parsing or applying it) as a CLIError naming the option. Keep the block to that call:
    anything else is a bug and keeps its traceback."""
    try:
        yield
    except CLIError:
        raise
    except (ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise CLIError(f"{name}: {msg}") from None


def at_least(name: str, value: int | float | None, lo: int | float) -> None:
    """CLIError unless option `name`'s value is None or at least `lo`."""
    if value is not None and value < lo:
        raise CLIError(f"{name} must be at least {lo}, got {value}")


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
    if spec == "auto":  # say what auto chose, and why
        why = "a CUDA GPU and CuPy are there" if dev.type == "cuda" else "no CUDA GPU with CuPy here"
        print(f"--device auto: using {dev} ({why})", file=sys.stderr)
    if dev.type == "cuda":
        try:
            backend.cupy()
        except ImportError as e:
            raise CLIError(f"--device {spec}: {e}") from None
        if not backend.is_available():
            raise CLIError(f"--device {spec}: CuPy is installed but sees no CUDA device "
                           "(check the driver, or use --device cpu)")
    return dev


def load_data(name: str, data_dir: str | None = None, subsample: int | None = None, seed: int = 0,
              download: bool = False):
    """cr.data.load with the command-line wording of its errors (--data-dir, --download)."""
    at_least("--subsample", subsample, 1)
    try:
        return crdata.load(name, root=data_dir, subsample=subsample, seed=seed, download=download)
    except DataNotFoundError as e:
        raise CLIError(e.cli_message()) from None


def absolute_data(args: argparse.Namespace) -> None:
    """--data-dir and a folder:PATH dataset as absolute paths, so that the run's config.json finds
    the data from any working folder (`chainrule evaluate RUN` elsewhere)."""
    if getattr(args, "data_dir", None):
        args.data_dir = str(Path(args.data_dir).expanduser().resolve())
    prefix = crdata.catalog.FOLDER_PREFIX
    if getattr(args, "data", None) and args.data.startswith(prefix) and len(args.data) > len(prefix):
        args.data = prefix + str(Path(args.data[len(prefix):]).expanduser().resolve())


def fit_preprocess(spec: str | None, X_train: np.ndarray):
    """The preprocessor `spec` fitted on the training images (None for "none")."""
    with option("--preprocess"):
        pre = preprocess_from_spec(spec)
    return pre.fit(X_train) if pre is not None else None


def prepare(pre, X: np.ndarray) -> np.ndarray:
    """Raw images -> what a model eats: preprocessed by the fitted `pre` (or as they are), float32."""
    X = pre(X) if pre is not None else X
    return np.asarray(X, dtype=np.float32)


def prepared_splits(args: argparse.Namespace) -> tuple[dict[str, np.ndarray], list[str]]:
    """(X_train, X_val, X_test preprocessed as `chainrule train` does (fitted on X_train only),
    float32, with their labels y_*; the class names): what `knn` and `linear` classify."""
    data = load_data(args.data, args.data_dir, args.subsample, download=getattr(args, "download", False))
    pre = fit_preprocess(args.preprocess, data.X_train)
    out = {}
    for part in ("train", "val", "test"):
        out["X_" + part] = prepare(pre, data["X_" + part])
        out["y_" + part] = data["y_" + part]
    return out, data.classes


def data_info(data, pre=None) -> dict[str, Any]:
    """What predict and export need to turn an image file into the data's raw form, and the
    preprocessing fitted on it: the model's input contract (chainrule.model_contract), as recorded
    in config.json and with the model."""
    return from_data(data, pre)


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
    if run.is_file():
        raise CLIError(f"{run} is a file, not a run folder (expected a folder made by `chainrule train`, runs/NAME)")
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


def inputs_splits(args: argparse.Namespace) -> tuple[dict[str, np.ndarray], list[str] | None]:
    """(splits, class names) for linear/knn: the preprocessed pixels, or with --features the image
    features (chainrule.features; standardised on the training split) in their place."""
    if not args.features:
        return prepared_splits(args)
    from chainrule.features import feature_splits
    data = load_data(args.data, args.data_dir, args.subsample)
    try:
        return feature_splits(data, args.features), data.classes
    except ValueError as e:
        raise CLIError(f"--features: {e}") from None


def describe_inputs(args: argparse.Namespace) -> str:
    """What linear/knn classify, for their first line: 'features hog,hsv' or 'preprocessing X'."""
    return f"features {args.features}" if args.features else f"preprocessing {args.preprocess}"


def train_to_end(solver: Any) -> int | None:
    """solver.train(), with the CLI's endings: Ctrl-C gives its line and exit code 130 (returned),
    a non-finite loss a one-line error; None when training ran to its end."""
    from ..solver import NonFiniteLossError, TrainingInterrupted

    try:
        solver.train()
    except TrainingInterrupted as e:
        print(f"\nchainrule train: {e}", file=sys.stderr)
        return 130
    except NonFiniteLossError as e:
        raise CLIError(str(e)) from None
    return None
