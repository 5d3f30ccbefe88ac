"""Datasets, batches, preprocessing and augmentation (`cr.data`).

    data = cr.data.load_digits()            # Splits: X_train, y_train, X_val, ...
    loader = cr.data.DataLoader(cr.data.TensorDataset(data.X_train, data.y_train), batch_size=64, shuffle=True)
"""
from .splits import Splits, make_splits, stratified_split  # noqa: F401
from .digits import load_digits  # noqa: F401
from .errors import DataFileError  # noqa: F401
from .mnist import load_fashion_mnist, load_mnist  # noqa: F401
from .cifar import load_cifar10  # noqa: F401
from .image_folder import load_image_folder, read_image  # noqa: F401
from .loader import ArrayLoader  # noqa: F401
from ..utils.data import DataLoader, Dataset, IterableDataset, TensorDataset  # noqa: F401
from . import transforms  # noqa: F401
from .folder import ImageFolder  # noqa: F401
from .datasets import CIFAR10, MNIST, ArrayDataset, FashionMNIST  # noqa: F401
from . import vision  # noqa: F401
from .batch_collate import TransformCollate  # noqa: F401
from .streaming import FolderSplits, fit_on_sample, folder_datasets  # noqa: F401
from .catalog import load  # noqa: F401
