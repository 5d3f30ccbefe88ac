"""`cr.save` / `cr.load` as PyTorch scripts call them: state dicts, optimizer and scheduler
states, nested checkpoints, file objects, map_location / weights_only, and pickle refused unread."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.checkpoint import CheckpointError


class Net(nn.Module):  # a custom, unregistered class, as in every tutorial
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.stack = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))

    def forward(self, x):
        return self.stack(self.flatten(x))


def _trained(steps=2):
    cr.manual_seed(0)
    net = Net()
    opt = cr.optim.Adam(net.parameters(), lr=0.01)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x, y = cr.randn(6, 3, 4), np.array([0, 1, 2, 0, 1, 2])
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(net(x), y)
        loss.backward()
        opt.step()
        sched.step()
    return net, opt, sched, x, y, loss


def test_state_dict_values_are_tensors_and_arrays():
    net = Net()
    sd = net.state_dict()
    assert all(isinstance(v, cr.Tensor) and not v.requires_grad for v in sd.values())
    w = np.asarray(sd["stack.0.weight"])
    assert w.shape == (8, 12) and np.array_equal(w, net.stack[0].weight.data)
    w[...] = 0  # a copy: the model is untouched
    assert np.abs(net.stack[0].weight.data).sum() > 0


def test_state_dict_round_trip_through_a_pth_name(tmp_path):
    net, *_ , x, _, _ = _trained()
    net.eval()
    path = tmp_path / "model.pth"  # the tutorials' name: the bytes are safetensors all the same
    cr.save(net.state_dict(), path)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors JSON header, no pickle
    other = Net()
    loaded = cr.load(path)
    assert list(loaded) == list(net.state_dict())
    assert all(isinstance(v, cr.Tensor) for v in loaded.values())
    other.load_state_dict(loaded)
    other.eval()
    np.testing.assert_array_equal(other(x).data, net(x).data)
    assert loaded["stack.2.num_batches_tracked"].data.dtype == np.int64


def test_checkpoint_dict_resumes_training_identically(tmp_path):
    net, opt, sched, x, y, loss = _trained(2)
    path = tmp_path / "ckpt.pt"
    cr.save({"epoch": 2, "model_state_dict": net.state_dict(), "optimizer_state_dict": opt.state_dict(),
             "scheduler": sched.state_dict(), "loss": loss}, path)
    ckpt = cr.load(path, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2 and isinstance(ckpt["loss"], cr.Tensor)
    assert ckpt["loss"].item() == pytest.approx(loss.item())
    assert list(ckpt["optimizer_state_dict"]["state"]) == [0, 1, 2, 3, 4, 5]  # int keys stay ints
    assert ckpt["optimizer_state_dict"]["param_groups"][0]["betas"] == (0.9, 0.999)  # a tuple stays one

    net2 = Net()
    opt2 = cr.optim.Adam(net2.parameters(), lr=0.01)
    sched2 = cr.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    net2.load_state_dict(ckpt["model_state_dict"])
    opt2.load_state_dict(ckpt["optimizer_state_dict"])
    sched2.load_state_dict(ckpt["scheduler"])
    for model, o, s in ((net, opt, sched), (net2, opt2, sched2)):
        o.zero_grad()
        nn.CrossEntropyLoss()(model(x), y).backward()
        o.step()
        s.step()
    for a, b in zip(net.parameters(), net2.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.01 / 8)


def test_nested_values_come_back_as_they_went_in():
    obj = {"a": [1, 2.5, "s", None, True], "t": (np.arange(3), cr.tensor([1.0, 2.0], requires_grad=True)),
           7: {"__tensor__": "not a marker"}, "p": nn.Parameter(np.ones(2, np.float32)),
           "f64": np.float64(0.25), "empty": {}, "nan": float("nan")}
    buf = io.BytesIO()
    cr.save(obj, buf)
    buf.seek(0)
    back = cr.load(buf)
    assert back["a"] == [1, 2.5, "s", None, True]
    assert isinstance(back["t"], tuple) and isinstance(back["t"][0], np.ndarray)
    np.testing.assert_array_equal(back["t"][0], np.arange(3))
    assert isinstance(back["t"][1], cr.Tensor) and back["t"][1].requires_grad
    assert back[7] == {"__tensor__": "not a marker"}
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert back["f64"] == 0.25 and back["empty"] == {} and np.isnan(back["nan"])


def test_values_that_cannot_be_stored_are_named(tmp_path):
    with pytest.raises(ValueError, match="has type object"):
        cr.save({"x": object()}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a str or int"):
        cr.save({(1, 2): 1}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="whole model"):
        cr.save({"x": 1}, tmp_path / "x.pt", classes=["a"])


def test_whole_custom_model_needs_registration(tmp_path):
    with pytest.raises(ValueError, match=r"register_module.*|state_dict\(\)") as e:
        cr.save(Net(), tmp_path / "model.pth")
    assert "state_dict()" in str(e.value) and "register_module" in str(e.value)
    assert not (tmp_path / "model.pth").exists()


def test_whole_registered_model_round_trip(tmp_path):
    @nn.register_module
    class Small(nn.Module):
        def __init__(self, hidden=5):
            super().__init__()
            self.fc = nn.Linear(4, hidden)

        def forward(self, x):
            return self.fc(x).relu()

    m = Small(hidden=3)
    cr.save(m, tmp_path / "model.pth")
    back = cr.load(tmp_path / "model.pth", weights_only=False)
    assert isinstance(back, Small) and not back.training and back.fc.out_features == 3
    x = cr.randn(2, 4)
    np.testing.assert_array_equal(back(x).data, m(x).data)


def test_map_location_forms():
    sd = {"w": cr.randn(2, 2)}
    buf = io.BytesIO()
    cr.save(sd, buf)
    for where in ("cpu", cr.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        buf.seek(0)
        out = cr.load(buf, map_location=where)
        assert out["w"].device == cr.device("cpu")
        np.testing.assert_array_equal(out["w"].data, sd["w"].data)
    buf.seek(0)
    with pytest.raises(TypeError, match="map_location function"):
        cr.load(buf, map_location=lambda s, loc: 3)


def test_plain_safetensors_file_loads_as_tensors(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.arange(4, dtype=np.float32)}, str(tmp_path / "plain.safetensors"))
    out = cr.load(tmp_path / "plain.safetensors")
    assert isinstance(out["w"], cr.Tensor)
    np.testing.assert_array_equal(out["w"].data, np.arange(4))


class _Payload:
    """Unpickling this writes a file: the proof that the pickle's code ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_is_refused_and_its_code_never_runs(tmp_path):
    target = tmp_path / "pwned.txt"
    for protocol in (2, 4, 5):
        path = tmp_path / f"evil{protocol}.pth"
        path.write_bytes(pickle.dumps({"w": _Payload(str(target))}, protocol=protocol))
        with pytest.raises(CheckpointError, match="chainrule convert-weights"):
            cr.load(path)
        with pytest.raises(CheckpointError, match="pickle"):
            cr.load(io.BytesIO(path.read_bytes()))
        assert not target.exists()
    # the control: unpickling it does run the code, so the test above could fail
    pickle.loads((tmp_path / "evil4.pth").read_bytes())
    assert target.exists()


def test_torch_save_zip_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.pth"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="zip archive.*chainrule convert-weights"):
        cr.load(path)


def test_torch_state_dict_matches_ours_after_round_trip(tmp_path):
    """Weights saved by chainrule load into the same torch model and give the same outputs."""
    torch = pytest.importorskip("torch")
    cr.manual_seed(1)
    ours = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    cr.save(ours.state_dict(), tmp_path / "w.pth")
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in cr.load(tmp_path / "w.pth").items()})
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), ours(cr.tensor(x)).data,
                               rtol=1e-6, atol=1e-6)
