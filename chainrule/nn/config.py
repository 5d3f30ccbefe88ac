"""Architecture configs: rebuild a model from JSON, never from pickle.

Every Module records the arguments it was constructed with (see
`module._ModuleMeta`). `module_to_config(m)` turns them into a JSON-able dict:

    {"class": "chainrule.nn.linear:Linear", "args": {"in_features": 784, "out_features": 10}}

Arguments are named after the constructor's parameters; a Module argument
becomes a nested config, a tuple `{"__tuple__": [...]}`, a Module class passed
as an argument (ResNet's `block=BasicBlock`) `{"__class__": "..."}`. Children
replaced or added after construction (a new classifier head for fine-tuning)
are listed under "changes" (dotted path -> config, or None for a deleted
child) and replayed after the constructor runs.

`module_from_config(cfg)` looks classes up only among Module subclasses defined
in the chainrule package or registered with `register_module(cls)`, imports
only chainrule's own modules, and restores a `{"__function__": ...}` only as a
plain function defined in chainrule under exactly the name written (as
`_encode` writes it): a config can never make it import or call anything else.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any

import numpy as np

from .module import _CONFIG_REGISTRY, Module

_MISSING = object()
_TUPLE, _DICT, _MODULE, _CLASS, _FUNC, _DTYPE = (
    "__tuple__", "__dict__", "__module__", "__class__", "__function__", "__dtype__")


def register_module(cls: type) -> type:
    """Allow `module_from_config` to rebuild instances of `cls` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_module expects a Module subclass, got {cls!r}")
    _CONFIG_REGISTRY[_class_key(cls)] = cls
    return cls


def _class_key(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _registered_key(cls: type, context: str) -> str:
    key = _class_key(cls)
    if _CONFIG_REGISTRY.get(key) is not cls:
        raise ValueError(
            f"{context}: class {cls.__qualname__} (module {cls.__module__}) is not registered for configs; "
            f"call chainrule.nn.config.register_module({cls.__name__}) (or decorate the class with it) "
            "so a saved model can be rebuilt"
        )
    return key


def _is_chainrule(modname: str) -> bool:
    return modname == "chainrule" or modname.startswith("chainrule.")


def _chainrule_module_exists(modname: str) -> bool:
    """Whether `modname` is a well-formed name of one of chainrule's own modules that exists."""
    parts = modname.split(".")
    if not _is_chainrule(modname) or not all(p.isidentifier() and not p.startswith("__") for p in parts):
        return False
    try:
        return importlib.util.find_spec(modname) is not None
    except ModuleNotFoundError:
        return False


def _import_chainrule(modname: str, what: str) -> Any:
    """Import a module of the chainrule package named in a config (and nothing else)."""
    if not _chainrule_module_exists(modname):
        raise ValueError(f"module_from_config: {what} may only come from chainrule's own modules, and "
                         f"chainrule has no module {modname!r}")
    return importlib.import_module(modname)   # a chainrule module that fails to import is a bug: not hidden


def _lookup(key: str) -> type:
    if not isinstance(key, str) or key.count(":") != 1:
        raise ValueError(f"module_from_config: 'class' must look like 'package.module:ClassName', got {key!r}")
    modname = key.split(":", 1)[0]
    if key not in _CONFIG_REGISTRY and _chainrule_module_exists(modname):
        importlib.import_module(modname)   # e.g. the zoo, not imported yet; its errors are not hidden
    if key in _CONFIG_REGISTRY:
        return _CONFIG_REGISTRY[key]
    qual = key.split(":", 1)[1]
    same = [c for k, c in _CONFIG_REGISTRY.items() if k.split(":", 1)[1] == qual]
    if len(same) == 1:  # the class moved to another module since the config was written
        return same[0]
    raise ValueError(
        f"module_from_config: unknown module class {key!r}; only chainrule's classes and classes "
        "registered with chainrule.nn.config.register_module can be rebuilt (import and register it first)"
    )


def _function(body: Any) -> Any:
    """The chainrule function `_encode` wrote as "chainrule.module:qualname", and nothing else:
    every step of the walk is a chainrule module or class, no dunder names, and the result is a
    plain Python function defined in chainrule under exactly that name."""
    if not isinstance(body, str) or body.count(":") != 1:
        raise ValueError(f"module_from_config: a function must look like 'chainrule.module:name', got {body!r}")
    modname, qual = body.split(":")
    what = f"function {body!r}"
    obj: Any = _import_chainrule(modname, what)
    for part in qual.split("."):
        if not part.isidentifier() or part.startswith("__"):
            raise ValueError(f"module_from_config: {what}: {part!r} is not a name a config may use")
        if not (inspect.ismodule(obj) or inspect.isclass(obj)) or not _is_chainrule(
                obj.__name__ if inspect.ismodule(obj) else obj.__module__):
            raise ValueError(f"module_from_config: {what} walks through {obj!r}, which is not chainrule's")
        obj = inspect.getattr_static(obj, part, _MISSING)
        if obj is _MISSING:
            raise ValueError(f"module_from_config: {what} does not exist in chainrule")
        if isinstance(obj, staticmethod):
            obj = obj.__func__
    if not inspect.isfunction(obj):
        raise ValueError(f"module_from_config: {what} is a {type(obj).__name__}, not a function")
    if (obj.__module__, obj.__qualname__) != (modname, qual):
        raise ValueError(f"module_from_config: {what} is defined as '{obj.__module__}:{obj.__qualname__}'; "
                         "a config names a function where it is defined")
    return obj


# ---------------------------------------------------------------- encoding
def _encode(v: Any, where: str) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.dtype):
        return {_DTYPE: v.name}
    if isinstance(v, Module):
        return {_MODULE: module_to_config(v)}
    if isinstance(v, list):
        return [_encode(x, where) for x in v]
    if isinstance(v, tuple):
        return {_TUPLE: [_encode(x, where) for x in v]}
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise ValueError(f"{where}: dict argument with non-string keys cannot be stored in a JSON config")
        return {_DICT: {k: _encode(x, where) for k, x in v.items()}}
    if isinstance(v, type) and issubclass(v, Module):
        return {_CLASS: _registered_key(v, where)}
    if inspect.isfunction(v) and _is_chainrule(v.__module__ or "") and "<" not in v.__qualname__:
        return {_FUNC: f"{v.__module__}:{v.__qualname__}"}
    raise ValueError(
        f"{where} = {v!r} (type {type(v).__name__}) cannot be stored in a JSON config: constructor "
        "arguments must be numbers, strings, lists/tuples/dicts of them, Modules, or registered Module classes"
    )


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if len(v) != 1:
        raise ValueError(f"module_from_config: malformed value {v!r}")
    (tag, body), = v.items()
    if tag == _TUPLE:
        return tuple(_decode(x) for x in body)
    if tag == _DICT:
        return {k: _decode(x) for k, x in body.items()}
    if tag == _MODULE:
        return module_from_config(body)
    if tag == _CLASS:
        return _lookup(body)
    if tag == _DTYPE:
        return np.dtype(body)
    if tag == _FUNC:
        return _function(body)
    raise ValueError(f"module_from_config: unknown tag {tag!r} in {v!r}")


