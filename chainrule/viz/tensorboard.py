"""TensorBoard event files for a training run, written with the `tensorboard` package's own
protos and event file writer (no torch, no TensorFlow): `pip install chainrule[tensorboard]`.

`SummaryWriter` is a small subset of `torch.utils.tensorboard.SummaryWriter` (add_scalar,
add_histogram, add_image, add_hparams-style session info, add_graph), and `TensorBoard` is the
Solver callback built on it (re-exported as `cr.callbacks.TensorBoard`):

    cr.Solver(model, data, callbacks=[cr.callbacks.TensorBoard("runs/x/tensorboard")]).train()
    # then: tensorboard --logdir runs/

Tags (step = iteration for train/*, update_ratio/*; epoch for everything else):
    train/loss, train/lr                 every iteration
    epoch/loss, epoch/lr, accuracy/train, accuracy/val   (and other callbacks' numbers: ema_val_acc
                                         -> accuracy/ema_val)
    weights/<param>, grads/<param>       histograms, every `histograms_every` epochs
    update_ratio/<param>                 ||param update|| / ||param||, every `ratio_every` iterations
    images/first_layer_filters           the first Conv2d's filters, with the histograms
    images/misclassified_val             validation examples the model gets wrong (end of training)
    hparams/best_val_acc, hparams/final_train_acc, hparams/final_val_acc   (for the HParams table)
plus the model graph (one traced forward pass) and the hyperparameters of the run.
"""
from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import backend
from ..errors import MissingDependencyError  # an ImportError naming the pip install
from ..nn.module import kept_modes, module_device
from .images import png_bytes, scale_for, upscale

__all__ = ["SummaryWriter", "TensorBoard", "model_graph", "misclassified_png"]

INSTALL = "pip install 'chainrule[tensorboard]'  (or: pip install tensorboard)"


