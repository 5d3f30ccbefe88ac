"""Loss layers (PyTorch style): CrossEntropyLoss, MultiClassSVMLoss, MSELoss, BCEWithLogitsLoss, NLLLoss."""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import functional as F
from .class_losses import legacy_reduction
from .module import Module


class _Loss(Module):
    """A loss layer: stores `reduction` ("mean", "sum" or "none"), shows it when not "mean"."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction


class _WeightedLoss(_Loss):
    """A class-index loss with PyTorch's options: per-class `weight` (C,), `ignore_index`, and the
    deprecated size_average / reduce flags (turned into `reduction`)."""

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean"):
        super().__init__(legacy_reduction(size_average, reduce, reduction))
        self.weight, self.ignore_index = weight, int(ignore_index)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class CrossEntropyLoss(_WeightedLoss):
    """`loss = CrossEntropyLoss()(logits, target)`: softmax cross-entropy (see F.cross_entropy):
    weight, ignore_index, reduction and label_smoothing as PyTorch; targets class indices or
    class probabilities."""

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class SVMLoss(_Loss):
    """Multiclass hinge loss (CS231n's SVM loss; see F.svm_loss)."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return F.svm_loss(scores, target, margin=self.margin, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


class MSELoss(_Loss):
    """Mean squared error (see F.mse_loss)."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (see F.binary_cross_entropy_with_logits): a single neuron
    with a sigmoid is a binary classifier. `loss = BCEWithLogitsLoss()(logits, targets)`,
    targets in [0, 1] of the logits' shape (floats, not class indices)."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction, pos_weight=self.pos_weight)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (see F.nll_loss): LogSoftmax + NLLLoss
    = CrossEntropyLoss; also the loss of a cr.models.Ensemble's output. weight, ignore_index and
    reduction as PyTorch."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)
