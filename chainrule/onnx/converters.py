"""One converter per chainrule op (its `Function` class): its recorded arguments -> ONNX nodes.

A converter is `fn(g, args, out) -> name`: `g` the GraphBuilder, `args` the
positional arguments the op was applied to (as `Node.inputs` records them),
`out` the traced output tensor (its shape and dtype). It returns the ONNX
name of the output and may set its batch axis with `g.bind`; by default the
output keeps the batch axis of its first batched input (`default_batch`).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..autograd import Function
from ..ops import activation, conv, dropout, elementwise, norm, pool, reduce, shape
from ..ops.inplace import CopySlices, replay
from ..ops.matmul import MatMul  # by name: the package's `matmul` is the function
from ..ops.geometry import pair, pool_output_size
# PyTorch's average-pool divisors and adaptive bins, as chainrule's kernels compute them
from ..ops.pool import avg_divisor, bin_matrix
from ..tensor import Tensor
from .errors import ExportError

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

# Keyed by the Function class itself: two ops may share a name (ops.conv.Conv2d and the nn.Conv2d
# layer), and a class defined elsewhere under a known name must not borrow a converter.
CONVERTERS: dict[type, Callable] = {}


def converter(*ops: type):
    """Decorator: register fn(g, args, out) -> name as the ONNX converter of the Function classes `ops`."""
    for op in ops:
        if not (isinstance(op, type) and issubclass(op, Function)):
            raise TypeError(f"converter expects Function classes, got {op!r}")

    def register(fn):
        for op in ops:
            CONVERTERS[op] = fn
        return fn
    return register


def supported_ops() -> list[str]:
    """The chainrule ops (Function class names) that export to ONNX."""
    return sorted({op.__name__ for op in CONVERTERS})


def default_batch(g, args, out: Tensor) -> int | None:
    """The batch axis an op's output keeps unless its converter says otherwise: that of its
    first batched tensor argument, aligned from the right as in broadcasting."""
    for a in args:
        axis = g.batch_axis(a) if isinstance(a, Tensor) else None
        if axis is not None:
            new = axis + out.ndim - a.ndim
            return new if 0 <= new < out.ndim else None
    return None


def _shape(v: Any) -> tuple[int, ...]:
    return tuple(np.shape(v.data if isinstance(v, Tensor) else v))


# ------------------------------------------------------------ elementwise
_SAME = {elementwise.Sub: "Sub", elementwise.Mul: "Mul", elementwise.Div: "Div", elementwise.Maximum: "Max",
         elementwise.Minimum: "Min", elementwise.Neg: "Neg", elementwise.Exp: "Exp", elementwise.Log: "Log",
         elementwise.Sqrt: "Sqrt", elementwise.Abs: "Abs", elementwise.ReLU: "Relu",
         elementwise.Sigmoid: "Sigmoid", elementwise.Tanh: "Tanh"}


def _operand(g, a: Any, out: Tensor) -> str:
    """A traced value, parameter or buffer by name; any other constant in the output's dtype
    (as NumPy promotes `x * 2` to x's float dtype)."""
    if id(a) in g.names or id(a) in g.keys:
        return g.value(a)
    return g.const(np.asarray(a.data if isinstance(a, Tensor) else a, dtype=out.dtype))


def _elementwise(onnx_op: str):
    def convert(g, args, out):
        return g.node(onnx_op, [_operand(g, a, out) for a in args])
    return convert


# issue 22's tensor surface: trigonometry and a tensor exponent (x ** t)
_SAME.update({elementwise.Sin: "Sin", elementwise.Cos: "Cos", elementwise.Tan: "Tan",
              elementwise.PowTensor: "Pow"})

for _fn, _op in _SAME.items():
    converter(_fn)(_elementwise(_op))


@converter(elementwise.Add)
def _add(g, args, out):
    """Add; `Gemm + bias` (Linear) becomes one Gemm with the bias as its C input."""
    for p, q in (args, args[::-1]):
        gemm = g.gemms.get(g.names.get(id(p), ""))
        if gemm is not None and isinstance(q, Tensor) and id(q) in g.keys and q.shape == out.shape[-1:]:
            return g.node("Gemm", [*gemm, g.value(q)], transB=1)
    return g.node("Add", [_operand(g, a, out) for a in args])


@converter(elementwise.Pow)
def _pow(g, args, out):
    a, p = args
    return g.node("Pow", [g.value(a), g.const(np.float32(p), "exponent")])


@converter(elementwise.RPow)
def _rpow(g, args, out):
    c, a = args
    return g.node("Pow", [g.const(np.float32(c), "base"), g.value(a)])


@converter(elementwise.Clip)
def _clip(g, args, out):
    a, lo, hi = args
    ends = [g.const(np.float32(v), "clip") if v is not None else "" for v in (lo, hi)]
    return g.node("Clip", [g.value(a), *ends])


@converter(elementwise.Where)
def _where(g, args, out):
    cond, a, b = args
    batch = default_batch(g, (a, b), out)
    if batch is not None and np.ndim(cond) >= out.ndim - batch and np.shape(cond)[batch - out.ndim] != 1:
        raise ExportError("the condition of where() is a constant with the example's batch size; "
                          "export with dynamic_batch=False")
    return g.node("Where", [g.const(np.asarray(cond, dtype=bool), "condition"), g.value(a), g.value(b)])


@converter(elementwise.Cast)
def _cast(g, args, out):
    a, dtype = args[0], np.dtype(args[1])
    if dtype.kind == "f":  # the graph is float32 throughout
        return g.node("Identity", [g.value(a)])
    to = g.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(np.int64) if dtype.kind in "iu" else dtype)
    return g.node("Cast", [g.value(a)], to=to)


