"""Search spaces in a small readable form.

    space = {"lr": LogUniform(1e-5, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2),
             "hidden_dim": Choice([64, 128, 256]), "dropout": Uniform(0, 0.5)}

Each dimension knows how to ask an Optuna trial for a value (`suggest`), how to
turn itself into an Optuna distribution, where its value sits inside the range
on the scale it is sampled on (`position`, in log space for log ranges: the
border warning needs it), and how to shrink around good values (`narrow`, for
coarse-to-fine). `parse_space` reads the CLI form `lr=1e-5:1e-1:log`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence


class Dimension:
    """One named axis of a search space."""

    def suggest(self, trial: Any, name: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def distribution(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class _Range(Dimension):
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        kind = type(self).__name__
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"{kind}: bounds must be finite numbers, got low={self.low}, high={self.high}")
        if not self.low < self.high:
            raise ValueError(f"{kind}: expected low < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"{kind}: a log-scale range needs low > 0, got low={self.low}")

    # The scale the value is sampled on: log10 for log ranges, identity otherwise.
    def _fwd(self, v: float) -> float:
        return math.log10(v) if self.log else float(v)

    def _inv(self, u: float) -> float:
        return 10.0 ** u if self.log else float(u)

    def position(self, value: float) -> float:
        """Where `value` lies in the range on the sampling scale: 0 at low, 1 at high."""
        lo, hi = self._fwd(self.low), self._fwd(self.high)
        return (self._fwd(value) - lo) / (hi - lo)

    def narrow(self, values: Sequence[float], margin: float = 0.1,
               current: "_Range | None" = None) -> "_Range":
        """The range [min, max] of `values` widened on each side by `margin` times the width of
        `current` (the range just searched; default this one), all on the sampling scale (log10
        for log ranges), then clipped to this (the original) range."""
        if len(values) == 0:
            return current or self
        ref = current or self
        lo, hi = self._fwd(self.low), self._fwd(self.high)
        vals = [self._fwd(v) for v in values]
        pad = margin * (ref._fwd(ref.high) - ref._fwd(ref.low))
        new_lo, new_hi = max(lo, min(vals) - pad), min(hi, max(vals) + pad)
        if new_hi - new_lo < 1e-12 * max(1.0, abs(hi - lo)):  # one value and no margin: keep a range
            pad = 0.01 * (hi - lo)
            new_lo, new_hi = max(lo, new_lo - pad), min(hi, new_hi + pad)
        return self._make(self._inv(new_lo), self._inv(new_hi))

    def _make(self, low: float, high: float) -> "_Range":
        # Clip after undoing the log so that float round-off never leaves the original range.
        return type(self)(max(self.low, low), min(self.high, high))


@dataclass(frozen=True)
class Uniform(_Range):
    """A float drawn uniformly from [low, high]."""

    log: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        super().__post_init__()
        if self.log:
            raise ValueError("Uniform: use LogUniform for a log-scale range")

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high)

    def distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high)

    def to_dict(self) -> dict:
        return {"type": "Uniform", "low": self.low, "high": self.high}

    def __repr__(self) -> str:
        return f"Uniform({self.low:g}, {self.high:g})"


@dataclass(frozen=True)
class LogUniform(_Range):
    """A float whose logarithm is uniform on [log low, log high]: the lecture's
    advice for learning rates and regularisation strengths, which act multiplicatively."""

    log: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        object.__setattr__(self, "log", True)
        super().__post_init__()

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=True)

    def distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=True)

    def to_dict(self) -> dict:
        return {"type": "LogUniform", "low": self.low, "high": self.high}

    def __repr__(self) -> str:
        return f"LogUniform({self.low:g}, {self.high:g})"


@dataclass(frozen=True)
class IntUniform(_Range):
    """An integer drawn uniformly from {low, ..., high} (both included); log=True draws
    it uniformly in log space (e.g. widths 16..1024)."""

    log: bool = False

    def __post_init__(self) -> None:
        for bound in ("low", "high"):
            v = getattr(self, bound)
            if float(v) != int(v):
                raise ValueError(f"IntUniform: {bound} must be an integer, got {v!r}")
            object.__setattr__(self, bound, int(v))
        super().__post_init__()

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def distribution(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log)

    def position(self, value: float) -> float:
        # The sampled set is {low..high}; measure on [low, high] like the float ranges.
        return super().position(value)

    def _make(self, low: float, high: float) -> "IntUniform":
        lo, hi = max(self.low, math.floor(low + 1e-9)), min(self.high, math.ceil(high - 1e-9))
        if lo >= hi:  # keep a real range: an int range of one value cannot be sampled as a range
            lo, hi = (lo, lo + 1) if lo + 1 <= self.high else (hi - 1, hi)
        return IntUniform(lo, hi, log=self.log)

    def to_dict(self) -> dict:
        return {"type": "IntUniform", "low": self.low, "high": self.high, "log": self.log}

    def __repr__(self) -> str:
        return f"IntUniform({self.low}, {self.high}{', log=True' if self.log else ''})"


@dataclass(frozen=True)
class Choice(Dimension):
    """One of a fixed list of values (ints, floats, strings, bools)."""

    choices: tuple

    def __init__(self, choices: Iterable[Any]) -> None:
        values = tuple(choices)
        if len(values) == 0:
            raise ValueError("Choice: expected at least one value, got an empty list")
        for v in values:
            if not (v is None or isinstance(v, (str, int, float, bool))):
                raise ValueError(f"Choice: values must be str, int, float, bool or None, got {v!r}")
        object.__setattr__(self, "choices", values)

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(list(self.choices))

    def to_dict(self) -> dict:
        return {"type": "Choice", "choices": list(self.choices)}

    def __repr__(self) -> str:
        return f"Choice({list(self.choices)!r})"


@dataclass(frozen=True)
class ListChoice(Dimension):
    """One of a fixed list of LISTS, for list-valued settings (an architecture as a hyperparameter:
    `hidden_dims` of fc_net, `channels` of small_cnn). Optuna's categorical values must be scalars,
    so each list is stored in the study as its comma-joined text ("64,128") and handed to the
    objective as a tuple ((64, 128)); tables and plots show the text."""

    choices: tuple

    def __init__(self, choices: Iterable[Sequence[Any]]) -> None:
        values = tuple(tuple(c) for c in choices)
        if len(values) == 0 or any(len(v) == 0 for v in values):
            raise ValueError(f"ListChoice: expected non-empty lists, got {list(values)!r}")
        for v in (x for c in values for x in c):
            if not isinstance(v, (str, int, float, bool)) or (isinstance(v, str) and "," in v):
                raise ValueError(f"ListChoice: items must be numbers, bools or strings without commas, got {v!r}")
        object.__setattr__(self, "choices", values)

    @staticmethod
    def encode(value: Sequence[Any]) -> str:
        return ",".join(str(v) for v in value)

    def decode(self, text: str) -> tuple:
        return tuple(parse_scalar(v) for v in text.split(","))

    def suggest(self, trial: Any, name: str) -> tuple:
        return self.decode(trial.suggest_categorical(name, [self.encode(c) for c in self.choices]))

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution([self.encode(c) for c in self.choices])

    def to_dict(self) -> dict:
        return {"type": "ListChoice", "choices": [list(c) for c in self.choices]}

    def __repr__(self) -> str:
        return f"ListChoice({[list(c) for c in self.choices]!r})"


Space = Mapping[str, Dimension]


def check_space(space: Mapping[str, Any]) -> dict[str, Dimension]:
    """Validate a space dict; a plain list value is read as a Choice (a list of lists or tuples
    as a ListChoice)."""
    if not isinstance(space, Mapping) or len(space) == 0:
        raise ValueError(f"search space: expected a non-empty dict name -> LogUniform/Uniform/IntUniform/Choice, got {space!r}")
    out: dict[str, Dimension] = {}
    for name, dim in space.items():
        if isinstance(dim, list):
            dim = ListChoice(dim) if dim and all(isinstance(v, (list, tuple)) for v in dim) else Choice(dim)
        if not isinstance(dim, Dimension):
            raise ValueError(
                f"search space: {name!r} must be LogUniform, Uniform, IntUniform, Choice or ListChoice, got {dim!r}")
        out[str(name)] = dim
    return out


def is_numeric(dim: Dimension) -> bool:
    return isinstance(dim, _Range)


def space_to_dict(space: Space) -> dict:
    """A JSON-able description (stored in the study so every worker can read it back)."""
    return {name: dim.to_dict() for name, dim in space.items()}


def space_from_dict(d: Mapping[str, Mapping]) -> dict[str, Dimension]:
    kinds = {"Uniform": Uniform, "LogUniform": LogUniform}
    out: dict[str, Dimension] = {}
    for name, spec in d.items():
        t = spec["type"]
        if t in kinds:
            out[name] = kinds[t](spec["low"], spec["high"])
        elif t == "IntUniform":
            out[name] = IntUniform(spec["low"], spec["high"], log=spec.get("log", False))
        elif t == "Choice":
            out[name] = Choice(spec["choices"])
        elif t == "ListChoice":
            out[name] = ListChoice(spec["choices"])
        else:
            raise ValueError(f"search space: unknown dimension type {t!r} for {name!r}")
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--space {what}: expected a number, got {text!r}") from None


def parse_scalar(text: str) -> Any:
    """A choice value: int if it looks like one, else float, else bool/None, else the string."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_dimension(text: str) -> tuple[str, Dimension]:
    """Parse one CLI item:

        lr=1e-5:1e-1:log      -> LogUniform(1e-5, 1e-1)
        dropout=0:0.5         -> Uniform(0, 0.5)
        layers=1:4:int        -> IntUniform(1, 4)
        width=16:1024:int,log -> IntUniform(16, 1024, log=True)   (also int:log / log:int)
        hidden_dim=64,128,256 -> Choice([64, 128, 256])
        act=relu              -> Choice(["relu"])
        hidden_dims=64,128|128,128|256  -> ListChoice([(64, 128), (128, 128), (256,)])
                                 (lists separated by |, items by commas: an architecture)
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise ValueError(f"--space: expected NAME=LOW:HIGH[:log|:int], NAME=A,B,C or NAME=A,B|C,D, got {text!r}")
    if "|" in spec:
        alternatives = [a.strip() for a in spec.split("|")]
        if any(not a for a in alternatives):
            raise ValueError(f"--space {name}: an empty list between '|' in {spec!r}")
        return name, ListChoice([[parse_scalar(v.strip()) for v in a.split(",")] for a in alternatives])
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3, 4):
            raise ValueError(f"--space {name}: expected LOW:HIGH[:log|:int|:int,log], got {spec!r}")
        low, high = _number(parts[0], name), _number(parts[1], name)
        flags = {f.strip() for part in parts[2:] for f in part.split(",")}
        unknown = flags - {"log", "int", "linear", ""}
        if unknown:
            raise ValueError(f"--space {name}: unknown flag {sorted(unknown)[0]!r} (expected log or int)")
        if "int" in flags:
            return name, IntUniform(low, high, log="log" in flags)
        if "log" in flags:
            return name, LogUniform(low, high)
        return name, Uniform(low, high)
    return name, Choice([parse_scalar(v.strip()) for v in spec.split(",") if v.strip() != ""])


def parse_space(items: Iterable[str]) -> dict[str, Dimension]:
    """Parse repeated `--space` items into a space dict (a name given twice is an error)."""
    space: dict[str, Dimension] = {}
    for item in items:
        name, dim = parse_dimension(item)
        if name in space:
            raise ValueError(f"--space: {name!r} given twice")
        space[name] = dim
    if not space:
        raise ValueError("--space: expected at least one NAME=... item")
    return space
