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
# issue 22 (h-22core): PyTorch's tensor surface: trig, comparisons, selection, in-place changes
from . import shape  # noqa: F401,E402
from .elementwise import cos, sin, tan  # noqa: F401,E402
from .compare import (  # noqa: F401,E402
    allclose, ceil, eq, equal, floor, ge, gt, isclose, isfinite, isinf, isnan, le, logical_and, logical_not,
    logical_or, logical_xor, lt, ne, round, sign, trunc,
)
from .reduce import prod  # noqa: F401,E402  (norm: ops.norm is the batch-norm module; use reduce.norm)
from .select import argsort, gather, max_dim, min_dim, sort, topk  # noqa: F401,E402
from .shape import chunk, expand, index_select, narrow, repeat, split, unbind  # noqa: F401,E402
from .inplace import CopySlices, apply_inplace  # noqa: F401,E402
