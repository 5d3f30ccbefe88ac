"""Datasets, batches, preprocessing and augmentation (`cr.data`).

    data = cr.data.load_digits()            # Splits: X_train, y_train, X_val, ...
    loader = cr.data.DataLoader(data.X_train, data.y_train, batch_size=64)
"""
from .splits import Splits, make_splits, stratified_split  # noqa: F401
from .digits import load_digits  # noqa: F401
