"""Containers: `Sequential` (runs its children in order), `ModuleList`, `ModuleDict`."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator

from .module import Module


def _check_module(m: Any, where: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{where}: expected a Module, got {type(m).__name__}")
    return m


class _ChildList(Module):
    """What Sequential and ModuleList share: children in order, indexed by position."""

    _config_from_children = True

    def _index(self, i: int) -> str:
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a {type(self).__name__} of length {n}")
        return list(self._modules)[i % n]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._index(idx), _check_module(module, f"{type(self).__name__}[...] ="))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "_ChildList":
        self.add_module(str(len(self)), _check_module(module, f"{type(self).__name__}.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> "_ChildList":
        for m in modules:
            self.append(m)
        return self


class Sequential(_ChildList):
    """Sequential(m1, m2, ...) or Sequential(OrderedDict(name=module)): x -> m1 -> m2 -> ...

    Children are named "0", "1", ... (or by the dict's keys), so its state_dict keys are
    "0.weight", "1.running_mean", as in PyTorch.
    """

    def __init__(self, *args: Module):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (dict, OrderedDict)):
            for name, m in args[0].items():
                self.add_module(name, _check_module(m, f"Sequential entry {name!r}"))
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), _check_module(m, f"Sequential argument {i}"))

    def _config_args(self) -> tuple[tuple, dict]:
        names = list(self._modules)
        if names == [str(i) for i in range(len(names))]:
            return tuple(self._modules.values()), {}
        return (OrderedDict(self._modules),), {}

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, idx: int | slice) -> Module:
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._index(idx)]

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        for k in (keys[idx] if isinstance(idx, slice) else [self._index(idx)]):
            delattr(self, k)
        # Renumber as PyTorch does, so keys stay "0", "1", ...
        if keys == [str(i) for i in range(len(keys))]:
            items = list(self._modules.values())
            self._modules.clear()
            for i, m in enumerate(items):
                self._modules[str(i)] = m


class ModuleList(_ChildList):
    """A list of Modules whose parameters are registered (children "0", "1", ...); no forward."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        for m in modules or []:
            self.append(m)

    def _config_args(self) -> tuple[tuple, dict]:
        return (list(self._modules.values()),), {}

    def _renumber(self, items: list[Module]) -> None:
        """Children become "0", "1", ... in this order (PyTorch's names after an insert/delete)."""
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def insert(self, index: int, module: Module) -> None:
        """Insert `module` before position `index` (PyTorch's ModuleList.insert)."""
        items = list(self._modules.values())
        items.insert(index, _check_module(module, "ModuleList.insert"))
        self._renumber(items)

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at `index`."""
        self._index(index)  # IndexError naming the length when out of range
        items = list(self._modules.values())
        out = items.pop(index)
        self._renumber(items)
        return out

    def __delitem__(self, idx: int | slice) -> None:
        if not isinstance(idx, slice):
            self._index(idx)
        items = list(self._modules.values())
        del items[idx]
        self._renumber(items)

    def __iadd__(self, modules: Iterable[Module]) -> "ModuleList":
        return self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your own forward")


class ModuleDict(Module):
    """A dict of Modules whose parameters are registered under their keys; no forward."""

    _config_from_children = True

    def __init__(self, modules: dict[str, Module] | None = None):
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def _config_args(self) -> tuple[tuple, dict]:
        return (OrderedDict(self._modules),), {}

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _check_module(module, f"ModuleDict[{key!r}] ="))

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