@converter(dropout.Dropout)
def _dropout(g, args, out):
    # Inverted dropout's expected value is the identity: what inference computes.
    return g.node("Identity", [g.value(args[0])])


# ------------------------------------------------------------ activations
@converter(activation.LeakyReLU)
def _leaky_relu(g, args, out):
    return g.node("LeakyRelu", [g.value(args[0])], alpha=float(args[1]))


@converter(activation.ELU)
def _elu(g, args, out):
    return g.node("Elu", [g.value(args[0])], alpha=float(args[1]))


def _softmax_like(onnx_op: str):
    def convert(g, args, out):
        return g.node(onnx_op, [g.value(args[0])], axis=int(args[1]))
    return convert


converter(activation.Softmax)(_softmax_like("Softmax"))
converter(activation.LogSoftmax)(_softmax_like("LogSoftmax"))


# ----------------------------------------------------------------- linear
def _transposed_parameter(g, b) -> Any:
    """W if b is W.T for a 2-D leaf W (Linear's `x @ weight.T`), else None."""
    fn = b.grad_fn if isinstance(b, Tensor) else None
    if fn is None or fn.fn is not shape.Permute or tuple(fn.inputs[1]) != (1, 0):
        return None
    w = fn.inputs[0]
    return w if isinstance(w, Tensor) and w.grad_fn is None and w.ndim == 2 else None


@converter(MatMul)
def _matmul(g, args, out):
    a, b = args
    axis = g.batch_axis(a)
    if axis is not None and axis == len(_shape(a)) - 1:
        raise ExportError("a matrix product over the batch axis cannot have a dynamic batch; "
                          "export with dynamic_batch=False")
    w = _transposed_parameter(g, b)
    if w is not None and len(_shape(a)) == 2:  # Linear: Gemm reads the weight as stored
        name = g.node("Gemm", [g.value(a), g.value(w)], transB=1)
        g.gemms[name] = (g.value(a), g.value(w))
    else:
        name = g.node("MatMul", [g.value(a), g.value(b)])
    g.bind(out, name, None if axis is None else axis + out.ndim - len(_shape(a)))
    return name


