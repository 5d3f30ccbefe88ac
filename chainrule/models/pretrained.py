"""Transfer learning helpers: load weights saved with torchvision's parameter
names, and swap a network's classifier for a new task.

    model = cr.models.resnet18(num_classes=10)
    report = cr.models.load_pretrained(model, "resnet18.safetensors", skip_mismatched=True)
    # the 1000-class fc is skipped (shape mismatch); everything else is loaded
    model.requires_grad_(False)                       # freeze the body ...
    cr.models.reset_classifier(model, 10)             # ... then a new, trainable head

Weights are read with `safetensors.numpy.load_file` (never pickle); convert a
PyTorch checkpoint first with `chainrule convert-weights IN.pth OUT.safetensors`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .. import nn


@dataclass
class LoadReport:
    """What `load_pretrained` did: names loaded, missing from the file,
    unexpected in the file, and skipped for a shape mismatch (name, model shape, file shape)."""
    loaded: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    mismatched: list = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors"]
        if self.missing:
            lines.append(f"missing in the file ({len(self.missing)}, left as initialised): {', '.join(self.missing)}")
        if self.unexpected:
            lines.append(f"unexpected in the file ({len(self.unexpected)}, ignored): {', '.join(self.unexpected)}")
        for name, want, got in self.mismatched:
            lines.append(f"shape mismatch, skipped: {name}: model {want}, file {got}")
        return "\n".join(lines)


def load_pretrained(model: nn.Module, weights: str | os.PathLike | Mapping[str, np.ndarray], *,
                    strict: bool = True, skip_mismatched: bool = False, verbose: bool = True) -> LoadReport:
    """Copy weights into `model` by name (torchvision's names) and report what matched.

    weights: a .safetensors file or a dict name -> ndarray.
    strict: raise if any model tensor is missing from the file or the file has
        tensors the model does not (after the report is built; nothing is loaded then).
    skip_mismatched: leave tensors whose shapes differ as initialised (e.g. a
        1000-class head loaded into a 10-class model) instead of raising.
    Values are cast to the model's dtypes. Returns a `LoadReport` (printed if verbose).
    """
    if isinstance(weights, (str, os.PathLike)):
        from safetensors.numpy import load_file

        if not os.path.exists(weights):
            raise FileNotFoundError(f"load_pretrained: no such weights file: {os.fspath(weights)}")
        weights = load_file(os.fspath(weights))
    own = model.state_dict()
    report = LoadReport(
        missing=[k for k in own if k not in weights],
        unexpected=[k for k in weights if k not in own],
    )
    to_load = {}
    for k, v in weights.items():
        if k not in own:
            continue
        v = np.asarray(v)
        if tuple(v.shape) != tuple(own[k].shape):
            report.mismatched.append((k, tuple(own[k].shape), tuple(v.shape)))
            continue
        to_load[k] = v.astype(own[k].dtype, copy=False)
    if report.mismatched and not skip_mismatched:
        raise ValueError("load_pretrained: shape mismatch for "
                         + "; ".join(f"{k}: model {a}, file {b}" for k, a, b in report.mismatched)
                         + " (pass skip_mismatched=True to keep these as initialised, e.g. a new classifier)")
    if strict and (report.missing or report.unexpected):
        raise ValueError("load_pretrained: the weights do not match the model (strict=True):\n" + str(report)
                         + "\n(pass strict=False to load the tensors that match)")
    model.load_state_dict(to_load, strict=False)
    report.loaded = list(to_load)
    if verbose:
        print(report)
    return report


def find_classifier(model: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """(parent, attribute name, layer) of the model's final Linear layer: `fc`,
    `classifier` (or its last Linear), `head`, else the last Linear registered."""
    for attr in ("fc", "classifier", "head"):
        sub = getattr(model, attr, None)
        if isinstance(sub, nn.Linear):
            return model, attr, sub
        if isinstance(sub, nn.Sequential):
            for i in range(len(sub) - 1, -1, -1):
                if isinstance(sub[i], nn.Linear):
                    return sub, str(i), sub[i]
    found = None
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                found = (parent, name, child)
    if found is None:
        raise ValueError(f"find_classifier: {type(model).__name__} has no Linear layer to replace")
    return found


def reset_classifier(model: nn.Module, num_classes: int) -> nn.Linear:
    """Replace the model's classifier (see `find_classifier`) by a new, trainable
    Linear(in_features, num_classes) with PyTorch's default init, and return it.
    GoogLeNet's auxiliary heads (`aux1.fc2`, `aux2.fc2`) are replaced too."""
    parent, name, old = find_classifier(model)
    head = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    if old.weight.dtype == np.float64:
        head.double()
    setattr(parent, name, head)
    for aux in ("aux1", "aux2"):
        sub = getattr(model, aux, None)
        if sub is not None and isinstance(getattr(sub, "fc2", None), nn.Linear):
            aux_head = nn.Linear(sub.fc2.in_features, num_classes)
            sub.fc2 = aux_head.double() if sub.fc2.weight.dtype == np.float64 else aux_head
    return head
