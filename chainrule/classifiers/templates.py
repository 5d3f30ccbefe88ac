"""What a linear classifier learned: each class's weights seen as an image (lecture 3).

A linear classifier scores an image by its dot product with one weight vector
per class, so each vector is a "template" of the class. As in assignment 1,
each template is rescaled to 0..255 on its own (min -> 0, max -> 255).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.utils.validation import check_is_fitted


def visualize_templates(clf, image_shape: Sequence[int], path: str | None = None,
                        class_names: Sequence[str] | None = None) -> np.ndarray:
    """Class templates of a fitted linear classifier as images.

    clf: a fitted LinearSVM / Softmax (`W_`: (D + 1, C), bias as last row).
    image_shape: the shape of one sample, (H, W), (1, H, W), (3, H, W) or (H, W, 3);
        its product must be D.
    path: if given, also save the templates as a grid PNG there.
    Returns uint8 templates (C, H, W) for grey images or (C, H, W, 3) for colour.
    """
    check_is_fitted(clf, "W_")
    shape = tuple(int(s) for s in image_shape)
    weights = clf.W_[:-1].T  # (C, D): drop the bias row
    if int(np.prod(shape)) != weights.shape[1]:
        raise ValueError(f"visualize_templates: image_shape {shape} has {int(np.prod(shape))} "
                         f"values but the classifier has {weights.shape[1]} features")
    images = weights.reshape((-1,) + shape)
    if len(shape) == 3 and shape[0] in (1, 3) and shape[-1] not in (1, 3):
        images = np.moveaxis(images, 1, -1)  # channels first -> channels last
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"visualize_templates: expected image_shape (H, W), (1, H, W), (3, H, W) "
                         f"or (H, W, 3), got {shape}")
    lo = images.min(axis=tuple(range(1, images.ndim)), keepdims=True)
    hi = images.max(axis=tuple(range(1, images.ndim)), keepdims=True)
    scaled = 255.0 * (images - lo) / np.where(hi > lo, hi - lo, 1.0)
    templates = np.round(scaled).astype(np.uint8)
    if path is not None:
        from ..viz.classifiers import save_image_grid

        names = list(class_names) if class_names is not None else [str(c) for c in clf.classes_]
        save_image_grid(templates, names, path, title=f"{type(clf).__name__} class templates")
    return templates