# ------------------------------------------------------------------ shape
@converter(shape.Reshape)
def _reshape(g, args, out):
    a = args[0]
    target = list(out.shape)
    axis = g.batch_axis(a)
    new_axis = None
    if axis is not None:
        src = _shape(a)
        before = int(np.prod(src[:axis], dtype=np.int64))
        for j in range(len(target)):
            if int(np.prod(target[:j], dtype=np.int64)) == before and target[j] == src[axis]:
                new_axis = j
                break
        if new_axis is None:
            raise ExportError(f"reshape from {src} to {tuple(target)} mixes the batch axis {axis} with others, "
                              "so the batch cannot stay dynamic; export with dynamic_batch=False")
        target[new_axis] = -1  # every other size is fixed: -1 is the batch
    name = g.node("Reshape", [g.value(a), g.ints(target)])
    g.bind(out, name, new_axis)
    return name


@converter(shape.Permute)
def _permute(g, args, out):
    a, axes = args[0], [int(x) % max(out.ndim, 1) for x in args[1]]
    name = g.node("Transpose", [g.value(a)], perm=axes)
    axis = g.batch_axis(a)
    g.bind(out, name, None if axis is None else axes.index(axis))
    return name


@converter(shape.Expand)
def _expand(g, args, out):
    a, axis = args[0], g.batch_axis(args[0])
    target = list(out.shape)
    new_axis = None if axis is None else axis + out.ndim - a.ndim
    if new_axis is not None:
        target[new_axis] = 1  # ONNX Expand broadcasts: a 1 keeps the input's (dynamic) batch size
    name = g.node("Expand", [g.value(a), g.ints(target)])
    g.bind(out, name, new_axis)
    return name


@converter(shape.Repeat)
def _repeat(g, args, out):
    a, reps = args[0], [int(r) for r in args[1]]
    name, axis = g.value(a), g.batch_axis(a)
    if len(reps) > a.ndim:  # torch's repeat adds leading axes
        name = g.unsqueeze(name, list(range(len(reps) - a.ndim)))
        axis = None if axis is None else axis + len(reps) - a.ndim
    if axis is not None and reps[axis] != 1:
        raise ExportError("repeat along the batch axis changes the batch size, so the batch cannot stay "
                          "dynamic; export with dynamic_batch=False")
    name = g.node("Tile", [name, g.ints(reps)])
    g.bind(out, name, axis)
    return name


@converter(CopySlices)
def _copy_slices(g, args, out):
    """`x[idx] = v` (PyTorch's CopySlices): Where(mask, v placed, x). The positions written are
    found by replaying the assignment on an array of position numbers; with a dynamic batch they
    must be the same in every example (idx takes every example: `x[:, 1] = 0`)."""
    base, value, steps = args
    shape = _shape(base)
    ids = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    sel = np.asarray(replay(ids, steps))
    axis = g.batch_axis(base)
    per = int(np.prod(shape[1:], dtype=np.int64))
    if axis is None:
        mask_shape, first = shape, sel
    elif axis == 0 and sel.ndim >= 1 and sel.shape[0] == shape[0] and \
            np.array_equal(sel - sel[:1], np.broadcast_to(
                np.arange(shape[0]).reshape((-1,) + (1,) * (sel.ndim - 1)) * per, sel.shape)):
        mask_shape, first = (1, *shape[1:]), sel[:1]
    else:
        raise ExportError("item assignment that picks examples of the batch cannot keep the batch dynamic; "
                          "export with dynamic_batch=False")
    flat = first.reshape(-1)
    mask = np.zeros(int(np.prod(mask_shape, dtype=np.int64)), dtype=bool)
    mask[flat] = True
    m = g.const(mask.reshape(mask_shape), "mask")
    if not (isinstance(value, Tensor) and (id(value) in g.names or id(value) in g.keys)):
        v = np.broadcast_to(np.asarray(value.data if isinstance(value, Tensor) else value, dtype=out.dtype),
                            first.shape)
        full = np.zeros(mask.size, dtype=out.dtype)
        full[flat] = v.reshape(-1)
        placed = g.const(full.reshape(mask_shape), "assigned")
    else:  # a traced value: broadcast to the selection, then gathered into place
        src = np.zeros(mask.size, dtype=np.int64)
        src[flat] = np.arange(flat.size)
        target = list(first.shape) if axis is None else [1, *first.shape[1:]]
        v = g.node("Expand", [g.value(value), g.ints(target)])
        v = g.node("Reshape", [v, g.ints([1 if axis is None else -1, flat.size])])
        v = g.node("Gather", [v, g.const(src, "positions")], axis=1)
        placed = g.node("Reshape", [v, g.ints(list(shape) if axis is None else [-1, *shape[1:]])])
    name = g.node("Where", [m, placed, g.value(base)])
    g.bind(out, name, axis)
    return name


