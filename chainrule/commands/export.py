"""`chainrule export RUN --format onnx [--out PATH]`: a trained run's model as an ONNX file.

The graph takes raw images (N, C, H, W), as `chainrule predict` reads them
(the data's dtype and value range), runs the run's fitted preprocessing, and
gives "logits" and "probabilities" (see docs/onnx.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..metrics import predict_scores
from ..model_contract import require
from ..ops.activation import softmax_array
from ..serialization import load
from . import CLIError, common, runfolder

HELP = "export a trained run's model (with its preprocessing) as an ONNX file"
FORMATS = ("onnx",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run folder made by `chainrule train` (or a model .safetensors)")
    p.add_argument("--format", default="onnx", choices=FORMATS, help="output format (default onnx)")
    p.add_argument("--out", default=None, help="output file (default RUN/model.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    p.add_argument("--static-batch", action="store_true", help="fix the batch size to 1 instead of leaving it free")


def _load(target: Path):
    if target.is_file():
        return load(target), target.with_suffix(".onnx")
    run_dir, _ = common.read_config(target)
    return common.load_model(run_dir), run_dir / "model.onnx"


def example_batch(info: dict, n: int = 1, seed: int = 0) -> np.ndarray:
    """n random raw images of the data's shape, dtype and value range."""
    C, H, W = info["input_shape"]
    lo, hi = info["value_range"]
    u = np.random.default_rng(seed).random((n, C, H, W))
    if info.get("dtype") == "uint8":
        return np.round(lo + u * (hi - lo)).astype(np.uint8)
    return (lo + u * (hi - lo)).astype(np.float32)


def _differences(path: Path, model, X: np.ndarray) -> tuple[float, float, float] | None:
    """max |logits| difference, max |logits|, max |probabilities| difference, onnxruntime vs
    chainrule, over X (None without onnxruntime)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    logits = predict_scores(model, common.prepare(model.preprocess, X)).astype(np.float64)
    p = softmax_array(logits, axis=1)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got_logits, got_p = sess.run(["logits", "probabilities"], {"input": X})
    return (float(np.abs(got_logits - logits).max()), float(np.abs(logits).max()),
            float(np.abs(got_p - p).max()))


def run(args: argparse.Namespace) -> int:
    from .. import onnx as cx

    model, default_out = _load(Path(args.run))
    info = require(model, args.run, "export")  # shape, value range, normalisation, classes: or refuse
    out = runfolder.check_output(args.out if args.out else default_out)  # before the work
    meta = {"classes": model.classes, "input_shape": info["input_shape"], "dtype": info.get("dtype", "float32"),
            "value_range": info.get("value_range"), "source": str(args.run)}
    pre = getattr(model, "preprocess", None)
    if pre is not None:
        meta["preprocess"] = pre.to_config() if hasattr(pre, "to_config") else type(pre).__name__
    try:
        cx.export(model, example_batch(info), out, opset=args.opset, dynamic_batch=not args.static_batch,
                  preprocess=pre, metadata=meta)
    except (ImportError, cx.ExportError) as e:  # onnx missing (names the pip install), or an unsupported op
        raise CLIError(str(e)) from None
    print(f"wrote {out} (input 'input': raw images {['N' if not args.static_batch else 1, *info['input_shape']]} "
          f"{info.get('dtype', 'float32')}; outputs 'logits', 'probabilities')")
    n = 1 if args.static_batch else 8
    diff = _differences(out, model, example_batch(info, n=n, seed=1))
    if diff is None:
        print("(not checked against onnxruntime, which is not installed: pip install onnxruntime)")
    else:
        print(f"checked with onnxruntime on {n} random images: max |logit difference| = {diff[0]:.2e} "
              f"(logits up to {diff[1]:.2e}), max |probability difference| = {diff[2]:.2e}")
    return 0