def _tb():
    """The tensorboard modules we need, or an ImportError naming the install."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:
        raise MissingDependencyError(f"chainrule's TensorBoard logging needs the tensorboard package: {INSTALL} ({e})") from None
    return event_pb2, summary_pb2, EventFileWriter


# ------------------------------------------------------------------ graph
def model_graph(model: Any, x: np.ndarray):
    """The GraphDef of one forward pass of `model` on `x` (N, C, H, W), traced through autograd as
    torch.onnx / add_graph trace: one node per op and per parameter, grouped by module path.
    The model runs in eval mode under its own flags, so no running statistics change."""
    from tensorboard.compat.proto import attr_value_pb2, graph_pb2, node_def_pb2, tensor_shape_pb2

    from ..autograd import topological_order
    from ..tensor import Tensor

    scope: dict[int, str] = {}  # id(output tensor) -> the innermost module that returned it

    def record(name: str):
        def hook(module, inputs, output):
            if not any(output is i for i in inputs):  # an identity passes on another module's tensor
                scope.setdefault(id(output), name)  # returns None: the output stays as it is
        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if n]
    try:
        with kept_modes(model):
            model.eval()
            inp = Tensor(np.asarray(x)).to(module_device(model))
            out = model(inp)
    finally:
        for h in hooks:
            h.remove()
    params = {id(p): n for n, p in model.named_parameters()}
    names: dict[int, str] = {id(inp): "input"}
    used: set[str] = {"input"}
    graph = graph_pb2.GraphDef()

    def shape_attr(t: Tensor) -> attr_value_pb2.AttrValue:
        dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=int(s)) for s in t.shape]
        return attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(
            shape=[tensor_shape_pb2.TensorShapeProto(dim=dims)]))

    def unique(name: str) -> str:
        base, k = name, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        return name

    graph.node.add(name="input", op="Input", attr={"_output_shapes": shape_attr(inp)})
    for t in (topological_order(out) if out.requires_grad else []):
        if t.grad_fn is None:
            if id(t) not in params:
                continue
            names[id(t)] = unique(params[id(t)].replace(".", "/"))
            graph.node.add(name=names[id(t)], op="Parameter", attr={"_output_shapes": shape_attr(t)})
            continue
        op = t.grad_fn.fn.__name__
        where = scope.get(id(t)) or next((params[id(i)].rsplit(".", 1)[0] for i in t.grad_fn.inputs
                                          if id(i) in params and "." in params[id(i)]), "")
        names[id(t)] = unique(f"{where.replace('.', '/')}/{op}" if where else op)
        node = node_def_pb2.NodeDef(name=names[id(t)], op=op, attr={"_output_shapes": shape_attr(t)})
        node.input.extend(names[id(i)] for i in t.grad_fn.inputs if isinstance(i, Tensor) and id(i) in names)
        graph.node.append(node)
    return graph


# ------------------------------------------------------------------ writer
class SummaryWriter:
    """Writes TensorBoard event files into `log_dir` (the subset of torch's SummaryWriter that a
    Solver run needs). Close it (or use it as a context manager) to flush the last events."""

    def __init__(self, log_dir: str | Path, flush_secs: int = 10, filename_suffix: str = ""):
        self._event_pb2, self._summary_pb2, writer = _tb()
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = writer(str(self.log_dir), flush_secs=flush_secs, filename_suffix=filename_suffix)

    # -- the raw event
    def _add(self, value: Any, step: int, wall_time: float | None = None) -> None:
        summary = self._summary_pb2.Summary(value=[value])
        self._writer.add_event(self._event_pb2.Event(wall_time=wall_time or time.time(), step=int(step),
                                                     summary=summary))

    def add_scalar(self, tag: str, value: float, global_step: int = 0, walltime: float | None = None) -> None:
        self._add(self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value)), global_step, walltime)

    def add_histogram(self, tag: str, values: np.ndarray, global_step: int = 0, bins: int = 30) -> None:
        """A histogram of `values` (any shape; NaN/inf dropped) with `bins` equal-width buckets."""
        v = np.asarray(values, np.float64).reshape(-1)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return
        lo, hi = float(v.min()), float(v.max())
        counts, edges = np.histogram(v, bins=bins, range=(lo, hi if hi > lo else lo + 1e-12))
        histo = self._summary_pb2.HistogramProto(min=lo, max=hi, num=float(v.size), sum=float(v.sum()),
                                                 sum_squares=float(np.dot(v, v)),
                                                 bucket_limit=edges[1:].tolist(), bucket=counts.astype(float).tolist())
        self._add(self._summary_pb2.Summary.Value(tag=tag, histo=histo), global_step)

    def add_image(self, tag: str, img: np.ndarray, global_step: int = 0) -> None:
        """img: (H, W) or (H, W, 3) with values in [0, 1] (NaN: white)."""
        a = np.asarray(img)
        image = self._summary_pb2.Summary.Image(height=a.shape[0], width=a.shape[1],
                                                colorspace=1 if a.ndim == 2 else 3, encoded_image_string=png_bytes(a))
        self._add(self._summary_pb2.Summary.Value(tag=tag, image=image), global_step)

    def add_png(self, tag: str, png: bytes, global_step: int = 0) -> None:
        """An image already encoded as PNG (e.g. a matplotlib figure)."""
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            w, h, mode = im.width, im.height, im.mode
        image = self._summary_pb2.Summary.Image(height=h, width=w, colorspace={"L": 1, "RGB": 3}.get(mode, 4),
                                                encoded_image_string=png)
        self._add(self._summary_pb2.Summary.Value(tag=tag, image=image), global_step)

    def add_graph(self, model: Any, input_to_model: np.ndarray) -> None:
        graph = model_graph(model, input_to_model)
        self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=0,
                                                     graph_def=graph.SerializeToString()))

    def add_hparams_start(self, hparams: Mapping[str, Any]) -> None:
        """The run's hyperparameters (numbers, strings, bools; others as str) for the HParams dashboard,
        which then shows this run's scalars beside those of the other runs under the same --logdir."""
        from tensorboard.plugins.hparams import metadata, plugin_data_pb2

        info = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
        for k, v in hparams.items():
            if isinstance(v, bool):
                info.hparams[k].bool_value = v
            elif isinstance(v, (int, float, np.integer, np.floating)):
                info.hparams[k].number_value = float(v)
            else:
                info.hparams[k].string_value = "none" if v is None else str(v)
        self._add_hparams_data(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(
            session_start_info=info))

    def add_hparams_end(self, ok: bool = True) -> None:
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        info = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS if ok else api_pb2.STATUS_FAILURE,
                                              end_time_secs=time.time())
        self._add_hparams_data(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(
            session_end_info=info))

    def _add_hparams_data(self, tag: str, data: Any) -> None:
        from tensorboard.plugins.hparams import metadata

        self._add(self._summary_pb2.Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data),
                                                  tensor=metadata.NULL_TENSOR), 0)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------------ the callback
