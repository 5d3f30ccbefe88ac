"""`to_onnx` (a ModelProto in memory) and `export` (written to a file)."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import backend
from ..checkpoint import atomic_write_bytes
from ..nn.module import Module, module_device
from ..tensor import Tensor
from .builder import GraphBuilder
from .converters import CONVERTERS, default_batch, supported_ops
from .errors import ExportError, UnsupportedOpError, require_onnx
from .preprocess import add_preprocess
from .trace import Trace, trace

MIN_OPSET = 13  # Softmax over one axis, Squeeze/Unsqueeze axes as inputs
_PROTOBUF_LIMIT = 2_000_000_000  # bytes: models near it keep their weights in a side file


def _convert(g: GraphBuilder, tr: Trace) -> None:
    for t in tr.nodes:
        op = t.grad_fn.fn.__name__
        fn = CONVERTERS.get(t.grad_fn.fn)
        if fn is None:
            raise UnsupportedOpError(
                f"cannot export op {op} in {tr.where(t)} to ONNX: there is no converter for it "
                f"(supported ops: {', '.join(supported_ops())})")
        g.scope = tr.owner.get(id(t), "")
        try:
            name = fn(g, t.grad_fn.inputs, t)
        except ExportError as e:
            raise type(e)(f"cannot export op {op} in {tr.where(t)} to ONNX: {e}") from None
        if id(t) not in g.names:
            g.bind(t, name, default_batch(g, t.grad_fn.inputs, t))
    g.scope = ""


def _output_names(n: int, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != n:
            raise ValueError(f"output_names: the model has {n} output(s), got {len(names)} names")
        return list(names)
    return ["logits"] if n == 1 else [f"output_{i}" for i in range(n)]


def _rename(g: GraphBuilder, old: str, new: str) -> None:
    """Give value `old` the graph output name `new` (an Identity where no node makes it)."""
    producers = [n for n in g.nodes if old in n.output]
    if not producers or old in g.initializers:
        g.nodes.append(g.onnx.helper.make_node("Identity", [old], [new], name=g.fresh(f"{new}/Identity")))
        return
    for n in g.nodes:
        for seq in (n.input, n.output):
            for i, v in enumerate(seq):
                if v == old:
                    seq[i] = new
    g.batch[new] = g.batch.get(old)


def _value_info(onnx: Any, name: str, dtype: Any, shape: Sequence[int], batch: int | None):
    dims: list[Any] = list(shape)
    if batch is not None:
        dims[batch] = "batch"
    return onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), dims)


def _example(example_input: Any) -> np.ndarray:
    raw = np.asarray(backend.to_host(example_input.data if isinstance(example_input, Tensor) else example_input))
    if raw.ndim < 1 or raw.shape[0] < 1:
        raise ValueError(f"example_input must be a batch (N, ...) with N >= 1, got shape {raw.shape}")
    if raw.dtype.kind not in "fiub":
        raise ValueError(f"example_input must be numeric, got dtype {raw.dtype}")
    return raw


def _head(g: GraphBuilder, tr: Trace, input_name: str, in_dtype: Any, preprocess: Any,
          image_shape: tuple[int, ...]) -> None:
    """The graph input, cast to float32 (raw uint8 images) and preprocessed, becomes the traced input."""
    g.fresh(input_name)
    head = input_name
    if in_dtype == np.uint8:
        head = g.node("Cast", [head], to=g.onnx.TensorProto.FLOAT)
    if preprocess is not None:
        head = add_preprocess(g, preprocess, head, image_shape)
    g.bind(tr.input, head, 0 if g.dynamic_batch else None)


def _outputs(g: GraphBuilder, tr: Trace, names: list[str], probabilities: bool) -> list[tuple]:
    """Name the model's outputs, add "probabilities" for an (N, K) output; (name, shape, batch axis) each."""
    outs = []
    for t, name in zip(tr.outputs, names):
        g.fresh(name)
        _rename(g, g.value(t), name)
        outs.append((name, t.shape, g.batch.get(name, g.batch_axis(t))))
    if probabilities and len(tr.outputs) == 1 and tr.outputs[0].ndim == 2 and "probabilities" not in names:
        g.fresh("probabilities")
        g.nodes.append(g.onnx.helper.make_node("Softmax", [names[0]], ["probabilities"], axis=1,
                                               name=g.fresh("probabilities/Softmax")))
        outs.append(("probabilities", tr.outputs[0].shape, outs[0][2]))
    return outs


