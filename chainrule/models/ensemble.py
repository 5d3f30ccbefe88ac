"""Model ensembles: several networks vote by averaging their class probabilities.

    ens = cr.models.Ensemble([net_a, net_b, net_c])       # or Ensemble.from_checkpoints(paths)
    log_p = ens(x)                  # (N, K): log of the averaged softmax probabilities
    F.nll_loss(log_p, y)            # the ensemble's cross-entropy (= F.cross_entropy(log_p, y))
    log_p.argmax(1)                 # its prediction; log_p.exp() its probabilities

The notes: "train multiple independent models, average their predictions at test
time: a few percent better" (7 CNNs: 18.2% -> 15.4% top-5 error on ImageNet).
Averaging probabilities, not logits, is the usual choice: members whose logits
live on different scales then count equally. Cheaper variants from one run:
snapshot ensembles (`from_checkpoints` on several epochs' checkpoints, e.g. those
of `cr.callbacks.ModelCheckpoint(dir)`), a running average of the weights
(`cr.optim.swa_utils.AveragedModel`), and Monte-Carlo dropout
(`mc_dropout_predict`: the same network with different dropout masks).

Because forward returns log-probabilities, `F.cross_entropy(ens(x), y)` is also the
ensemble's loss (log_softmax of log-probabilities changes nothing), and the
Solver, `cr.summary`, `cr.save`/`cr.load` (for members built from chainrule's
classes) take an Ensemble like any other model.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from .. import backend, nn, rng
from ..autograd import no_grad
from ..nn import functional as F
from ..nn.module import kept_modes, module_device
from ..ops.activation import softmax_array
from ..ops.shape import stack
from ..tensor import Tensor

__all__ = ["Ensemble", "average_probabilities", "mc_dropout_predict"]


def _normalised(weights: Sequence[float] | None, n: int, who: str) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{who}: expected {n} weights (one per member), got {w.shape[0] if w.ndim else w}")
    if np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"{who}: weights must be finite, non-negative and not all zero, got {w.tolist()}")
    return w / w.sum()


class Ensemble(nn.Module):
    """Weighted average of the members' softmax probabilities.

    models: Modules mapping the same input x: (N, ...) to class scores (N, K).
    weights: one non-negative weight per member (normalised to sum to 1); None: equal.
    forward(x) -> (N, K) log(sum_i w_i softmax(models[i](x))), computed as a
    log-sum-exp of the members' log-softmax, so it is exact for any logits and
    differentiable (a loss on it trains all members jointly).
    Members live in `self.members` (state_dict keys "members.0.weight", ...).
    """

    def __init__(self, models: Sequence[nn.Module], weights: Sequence[float] | None = None):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("Ensemble: got no models")
        for i, m in enumerate(models):
            if not isinstance(m, nn.Module):
                raise TypeError(f"Ensemble: member {i} must be a cr.nn.Module, got {type(m).__name__}")
        self.members = nn.ModuleList(models)
        self.weights = _normalised(weights, len(models), "Ensemble").tolist()

    def forward(self, x: Any) -> Tensor:
        logs = [F.log_softmax(self._scores(i, m, x), dim=1) for i, m in enumerate(self.members)]
        L = stack(logs, 0)                                               # (M, N, K)
        with np.errstate(divide="ignore"):                               # weight 0: log 0 = -inf
            logw = np.log(np.asarray(self.weights, dtype=L.data.dtype))[:, None, None]
        logw = backend.to_device(logw, L.device)                         # (a no-op on the CPU)
        shift = (L.data + logw).max(axis=0)                              # constant: the log-sum-exp trick
        return (L + Tensor(logw - shift)).exp().sum(0).log() + Tensor(shift)

    @staticmethod
    def _scores(i: int, m: nn.Module, x: Any) -> Tensor:
        s = m(x)
        if not isinstance(s, Tensor) or s.ndim != 2:
            raise ValueError(f"Ensemble: member {i} ({type(m).__name__}) must return class scores (N, K), "
                             f"got {getattr(s, 'shape', type(s).__name__)}")
        return s

    def extra_repr(self) -> str:
        n = len(self.members)
        return "" if np.allclose(self.weights, 1.0 / n) else "weights=" + str([round(w, 4) for w in self.weights])

    @classmethod
    def from_checkpoints(cls, paths: Sequence[str | os.PathLike], weights: Sequence[float] | None = None
                         ) -> "Ensemble":
        """An ensemble of the models in `paths` (files of `cr.save`, or Solver checkpoints, whose
        current weights are taken: snapshots of one run, or runs of the same data).

        The members must share their preprocessing: the ensemble gets the first one's
        `preprocess`, `classes` and `info` (as `cr.load` gives a model), in eval mode.
        """
        from ..serialization import load

        paths = list(paths)
        if not paths:
            raise ValueError("Ensemble.from_checkpoints: got no paths")
        models = [load(p) for p in paths]
        first = _preprocess_state(models[0].preprocess)
        for p, m in zip(paths[1:], models[1:]):
            if not _same_state(first, _preprocess_state(m.preprocess)):
                raise ValueError(f"Ensemble.from_checkpoints: {p} preprocesses its input differently from "
                                 f"{paths[0]}; average the members' probabilities on their own inputs instead "
                                 "(cr.models.ensemble.average_probabilities)")
        ens = cls(models, weights)
        ens.eval()
        ens.preprocess, ens.classes, ens.info = models[0].preprocess, models[0].classes, models[0].info
        return ens


def _preprocess_state(pre: Any) -> Any:
    """What makes two fitted preprocessors the same: their config and their arrays."""
    if pre is None:
        return None
    return {"config": pre.to_config(), "state": dict(pre.state_dict())}


def _same_state(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (np.ndarray, list, tuple)) or isinstance(b, (np.ndarray, list, tuple)):
        try:
            return np.array_equal(np.asarray(a), np.asarray(b))
        except (ValueError, TypeError):
            return False
    return a == b


def average_probabilities(probs: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """sum_i w_i probs[i]: the ensemble of members whose (N, K) probabilities were computed
    separately (e.g. each on its own preprocessed input). weights: None = equal."""
    P = np.stack([np.asarray(p, dtype=np.float64) for p in probs])
    if P.ndim != 3:
        raise ValueError(f"average_probabilities: expected (N, K) arrays of the same shape, got {P.shape[1:]}")
    w = _normalised(weights, P.shape[0], "average_probabilities")
    return np.tensordot(w, P, axes=1)


def mc_dropout_predict(model: nn.Module, X: Any, n_samples: int = 20, batch_size: int = 256,
                       seed: int | None = None) -> np.ndarray:
    """Monte-Carlo dropout (Gal & Ghahramani 2016): average the softmax of `n_samples` forward
    passes with dropout left on, everything else (batch norm) in eval mode.

    X: (N, ...) prepared input (what the model eats). Returns (N, K) float64 probabilities;
    `.argmax(1)` is the prediction. seed: draw the masks from this seed (the shared generator
    is restored afterwards); None: continue the shared generator.
    The model's train/eval flags are restored on return.
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"mc_dropout_predict: n_samples must be a positive int, got {n_samples!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"mc_dropout_predict: batch_size must be a positive int, got {batch_size!r}")
    from ..metrics import param_dtype

    X = np.asarray(backend.to_host(X.data if isinstance(X, Tensor) else X))
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(f"mc_dropout_predict: expected a non-empty batch X (N, ...), got shape {X.shape}")
    X = X.astype(param_dtype(model), copy=False)
    dev = module_device(model)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    if not drops:
        raise ValueError(f"mc_dropout_predict: {type(model).__name__} has no Dropout layer; every pass "
                         "would give the same answer")
    saved = rng.get_rng_state() if seed is not None else None
    try:
        if seed is not None:
            rng.manual_seed(seed)
        total = None
        with kept_modes(model), no_grad():
            model.eval()
            for m in drops:
                m.train()
            for _ in range(int(n_samples)):
                scores = [backend.to_host(model(Tensor(X[i:i + batch_size]).to(dev)).data)  # host copies
                          for i in range(0, X.shape[0], batch_size)]
                p = np.concatenate([softmax_array(np.asarray(v, dtype=np.float64), axis=1) for v in scores])
                total = p if total is None else total + p
    finally:
        if saved is not None:
            rng.set_rng_state(saved)
    return total / n_samples
