"""chainrule: a readable deep-learning toolkit for visual recognition, on NumPy.

    import chainrule as cr
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([2., 4.])
"""
from .tensor import (  # noqa: F401
    Tensor, arange, bool_, float32, float64, get_default_dtype, int32, int64, ones, ones_like, rand,
    randn, set_default_dtype, tensor, uint8, zeros, zeros_like,
)
from .backend import Device as device  # noqa: F401
from . import cuda  # noqa: F401
from .autograd import Context, Function, enable_grad, is_grad_enabled, no_grad  # noqa: F401
from .ops import (  # noqa: F401
    abs, cat, clamp, clip, concatenate, exp, flatten, log, matmul, max, maximum, mean, min, minimum,
    pad, permute, relu, reshape, sigmoid, sqrt, squeeze, stack, sum, tanh, transpose, unsqueeze, var,
    where,
)
# issue 22 (h-22core): PyTorch's tensor surface (dtype names, Size, factories, functions)
from .dtypes import (  # noqa: F401,E402
    Size, bool, double, dtype, float, float16, float32, float64, half, int, int8, int16, int32, int64, long,
    short, uint8,
)
from .tensor import (  # noqa: F401,E402
    as_tensor, empty, empty_like, eye, from_numpy, full, full_like, is_tensor, linspace, numel, rand_like,
    randint, randn_like, randperm,
)
from .ops import (  # noqa: F401,E402
    allclose, argsort, ceil, chunk, cos, eq, equal, floor, gather, ge, gt, index_select, isclose, isfinite,
    isinf, isnan, le, logical_and, logical_not, logical_or, logical_xor, lt, narrow, ne, prod, round,
    sign, sin, sort, split, tan, topk, trunc, unbind,
)
from .ops.reduce import norm  # noqa: F401,E402
from .ops.functions import (  # noqa: F401,E402
    add, argmax, argmin, bmm, clone, div, dot, log_softmax, max, min, mm, mul, neg, pow, softmax, std, sub,
    t, all, any,
)
from .gradcheck import GradcheckError, gradcheck, numerical_gradient  # noqa: F401
from .graph import graph_dot  # noqa: F401
from .rng import get_rng_state, manual_seed, set_rng_state  # noqa: F401
from . import nn  # noqa: F401
from . import optim  # noqa: F401
from . import data  # noqa: F401
from . import models  # noqa: F401
from .models.summary import summary  # noqa: F401
from .solver import Solver  # noqa: F401
from .serialization import load, save  # noqa: F401
from . import callbacks  # noqa: F401
from . import metrics  # noqa: F401
# issue 23 (h-23data): torch.utils.data's API, and torch.Generator
from . import utils  # noqa: F401
from .utils.data.generator import Generator  # noqa: F401

# PyTorch's device checks (issue 22): cr.accelerator.is_available(), cr.backends.mps/cudnn
from . import accelerator, backends  # noqa: F401
# data parallelism over MPI (issue 24): cr.distributed, cr.nn.parallel (mpi4py is imported only when used)
from . import distributed  # noqa: F401
from .nn import parallel as _nn_parallel  # noqa: F401
# issue 21 (h-21cli): the error a user can fix (the CLI prints it as one line); optional dependencies
from .errors import MissingDependencyError, UsageError  # noqa: F401

__version__ = "0.1.0"

# Subpackages that pull in heavy libraries (scikit-learn, matplotlib, Optuna, onnx) load on first use,
# so `import chainrule` and every CLI command start fast.
_LAZY = {"classifiers", "diagnostics", "onnx", "tune", "viz"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")

# issue 26: cr.features (HOG and colour-histogram image features) also loads on first use
_LAZY |= {"features"}
