"""Preprocessing fitted on the training split and applied unchanged to val/test.

CS231n lecture 6: zero-centre the data. AlexNet subtracts the mean image
(`MeanImage`), VGG the per-channel mean (`PerChannelNormalize(std=False)`),
ResNet-style code also divides by the per-channel std. PCA / whitening is shown
for 2-D data in the lecture but rarely used for images (`PCAWhiten`).

Each has fit(X) -> self, __call__(X) -> float32, inverse(Y), and for saving with
a model: state_dict() (float arrays, for safetensors), to_config() (JSON-able
settings, with the class name) and from_config(config, state=None).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Transform, check_batch


class Preprocessor(Transform):
    """fit / __call__ / inverse with array state and a JSON config."""

    _arrays: tuple[str, ...] = ()

    def _check_fitted(self):
        if any(getattr(self, a, None) is None for a in self._arrays):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(X_train) first")

    def state_dict(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {a: np.ascontiguousarray(getattr(self, a)) for a in self._arrays}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        missing = [a for a in self._arrays if a not in state]
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing {missing}")
        for a in self._arrays:
            setattr(self, a, np.asarray(state[a]).copy())

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
            raise ValueError(f"unknown or mismatched preprocessor class {name!r}")
        obj = klass(**config)
        if state is not None:
            obj.load_state_dict(state)
        return obj


class MeanImage(Preprocessor):
    """Subtract the training set's mean image (AlexNet). x: (N, C, H, W)."""

    _arrays = ("mean",)

    def __init__(self):
        self.mean = None

    def fit(self, X) -> "MeanImage":
        X = check_batch(X, "MeanImage.fit", floating=False)
        self.mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        return self

    def __call__(self, X, rng=None):
        self._check_fitted()
        X = check_batch(X, "MeanImage", floating=False)
        if X.shape[1:] != self.mean.shape:
            raise ValueError(f"MeanImage: fitted on images {self.mean.shape}, got {X.shape[1:]}")
        return X.astype(np.float32) - self.mean

    def inverse(self, Y):
        self._check_fitted()
        return np.asarray(Y, np.float32) + self.mean


class PerChannelNormalize(Preprocessor):
    """Subtract the per-channel mean (VGG) and, if `std`, divide by the per-channel std."""

    _arrays = ("mean", "std_")

    def __init__(self, std: bool = True, eps: float = 1e-8):
        self.std, self.eps = bool(std), float(eps)
        self.mean = self.std_ = None

    def get_config(self):
        return {"std": self.std, "eps": self.eps}

    def fit(self, X) -> "PerChannelNormalize":
        X = check_batch(X, "PerChannelNormalize.fit", floating=False)
        axes = (0, 2, 3)
        self.mean = X.mean(axis=axes, dtype=np.float64).astype(np.float32)
        sd = X.std(axis=axes, dtype=np.float64) if self.std else np.ones(X.shape[1])
        self.std_ = np.maximum(sd, self.eps).astype(np.float32)
        return self

    def _shape(self, a):
        return a.reshape(1, -1, 1, 1)

    def __call__(self, X, rng=None):
        self._check_fitted()
        X = check_batch(X, "PerChannelNormalize", floating=False, channels=self.mean.shape[0])
        return (X.astype(np.float32) - self._shape(self.mean)) / self._shape(self.std_)

    def inverse(self, Y):
        self._check_fitted()
        return np.asarray(Y, np.float32) * self._shape(self.std_) + self._shape(self.mean)


class PCAWhiten(Preprocessor):
    """PCA (and whitening) of flattened images; rarely used for images (CS231n lecture 6).

    zca=False: output (N, k), the first k = n_components principal coordinates,
    each divided by sqrt(eigenvalue + eps) if `whiten`. zca=True: rotate back to
    pixel space, output (N, C, H, W) (ZCA whitening). fit costs an eigen-
    decomposition of the D x D covariance (D = C*H*W): keep images small.
    """

    _arrays = ("mean", "components", "scale", "image_shape")

    def __init__(self, n_components: int | None = None, whiten: bool = True, zca: bool = False,
                 eps: float = 1e-5):
        self.n_components, self.whiten, self.zca, self.eps = n_components, bool(whiten), bool(zca), float(eps)
        self.mean = self.components = self.scale = self.image_shape = None

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
        self.mean = mean.astype(np.float32)
        self.components = evecs.T.astype(np.float32)            # (k, D)
        self.scale = (1.0 / np.sqrt(evals + self.eps) if self.whiten
                      else np.ones(k)).astype(np.float32)       # (k,)
        self.image_shape = np.asarray(X.shape[1:], np.int64)
        return self

    def __call__(self, X, rng=None):
        self._check_fitted()
        X = check_batch(X, "PCAWhiten", floating=False)
        if X.shape[1:] != tuple(self.image_shape):
            raise ValueError(f"PCAWhiten: fitted on images {tuple(self.image_shape)}, got {X.shape[1:]}")
        Z = (X.reshape(X.shape[0], -1).astype(np.float32) - self.mean) @ self.components.T * self.scale
        if self.zca:
            return (Z @ self.components).reshape(X.shape).astype(np.float32)
        return Z.astype(np.float32)

    def inverse(self, Y):
        """Back to images (N, C, H, W); exact when all components are kept."""
        self._check_fitted()
        Y = np.asarray(Y, np.float32)
        Z = Y.reshape(Y.shape[0], -1) @ self.components.T if self.zca else Y
        F = (Z / self.scale) @ self.components + self.mean
        return F.reshape((Y.shape[0], *self.image_shape)).astype(np.float32)


PREPROCESSORS = {c.__name__: c for c in (MeanImage, PerChannelNormalize, PCAWhiten)}


def preprocessor_from_config(config: dict[str, Any], state: dict[str, np.ndarray] | None = None):
    """Rebuild any preprocessor saved as (to_config(), state_dict())."""
    return Preprocessor.from_config(config, state)
