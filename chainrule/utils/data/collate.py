"""`default_collate`: a list of samples -> one batch, structure kept, leaves stacked into Tensors
(PyTorch's rules: arrays, numpy scalars and Tensors are stacked on a new first axis; Python floats
become float64, ints int64, bools bool; strings stay lists; dicts, tuples and lists are collated
field by field, a tuple coming back as a list as in PyTorch). `default_convert` is what a loader
with `batch_size=None` applies to each sample: arrays to Tensors, nothing stacked."""
from __future__ import annotations

import collections.abc as abc
from typing import Any, Callable, Sequence

import numpy as np

from ...tensor import Tensor


# Where stacked batches are allocated: None = ordinary memory. A DataLoader worker sets it (see
# shm.SlotPool) so that each stacked array is built directly in shared memory, not copied there after.
_allocate: Callable[[tuple, np.dtype], np.ndarray] | None = None


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    if _allocate is None:
        return np.stack(arrays)
    first = np.asarray(arrays[0])
    out = _allocate((len(arrays),) + first.shape, np.result_type(*arrays))
    return np.stack(arrays, out=out)


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _array_leaf(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind not in "OUSV"


def default_collate(batch: Sequence[Any]) -> Any:
    """samples (each a Tensor, array, number, str, or dict/tuple/list of those) -> one batch."""
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor) or _array_leaf(elem):
        arrays = [x.data if isinstance(x, Tensor) else x for x in batch]
        shapes = {np.shape(a) for a in arrays}
        if len(shapes) != 1:
            raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, but got "
                               f"shapes {sorted(shapes)} in one batch (resize the samples or pass a collate_fn)")
        return Tensor(_stack(arrays))
    if isinstance(elem, bool):
        return Tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return batch  # as given, as PyTorch: a list from a dict field, a tuple from a tuple field
    if isinstance(elem, abc.Mapping):
        fields = {k: default_collate([d[k] for d in batch]) for k in elem}
        try:
            return type(elem)(fields)
        except TypeError:  # a Mapping that cannot be built from a dict
            return fields
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, abc.Sequence):
        if len({len(s) for s in batch}) != 1:
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        fields = [default_collate(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields  # PyTorch returns a list for tuples too
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


def default_convert(data: Any) -> Any:
    """One sample with its arrays turned into Tensors (nothing stacked): for batch_size=None."""
    if isinstance(data, Tensor):
        return data
    if _array_leaf(data):
        return Tensor(np.asarray(data))
    if isinstance(data, abc.Mapping):
        fields = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(fields)
        except TypeError:
            return fields
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
