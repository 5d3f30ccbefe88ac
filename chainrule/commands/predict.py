"""`chainrule predict RUN IMAGE...`: class names and probabilities for image files."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..data.image_folder import read_image
from ..metrics import predict_scores
from ..model_contract import require
from ..ops.activation import softmax_array
from ..serialization import load
from . import CLIError, common

HELP = "classify image files with a trained run's model (top classes and probabilities)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run folder made by `chainrule train` (or a model .safetensors)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    p.add_argument("--invert", action="store_true",
                   help="invert grey levels (dark ink on white paper -> the datasets' light on dark)")
    common.add_device_argument(p)


def load_image(path: str, info: dict, invert: bool = False) -> np.ndarray:
    """An image file in the data's raw form: (C, H, W), resized, with the data's dtype and value range."""
    C, H, W = info["input_shape"]
    arr = read_image(path, (H, W), channels=C).astype(np.float64)
    if invert:
        arr = 255.0 - arr
    lo, hi = info["value_range"]
    if info["dtype"] == "uint8":
        return arr.astype(np.uint8)
    return (lo + arr / 255.0 * (hi - lo)).astype(info["dtype"])


def _check_images(paths: list[str]) -> None:
    """Each IMAGE is an existing file (a folder or a typo is named as such)."""
    for p in paths:
        if Path(p).is_dir():
            raise CLIError(f"{p} is a folder; give image files (e.g. {Path(p) / '*.png'})")
        if not Path(p).exists():
            raise CLIError(f"image file {p} does not exist")


def run(args: argparse.Namespace) -> int:
    target = Path(args.run)
    common.at_least("--top", args.top, 1)
    _check_images(args.images)
    device = common.resolve_device(args.device)
    if target.is_file():
        if target.suffix != ".safetensors":
            raise CLIError(f"{target}: expected a run folder made by `chainrule train` or a model .safetensors file")
        model = load(target, device=device)
    else:
        run_dir, _ = common.read_config(target)
        model = common.load_model(run_dir, device=device)
    info = require(model, args.run, "predict")  # shape, value range, normalisation, classes: or refuse
    X = np.stack([load_image(p, info, args.invert) for p in args.images])
    scores = predict_scores(model, common.prepare(model.preprocess, X)).astype(np.float64)
    probs = softmax_array(scores, axis=1)
    classes = model.classes
    k = min(args.top, probs.shape[1])
    for path, p in zip(args.images, probs):
        order = np.argsort(-p, kind="stable")[:k]
        shown = ", ".join(f"{classes[i]} ({p[i]:.3f})" for i in order)
        print(f"{path}: {shown}")
    return 0
