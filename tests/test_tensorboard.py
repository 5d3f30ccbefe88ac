"""cr.callbacks.TensorBoard: the event files, read back with tensorboard's own EventAccumulator,
hold what the Solver did (losses, learning rates, accuracies, histograms, update ratios, images,
graph, hparams)."""
from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.callbacks import LambdaCallback
from chainrule.data import transforms as T

from solver_helpers import tiny_cnn, tiny_data


def _accumulator(log_dir):
    pytest.importorskip("tensorboard", reason="the [tensorboard] extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    return acc.Reload()


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A 3-epoch run with the callback, and what the parameters were at every step and epoch end."""
    pytest.importorskip("tensorboard", reason="the [tensorboard] extra is not installed")
    log_dir = tmp_path_factory.mktemp("tb") / "run"
    model = tiny_cnn(dropout=0.0)
    seen = {"steps": {}, "epochs": {}, "grads": {}}

    def snap():
        return {n: np.array(p.data) for n, p in model.named_parameters()}

    def on_batch_end(step, logs):
        seen["steps"][step] = snap()

    def on_epoch_end(epoch, logs):
        seen["epochs"][epoch] = snap()
        seen["grads"][epoch] = {n: np.array(p.grad) for n, p in model.named_parameters()}

    tb = cr.callbacks.TensorBoard(log_dir, histograms_every=1, ratio_every=4, misclassified=16,
                                  hparams={"note": "test", "width": 4})
    solver = cr.Solver(model, tiny_data(240), optimizer="momentum", lr=0.05, lr_schedule="step:1:0.5",
                       batch_size=32, num_epochs=3, verbose=False, preprocess=T.PerChannelNormalize(),
                       callbacks=[tb, LambdaCallback(on_batch_end=on_batch_end, on_epoch_end=on_epoch_end)])
    solver.train()
    return solver, _accumulator(log_dir), seen


def _values(acc, tag):
    events = acc.Scalars(tag)
    return [e.step for e in events], np.array([e.value for e in events])


def test_loss_and_lr_every_iteration(logged):
    solver, acc, _ = logged
    steps, loss = _values(acc, "train/loss")
    assert steps == list(range(1, solver.step + 1))
    np.testing.assert_allclose(loss, solver.loss_history, rtol=1e-6)  # stored as float32
    steps, lr = _values(acc, "train/lr")
    per_epoch = len(steps) // solver.epoch
    np.testing.assert_allclose(lr, np.repeat(solver.lr_history, per_epoch), rtol=1e-6)
    assert lr[0] == pytest.approx(0.05) and lr[-1] == pytest.approx(0.0125)


def test_epoch_accuracies_and_loss(logged):
    solver, acc, _ = logged
    for tag, hist in (("accuracy/train", solver.train_acc_history), ("accuracy/val", solver.val_acc_history),
                      ("epoch/lr", solver.lr_history)):
        steps, v = _values(acc, tag)
        assert steps == [1, 2, 3]
        np.testing.assert_allclose(v, hist, rtol=1e-6)
    per_epoch = solver.step // solver.epoch
    means = np.asarray(solver.loss_history).reshape(solver.epoch, per_epoch).mean(axis=1)
    np.testing.assert_allclose(_values(acc, "epoch/loss")[1], means, rtol=1e-6)


def test_weight_and_gradient_histograms(logged):
    solver, acc, seen = logged
    names = [n for n, _ in solver.model.named_parameters()]
    tags = acc.Tags()["histograms"]
    assert {f"weights/{n}" for n in names} | {f"grads/{n}" for n in names} <= set(tags)
    for n in names:
        events = acc.Histograms(f"weights/{n}")
        assert [e.step for e in events] == [1, 2, 3]
        w = seen["epochs"][3][n]
        h = events[-1].histogram_value
        assert h.num == w.size and sum(h.bucket) == w.size
        assert h.min == pytest.approx(w.min()) and h.max == pytest.approx(w.max())
        assert h.sum == pytest.approx(float(w.astype(np.float64).sum()), rel=1e-6, abs=1e-6)
        g = seen["grads"][2][n].astype(np.float64)
        hg = acc.Histograms(f"grads/{n}")[1].histogram_value
        assert hg.sum_squares == pytest.approx(float(np.dot(g.ravel(), g.ravel())), rel=1e-6)


def test_update_to_weight_ratio(logged):
    solver, acc, seen = logged
    steps, ratio = _values(acc, "update_ratio/0.weight")
    assert steps == [s for s in range(1, solver.step + 1) if s % 4 == 0]
    want = [np.linalg.norm(seen["steps"][s]["0.weight"] - seen["steps"][s - 1]["0.weight"])
            / np.linalg.norm(seen["steps"][s]["0.weight"]) for s in steps]
    np.testing.assert_allclose(ratio, want, rtol=1e-5)
    assert np.all(ratio > 0)


def test_images(logged):
    from PIL import Image

    _, acc, _ = logged
    assert {"images/first_layer_filters", "images/misclassified_val"} <= set(acc.Tags()["images"])
    filters = acc.Images("images/first_layer_filters")
    assert [e.step for e in filters] == [1, 2, 3, 3]  # every epoch, and the restored best at the end
    img = Image.open(io.BytesIO(filters[-1].encoded_image_string))
    assert img.size == (filters[-1].width, filters[-1].height) and min(img.size) >= 200  # upscaled 3x3 tiles
    mis = acc.Images("images/misclassified_val")
    assert len(mis) == 1 and mis[0].width > 100


def test_hparams_for_side_by_side_runs(logged):
    from tensorboard.plugins.hparams import api_pb2, metadata

    solver, acc, _ = logged
    start = acc.Tensors(metadata.SESSION_START_INFO_TAG)
    assert len(start) == 1
    info = metadata.parse_session_start_info_plugin_data(
        acc.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content)
    hp = info.hparams
    assert hp["lr"].number_value == 0.05 and hp["optimizer"].string_value == "momentum"
    assert hp["lr_schedule"].string_value == "step:1:0.5" and hp["batch_size"].number_value == 32
    assert hp["note"].string_value == "test" and hp["width"].number_value == 4
    assert hp["parameters"].number_value == sum(p.data.size for p in solver.model.parameters())
    end = metadata.parse_session_end_info_plugin_data(
        acc.SummaryMetadata(metadata.SESSION_END_INFO_TAG).plugin_data.content)
    assert end.status == api_pb2.STATUS_SUCCESS
    assert _values(acc, "hparams/best_val_acc")[1][0] == pytest.approx(solver.best_val_acc, rel=1e-6)


def test_model_graph(logged):
    solver, acc, _ = logged
    graph = acc.Graph()
    nodes = {n.name: n for n in graph.node}
    assert "input" in nodes and "0/weight" in nodes and "6/weight" in nodes  # Conv2d and Linear params
    convs = [n for n in graph.node if n.op == "Conv2d"]
    assert len(convs) == 1 and set(convs[0].input) == {"input", "0/weight", "0/bias"}
    assert convs[0].name.startswith("0/")  # grouped under the module that ran it
    out_shape = convs[0].attr["_output_shapes"].list.shape[0]
    assert [d.size for d in out_shape.dim] == [1, 4, 8, 8]
    # every input named by a node exists in the graph
    assert all(i in nodes for n in graph.node for i in n.input)


def test_graph_of_a_resnet():
    pytest.importorskip("tensorboard", reason="the [tensorboard] extra is not installed")
    from chainrule.viz.tensorboard import model_graph

    cr.manual_seed(0)
    model = cr.models.get("resnet20", in_channels=3, num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = model_graph(model, np.zeros((1, 3, 16, 16), np.float32))
    assert sum(n.op == "Conv2d" for n in g.node) == sum(type(m).__name__ == "Conv2d" for m in model.modules())
    assert any(n.name.startswith("layer2/0/") for n in g.node)
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())  # eval mode: no BN updates
    assert model.training  # flags restored


def test_bad_arguments_and_missing_package(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="histograms_every"):
        cr.callbacks.TensorBoard(tmp_path, histograms_every=-1)
    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.event_file_writer", None)
    with pytest.raises(ImportError, match="pip install"):
        cr.callbacks.TensorBoard(tmp_path)


def test_summary_writer_by_hand(tmp_path):
    pytest.importorskip("tensorboard", reason="the [tensorboard] extra is not installed")
    from chainrule.viz.tensorboard import SummaryWriter

    with SummaryWriter(tmp_path) as w:
        for step in range(5):
            w.add_scalar("x", step * 0.5, step)
        w.add_histogram("h", np.arange(100.0), 0, bins=10)
        w.add_image("img", np.linspace(0, 1, 12).reshape(3, 4), 0)
    acc = _accumulator(tmp_path)
    assert [e.value for e in acc.Scalars("x")] == [0.0, 0.5, 1.0, 1.5, 2.0]
    h = acc.Histograms("h")[0].histogram_value
    assert list(h.bucket) == [10.0] * 10 and h.max == 99.0
    assert (acc.Images("img")[0].width, acc.Images("img")[0].height) == (4, 3)


def test_a_real_tensorboard_server_shows_two_runs_side_by_side(tmp_path):
    """Two runs under one --logdir, served by tensorboard itself (on 127.0.0.1): its HParams
    dashboard lists both runs with their learning rates and metrics, and the graph is served."""
    pytest.importorskip("tensorboard", reason="the [tensorboard] extra is not installed")
    import json
    import re
    import subprocess
    import time
    import urllib.request

    for lr in (0.01, 0.003):
        cr.Solver(tiny_cnn(), tiny_data(120), lr=lr, num_epochs=1, batch_size=60, verbose=False,
                  callbacks=[cr.callbacks.TensorBoard(tmp_path / f"lr{lr}", histograms_every=0)]).train()
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path), "--host",
                             "127.0.0.1", "--port", "0", "--load_fast", "false"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url, deadline = None, time.time() + 90
        while url is None and time.time() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            url = m.group(1) if m else None
        assert url, "tensorboard did not start"

        def post(path, body):
            req = urllib.request.Request(url + path, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.load(r)

        groups = []
        while time.time() < deadline and len(groups) < 2:  # the runs load in the background
            groups = post("/data/plugin/hparams/session_groups", {
                "experimentName": "", "startIndex": 0, "sliceSize": 10, "colParams": [],
                "allowedStatuses": ["STATUS_SUCCESS", "STATUS_UNKNOWN", "STATUS_FAILURE", "STATUS_RUNNING"]
            }).get("sessionGroups", [])
            time.sleep(0.5)
        assert sorted(g["name"] for g in groups) == ["lr0.003", "lr0.01"]
        assert sorted(g["hparams"]["lr"] for g in groups) == [0.003, 0.01]
        metrics = {m["name"]["tag"] for m in groups[0]["metricValues"]}
        assert {"accuracy/val", "hparams/best_val_acc", "train/loss"} <= metrics
        with urllib.request.urlopen(url + "/data/plugin/graphs/graph?run=lr0.01", timeout=30) as r:
            assert 'op: "Conv2d"' in r.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_chainrule_train_tensorboard(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard", reason="the [tensorboard] extra is not installed")
    from tensorboard.plugins.hparams import metadata

    from chainrule.cli import main

    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "2", "--subsample", "120", "--quiet", "--tensorboard"]) == 0
    acc = _accumulator(run / "tensorboard")
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(_values(acc, "accuracy/val")[1], [h["val_acc"] for h in history], rtol=1e-6)
    np.testing.assert_allclose(_values(acc, "accuracy/ema_val")[1], [h["ema_val_acc"] for h in history], rtol=1e-6)
    hp = metadata.parse_session_start_info_plugin_data(
        acc.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content).hparams
    assert hp["model"].string_value == "small_cnn" and hp["data"].string_value == "digits"
    assert hp["subsample"].number_value == 120
    # --tensorboard DIR, and a clear error without the package
    assert main(["train", "--out", str(tmp_path / "r2"), "--epochs", "1", "--subsample", "120", "--quiet",
                 "--tensorboard", str(tmp_path / "tb" / "r2")]) == 0
    assert list((tmp_path / "tb" / "r2").glob("events.out.tfevents.*"))
    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.event_file_writer", None)
    assert main(["train", "--out", str(tmp_path / "r3"), "--epochs", "1", "--quiet", "--tensorboard"]) == 2
