"""What `chainrule train`, `evaluate` and `predict` share: datasets by name, models from
the zoo, augmentation names, BLAS threads, and the run folder layout.

A run folder (runs/NAME/) holds
    config.json         the command's arguments, the data's description, and results
    metrics.jsonl       one JSON line per epoch (loss, train_acc, val_acc, lr, ...)
    model.safetensors   the trained model (cr.load), with its preprocessing and class names
    checkpoints/        last.safetensors: the resumable training state
    plots/              training curves (when chainrule.viz.training is available)
"""
from __future__ import annotations

import contextlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..cli import CLIError

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "folder:PATH")


def load_data(name: str, data_dir: str | None = None, subsample: int | None = None, seed: int = 0):
    """A cr.data.Splits by dataset name (see DATASETS)."""
    from .. import data as D

    if name == "digits":
        return D.load_digits(subsample=subsample, seed=seed)
    if name == "mnist":
        return D.load_mnist(root=data_dir, subsample=subsample, seed=seed)
    if name in ("fashion-mnist", "fashion_mnist", "fmnist"):
        return D.load_fashion_mnist(root=data_dir, subsample=subsample, seed=seed)
    if name in ("cifar10", "cifar-10"):
        return D.load_cifar10(root=data_dir, subsample=subsample, seed=seed)
    if name.startswith("folder:"):
        return D.load_image_folder(name.split(":", 1)[1], subsample=subsample, seed=seed)
    raise CLIError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


def data_info(data) -> dict[str, Any]:
    """What predict needs to turn an image file into the data's raw form."""
    X = data.X_train
    vr = data.info.get("value_range")
    if vr is None:
        vr = [0, 255] if X.dtype == np.uint8 else [float(X.min()), float(X.max())]
    return {"name": data.info.get("name"), "input_shape": [int(s) for s in X.shape[1:]], "dtype": str(X.dtype),
            "value_range": [float(v) for v in vr], "classes": list(data.classes),
            "counts": data.info.get("counts")}


def _zoo():
    try:
        from ..models import get, list_models  # type: ignore[attr-defined]
    except ImportError:
        from ..models.registry import get, list_models
    return get, list_models


def build_model(name: str, data, extra: dict[str, Any] | None = None):
    """A zoo model sized for `data`: passes in_channels / num_classes / input_size (or
    input_dim, with a Flatten in front) when the builder takes them."""
    from .. import nn

    get, list_models = _zoo()
    if name not in list_models():
        raise CLIError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    C, H, W = data.X_train.shape[1:]
    from ..models import registry

    builder = registry._MODELS[name]
    params = inspect.signature(builder).parameters
    kwargs: dict[str, Any] = {}
    for k, v in (("in_channels", C), ("num_classes", data.num_classes), ("input_size", H),
                 ("input_dim", C * H * W)):
        if k in params:
            kwargs[k] = int(v)
    kwargs.update(extra or {})
    model = get(name, **kwargs)
    if "input_dim" in params:
        model = nn.Sequential(nn.Flatten(), model)
    return model


def build_augment(spec: str | None, image_shape) -> Any:
    """"flip,crop" -> Compose([RandomHorizontalFlip(), RandomCrop(H, padding=p)]).

    Names: flip[:P] (probability, default 0.5), crop[:PAD] (zero-pad then crop back to the
    image size; default pad max(1, H // 8)), none."""
    from ..data import transforms as T

    if not spec or spec == "none":
        return None
    _, H, W = image_shape
    parts = []
    for item in spec.split(","):
        name, _, arg = item.strip().partition(":")
        try:
            if name == "flip":
                parts.append(T.RandomHorizontalFlip(float(arg) if arg else 0.5))
            elif name == "crop":
                parts.append(T.RandomCrop((H, W), padding=int(arg) if arg else max(1, H // 8)))
            else:
                raise CLIError(f"unknown augmentation {name!r} in --augment {spec!r}; use flip[:P], crop[:PAD]")
        except ValueError as e:
            raise CLIError(f"bad --augment {spec!r}: {e}") from None
    return parts[0] if len(parts) == 1 else T.Compose(parts)


def crop_padding(spec: str | None, image_shape) -> int:
    """The padding `crop` used in --augment (0 if none)."""
    for item in (spec or "").split(","):
        name, _, arg = item.strip().partition(":")
        if name == "crop":
            return int(arg) if arg else max(1, image_shape[1] // 8)
    return 0


def build_preprocess(name: str):
    from ..data import transforms as T

    table = {"perchannel": lambda: T.PerChannelNormalize(), "mean-image": lambda: T.MeanImage(),
             "center": lambda: T.PerChannelNormalize(std=False), "none": lambda: None}
    if name not in table:
        raise CLIError(f"unknown --preprocess {name!r}; expected one of {', '.join(table)}")
    return table[name]()


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Limit BLAS threads and chainrule's convolution threads to n (None/0: leave as they are).
    On a busy machine 1 thread avoids threads spinning against each other (measured: the default
    `chainrule train` took 209 s with 2 BLAS threads under load 11, about 25 s with 1)."""
    if not n:
        yield
        return
    from threadpoolctl import threadpool_limits

    from ..ops import parallel

    with parallel.threads(int(n)), threadpool_limits(limits=int(n), user_api="blas"):
        yield


def read_config(run: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
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
    from ..checkpoint import atomic_write_bytes

    atomic_write_bytes(run / "config.json", (json.dumps(cfg, indent=2) + "\n").encode())


def load_model(run: Path):
    import chainrule as cr

    path = run / "model.safetensors"
    if not path.exists():
        ck = run / "checkpoints" / "last.safetensors"
        if ck.exists():
            return cr.load(ck)  # an unfinished run: its latest weights
        raise CLIError(f"{run} has no model.safetensors (did training finish?)")
    return cr.load(path)


def scores(model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class scores of prepared (preprocessed) X with the model in eval mode."""
    import chainrule as cr

    model.eval()
    out = []
    with cr.no_grad():
        for i in range(0, X.shape[0], batch_size):
            out.append(np.asarray(model(cr.tensor(X[i:i + batch_size])).data))
    return np.concatenate(out)


def prepare(model, X: np.ndarray) -> np.ndarray:
    pre = getattr(model, "preprocess", None)
    X = pre(X) if pre is not None else X
    return np.asarray(X, dtype=np.float32)