def _signature(cls: type) -> inspect.Signature:
    return inspect.signature(cls.__init__)


# --------------------------------------------------------------- to config
def module_to_config(module: Module) -> dict:
    """A JSON-able dict that `module_from_config` turns back into the same architecture
    (fresh weights: load the state_dict for the values). Raises ValueError naming the
    argument when a constructor argument cannot be stored."""
    if not isinstance(module, Module):
        raise TypeError(f"module_to_config expects a Module, got {type(module).__name__}")
    cls = type(module)
    name = cls.__name__
    key = _registered_key(cls, f"module_to_config({name})")
    args, kwargs = module._config_args()
    try:
        bound = _signature(cls).bind(None, *args, **kwargs)
    except TypeError as e:
        raise ValueError(f"module_to_config({name}): recorded arguments do not fit its constructor: {e}") from None
    params = list(bound.signature.parameters.values())
    first = params[0].name
    out_args = {}
    for pname, value in bound.arguments.items():
        if pname == first:
            continue
        kind = bound.signature.parameters[pname].kind
        where = f"{name} argument {pname!r}"
        if kind is inspect.Parameter.VAR_POSITIONAL:
            out_args[pname] = [_encode(x, where) for x in value]
        elif kind is inspect.Parameter.VAR_KEYWORD:
            out_args[pname] = {k: _encode(x, where) for k, x in value.items()}
        else:
            out_args[pname] = _encode(value, where)
    cfg: dict = {"class": key, "args": out_args}
    changes: dict = {}
    arg_ids = {id(m) for m in _modules_in((args, kwargs))}
    _collect_changes(module, "", changes, arg_ids, top=True)
    if changes:
        cfg["changes"] = changes
    return cfg


def _modules_in(v: Any):
    if isinstance(v, Module):
        yield v
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _modules_in(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _modules_in(x)


def _collect_changes(m: Module, prefix: str, out: dict, arg_ids: set, top: bool) -> None:
    """Children replaced/added/deleted after construction, anywhere the constructor built them."""
    changed = m.__dict__.get("_changed_children", [])
    if top and m._config_from_children:
        changed = []  # a Sequential's config lists its current children already
    for name in changed:
        child = m._modules.get(name)
        out[prefix + name] = None if child is None else module_to_config(child)
    for name, child in m._modules.items():
        if child is None or name in changed or id(child) in arg_ids:
            continue
        _collect_changes(child, prefix + name + ".", out, arg_ids, top=False)


# ------------------------------------------------------------- from config
def module_from_config(cfg: dict) -> Module:
    """Rebuild a Module from `module_to_config`'s dict (weights freshly initialised)."""
    if not isinstance(cfg, dict) or "class" not in cfg:
        raise ValueError(f"module_from_config expects a dict with a 'class' key, got {cfg!r:.200}")
    cls = _lookup(cfg["class"])
    stored = cfg.get("args", {})
    if not isinstance(stored, dict):
        raise ValueError(f"module_from_config: 'args' of {cfg['class']} must be a dict, got {stored!r:.200}")
    sig = _signature(cls)
    params = list(sig.parameters.values())[1:]
    known = {p.name for p in params}
    unknown = [k for k in stored if k not in known]
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        raise ValueError(f"module_from_config: {cls.__name__} takes no argument(s) {unknown}")
    has_var = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    pos, kw = [], {}
    for p in params:
        if p.name not in stored:
            continue
        value = stored[p.name]
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            pos.extend(_decode(x) for x in value)
        elif p.kind is inspect.Parameter.VAR_KEYWORD:
            kw.update({k: _decode(x) for k, x in value.items()})
        elif p.kind is inspect.Parameter.POSITIONAL_ONLY or (
                has_var and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD):
            pos.append(_decode(value))
        else:
            kw[p.name] = _decode(value)
    module = cls(*pos, **kw)
    for path, sub in cfg.get("changes", {}).items():
        parent_path, _, name = path.rpartition(".")
        parent = module.get_submodule(parent_path)
        if sub is None:
            delattr(parent, name)
        else:
            setattr(parent, name, module_from_config(sub))
    return module
