"""A run report: everything one page needs to show a training run made by `chainrule train`
(or several, side by side), gathered from its run folder; `write_report` renders it as one
self-contained HTML file (viz/report_html.py: inline CSS, images as base64 PNG, no scripts).

    write_report(["runs/a", "runs/b"], "report.html", data=[splits_a, splits_b])

What comes from where:
    config.json                     the arguments, the data's description (split sizes, classes), results
    metrics.jsonl                   per-epoch loss/accuracies/lr and the time each epoch ended
    checkpoints/last.safetensors    the per-iteration loss history (the Solver's history)
    model.safetensors               the trained model: first-layer filters, and with `data` given,
                                    per-class accuracy, the confusion matrix and the misclassified examples
"""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..checkpoint import atomic_write_bytes
from ..errors import UsageError

__all__ = ["RunRecord", "Evaluation", "load_run", "evaluate_run", "write_report", "images_per_second"]


@dataclass
class Evaluation:
    """Predictions of a run's model on one split (a seeded subsample when the split is large).

    images: (N, C, H, W) raw examples; y_true, y_pred: (N,); prob: (N,) probability of the prediction."""

    split: str
    total: int                 # examples in the split
    images: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    prob: np.ndarray
    classes: list[str]

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.y_true == self.y_pred)) if self.y_true.size else float("nan")

    @property
    def confusion(self) -> np.ndarray:
        from .training import confusion_matrix

        return confusion_matrix(self.y_true, self.y_pred, len(self.classes))

    def per_class(self) -> list[tuple[str, int, int, float]]:
        """(class, examples, correct, accuracy) per class."""
        cm = self.confusion
        n, ok = cm.sum(axis=1), np.diag(cm)
        return [(c, int(n[k]), int(ok[k]), float(ok[k] / n[k]) if n[k] else float("nan"))
                for k, c in enumerate(self.classes)]


@dataclass
class RunRecord:
    """One run folder, read. Histories: loss per iteration (or per epoch when the checkpoint is gone,
    `loss_per_epoch` True), train/val accuracy and lr per epoch."""

    name: str
    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    loss: list[float]
    train_acc: list[float]
    val_acc: list[float]
    lr: list[float]
    loss_per_epoch: bool = False
    model: Any = None
    evaluation: Evaluation | None = None
    notes: list[str] = field(default_factory=list)
    anchor: str = "run-1"      # the HTML id of its part of the report

    @property
    def args(self) -> dict[str, Any]:
        return self.config.get("args", {})

    @property
    def data(self) -> dict[str, Any]:
        return self.config.get("data", {})

    @property
    def results(self) -> dict[str, Any]:
        return self.config.get("results", {})

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.data.get("counts") or {})

    @property
    def ema_val_acc(self) -> list[float]:
        """Validation accuracy of the weights' moving average per epoch (`chainrule train --ema`), if logged."""
        return [float(m["ema_val_acc"]) for m in self.metrics if "ema_val_acc" in m]

    @property
    def parameters(self) -> int | None:
        return None if self.model is None else int(sum(p.data.size for p in self.model.parameters()))

    @property
    def iterations_per_epoch(self) -> float:
        it, ep = self.results.get("iterations"), self.results.get("epochs_done")
        if it and ep:
            return it / ep
        return len(self.loss) / max(len(self.train_acc), 1) if not self.loss_per_epoch else 1.0

    def diagnosis(self):
        """The train/val gap verdict (diagnostics.verdict), or None before the first epoch."""
        from ..diagnostics.verdict import diagnose_gap

        if not self.train_acc or len(self.train_acc) != len(self.val_acc):
            return None
        # verdict.py: low_acc 0.9 suits digits/MNIST, ~0.6 CIFAR-10 from scratch
        low = 0.6 if "cifar" in str(self.data.get("name") or self.args.get("data", "")).lower() else 0.9
        return diagnose_gap(self.train_acc, self.val_acc, low_acc=low,  # + the loss curve's shape (issue 26)
                            loss_history=None if self.loss_per_epoch else self.loss)

    def timing(self) -> dict[str, Any]:
        return images_per_second(self.metrics, self.counts.get("train"), self.results.get("wall_seconds"),
                                 self.results.get("epochs_done"))


def images_per_second(metrics: Sequence[dict[str, Any]], n_train: int | None, wall_seconds: float | None = None,
                      epochs_done: int | None = None) -> dict[str, Any]:
    """Training throughput from the times at which the epochs ended (metrics.jsonl "time").

    Returns {"epoch_seconds": [...] (epochs 2..N: the gaps between epoch ends, training plus the
    epoch's accuracy evaluation), "images_per_s": n_train / median epoch time, "overall_images_per_s":
    n_train * epochs / wall time of the command (data loading included)}; None where unknown."""
    times = [float(m["time"]) for m in metrics if isinstance(m, dict) and "time" in m]
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    out: dict[str, Any] = {"epoch_seconds": gaps, "images_per_s": None, "overall_images_per_s": None}
    if n_train and gaps:
        out["images_per_s"] = n_train / statistics.median(gaps)
    if n_train and wall_seconds and epochs_done:
        out["overall_images_per_s"] = n_train * epochs_done / wall_seconds
    return out


