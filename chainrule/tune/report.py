"""Results of a search: the table sorted by validation accuracy, CSV/JSON export,
and the lecture's warning about best values on the border of the searched range."""
from __future__ import annotations

import csv
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from .space import Dimension, is_numeric

BORDER = 0.1  # the outer 10% of a range (on its sampling scale) counts as "on the border"


class TuneBorderWarning(UserWarning):
    """The best value of a numeric hyperparameter lies in the outer 10% of its searched range
    (in log space for log ranges): the true optimum may lie outside, so widen the range."""


def is_surplus(t: FrozenTrial) -> bool:
    """A trial a worker opened after the budget was already used up by others (never run)."""
    return bool(t.user_attrs.get("chainrule.surplus"))


def rank_trials(trials: Sequence[FrozenTrial], direction: str = "maximize") -> list[FrozenTrial]:
    """Finished trials best first (a pruned trial counts with its last reported value),
    then the ones without a value (running, failed) by number."""
    sign = -1.0 if direction == "maximize" else 1.0
    scored = [t for t in trials if t.value is not None and not is_surplus(t)]
    scored.sort(key=lambda t: (t.state != TrialState.COMPLETE, sign * t.value, t.number))
    rest = sorted((t for t in trials if t.value is None and not is_surplus(t)), key=lambda t: t.number)
    return scored + rest


def trial_row(t: FrozenTrial, param_names: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"number": t.number}
    for name in param_names:
        row[name] = t.params.get(name)
    row["value"] = t.value
    row["state"] = t.state.name
    row["duration_s"] = None if t.duration is None else round(t.duration.total_seconds(), 3)
    row["last_step"] = t.last_step
    return row


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain-text table of `rows` (dicts), columns aligned."""
    if not rows:
        return "(no trials)"
    columns = list(columns or rows[0].keys())
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def border_messages(space: Mapping[str, Dimension], params: Mapping[str, Any],
                    border: float = BORDER) -> list[str]:
    """One message per numeric parameter whose value lies in the outer `border` of its range."""
    msgs = []
    for name, dim in space.items():
        if not is_numeric(dim) or name not in params:
            continue
        p = dim.position(params[name])
        if p <= border or p >= 1 - border:
            side = "lower" if p <= border else "upper"
            scale = "log scale" if dim.log else "linear scale"
            msgs.append(
                f"best {name}={params[name]:.4g} lies in the {side} {border:.0%} of its range "
                f"[{dim.low:g}, {dim.high:g}] ({scale}, at {p:.0%}): the optimum may lie outside; "
                f"widen the range on that side and search again")
    return msgs


@dataclass
class SearchResult:
    """A finished search: the Optuna study plus the space it searched.

    `trials` are all the study's trials (surplus ones left out); `best_trial`,
    `best_params`, `best_value` consider COMPLETE trials only.
    """

    study: optuna.Study
    space: dict[str, Dimension]
    direction: str = "maximize"
    trials: list[FrozenTrial] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.trials:
            self.trials = [t for t in self.study.get_trials(deepcopy=False) if not is_surplus(t)]

    @property
    def study_name(self) -> str:
        return self.study.study_name

    @property
    def completed(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state == TrialState.COMPLETE]

    @property
    def pruned(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state == TrialState.PRUNED]

    @property
    def best_trial(self) -> FrozenTrial:
        ranked = [t for t in rank_trials(self.trials, self.direction) if t.state == TrialState.COMPLETE]
        if not ranked:
            raise ValueError(f"study {self.study_name!r}: no trial completed")
        return ranked[0]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        return float(self.best_trial.value)

    def rows(self, top: int | None = None) -> list[dict[str, Any]]:
        """The table: one dict per trial, best first (number, params..., value, state, duration_s)."""
        ranked = rank_trials(self.trials, self.direction)
        return [trial_row(t, list(self.space)) for t in ranked[:top]]

    def table(self, top: int | None = None) -> str:
        return format_table(self.rows(top))

    def columns(self) -> list[str]:
        return ["number", *self.space, "value", "state", "duration_s", "last_step"]

    def to_csv(self, path: str | os.PathLike) -> str:
        rows = self.rows()
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns())
            w.writeheader()
            w.writerows(rows)
        return os.fspath(path)

    def to_dict(self) -> dict[str, Any]:
        from .space import space_to_dict

        try:
            best = {"number": self.best_trial.number, "params": self.best_params, "value": self.best_value}
        except ValueError:
            best = None
        return {"study": self.study_name, "direction": self.direction, "space": space_to_dict(self.space),
                "best": best, "border_warnings": self.border_warnings(),
                "trials": [dict(r, intermediate={str(k): v for k, v in t.intermediate_values.items()})
                           for r, t in zip(self.rows(), rank_trials(self.trials, self.direction))]}

    def to_json(self, path: str | os.PathLike) -> str:
        with open(path, "w") as fh:
            json.dump(_jsonable(self.to_dict()), fh, indent=2)
        return os.fspath(path)

    def border_warnings(self, space: Mapping[str, Dimension] | None = None) -> list[str]:
        """Messages for best values in the outer 10% of their range (none if nothing completed)."""
        try:
            params = self.best_params
        except ValueError:
            return []
        return border_messages(space or self.space, params)

    def warn_border(self, space: Mapping[str, Dimension] | None = None) -> list[str]:
        msgs = self.border_warnings(space)
        for m in msgs:
            warnings.warn(m, TuneBorderWarning, stacklevel=3)
        return msgs

    def plot(self, path: str | os.PathLike, x: str | None = None, y: str | None = None) -> str:
        from .plot import scatter_plot

        return scatter_plot(self, path, x=x, y=y)

    def summary(self, top: int = 10) -> str:
        n = len(self.trials)
        lines = [f"study {self.study_name}: {n} trials ({len(self.completed)} complete, "
                 f"{len(self.pruned)} pruned, {n - len(self.completed) - len(self.pruned)} other)"]
        lines.append(self.table(top))
        return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