def _model(g: GraphBuilder, name: str, inputs: list, outputs: list, metadata: dict[str, Any] | None) -> Any:
    onnx = g.onnx
    graph = onnx.helper.make_graph(
        g.nodes, name, inputs, outputs,
        [onnx.numpy_helper.from_array(np.ascontiguousarray(a), k) for k, a in g.initializers.items()])
    opsets = [onnx.helper.make_opsetid("", g.opset)]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="chainrule")
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)  # the oldest that reads this opset
    from .. import __version__

    proto.producer_version = __version__
    if metadata:
        onnx.helper.set_model_props(proto, {str(k): v if isinstance(v, str) else json.dumps(v)
                                            for k, v in metadata.items()})
    return proto


def to_onnx(model: Module, example_input: Any, opset: int = 17, dynamic_batch: bool = True, *,
            preprocess: Any = None, probabilities: bool = True, input_name: str = "input",
            output_names: Sequence[str] | None = None, metadata: dict[str, Any] | None = None,
            check: bool = True) -> Any:
    """The traced model as an `onnx.ModelProto` (see `export`)."""
    onnx = require_onnx()
    if not isinstance(model, Module):
        raise TypeError(f"to_onnx expects a cr.nn.Module, got {type(model).__name__}")
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= int(opset) <= newest:
        raise ValueError(f"opset must be between {MIN_OPSET} and {newest} (this onnx package's newest), got {opset}")
    raw = _example(example_input)
    if module_device(model).type != "cpu":  # ONNX holds host arrays: trace a CPU copy, the model stays
        model = copy.deepcopy(model).cpu()
    tr = trace(model, np.asarray(preprocess(raw), np.float32) if preprocess is not None else raw)

    g = GraphBuilder(onnx, int(opset), dynamic_batch)
    g.keys = tr.names
    in_dtype = np.uint8 if raw.dtype == np.uint8 else np.float32  # raw uint8 images stay uint8
    _head(g, tr, input_name, in_dtype, preprocess, raw.shape[1:])
    _convert(g, tr)
    outs = _outputs(g, tr, _output_names(len(tr.outputs), output_names), probabilities)
    g.prune([n for n, _, _ in outs])

    batch = 0 if dynamic_batch else None
    proto = _model(g, type(model).__name__, [_value_info(onnx, input_name, in_dtype, raw.shape, batch)],
                   [_value_info(onnx, n, np.float32, s, b if dynamic_batch else None) for n, s, b in outs],
                   metadata)
    if check and not _too_big(onnx, proto):
        onnx.checker.check_model(proto, full_check=True)
    return proto


def _too_big(onnx: Any, proto: Any) -> bool:
    """Whether the weights come near protobuf's 2 GB limit (counted from their shapes:
    ByteSize() walks the whole message, a second per few hundred MB)."""
    size = sum(int(np.prod(t.dims, dtype=np.int64)) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
               for t in proto.graph.initializer)
    return size >= _PROTOBUF_LIMIT - 100_000_000


def export(model: Module, example_input: Any, path: str | os.PathLike, opset: int = 17,
           dynamic_batch: bool = True, **kwargs: Any) -> Path:
    """Trace `model` on `example_input` and write it as an ONNX file.

    model: a cr.nn.Module (run once in eval mode; its train/eval flags are restored).
    example_input: a batch (N, ...), array or Tensor: the graph's input. With `preprocess=`
        a fitted preprocessor, it is the raw batch and the preprocessing runs inside the graph.
    opset: the ONNX opset (13 or newer). dynamic_batch: the batch size is a free dimension "batch".
    Keyword options: preprocess, probabilities (add a "probabilities" output = softmax of the
        (N, K) "logits", default True), input_name ("input"), output_names, metadata (dict of
        strings or JSON-able values stored in the model), check (run onnx.checker, default True).

    Returns the path. Raises UnsupportedOpError naming the op and module when an op has no
    ONNX form, ImportError naming `pip install "chainrule[onnx]"` when onnx is missing.
    """
    onnx = require_onnx()
    proto = to_onnx(model, example_input, opset, dynamic_batch, **kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    big = _too_big(onnx, proto)
    if big:  # the weights go beside it, to PATH.data (protobuf's 2 GB limit)
        onnx.save_model(proto, str(path), save_as_external_data=True, location=path.name + ".data")
    else:  # atomically, as checkpoints are: a crash or a full disk never leaves half a file
        atomic_write_bytes(path, proto.SerializeToString())
    if big and kwargs.get("check", True):
        onnx.checker.check_model(str(path))
    return path