@converter(shape.Cat)
def _cat(g, args, out):
    axis, parts = int(args[0]), args[1:]
    name = g.node("Concat", [g.value(p) for p in parts], axis=axis)
    batch = g.batch_axis(next((p for p in parts if g.batch_axis(p) is not None), parts[0]))
    g.bind(out, name, None if batch == axis else batch)
    return name


@converter(shape.Stack)
def _stack(g, args, out):
    axis, parts = int(args[0]), args[1:]
    name = g.node("Concat", [g.unsqueeze(g.value(p), [axis]) for p in parts], axis=axis)
    batch = next((g.batch_axis(p) for p in parts if g.batch_axis(p) is not None), None)
    g.bind(out, name, None if batch is None else batch + (batch >= axis))
    return name


@converter(shape.Pad)
def _pad(g, args, out):
    a, widths, value = args
    pads = [int(lo) for lo, _ in widths] + [int(hi) for _, hi in widths]
    return g.node("Pad", [g.value(a), g.ints(pads, "pads"), g.const(np.float32(value), "pad_value")],
                  mode="constant")


@converter(shape.GetItem)
def _getitem(g, args, out):
    """Basic indexing (ints, slices, None, ...): one Slice, then Squeeze for the ints and
    Unsqueeze for the Nones. Slices keep their own start/stop, so they follow the batch."""
    a, index = args
    parts = list(index) if isinstance(index, tuple) else [index]
    ndim = len(_shape(a))
    if any(not (p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice))) for p in parts):
        raise ExportError("only basic indexing (ints, slices, None, ...) exports; got an index with arrays")
    if parts.count(Ellipsis) > 1:
        raise ExportError("an index with more than one Ellipsis")
    real = sum(p is not None and p is not Ellipsis for p in parts)
    if Ellipsis in parts:
        i = parts.index(Ellipsis)
        parts[i:i + 1] = [slice(None)] * (ndim - real)
    parts += [slice(None)] * (ndim - sum(p is not None for p in parts))
    starts, ends, axes, steps, drop, new = [], [], [], [], [], []
    dim = pos = 0
    batch, out_batch = g.batch_axis(a), None
    for p in parts:
        if p is None:
            new.append(pos)
            pos += 1
            continue
        if isinstance(p, slice):
            step = 1 if p.step is None else int(p.step)
            if (p.start, p.stop, step) != (None, None, 1):
                starts.append(int(p.start) if p.start is not None else (0 if step > 0 else INT64_MAX))
                ends.append(int(p.stop) if p.stop is not None else (INT64_MAX if step > 0 else INT64_MIN))
                axes.append(dim)
                steps.append(step)
            if dim == batch:
                out_batch = pos
            pos += 1
        else:
            i = int(p)
            starts.append(i)
            ends.append(i + 1 if i != -1 else INT64_MAX)
            axes.append(dim)
            steps.append(1)
            drop.append(dim)
        dim += 1
    name = g.value(a)
    if axes:
        name = g.node("Slice", [name, g.ints(starts, "starts"), g.ints(ends, "ends"), g.ints(axes, "axes"),
                                g.ints(steps, "steps")])
    if drop:
        name = g.squeeze(name, drop)
    if new:
        name = g.unsqueeze(name, new)
    if not (axes or drop or new):
        name = g.node("Identity", [name])
    g.bind(out, name, out_batch)
    return name


