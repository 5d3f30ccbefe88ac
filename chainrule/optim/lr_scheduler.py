"""Learning-rate schedules, equal to `torch.optim.lr_scheduler` value for value.

The protocol is PyTorch's: constructing a scheduler records each group's
`initial_lr` and sets the lr for step 0 (`last_epoch = 0`); then, once per
epoch (or iteration, your choice of unit),

    optimizer.step()
    scheduler.step()            # ReduceLROnPlateau: scheduler.step(val_accuracy)

`get_last_lr()` gives the lrs just set. `state_dict()` holds only JSON-able
values (no optimizer inside); restore a run by building the optimizer and
scheduler as before, then `scheduler.load_state_dict(...)` and
`optimizer.load_state_dict(...)`.

Where PyTorch computes a schedule recursively from the current lr (StepLR,
ExponentialLR, CosineAnnealingLR, LinearLR) this module does the same, in the
same order of operations, so the numbers agree to the last bit or nearly so.
"""
from __future__ import annotations

import bisect
import copy
import math
from typing import Any, Iterable, SupportsFloat

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "InverseTimeLR",
           "CosineAnnealingLR", "LinearWarmup", "ReduceLROnPlateau", "LambdaLR", "OneCycleLR",
           "from_spec", "SPEC_FORMS"]


