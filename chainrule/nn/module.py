"""`Module`: the base class of every layer and model (PyTorch's `nn.Module`).

A Module owns Parameters, buffers (non-learnable arrays such as BatchNorm's
running statistics) and child Modules, all registered by plain attribute
assignment in the order they are assigned. That order fixes the names used by
`state_dict()` ("features.0.weight", "bn1.running_mean"), which match
PyTorch's, so weights move between chainrule and torch by name.

Every Module also records the arguments it was constructed with (see
`_ModuleMeta`), which is what `chainrule.nn.config` turns into a JSON config
that rebuilds the architecture without pickle.
"""
from __future__ import annotations

import contextlib
import itertools
from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from .. import backend
from ..tensor import Tensor, to_arguments
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(RuntimeError, ValueError):
    """`load_state_dict` got keys or shapes that do not fit the module
    (a RuntimeError as in PyTorch, and a ValueError as chainrule's bad input)."""


class RemovableHandle:
    """Returned by `register_forward_hook`; `.remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


CONFIG_REGISTRY: dict[str, type] = {}


class _ModuleMeta(type):
    """Records each Module's constructor arguments.

    `type.__call__` runs `__new__` and `__init__`; wrapping it here sees the
    arguments of the outermost constructor only (a subclass's `super().__init__()`
    does not pass through here), so subclasses defined anywhere later (a ResNet
    built with `block=BasicBlock, layers=[2, 2, 2, 2]`) are captured without
    any code of their own. After construction, replacing or adding a child
    module is tracked (`_changed_children`) so a config can replay it.
    """

    def __init__(cls, name, bases, ns, **kw):
        super().__init__(name, bases, ns, **kw)
        if cls.__module__.startswith("chainrule.") or cls.__module__ == "chainrule":
            CONFIG_REGISTRY[f"{cls.__module__}:{cls.__qualname__}"] = cls

    def __call__(cls, *args, **kwargs):
        # Copy lists/dicts first: a constructor that edits its list argument must not edit the record.
        rec_args, rec_kwargs = _snapshot(args), _snapshot(kwargs)
        obj = super().__call__(*args, **kwargs)
        if isinstance(obj, Module):
            d = obj.__dict__
            d["_init_args"] = rec_args
            d["_init_kwargs"] = rec_kwargs
            d["_changed_children"] = []
            d["_constructed"] = True
        return obj


def _snapshot(v: Any) -> Any:
    if isinstance(v, list):
        return [_snapshot(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_snapshot(x) for x in v)
    if isinstance(v, dict):
        return type(v)((k, _snapshot(x)) for k, x in v.items()) if isinstance(v, OrderedDict) else \
            {k: _snapshot(x) for k, x in v.items()}
    return v


class Module(metaclass=_ModuleMeta):
    """Base class for layers and models. Subclasses set up Parameters and
    sub-Modules in `__init__` (after `super().__init__()`) and define `forward`."""

    training: bool
    # Sequential/ModuleList describe their current children in their config (see config.py).
    _config_from_children = False

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_constructed"] = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def _config_args(self) -> tuple[tuple, dict]:
        """The (args, kwargs) that rebuild this module; by default the constructor's own."""
        if "_init_args" not in self.__dict__:
            raise ValueError(f"{type(self).__name__} has no recorded constructor arguments")
        return self._init_args, self._init_kwargs

    # ---------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """`hook(module, inputs, output)` runs after forward; a non-None return replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """`hook(module, inputs)` runs before forward; a non-None return replaces the inputs."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------ registration
    def _check_ready(self, name: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call in {type(self).__name__}.__init__"
            )

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            self._check_ready(name)
            self._remove_name(name)
            if name in d["_modules"]:
                self.__delattr__(name)
            d["_parameters"][name] = value
        elif isinstance(value, Module):
            self._check_ready(name)
            self._remove_name(name)
            self._set_child(name, value)
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter {name!r} of "
                    f"{type(self).__name__} (expected a Parameter or None)"
                )
            d["_parameters"][name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to child module {name!r} (expected a Module or None)")
            self._set_child(name, None)
        elif "_buffers" in d and name in d["_buffers"]:
            d["_buffers"][name] = _buffer_array(value)
        else:
            object.__setattr__(self, name, value)

    def _set_child(self, name: str, module: "Module | None") -> None:
        d = self.__dict__
        if d.get("_constructed") and name not in d["_changed_children"]:
            d["_changed_children"].append(name)
        d["_modules"][name] = module

    def _remove_name(self, name: str) -> None:
        # An attribute lives in one registry only; a child module replaced by a
        # Parameter counts as a change of the architecture.
        d = self.__dict__
        d["_parameters"].pop(name, None)
        if d["_buffers"].pop(name, None) is not None or name in d["_non_persistent"]:
            d["_non_persistent"].discard(name)
        d.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if name in d.get("_modules", ()):
            del d["_modules"][name]
            if d.get("_constructed") and name not in d["_changed_children"]:
                d["_changed_children"].append(name)
            return
        for store in ("_parameters", "_buffers"):
            if name in d.get(store, ()):
                del d[store][name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got {type(param).__name__}")
        self._check_ready(name)
        self._remove_name(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """A non-learnable array saved in `state_dict` (unless persistent=False), e.g. running_mean."""
        self._check_ready(name)
        if "." in name or name == "":
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = _buffer_array(value)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        if "." in str(name) or str(name) == "":
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        self._check_ready(str(name))
        self._remove_name(str(name))
        self._set_child(str(name), module)

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The sub-module at a dotted path, e.g. "layer1.0.conv1"."""
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(f"{type(mod).__name__} has no child module {part!r} (path {target!r})")
            mod = mod._modules[part]
        return mod

    # --------------------------------------------------------------- iterating
    def named_modules(self, memo: set | None = None, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, v in m.__dict__[store].items():
                if v is None or id(v) in seen:
                    continue
                seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, Parameter) pairs; a parameter shared by two layers is given once."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode) expects a bool, got {mode!r}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze (True) every parameter, e.g. for fine-tuning a head only."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call fn on every sub-module (children first) and on self, e.g. custom init."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------ dtypes, devices
    def _apply_arrays(self, fn: Callable[[Any], Any], floats_only: bool = False) -> "Module":
        """Replace, in place, every array this module tree holds by fn(array): each Parameter's
        `.data` and `.grad` (the Parameter objects stay, so an optimizer built on them keeps
        working), each buffer, and raw arrays or plain Tensors kept as attributes (e.g. a loss's
        class weights). floats_only: leave integer arrays (num_batches_tracked) alone (casts)."""
        def keep(a: Any) -> bool:
            return a is None or (floats_only and a.dtype.kind != "f")

        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and not keep(p.data):
                    p.data = fn(p.data)
                    if p.grad is not None:
                        p.grad = fn(p.grad.data)
            for name, b in m._buffers.items():
                if not keep(b):
                    m._buffers[name] = fn(b)
            if floats_only:
                continue
            for name, v in list(m.__dict__.items()):  # raw arrays a layer keeps: move them too
                if isinstance(v, np.ndarray) or backend.is_device_array(v):
                    m.__dict__[name] = fn(v)
                elif isinstance(v, Tensor) and not isinstance(v, Parameter):
                    v.data = fn(v.data)
        return self

    def _cast(self, dtype: Any) -> "Module":
        dtype = np.dtype(dtype)
        return self._apply_arrays(lambda a: a.astype(dtype), floats_only=True)

    def _move(self, dev: Any) -> "Module":
        dev = backend.device(dev)
        return self._apply_arrays(lambda a: backend.to_device(a, dev))

    def double(self) -> "Module":
        """Convert floating-point parameters and buffers to float64 (in place; returns self)."""
        return self._cast(np.float64)

    def float(self) -> "Module":
        """Convert floating-point parameters and buffers to float32 (in place; returns self)."""
        return self._cast(np.float32)

    def cpu(self) -> "Module":
        """Move every parameter and buffer to the CPU (in place; returns self)."""
        return self._move("cpu")

    def cuda(self, device: int | str | None = None) -> "Module":
        """Move every parameter and buffer to a CUDA device (`cuda:0` unless an index is given)."""
        return self._move(backend.Device("cuda", device) if isinstance(device, int) else (device or "cuda"))

    def to(self, *args: Any, device: Any = None, dtype: Any = None, non_blocking: bool = False) -> "Module":
        """PyTorch's `Module.to`: `to(device)`, `to(dtype)`, `to(device, dtype)`, `to(tensor)` or
        the keywords. In place, returns self: parameters stay the same objects (their `.data` and
        `.grad` are replaced), buffers and raw arrays move too; a dtype casts floating-point ones.
        device: "cpu", "cuda", "cuda:N", "auto" or a cr.device. non_blocking: accepted, ignored."""
        device, dtype = to_arguments(args, device, dtype)
        if dtype is not None:
            dt = np.dtype(dtype)
            if dt.kind != "f":
                raise ValueError(f"Module.to expects a floating-point dtype, got {dt}")
            self._cast(dt)
        return self if device is None else self._move(device)

    # --------------------------------------------------------- state dicts
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Name -> Tensor for every parameter and persistent buffer, with PyTorch's key names.

        The values are Tensors (not requiring grad) holding copies, so a saved state_dict does not
        change as training goes on; `np.asarray(value)` gives the array. keep_vars=True gives the
        Parameters and buffer arrays themselves.
        """
        out: OrderedDict[str, Any] = OrderedDict()
        self._save_to(out, prefix, keep_vars)
        return out

    def _save_to(self, out: dict, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else Tensor(p.data.copy())
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else Tensor(b.copy())
        for name, m in self._modules.items():
            if m is not None:
                m._save_to(out, prefix + name + ".", keep_vars)

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (ndarrays, chainrule or torch tensors) into parameters and buffers by name.

        Shapes must match exactly. With strict=True (default) missing or unexpected keys
        raise StateDictError; either way the (missing_keys, unexpected_keys) pair is returned.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict expects a dict of arrays, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and (missing or unexpected):
            if missing:
                errors.append(f"missing keys: {_key_list(missing)}")
            if unexpected:
                errors.append(f"unexpected keys: {_key_list(unexpected)}")
        values = {}
        for k, target in own.items():
            if k not in state_dict:
                continue
            v = _as_array(state_dict[k])
            tshape = target.data.shape if isinstance(target, Tensor) else target.shape
            if v.shape != tshape:
                errors.append(f"size mismatch for {k!r}: the model has shape {tshape}, the state_dict {v.shape}")
            values[k] = v
        if errors:
            raise StateDictError(
                f"Error(s) loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(errors)
            )
        for k, v in values.items():
            target = own[k]
            arr = target.data if isinstance(target, Tensor) else target
            # in place (optimisers and BatchNorm hold these very arrays), on the model's device
            arr[...] = backend.to_device(v, backend.device_of(arr))
        return IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The layer's settings shown inside its repr, e.g. "in_features=4, out_features=2, bias=True"."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not lines:
            return f"{self._get_name()}()"
        if len(lines) == 1 and not self._modules:
            return f"{self._get_name()}({lines[0]})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))


@contextlib.contextmanager
def kept_modes(model: Module) -> Iterator[Module]:
    """`with kept_modes(model): model.eval(); ...`: on exit every submodule's train/eval flag is
    what it was before, whatever the block switched (evaluation, tracing, hooks)."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for m, mode in flags:
            m.__dict__["training"] = mode  # as Module.train sets it


def _key_list(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:20])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > 20 else "")


def _as_array(v: Any) -> Any:
    """A state_dict value as an array (NumPy, or CuPy where it already lives on a GPU)."""
    if isinstance(v, Tensor):
        return v.data
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor, without importing torch
        return v.detach().cpu().numpy()
    return v if backend.is_device_array(v) else np.asarray(v)


def _buffer_array(value: Any) -> Any:
    """What a buffer holds: None or an array (a Tensor's data; a device array as it is)."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value.data
    return value if backend.is_device_array(value) else np.asarray(value)


def module_device(module: Module) -> backend.Device:
    """The device of a module's first parameter (or buffer); the CPU for a module with neither.
    PyTorch's idiom `next(model.parameters()).device` for models that may have no parameters."""
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return backend.device_of(b)
    return backend.device("cpu")
