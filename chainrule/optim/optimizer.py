"""`Optimizer`: parameter groups, per-parameter state, and checkpoints of both.

An optimiser holds `param_groups`, a list of dicts, each with its own `params`
and its own settings (`lr`, `momentum`, ...): a pretrained body can learn
slowly while a new head learns fast. `state[p]` holds what the update rule
remembers for parameter `p` (velocities, moment estimates, step counts), as
NumPy arrays and Python scalars only, so a checkpoint is safetensors + JSON.

The layout of `state_dict()` is PyTorch's:

    {"state": {0: {"momentum_buffer": ndarray}, ...},
     "param_groups": [{"lr": 0.1, ..., "params": [0, 1]}, ...]}

where parameters are named by their position across all groups.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from .. import backend
from ..autograd import enable_grad, no_grad
from ..tensor import Tensor


# Group keys that are not settings: schedulers record `initial_lr`; names are for people.
_EXTRA_KEYS = {"params", "initial_lr", "name", "param_names"}


class Optimizer:
    """Base class: subclasses set `defaults`, validate them in `_check`, and
    implement `_update_group(group)`, which updates the group's parameters in place.

    params: an iterable of Tensors/Parameters, or of dicts `{"params": [...], "lr": ...}`
        whose keys override `defaults` for that group.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]):
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                "but got a Tensor (wrap it in a list: [p])"
            )
        self._check(defaults)
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------ settings
    @classmethod
    def _check(cls, settings: dict[str, Any]) -> None:
        """Raise ValueError for invalid hyperparameters (PyTorch's messages)."""
        lr = settings.get("lr", 0.0)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        wd = settings.get("weight_decay", 0.0)
        if not 0.0 <= wd:
            raise ValueError(f"Invalid weight_decay value: {wd}")
        eps = settings.get("eps", 0.0)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own settings (missing ones come from `defaults`)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        if "params" not in group:
            raise ValueError("a parameter group needs a 'params' entry")
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs; use a list")
        group["params"] = list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        unknown = set(group) - set(self.defaults) - _EXTRA_KEYS
        if unknown:
            raise ValueError(f"{type(self).__name__} got unknown settings in a parameter group: "
                             f"{sorted(unknown)}; known: {sorted(self.defaults)}")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        for name, value in group.items():
            if isinstance(value, np.generic):
                group[name] = value.item()  # np.float64(0.1) -> 0.1: settings stay JSON-able
        self._check(group)

        ids = [id(p) for p in group["params"]]
        if len(ids) != len(set(ids)):
            raise ValueError("a parameter group contains the same parameter more than once")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken & set(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        self._init_group_state(group)

    def _init_group_state(self, group: dict[str, Any]) -> None:
        """Hook for optimisers whose state starts at construction (Adagrad); others start lazily."""

    # ---------------------------------------------------------------- steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set `.grad` to None, or (set_to_none=False) fill them with 0."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient (a `.grad` of None is skipped).

        closure: optional function that recomputes the loss (zero_grad, forward,
            backward) and returns it; it runs with grad enabled, before the update.
        Returns the closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._state_follows_params()
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _state_follows_params(self) -> None:
        """Move state arrays to their parameter's device: an optimizer made (or loaded) before
        `model.to("cuda")` keeps working, as the parameters are the same objects."""
        for p, s in self.state.items():
            gpu = p.is_cuda
            for k, v in s.items():
                if gpu and (isinstance(v, np.ndarray) or
                            (backend.is_device_array(v) and backend.device_of(v) != p.device)):
                    s[k] = backend.to_device(v, p.device)
                elif not gpu and backend.is_device_array(v):
                    s[k] = backend.to_host(v)

    def _update_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    @staticmethod
    def _grads(group: dict[str, Any]) -> list[tuple[Tensor, np.ndarray]]:
        """(param, grad) for the parameters of a group that have a gradient.

        A gradient of another dtype (float64 grads for float32 params) is cast,
        so the update runs in the parameter's dtype.
        """
        out = []
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.data.shape:
                raise ValueError(f"gradient of shape {g.shape} does not match its parameter's "
                                 f"shape {p.data.shape}")
            if g.dtype != p.data.dtype:
                g = g.astype(p.data.dtype)
            out.append((p, g))
        return out

    # ---------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the state: arrays are host (NumPy) copies, everything else JSON-able,
        so a checkpoint does not depend on the device the parameters live on.

        {"state": {index: {name: ndarray | scalar}}, "param_groups": [{..., "params": [indices]}]}
        (parameters are numbered in order across groups, as PyTorch does).
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            state[index[id(p)]] = {k: _copy_value(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict()` (possibly after a JSON/safetensors round trip).

        Groups are matched by position and must have the same sizes; arrays are
        copied (never aliased) into each parameter's dtype and device and checked against its shape.
        State keys may be ints or their string form (JSON turns keys into strings).
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("an optimizer state dict needs the keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has a different number of parameter groups: it has "
                f"{len(saved_groups)}, this optimizer has {len(self.param_groups)}"
            )
        for i, (g, s) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group that doesn't match the size of "
                    f"optimizer's group: group {i} has {len(s['params'])} parameters in the state "
                    f"dict and {len(g['params'])} in this optimizer"
                )
        id_map: dict[int, Tensor] = {}
        for g, s in zip(self.param_groups, saved_groups):
            for p, k in zip(g["params"], s["params"]):
                id_map[int(k)] = p

        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, values in state_dict["state"].items():
            k = int(key)
            if k not in id_map:
                raise ValueError(f"loaded state dict has state for parameter {k}, which no group lists")
            p = id_map[k]
            new_state[p] = {name: _load_value(p, name, v) for name, v in values.items()}

        new_groups = []
        for g, s in zip(self.param_groups, saved_groups):
            group = {}
            for name, v in s.items():
                if name == "params":
                    continue
                v = copy.deepcopy(v)
                if isinstance(g.get(name), tuple) and isinstance(v, list):
                    v = tuple(v)  # JSON turned betas=(0.9, 0.999) into a list
                group[name] = v
            group["params"] = g["params"]
            self._check(group)
            new_groups.append(group)
        self.state = new_state
        self.param_groups = new_groups

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def _copy_value(v: Any) -> Any:
    if backend.is_device_array(v):
        return backend.to_host(v)  # a fresh host copy
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _load_value(p: Tensor, name: str, v: Any) -> Any:
    """A copy of a saved state value, as an array of the parameter's shape and dtype
    (counters like `step` stay Python scalars)."""
    if isinstance(v, Tensor):
        v = v.data
    if backend.is_device_array(v):
        v = backend.to_host(v)
    if isinstance(v, np.ndarray) and v.ndim == 0 and name == "step":
        return v.item()
    if isinstance(v, np.ndarray):
        if v.shape != p.data.shape:
            raise ValueError(f"state '{name}' has shape {v.shape}, but its parameter has shape "
                             f"{p.data.shape}")
        dtype = p.data.dtype if v.dtype.kind == "f" else v.dtype
        v = np.array(v, dtype=dtype, copy=True)
        return backend.to_device(v, p.device) if p.is_cuda else v
    if isinstance(v, np.generic):
        return v.item()
    return copy.deepcopy(v)


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """start += weight * (end - start), in place, in PyTorch's two-branch form
    (the second branch is exact at weight = 1)."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