# ------------------------------------------------------------------ reading a run folder
def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _checkpoint_history(run: Path) -> dict[str, list[float]] | None:
    from ..checkpoint import CheckpointError, load_state

    ck = run / "checkpoints" / "last.safetensors"
    if not ck.exists():
        return None
    try:
        state, _ = load_state(ck, kind="checkpoint")
    except CheckpointError:
        return None
    return {k: [float(v) for v in vals] for k, vals in state.get("history", {}).items()}


def _load_model(run: Path, notes: list[str]) -> Any:
    import chainrule as cr

    from ..checkpoint import CheckpointError

    for path in (run / "model.safetensors", run / "checkpoints" / "last.safetensors"):
        if path.exists():
            try:
                model = cr.load(path)
            except (CheckpointError, ValueError, OSError) as e:
                notes.append(f"model not loaded from {path.name}: {e}")
                continue
            if path.name == "last.safetensors":
                notes.append("no model.safetensors (training did not finish): the model is the latest weights "
                             "of checkpoints/last.safetensors")
            return model
    notes.append("no model.safetensors in the run folder (did training finish?)")
    return None


def load_run(run: str | os.PathLike, data: Any = None, *, max_eval: int | None = 2000, seed: int = 0) -> RunRecord:
    """Read a run folder made by `chainrule train` into a RunRecord.

    data: the run's cr.data.Splits (the same splits it was trained on), for the evaluation
        sections; None leaves them out with a note.
    max_eval: evaluate at most this many examples of the split (a seeded random subsample; None: all).
    """
    path = Path(run)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{path} has no config.json: not a run folder made by `chainrule train`")
    try:
        config = json.loads(cfg_path.read_text())
    except ValueError as e:
        raise UsageError(f"{cfg_path} is not valid JSON: {e}") from None
    metrics = _read_metrics(path / "metrics.jsonl")
    notes: list[str] = []
    hist = _checkpoint_history(path)
    per_epoch = {k: [float(m[k]) for m in metrics if k in m] for k in ("loss", "train_acc", "val_acc", "lr")}
    if hist is not None and "loss_history" in hist:
        rec = RunRecord(path.name or str(path), path, config, metrics, hist["loss_history"],
                        hist["train_acc_history"], hist["val_acc_history"], hist["lr_history"], notes=notes)
    else:
        notes.append("no checkpoint with the per-iteration losses: the loss curve shows epoch means")
        rec = RunRecord(path.name or str(path), path, config, metrics, per_epoch["loss"], per_epoch["train_acc"],
                        per_epoch["val_acc"], per_epoch["lr"], loss_per_epoch=True, notes=notes)
    rec.model = _load_model(path, notes)
    if data is not None and rec.model is not None:
        rec.evaluation = evaluate_run(rec.model, data, max_eval=max_eval, seed=seed)
        want = rec.counts.get(rec.evaluation.split)
        if want is not None and want != rec.evaluation.total:
            notes.append(f"the data given has {rec.evaluation.total} {rec.evaluation.split} examples, the run "
                         f"was trained with {want}: not the run's own split")
    elif data is None:
        notes.append("no data given: per-class accuracy, confusion matrix and misclassified examples left out")
    return rec


def evaluate_run(model: Any, data: Any, *, max_eval: int | None = 2000, seed: int = 0,
                 batch_size: int = 256) -> Evaluation:
    """The model's predictions on data's test split (the validation split when there is no test split).
    The model's own preprocessing (cr.load attaches it) is applied to the raw images."""
    from ..metrics import predict_scores
    from ..ops.activation import softmax_array

    split = "test" if getattr(data, "X_test", None) is not None and len(data.X_test) else "val"
    X, y = np.asarray(getattr(data, f"X_{split}")), np.asarray(getattr(data, f"y_{split}"), np.int64)
    total = int(X.shape[0])
    if max_eval is not None and total > max_eval:
        idx = np.sort(np.random.default_rng(seed).choice(total, size=int(max_eval), replace=False))
        X, y = X[idx], y[idx]
    pre = getattr(model, "preprocess", None)
    names = getattr(data, "classes", None) or getattr(model, "classes", None) or []
    if X.shape[0] == 0:
        p = np.zeros((0, max(len(names), 1)))
    else:
        p = softmax_array(predict_scores(model, pre(X) if pre is not None else X, batch_size).astype(np.float64),
                          axis=1)
    K = p.shape[1]
    classes = [str(c) for c in names] if len(names) == K else [str(k) for k in range(K)]
    pred = p.argmax(axis=1)
    return Evaluation(split, total, X, y, pred, p[np.arange(len(pred)), pred], classes)


def write_report(runs: Sequence[str | os.PathLike | RunRecord], out: str | os.PathLike,
                 data: Any = None, *, max_eval: int | None = 2000, title: str | None = None) -> Path:
    """Write the HTML report of one or several runs to `out`; returns its path.

    runs: run folders (or RunRecords already loaded). data: one cr.data.Splits for all runs,
    a list with one per run (None entries allowed), or None."""
    from .report_html import render_report

    runs = list(runs)
    if not runs:
        raise UsageError("write_report: no runs given")
    datas = list(data) if isinstance(data, (list, tuple)) else [data] * len(runs)
    if len(datas) != len(runs):
        raise UsageError(f"write_report: {len(runs)} runs but {len(datas)} data entries")
    records = [r if isinstance(r, RunRecord) else load_run(r, d, max_eval=max_eval) for r, d in zip(runs, datas)]
    out = Path(out)
    return atomic_write_bytes(out, render_report(records, title=title).encode("utf-8"))  # never half a page
