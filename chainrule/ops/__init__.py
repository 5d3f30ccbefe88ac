"""Built-in ops, one module per family; every op is a `cr.Function`."""
from . import memory as _memory  # noqa: F401  (first: big arrays reuse freed memory, see memory.py)
from .elementwise import (  # noqa: F401
    abs, add, cast, clamp, clip, div, exp, log, maximum, minimum, mul, neg, pow, relu, rpow,
    sigmoid, sqrt, sub, tanh, where,
)
from .device import to_device  # noqa: F401
from .matmul import matmul  # noqa: F401
from .reduce import max, mean, min, sum, var  # noqa: F401
from .shape import (  # noqa: F401
    cat, concatenate, flatten, getitem, pad, permute, reshape, squeeze, stack, transpose, unsqueeze, view,
)
