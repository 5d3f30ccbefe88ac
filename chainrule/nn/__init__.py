"""Neural-network building blocks (PyTorch's `torch.nn` names and semantics).

    import chainrule as cr
    from chainrule import nn
    model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    loss = nn.functional.cross_entropy(model(x), y)
"""
from .parameter import Parameter  # noqa: F401
from .module import IncompatibleKeys, Module, RemovableHandle, StateDictError  # noqa: F401
from .container import ModuleDict, ModuleList, Sequential  # noqa: F401
from .linear import Flatten, Identity, Linear, Maxout, Unflatten  # noqa: F401
from .activation import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh  # noqa: F401
from .conv import Conv2d  # noqa: F401
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm  # noqa: F401
from .dropout import Dropout, Dropout2d  # noqa: F401
from .loss import CrossEntropyLoss, MSELoss, SVMLoss  # noqa: F401
from .loss import BCEWithLogitsLoss, NLLLoss  # noqa: F401
from . import config, functional, init, utils  # noqa: F401
from .config import module_from_config, module_to_config, register_module  # noqa: F401
