"""Preprocessing fitted on the training split and applied unchanged to val/test.

CS231n lecture 6: zero-centre the data. AlexNet subtracts the mean image
(`MeanImage`), VGG the per-channel mean (`PerChannelNormalize(std=False)`),
ResNet-style code also divides by the per-channel std. PCA / whitening is shown
for 2-D data in the lecture but rarely used for images (`PCAWhiten`).

scikit-learn's conventions: the constructor only stores settings, `fit(X)`
returns self and sets the fitted attributes, whose names end in `_` (`mean_`,
`std_`, `components_`); `is_fitted` / `check_is_fitted` tell whether it ran.
Each has __call__(X) -> float32 and inverse(Y), and for saving with a model
state_dict() (the fitted arrays, for safetensors), to_config() (JSON-able
settings, with the class name) and from_config(config, state=None);
`preprocessor_to_state` / `preprocessor_from_state` pack both into one nested
state (what `cr.save` and the Solver's checkpoints hold).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Transform, check_batch


class NotFittedError(ValueError, AttributeError):
    """A preprocessor used before `fit` (the same bases as scikit-learn's NotFittedError)."""


class Preprocessor(Transform):
    """fit / __call__ / inverse with fitted array attributes (`_fitted`, names ending in `_`)
    and a JSON config."""

    _fitted: tuple[str, ...] = ()
    # state_dict keys written before the fitted attributes ended in "_" (old key -> attribute)
    _old_keys: dict[str, str] = {}

    def fit(self, X) -> "Preprocessor":
        raise NotImplementedError

    def __sklearn_is_fitted__(self) -> bool:
        return all(getattr(self, a, None) is not None for a in self._fitted)

    def state_dict(self) -> dict[str, np.ndarray]:
        check_is_fitted(self)
        return {a: np.ascontiguousarray(getattr(self, a)) for a in self._fitted}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> "Preprocessor":
        state = {self._old_keys.get(k, k): v for k, v in state.items()}
        missing = [a for a in self._fitted if a not in state]
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing {missing}")
        for a in self._fitted:
            setattr(self, a, np.asarray(state[a]).copy())
        return self

    def get_config(self) -> dict[str, Any]:
        return {}

    def to_config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, **self.get_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any], state: dict[str, np.ndarray] | None = None):
        config = dict(config)
        name = config.pop("class", cls.__name__)
        klass = PREPROCESSORS.get(name) if cls is Preprocessor else cls
        if klass is None or klass.__name__ != name:
            raise ValueError(f"unknown or mismatched preprocessor class {name!r}; "
                             f"known: {', '.join(PREPROCESSORS)}")
        obj = klass(**config)
        if state is not None:
            obj.load_state_dict(state)
        return obj


def is_fitted(pre: Any) -> bool:
    """Whether `pre` has been fitted, by scikit-learn's rule: its `__sklearn_is_fitted__()` if it
    has one, else whether it has an attribute ending in "_"; an object without `fit` (a plain
    transform or function) has nothing to fit and counts as fitted."""
    check = getattr(pre, "__sklearn_is_fitted__", None)
    if check is not None:
        return bool(check())
    if not callable(getattr(pre, "fit", None)):
        return True
    return any(k.endswith("_") and not k.startswith("__") for k in getattr(pre, "__dict__", {}))


def check_is_fitted(pre: Any) -> None:
    """Raise NotFittedError unless `pre` has been fitted."""
    if not is_fitted(pre):
        raise NotFittedError(f"{type(pre).__name__} is not fitted: call fit(X_train) first")


class MeanImage(Preprocessor):
    """Subtract the training set's mean image (AlexNet). x: (N, C, H, W)."""

    _fitted = ("mean_",)
    _old_keys = {"mean": "mean_"}

    def fit(self, X) -> "MeanImage":
        X = check_batch(X, "MeanImage.fit", floating=False)
        self.mean_ = X.mean(axis=0, dtype=np.float64).astype(np.float32)   # (C, H, W)
        return self

    def __call__(self, X, rng=None):
        check_is_fitted(self)
        X = check_batch(X, "MeanImage", floating=False)
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(f"MeanImage: fitted on images {self.mean_.shape}, got {X.shape[1:]}")
        return X.astype(np.float32) - self.mean_

    def inverse(self, Y):
        check_is_fitted(self)
        return np.asarray(Y, np.float32) + self.mean_


class PerChannelNormalize(Preprocessor):
    """Subtract the per-channel mean (VGG) and, if `std`, divide by the per-channel std."""

    _fitted = ("mean_", "std_")
    _old_keys = {"mean": "mean_"}

    def __init__(self, std: bool = True, eps: float = 1e-8):
        self.std, self.eps = bool(std), float(eps)

    def get_config(self):
        return {"std": self.std, "eps": self.eps}

    def fit(self, X) -> "PerChannelNormalize":
        X = check_batch(X, "PerChannelNormalize.fit", floating=False)
        axes = (0, 2, 3)
        self.mean_ = X.mean(axis=axes, dtype=np.float64).astype(np.float32)   # (C,)
        sd = X.std(axis=axes, dtype=np.float64) if self.std else np.ones(X.shape[1])
        self.std_ = np.maximum(sd, self.eps).astype(np.float32)
        return self

    def _shape(self, a):
        return a.reshape(1, -1, 1, 1)

    def __call__(self, X, rng=None):
        check_is_fitted(self)
        X = check_batch(X, "PerChannelNormalize", floating=False, channels=self.mean_.shape[0])
        return (X.astype(np.float32) - self._shape(self.mean_)) / self._shape(self.std_)

    def inverse(self, Y):
        check_is_fitted(self)
        return np.asarray(Y, np.float32) * self._shape(self.std_) + self._shape(self.mean_)