class LRScheduler:
    """Base class. Subclasses implement `get_lr()` (the lrs for `self.last_epoch`,
    which `step()` has just advanced) and `_closed_form_lr()` (the same from
    `base_lrs` alone, used when a schedule is entered part-way, see LinearWarmup)."""

    # Attributes that are not part of the saved state.
    _not_saved = ("optimizer", "_is_initial")

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self._initial_step()

    def _initial_step(self) -> None:
        """Step 0: set the lrs the first optimizer.step() will use."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def _closed_form_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each group's lr (call after optimizer.step())."""
        self._step_count += 1
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def _enter_at(self, epoch: int) -> None:
        """Jump to `epoch` and set the closed-form lrs (PyTorch's `_update_lr(epoch)`)."""
        self.last_epoch = epoch
        self._set_lrs(self._closed_form_lr())

    def _set_lrs(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lrs set by the last step (one per param group)."""
        return list(self._last_lr)

    # ---------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer, as JSON-able values (copies)."""
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k not in self._not_saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict()` of a scheduler of the same kind."""
        expected = {k for k in vars(self) if k not in self._not_saved}
        got = set(state_dict)
        if got != expected:
            missing, extra = sorted(expected - got), sorted(got - expected)
            raise ValueError(f"{type(self).__name__}.load_state_dict: state dict does not match this "
                             f"scheduler (missing keys {missing}, unexpected keys {extra})")
        for k, v in state_dict.items():
            setattr(self, k, copy.deepcopy(v))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


def _check_positive_int(value: Any, name: str, scheduler: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{scheduler}: {name} must be a positive integer, got {value!r}")


class StepLR(LRScheduler):
    """Multiply the lr by `gamma` every `step_size` epochs:

        lr = base_lr * gamma ** (epoch // step_size)

    (computed as PyTorch does: the current lr times gamma at each multiple of step_size).
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        _check_positive_int(step_size, "step_size", "StepLR")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by `gamma` at each epoch listed in `milestones` (AlexNet/ResNet's
    "divide by 10 at epochs 30 and 60"): lr = base_lr * gamma ** (milestones passed)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1):
        milestones = sorted(int(m) for m in milestones)
        if any(m < 0 for m in milestones):
            raise ValueError(f"MultiStepLR: milestones must be non-negative epochs, got {milestones}")
        self.milestones = milestones  # a sorted list (repeats multiply again), JSON-able
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        times = self.milestones.count(self.last_epoch)
        if times == 0:
            return self._current_lrs()
        return [lr * self.gamma ** times for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        passed = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by `gamma` every epoch: lr = base_lr * gamma ** epoch
    (the lecture's exponential decay, lr0 * exp(-k t) with gamma = exp(-k))."""

    def __init__(self, optimizer: Optimizer, gamma: float):
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class InverseTimeLR(LRScheduler):
    """The lecture's 1/t decay: lr = base_lr / (1 + k * t), t = scheduler steps taken.

    (No PyTorch class; `LambdaLR(opt, lambda t: 1 / (1 + k * t))` gives the same
    schedule up to rounding: this one divides once, exactly as the formula reads.)
    """

    def __init__(self, optimizer: Optimizer, k: float):
        if not k >= 0:
            raise ValueError(f"InverseTimeLR: k must be >= 0, got {k}")
        self.k = k
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return self._closed_form_lr()

    def _closed_form_lr(self) -> list[float]:
        return [base / (1 + self.k * self.last_epoch) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr down to eta_min over T_max epochs (no restarts):

        lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    computed with PyTorch's recursive form, lr_t from lr_{t-1}:

        lr_t = (1 + cos(pi t / T_max)) / (1 + cos(pi (t-1) / T_max)) * (lr_{t-1} - eta_min) + eta_min

    so the numbers equal torch's (the two forms differ by rounding only). Past
    T_max the lr rises again along the same cosine, as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        _check_positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (t - 1 - T) % (2 * T) == 0:
            # At the trough the ratio below would be 0/0: step up from it directly.
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._current_lrs())]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LinearWarmup(LRScheduler):
    """Ramp the lr linearly from start_factor * base_lr up to base_lr over
    `warmup_steps` steps, then hand over to the schedule `after`.

        lr_t = base_lr * (start_factor + (1 - start_factor) * t / warmup_steps),  t < warmup_steps
        from t = warmup_steps on: `after`'s schedule, started at its epoch 0 (lr = base_lr)

    `after` is any scheduler but ReduceLROnPlateau, constructed on the same
    optimizer before this one (its constructor's step is undone, so it starts
    fresh at the hand-over); with after=None the lr stays at base_lr.

    This equals PyTorch's
        SequentialLR(opt, [LinearLR(opt, start_factor, 1.0, total_iters=warmup_steps), after],
                     milestones=[warmup_steps])
    (or LinearLR alone when after is None), including LinearLR's recursive form.
    Call only `step()` on this scheduler, never on `after`.
    start_factor defaults to LinearLR's 1/3.
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int, after: LRScheduler | None = None,
                 start_factor: float = 1.0 / 3):
        _check_positive_int(warmup_steps, "warmup_steps", "LinearWarmup")
        if not 0 < start_factor <= 1:
            raise ValueError("LinearWarmup: start_factor expected to be greater than 0 and less or "
                             f"equal to 1, got {start_factor}")
        if after is not None:
            if isinstance(after, ReduceLROnPlateau) or not isinstance(after, LRScheduler):
                raise ValueError("LinearWarmup: `after` must be an epoch-based scheduler (StepLR, "
                                 f"CosineAnnealingLR, ...), got {type(after).__name__}")
            if after.optimizer is not optimizer:
                raise ValueError("LinearWarmup: `after` must be built on the same optimizer")
            # PyTorch's SequentialLR: back to the initial lrs, undo `after`'s first step.
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"]
            after.last_epoch -= 1
        self.warmup_steps = warmup_steps
        self.start_factor = start_factor
        self.after = after
        super().__init__(optimizer)

    def step(self) -> None:
        if self.after is None or self.last_epoch + 1 < self.warmup_steps:
            super().step()
        elif self.last_epoch + 1 == self.warmup_steps:
            self.last_epoch += 1
            self.after._enter_at(0)
            self._last_lr = self.after.get_last_lr()
        else:
            self.last_epoch += 1
            self.after.step()
            self._last_lr = self.after.get_last_lr()

    def get_lr(self) -> list[float]:
        t, W, sf = self.last_epoch, self.warmup_steps, self.start_factor
        if t == 0:
            return [lr * sf for lr in self._current_lrs()]
        if self._is_initial or t > W:
            return self._current_lrs()
        # LinearLR's recursive form (end_factor = 1): lr_t = lr_{t-1} * ratio.
        return [lr * (1.0 + (1.0 - sf) / (W * sf + (t - 1) * (1.0 - sf))) for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        frac = min(self.warmup_steps, self.last_epoch) / self.warmup_steps
        return [base * (self.start_factor + (1.0 - self.start_factor) * frac) for base in self.base_lrs]

    # `after` is saved as its own state dict, next to its type.
    _not_saved = LRScheduler._not_saved + ("after",)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["after"] = None if self.after is None else {
            "type": type(self.after).__name__, "state": self.after.state_dict()}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved_after = state.pop("after", None)
        if (saved_after is None) != (self.after is None):
            raise ValueError("LinearWarmup.load_state_dict: the saved schedule and this one differ in "
                             "whether they have an `after` schedule")
        if saved_after is not None and saved_after["type"] != type(self.after).__name__:
            raise ValueError(f"LinearWarmup.load_state_dict: saved `after` is a {saved_after['type']}, "
                             f"this one is a {type(self.after).__name__}")
        super().load_state_dict(state)
        if saved_after is not None:
            self.after.load_state_dict(saved_after["state"])


class ReduceLROnPlateau(LRScheduler):
    """Divide the lr by 1/factor when a validation metric stops improving
    (AlexNet: "divide by 10 when the validation accuracy stops improving").

    step(metric) once per epoch. The metric improves when it beats the best so
    far by more than `threshold` (relative: best * (1 + threshold) in "max" mode;
    absolute: best + threshold); after more than `patience` epochs without
    improvement, lr = max(lr * factor, min_lr), then `cooldown` epochs are
    ignored. Changes smaller than eps are skipped.

    mode defaults to "max" (a metric like accuracy), unlike PyTorch's "min";
    pass mode="min" for a loss. Otherwise PyTorch's semantics and numbers.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "max", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0, eps: float = 1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: Factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"ReduceLROnPlateau: patience must be a non-negative integer, got {patience!r}")
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs, got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * n
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.last_epoch = 0
        self.best: float | None = None  # None: no metric seen yet (PyTorch's -inf / +inf)
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = self._current_lrs()

    def _is_better(self, a: float) -> bool:
        best = self.best
        if best is None:  # nothing seen yet: compare with the worst value, as PyTorch does
            best = -math.inf if self.mode == "max" else math.inf
        if self.mode == "min":
            return a < best * (1.0 - self.threshold) if self.threshold_mode == "rel" else a < best - self.threshold
        return a > best * (self.threshold + 1.0) if self.threshold_mode == "rel" else a > best + self.threshold

    def step(self, metrics: SupportsFloat) -> None:  # type: ignore[override]
        """Record this epoch's metric (validation accuracy in "max" mode) and maybe cut the lr."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0


# ------------------------------------------------------------ spec strings
SPEC_FORMS = ("step:STEP[:GAMMA]", "multistep:E1,E2[:GAMMA]", "exp:GAMMA", "cosine[:ETA_MIN]",
              "plateau[:PATIENCE[:FACTOR]]", "inverse:K", "warmup:N[+REST]", "none")


def from_spec(spec: str | None, optimizer: Optimizer, epochs: int) -> LRScheduler | None:
    """A per-epoch schedule from a short string (the Solver's and the CLI's `lr_schedule`).

    "step:STEP[:GAMMA]"          StepLR (gamma 0.1)
    "multistep:E1,E2[:GAMMA]"    MultiStepLR (gamma 0.1)
    "exp:GAMMA"                  ExponentialLR
    "cosine[:ETA_MIN]"           CosineAnnealingLR over `epochs`
    "plateau[:PATIENCE[:FACTOR]]" ReduceLROnPlateau on validation accuracy (mode "max";
                                 patience 2, factor 0.1): step it with the accuracy
    "inverse:K"                  InverseTimeLR, lr / (1 + K t)
    "warmup:N[+REST]"            N epochs of linear warm-up, then REST over the epochs left
    None, "" or "none"           no schedule (returns None)
    """
    if spec is None:
        return None
    if not isinstance(spec, str):
        raise TypeError(f"lr_scheduler.from_spec: spec must be a string ({', '.join(SPEC_FORMS)}), "
                        f"got {type(spec).__name__}")
    name, _, rest = spec.strip().partition(":")
    name = name.lower()
    if name in ("", "none"):
        return None
    forms = f"accepted forms: {', '.join(SPEC_FORMS)}"
    if name == "warmup":
        n, _, after = rest.partition("+")
        if not n.isdigit():
            raise ValueError(f"bad lr schedule {spec!r}: warmup needs a number of epochs; {forms}")
        inner = from_spec(after, optimizer, max(epochs - int(n), 1)) if after else None
        return LinearWarmup(optimizer, warmup_steps=int(n), after=inner)
    try:
        args = rest.split(":") if rest else []
        if name == "step":
            return StepLR(optimizer, step_size=int(args[0]), gamma=float(args[1]) if len(args) > 1 else 0.1)
        if name == "multistep":
            return MultiStepLR(optimizer, milestones=[int(m) for m in args[0].split(",")],
                               gamma=float(args[1]) if len(args) > 1 else 0.1)
        if name == "exp":
            return ExponentialLR(optimizer, gamma=float(args[0]))
        if name == "cosine":
            return CosineAnnealingLR(optimizer, T_max=max(int(epochs), 1), eta_min=float(args[0]) if args else 0.0)
        if name == "plateau":
            return ReduceLROnPlateau(optimizer, mode="max", patience=int(args[0]) if args else 2,
                                     factor=float(args[1]) if len(args) > 1 else 0.1)
        if name == "inverse":
            return InverseTimeLR(optimizer, k=float(args[0]))
    except (IndexError, ValueError) as e:
        raise ValueError(f"bad lr schedule {spec!r} ({e}); {forms}") from None
    raise ValueError(f"unknown lr schedule {spec!r}; {forms}")


# PyTorch's LambdaLR and OneCycleLR live in lr_cycles.py (imported last: they subclass LRScheduler)
from .lr_cycles import LambdaLR, OneCycleLR  # noqa: E402, F401
