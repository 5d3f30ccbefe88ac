"""`chainrule convert-weights IN.pth OUT.safetensors`: turn a PyTorch checkpoint
(a state dict, or a dict holding one under "state_dict" or "model") into a
safetensors file that `cr.models.load_pretrained` reads without pickle.

PyTorch's .pth format is a pickle, so reading it needs torch itself; it is
loaded with `torch.load(weights_only=True)`, which refuses to run arbitrary
code from the file. chainrule never unpickles anything itself.
"""
from __future__ import annotations

import argparse
import os

from . import CLIError

HELP = "convert a PyTorch checkpoint (.pth state dict) to .safetensors for cr.models.load_pretrained"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN.pth", help="PyTorch checkpoint: a state dict or {'state_dict': ...}")
    parser.add_argument("output", metavar="OUT.safetensors", help="where to write the safetensors file")
    parser.add_argument("--strip-prefix", default=None, metavar="PREFIX",
                        help="remove this prefix from every key (e.g. 'module.' from DataParallel checkpoints)")


def _state_dict(obj, torch):
    """The name -> tensor mapping inside a loaded checkpoint."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj

    raise CLIError(f"expected a state dict (name -> tensor) or a dict with one under 'state_dict', "
                   f"got {type(obj).__name__}")


def run(args: argparse.Namespace) -> int:

    try:
        import torch
    except ImportError:
        raise CLIError("reading .pth checkpoints needs PyTorch: pip install torch") from None
    import numpy as np
    from safetensors.numpy import save_file

    if not os.path.exists(args.input):
        raise FileNotFoundError(f"no such checkpoint: {args.input}")
    try:
        obj = torch.load(args.input, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's own message says what it refused
        raise CLIError(f"torch.load(weights_only=True) could not read {args.input}: "
                       f"{str(e).splitlines()[0]}") from None
    sd = _state_dict(obj, torch)
    out, skipped = {}, []
    for name, value in sd.items():
        if args.strip_prefix and name.startswith(args.strip_prefix):
            name = name[len(args.strip_prefix):]
        if not isinstance(value, torch.Tensor):
            skipped.append(name)
            continue
        if value.dtype == torch.bfloat16:  # NumPy has no bfloat16
            value = value.float()
        # safetensors needs C-contiguous arrays that own their memory (no shared storage);
        # np.array keeps 0-d tensors (BN's num_batches_tracked) 0-d.
        out[name] = np.array(value.detach().cpu().numpy(), order="C", copy=True)
    if not out:
        raise CLIError(f"{args.input} holds no tensors")
    save_file(out, args.output)
    n = sum(int(v.size) for v in out.values())
    print(f"wrote {len(out)} tensors ({n:,} numbers) to {args.output}")
    if skipped:
        print(f"skipped {len(skipped)} non-tensor entries: {', '.join(skipped)}")
    return 0