class PCAWhiten(Preprocessor):
    """PCA (and whitening) of flattened images; rarely used for images (CS231n lecture 6).

    zca=False: output (N, k), the first k = n_components principal coordinates,
    each divided by sqrt(eigenvalue + eps) if `whiten`. zca=True: rotate back to
    pixel space, output (N, C, H, W) (ZCA whitening). fit costs an eigen-
    decomposition of the D x D covariance (D = C*H*W): keep images small.
    """

    _fitted = ("mean_", "components_", "scale_", "image_shape_")
    _old_keys = {"mean": "mean_", "components": "components_", "scale": "scale_", "image_shape": "image_shape_"}

    def __init__(self, n_components: int | None = None, whiten: bool = True, zca: bool = False,
                 eps: float = 1e-5):
        self.n_components, self.whiten, self.zca, self.eps = n_components, bool(whiten), bool(zca), float(eps)

    def get_config(self):
        return {"n_components": self.n_components, "whiten": self.whiten, "zca": self.zca,
                "eps": self.eps}

    def fit(self, X) -> "PCAWhiten":
        X = check_batch(X, "PCAWhiten.fit", floating=False)
        F = X.reshape(X.shape[0], -1).astype(np.float64)
        mean = F.mean(axis=0)
        F -= mean
        cov = F.T @ F / max(F.shape[0] - 1, 1)
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        k = F.shape[1] if self.n_components is None else int(self.n_components)
        if not 1 <= k <= F.shape[1]:
            raise ValueError(f"PCAWhiten: n_components must be in 1..{F.shape[1]}, got {k}")
        evals, evecs = np.maximum(evals[order][:k], 0.0), evecs[:, order][:, :k]
        # fix each eigenvector's sign (largest entry positive) so fits are reproducible
        evecs *= np.sign(evecs[np.argmax(np.abs(evecs), axis=0), np.arange(k)])
        self.mean_ = mean.astype(np.float32)                    # (D,)
        self.components_ = evecs.T.astype(np.float32)           # (k, D)
        self.scale_ = (1.0 / np.sqrt(evals + self.eps) if self.whiten
                      else np.ones(k)).astype(np.float32)       # (k,)
        self.image_shape_ = np.asarray(X.shape[1:], np.int64)   # (C, H, W)
        return self

    def __call__(self, X, rng=None):
        check_is_fitted(self)
        X = check_batch(X, "PCAWhiten", floating=False)
        if X.shape[1:] != tuple(self.image_shape_):
            raise ValueError(f"PCAWhiten: fitted on images {tuple(self.image_shape_)}, got {X.shape[1:]}")
        Z = (X.reshape(X.shape[0], -1).astype(np.float32) - self.mean_) @ self.components_.T * self.scale_
        if self.zca:
            return (Z @ self.components_).reshape(X.shape).astype(np.float32)
        return Z.astype(np.float32)

    def inverse(self, Y):
        """Back to images (N, C, H, W); exact when all components are kept."""
        check_is_fitted(self)
        Y = np.asarray(Y, np.float32)
        Z = Y.reshape(Y.shape[0], -1) @ self.components_.T if self.zca else Y
        F = (Z / self.scale_) @ self.components_ + self.mean_
        return F.reshape((Y.shape[0], *self.image_shape_)).astype(np.float32)


PREPROCESSORS = {c.__name__: c for c in (MeanImage, PerChannelNormalize, PCAWhiten)}


def preprocessor_from_config(config: dict[str, Any], state: dict[str, np.ndarray] | None = None):
    """Rebuild any preprocessor saved as (to_config(), state_dict())."""
    return Preprocessor.from_config(config, state)


def preprocessor_to_state(pre: Preprocessor | None) -> dict[str, Any] | None:
    """A fitted preprocessor as {"config": JSON settings, "state": {name: array}} (None -> None)."""
    if pre is None:
        return None
    if not isinstance(pre, Preprocessor):
        raise ValueError(f"preprocess {type(pre).__name__} cannot be saved: use a cr.data.transforms "
                         f"preprocessor ({', '.join(PREPROCESSORS)})")
    return {"config": pre.to_config(), "state": pre.state_dict()}


def preprocessor_from_state(state: dict[str, Any] | None) -> Preprocessor | None:
    """Inverse of `preprocessor_to_state` (also reads the array names saved before they ended in "_")."""
    if state is None:
        return None
    return preprocessor_from_config(state["config"], state["state"])
