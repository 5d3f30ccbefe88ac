"""`GraphBuilder`: collects ONNX nodes, initializers and value names for one graph.

Every float value is float32. Each traced tensor gets one ONNX value name;
constants (Python numbers, arrays, tensors that are neither the input nor a
parameter) become initializers. The builder also follows which axis of each
value is the batch axis, so that ops that bake in a shape (Reshape) can leave
that axis free when the batch is dynamic.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..tensor import Tensor
from .errors import ExportError


def _onnx_array(value: Any) -> np.ndarray:
    a = np.asarray(value.data if isinstance(value, Tensor) else value)
    if a.dtype.kind == "f":
        return a.astype(np.float32, copy=False)
    if a.dtype.kind in "iu":
        return a.astype(np.int64, copy=False)
    if a.dtype.kind == "b":
        return a
    raise ExportError(f"cannot store a constant of dtype {a.dtype} in an ONNX graph")


class GraphBuilder:
    """The ONNX graph under construction: nodes, initializers (parameters by state-dict key) and
    the batch axis to keep free when dynamic_batch; the converters add to it."""

    def __init__(self, onnx: Any, opset: int, dynamic_batch: bool):
        self.onnx, self.opset, self.dynamic_batch = onnx, opset, dynamic_batch
        self.nodes: list = []
        self.initializers: dict[str, np.ndarray] = {}
        self.names: dict[int, str] = {}       # id(tensor or array) -> value name
        self.batch: dict[str, int | None] = {}  # value name -> its batch axis (or None)
        self.keys: dict[int, str] = {}        # id(parameter or buffer) -> state-dict key
        self.scope = ""                       # module path, prefixed to node names
        self.gemms: dict[str, tuple[str, str]] = {}  # Gemm output -> its (x, W), to fold a bias in
        self._used: set[str] = set()

    # ------------------------------------------------------------- names
    def fresh(self, hint: str) -> str:
        """A value/node name not used yet, based on `hint`."""
        name, k = hint, 1
        while name in self._used:
            name, k = f"{hint}_{k}", k + 1
        self._used.add(name)
        return name

    # ------------------------------------------------------------ values
    def const(self, value: Any, hint: str = "const") -> str:
        """An initializer holding `value` (floats as float32, ints as int64)."""
        name = self.fresh(f"{self.scope}/{hint}" if self.scope else hint)
        self.initializers[name] = _onnx_array(value)
        self.batch[name] = None
        return name

    def ints(self, values: Sequence[int], hint: str = "shape") -> str:
        return self.const(np.asarray(list(values), dtype=np.int64), hint)

    def value(self, v: Any, hint: str = "const") -> str:
        """The ONNX name of a traced tensor, parameter, buffer or constant (made on first use)."""
        if v is None:
            return ""
        name = self.names.get(id(v))
        if name is not None:
            return name
        key = self.keys.get(id(v))
        if key is not None:  # a parameter or buffer: an initializer named by its state-dict key
            name = self.fresh(key)
            self.initializers[name] = _onnx_array(v)
            self.batch[name] = None
        else:
            name = self.const(v, hint)
        if isinstance(v, (Tensor, np.ndarray)):
            self.names[id(v)] = name
        return name

    def bind(self, t: Any, name: str, batch_axis: int | None) -> None:
        self.names[id(t)] = name
        self.batch[name] = batch_axis

    def batch_axis(self, v: Any) -> int | None:
        """The batch axis of traced value v (None for constants or when the batch is static)."""
        name = self.names.get(id(v)) if not isinstance(v, str) else v
        return self.batch.get(name) if name is not None else None

    # ------------------------------------------------------------- nodes
    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> str | list[str]:
        """Add one node; returns its output name (a list when n_out > 1)."""
        base = f"{self.scope}/{op}" if self.scope else op
        outs = [self.fresh(f"{base}_output_{i}") for i in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), outs, name=self.fresh(base),
                                                     **{k: v for k, v in attrs.items() if v is not None}))
        return outs[0] if n_out == 1 else outs

    def reduce(self, op: str, x: str, axes: Sequence[int] | None, keepdims: bool) -> str:
        """ReduceSum/Mean/Max/Min: axes an input from opset 18 (13 for ReduceSum), else an attribute."""
        axes_as_input = self.opset >= (13 if op == "ReduceSum" else 18)
        if axes is None:
            return self.node(op, [x], keepdims=int(keepdims))
        if axes_as_input:
            return self.node(op, [x, self.ints(axes, "axes")], keepdims=int(keepdims))
        return self.node(op, [x], axes=list(axes), keepdims=int(keepdims))

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.node("Unsqueeze", [x, self.ints(axes, "axes")])

    def squeeze(self, x: str, axes: Sequence[int]) -> str:
        return self.node("Squeeze", [x, self.ints(axes, "axes")])

    # ------------------------------------------------------------ finish
    def prune(self, outputs: Sequence[str]) -> None:
        """Drop nodes and initializers that no output needs (e.g. a transposed weight that
        a Gemm reads untransposed)."""
        needed = set(outputs)
        kept = []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.output):
                kept.append(n)
                needed.update(i for i in n.input if i)
        self.nodes = kept[::-1]
        self.initializers = {k: v for k, v in self.initializers.items() if k in needed}