def _hparam_value(v: Any) -> Any:
    return v if isinstance(v, (bool, int, float, str)) or v is None else str(v)


class TensorBoard:
    """Log a Solver run for TensorBoard (see the module docstring for the tags).

    A cr.callbacks callback (its interface, not its class: this module does not import
    chainrule.callbacks, which re-exports it): it reads only the model, the params, the
    training state and the logs it is given.

    log_dir: the run's folder of event files; runs side by side: `tensorboard --logdir PARENT`.
    histograms_every: weight and gradient histograms (and the filters) every this many epochs
        (0: never). The gradients are those of the epoch's last iteration.
    ratio_every: the update/weight ratio per parameter every this many iterations (0: never);
        the lecture's rule of thumb: around 1e-3.
    misclassified: how many wrong validation examples to show at the end of training (0: none).
    hparams: extra hyperparameters for the HParams dashboard (the Solver's settings, the model's
        class and size are always logged).
    graph: log the model graph (one traced forward pass of one training example).
    """

    rank_zero_only = True  # in a data-parallel run only rank 0 writes the event files

    def __init__(self, log_dir: str | Path, histograms_every: int = 1, *, ratio_every: int = 10,
                 misclassified: int = 32, hparams: Mapping[str, Any] | None = None, graph: bool = True,
                 flush_secs: int = 10):
        for name, v in (("histograms_every", histograms_every), ("ratio_every", ratio_every),
                        ("misclassified", misclassified)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"TensorBoard: {name} must be a non-negative int, got {v!r}")
        _tb()  # fail now, not after the first epoch, when tensorboard is missing
        self.log_dir = Path(log_dir)
        self.histograms_every, self.ratio_every, self.misclassified = histograms_every, ratio_every, misclassified
        self.hparams, self.graph, self.flush_secs = dict(hparams or {}), bool(graph), int(flush_secs)
        self.writer: SummaryWriter | None = None
        self._before: dict[str, np.ndarray] | None = None
        self.model: Any = None
        self.params: dict[str, Any] = {}
        self.state: Any = None

    # -- the callback interface (chainrule.callbacks)
    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_state(self, state: Any) -> None:
        self.state = state

    def on_epoch_begin(self, epoch, logs): ...

    def on_train_begin(self, logs):
        if self.writer is not None:  # an earlier train() stopped early (Ctrl-C, NaN): close its file
            self.writer.close()
        self.writer = SummaryWriter(self.log_dir, flush_secs=self.flush_secs)
        if logs.get("step", 0) == 0:  # a resumed run already logged these
            self.writer.add_hparams_start(self._all_hparams())
            example = self.params.get("example_input")
            if self.graph and example is not None and example.shape[0]:
                try:
                    self.writer.add_graph(self.model, example)
                except Exception as e:  # a graph is a bonus; never stop training over it
                    print(f"TensorBoard: model graph not written ({type(e).__name__}: {e})")
        self.writer.flush()

    def on_batch_end(self, step, logs):
        w = self.writer
        w.add_scalar("train/loss", logs["loss"], step)
        w.add_scalar("train/lr", logs["lr"], step)
        if self.ratio_every:
            if self._before is not None and step % self.ratio_every == 0:
                for name, p in self.model.named_parameters():
                    new = backend.to_host(p.data)
                    ratio = np.linalg.norm(new - self._before[name]) / max(float(np.linalg.norm(new)), 1e-12)
                    w.add_scalar(f"update_ratio/{name}", ratio, step)
                self._before = None
            if (step + 1) % self.ratio_every == 0:  # the parameters just before the next, measured step
                self._before = {n: np.array(backend.to_host(p.data)) for n, p in self.model.named_parameters()}

    def on_epoch_end(self, epoch, logs):
        w = self.writer
        named = {"loss": "epoch/loss", "lr": "epoch/lr", "train_acc": "accuracy/train", "val_acc": "accuracy/val",
                 "val_top5": "accuracy/val_top5"}
        for key, v in logs.items():  # and what other callbacks add, e.g. the EMA's ema_val_acc
            if key not in ("epoch", "step") and isinstance(v, (int, float)) and not isinstance(v, bool):
                tag = named.get(key) or (f"accuracy/{key[:-4]}" if key.endswith("_acc") else f"epoch/{key}")
                w.add_scalar(tag, v, epoch)
        if self.histograms_every and epoch % self.histograms_every == 0:
            for name, p in self.model.named_parameters():
                w.add_histogram(f"weights/{name}", backend.to_host(p.data), epoch)
                if p.grad is not None:
                    w.add_histogram(f"grads/{name}", backend.to_host(p.grad.data), epoch)
            self._filters(epoch)
        w.flush()

    def on_train_end(self, logs):
        s, w = self.state, self.writer
        if w is None:
            return
        if s.train_acc_history:
            w.add_scalar("hparams/best_val_acc", s.best_val_acc, s.epoch)
            w.add_scalar("hparams/final_train_acc", s.train_acc_history[-1], s.epoch)
            w.add_scalar("hparams/final_val_acc", s.val_acc_history[-1], s.epoch)
        self._filters(s.epoch)
        self._misclassified(s.epoch)
        w.add_hparams_end(ok=True)
        w.close()
        self.writer = None

    # -- pieces
    def _all_hparams(self) -> dict[str, Any]:
        config = self.params.get("config", {})
        hp = {k: _hparam_value(v) for k, v in config.items() if k not in ("custom_schedule",)}
        hp["model"] = type(self.model).__name__
        hp["parameters"] = int(sum(p.data.size for p in self.model.parameters()))
        hp.update({k: _hparam_value(v) for k, v in self.hparams.items()})
        return hp

    def _filters(self, step: int) -> None:
        from .training import filter_grid, first_layer_weights

        wts = first_layer_weights(self.model)
        if wts is None:
            return
        grid = filter_grid(wts)
        self.writer.add_image("images/first_layer_filters", upscale(grid, scale_for(grid.shape)), step)

    def _misclassified(self, step: int) -> None:
        from ..metrics import predict_scores

        p = self.params
        X, y = p["val_data"]
        if not self.misclassified or X.shape[0] == 0:
            return
        pred = predict_scores(self.model, X, p["eval_batch_size"]).argmax(axis=1)
        if np.any(pred != y):
            self.writer.add_png("images/misclassified_val", misclassified_png(X, y, pred, p["classes"],
                                                                              self.misclassified), step)


def misclassified_png(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, classes: Any = None,
                      max_images: int = 32) -> bytes:
    """PNG bytes of viz.training.plot_misclassified's labelled grid ("true -> predicted") of the first
    `max_images` wrong examples, titled with how many of all are wrong."""
    import tempfile

    from .training import plot_misclassified

    if classes is not None and len(classes) <= int(max(y_true.max(), y_pred.max())):
        classes = None
    with tempfile.TemporaryDirectory() as tmp:
        path = plot_misclassified(images, y_true, y_pred, Path(tmp) / "m.png", classes=classes,
                                  max_images=max_images, cols=8)
        return Path(path).read_bytes()