# ------------------------------------------------------------- reductions
def _reduction(onnx_op: str):
    def convert(g, args, out):
        a, axes, keepdims = args[0], args[1], bool(args[2])
        name = g.reduce(onnx_op, g.value(a), None if axes is None else list(axes), keepdims)
        g.bind(out, name, _reduced_batch(g.batch_axis(a), axes, keepdims))
        return name
    return convert


def _reduced_batch(axis: int | None, axes, keepdims: bool) -> int | None:
    if axis is None or axes is None or axis in axes:
        return None
    return axis if keepdims else axis - sum(x < axis for x in axes)


for _fn, _op in {reduce.Sum: "ReduceSum", reduce.Mean: "ReduceMean", reduce.Max: "ReduceMax",
                 reduce.Min: "ReduceMin"}.items():
    converter(_fn)(_reduction(_op))


@converter(reduce.Prod)
def _prod(g, args, out):
    a, axis, keepdims = args[0], args[1], bool(args[2])  # one axis (an int) or None, as torch.prod
    axes = None if axis is None else [int(axis) % a.ndim]
    name = g.reduce("ReduceProd", g.value(a), axes, keepdims)
    g.bind(out, name, _reduced_batch(g.batch_axis(a), axes, keepdims))
    return name


@converter(reduce.Var)
def _var(g, args, out):
    a, axes, keepdims, correction = args
    axes = None if axes is None else list(axes)
    if g.batch_axis(a) is not None and (axes is None or g.batch_axis(a) in axes):
        raise ExportError("a variance over the batch axis cannot have a dynamic batch (its divisor is "
                          "fixed); export with dynamic_batch=False")
    x = g.value(a)
    d = g.node("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
    s = g.reduce("ReduceSum", g.node("Mul", [d, d]), axes, bool(keepdims))
    n = int(np.prod(_shape(a) if axes is None else [_shape(a)[i] for i in axes], dtype=np.int64))
    name = g.node("Div", [s, g.const(np.float32(max(n - correction, 0)), "count")])
    g.bind(out, name, _reduced_batch(g.batch_axis(a), axes, bool(keepdims)))
    return name


# -------------------------------------------------------- convolution, pool
@converter(conv.Conv2d)
def _conv2d(g, args, out):
    x, w, b, stride, padding = args[:5]
    # Optional PyTorch-style dilation and groups, if the op ever records them.
    dilation = pair(args[5], "dilation") if len(args) > 5 else (1, 1)
    groups = int(args[6]) if len(args) > 6 else 1
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    inputs = [g.value(x), g.value(w)] + ([g.value(b)] if b is not None else [])
    return g.node("Conv", inputs, kernel_shape=list(_shape(w)[2:]), strides=[sh, sw], pads=[ph, pw, ph, pw],
                  dilations=list(dilation), group=groups)


def _pool_geometry(x, kernel_size, stride, padding, ceil_mode):
    """kernel, strides, pads (ONNX order) and whether the end needs extra padding: PyTorch's
    ceil_mode sizes made explicit as end padding, so ONNX's own ceil_mode is never needed."""
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None or stride == () else pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    H, W = _shape(x)[2:]
    ends, extra = [], False
    for n, k, s, p in ((H, kh, sh, ph), (W, kw, sw, pw)):
        o = pool_output_size(n, k, s, p, ceil_mode)
        end = max(p, (o - 1) * s + k - n - p)  # what the last window reaches past the input
        extra |= end > p
        ends.append(end)
    return [kh, kw], [sh, sw], [ph, pw, *ends], extra


@converter(pool.MaxPool2d)
def _max_pool(g, args, out):
    x, kernel_size, stride, padding, ceil_mode = args
    k, s, pads, _ = _pool_geometry(x, kernel_size, stride, padding, ceil_mode)
    # ONNX max pooling ignores padded cells, as PyTorch's -inf padding does
    return g.node("MaxPool", [g.value(x)], kernel_shape=k, strides=s, pads=pads)


@converter(pool.AvgPool2d)
def _avg_pool(g, args, out):
    x, kernel_size, stride, padding, ceil_mode, count_include_pad = args
    k, s, pads, extra = _pool_geometry(x, kernel_size, stride, padding, ceil_mode)
    if not extra:
        return g.node("AveragePool", [g.value(x)], kernel_shape=k, strides=s, pads=pads,
                      count_include_pad=int(bool(count_include_pad)))
    # The ceil_mode windows past the padding: average over the real cells, then rescale to
    # PyTorch's divisor (the window clipped to the padded input) where that counts padding.
    name = g.node("AveragePool", [g.value(x)], kernel_shape=k, strides=s, pads=pads, count_include_pad=0)
    if count_include_pad and any(pads[:2]):
        H, W = _shape(x)[2:]
        geom = (*k, *s, *pads[:2], *out.shape[2:])
        ratio = avg_divisor(geom, H, W, False, np.float64) / avg_divisor(geom, H, W, True, np.float64)
        name = g.node("Mul", [name, g.const(ratio.astype(np.float32), "divisor_ratio")])
    return name


@converter(pool.AdaptiveAvgPool2d)
def _adaptive_avg_pool(g, args, out):
    """GlobalAveragePool for a 1x1 output, AveragePool when the bins tile the input evenly,
    else the bin matrices (rows, then columns) as two MatMuls, as chainrule computes it."""
    x = args[0]
    H, W = _shape(x)[2:]
    oh, ow = out.shape[2:]
    if (oh, ow) == (1, 1):
        return g.node("GlobalAveragePool", [g.value(x)])
    if H % oh == 0 and W % ow == 0:
        k = [H // oh, W // ow]
        return g.node("AveragePool", [g.value(x)], kernel_shape=k, strides=k)
    rows = g.node("MatMul", [g.const(bin_matrix(H, oh, np.float32), "bins_h"), g.value(x)])
    return g.node("MatMul", [rows, g.const(bin_matrix(W, ow, np.float32).T, "bins_w")])


# ---------------------------------------------------------- normalisation
@converter(norm.BatchNorm)
def _batch_norm(g, args, out):
    x, weight, bias, running_mean, running_var, training, momentum, eps = args
    if training:
        raise ExportError("batch norm uses batch statistics here (no running statistics, or training mode); "
                          "only eval-mode batch norm with running statistics exports")
    C = _shape(x)[1]
    scale = g.value(weight) if weight is not None else g.const(np.ones(C, np.float32), "bn_scale")
    shift = g.value(bias) if bias is not None else g.const(np.zeros(C, np.float32), "bn_shift")
    return g.node("BatchNormalization", [g.value(x), scale, shift, g.value(running_mean),
                                         g.value(running_var)], epsilon=float(eps))


@converter(norm.LocalResponseNorm)
def _lrn(g, args, out):
    x, size, alpha, beta, k = args
    size = int(size)
    if size % 2 == 1 and len(_shape(x)) == 4:
        return g.node("LRN", [g.value(x)], size=size, alpha=float(alpha), beta=float(beta), bias=float(k))
    # ONNX's LRN centres an even window differently from PyTorch: sum the channel window
    # with a (size, 1, ...) average pool over an added axis instead.
    nd = len(_shape(x))
    xv = g.value(x)
    sq = g.unsqueeze(g.node("Mul", [xv, xv]), [1])  # (N, 1, C, ...)
    rest = nd - 2
    mean = g.node("AveragePool", [sq], kernel_shape=[size] + [1] * rest, strides=[1] * (rest + 1),
                  pads=[size // 2] + [0] * rest + [(size - 1) // 2] + [0] * rest, count_include_pad=1)
    d = g.node("Add", [g.const(np.float32(k), "lrn_k"),
                       g.node("Mul", [g.squeeze(mean, [1]), g.const(np.float32(alpha), "lrn_alpha")])])
    return g.node("Div", [xv, g.node("Pow", [d, g.const(np.float32(beta), "lrn_beta")])])
