"""Devices above the ops: Module.to/.cuda/.cpu, state dicts and files across devices, optimisers,
the Solver and the CLI, run on the CPU stand-in for CuPy (tests/fake_cupy.py), made stricter here
so that `np.asarray(device_array)` fails as it does with CuPy."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn

import fake_cupy


@pytest.fixture
def gpu(monkeypatch):
    """"cuda" is the fake; its arrays refuse NumPy's array-interface protocols too (as CuPy's do),
    so an implicit host conversion anywhere in the code under test fails."""
    plain = fake_cupy.ndarray.__getattr__

    def strict_getattr(self, name):
        if name.startswith("__array"):
            raise AttributeError(name)
        return plain(self, name)

    monkeypatch.setattr(fake_cupy.ndarray, "__getattr__", strict_getattr)
    with fake_cupy.installed() as fake:
        yield fake


@pytest.fixture
def no_cupy(monkeypatch):
    """As on a machine without CuPy: backend.cupy() raises the ImportError naming the install."""
    def missing():
        raise ImportError(backend.INSTALL_HINT)

    before = backend.use_cupy(None, None)
    monkeypatch.setattr(backend, "cupy", missing)
    yield
    backend.use_cupy(*before)


class Lookup(nn.Module):
    """A layer keeping a raw array (not a buffer): Module.to must move it too."""

    def __init__(self):
        super().__init__()
        self.table = np.arange(3.0)
        self.scale = cr.tensor([2.0])

    def forward(self, x):
        return x


def mlp(seed: int = 0) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3), Lookup()).double()


def on_gpu(a) -> bool:
    return backend.is_device_array(a.data if isinstance(a, cr.Tensor) else a)


def host(a):
    return backend.to_host(a.data if isinstance(a, cr.Tensor) else a)


# ------------------------------------------------------------------ Module.to
def test_module_to_moves_everything_in_place_and_the_optimizer_follows(gpu):
    m = mlp()
    params = list(m.parameters())
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = cr.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    for p in params:
        p.grad = np.ones_like(p.data)
    assert m.to("cuda") is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]  # the same Parameter objects
    assert next(m.parameters()).device == "cuda:0" and cr.nn.module.module_device(m) == "cuda"
    assert all(on_gpu(p.data) and on_gpu(p.grad.data) for p in params)
    bn = m[1]
    assert on_gpu(bn.running_mean) and on_gpu(bn.running_var) and on_gpu(bn.num_batches_tracked)
    assert bn.num_batches_tracked.dtype == np.int64
    assert on_gpu(m[4].table) and m[4].scale.is_cuda
    assert opt.param_groups[0]["params"][0] is params[0]
    opt.step()  # the optimizer built before the move updates the moved parameters
    assert all(on_gpu(p.data) for p in params)
    np.testing.assert_allclose(host(params[0].data), before["0.weight"] - 0.1, rtol=0, atol=1e-15)
    assert m.cpu() is m and not any(on_gpu(p.data) for p in m.parameters())
    assert isinstance(m[4].table, np.ndarray) and isinstance(bn.num_batches_tracked, np.ndarray)


def test_module_to_forms_follow_pytorch(gpu):
    m = mlp()
    m.to("cuda", cr.float32)
    p = next(m.parameters())
    assert p.is_cuda and p.dtype == np.float32 and m[1].num_batches_tracked.dtype == np.int64
    m.to(dtype=cr.float64)
    assert p.is_cuda and p.dtype == np.float64
    m.to(cr.zeros(1, dtype=cr.float32))  # another tensor's device (cpu) and dtype
    assert not p.is_cuda and p.dtype == np.float32
    m.cuda()
    assert p.is_cuda
    m.to(device="cpu")
    assert not p.is_cuda
    with pytest.raises(ValueError, match="floating-point"):
        m.to(cr.int64)


def test_state_dict_and_load_across_devices(gpu):
    a, b = mlp(0), mlp(1)
    a.to("cuda")
    sd = a.state_dict()
    assert all(on_gpu(v) for v in sd.values())  # copies on the model's device, as in PyTorch
    b.load_state_dict(sd)  # GPU arrays into a CPU model: copied to the host
    assert all(isinstance(v.data, np.ndarray) for v in b.state_dict().values())
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, host(sd[k]))
    c = mlp(2).to("cuda")
    c.load_state_dict(b.state_dict())  # host arrays into a GPU model: onto its device, in place
    for k, v in c.state_dict(keep_vars=True).items():
        arr = v.data if isinstance(v, cr.Tensor) else v
        assert on_gpu(arr)
        np.testing.assert_array_equal(host(arr), b.state_dict()[k])


def test_save_on_gpu_load_on_cpu_and_back(gpu, tmp_path):
    cr.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)).double().to("cuda")
    ref = {k: host(v) for k, v in m.state_dict().items()}
    path = cr.save(m, tmp_path / "m.safetensors", classes=["a", "b"])
    cpu = cr.load(path)
    assert not any(on_gpu(p.data) for p in cpu.parameters()) and cpu.classes == ["a", "b"]
    back = cr.load(path, device="cuda")
    assert all(p.is_cuda for p in back.parameters()) and on_gpu(back[1].running_mean)
    for k, v in ref.items():
        np.testing.assert_array_equal(cpu.state_dict()[k], v)
        np.testing.assert_array_equal(host(back.state_dict()[k]), v)
    path2 = cr.save(cpu, tmp_path / "m2.safetensors")
    for k, v in cr.load(path2, device="cuda").state_dict().items():
        np.testing.assert_array_equal(host(v), ref[k])


def test_init_draws_on_the_host_so_a_seed_gives_the_same_weights(gpu):
    w_cpu, w_gpu = cr.zeros(4, 3), cr.zeros(4, 3, device="cuda")
    cr.manual_seed(3)
    nn.init.kaiming_uniform_(w_cpu)
    cr.manual_seed(3)
    nn.init.kaiming_uniform_(w_gpu)
    assert w_gpu.is_cuda
    np.testing.assert_array_equal(host(w_gpu.data), w_cpu.data)


# ----------------------------------------------------------------- optimisers
OPTIMIZERS = {
    "sgd-momentum": lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "nesterov": lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: cr.optim.Adam(ps, lr=0.05, weight_decay=1e-2),
    "adam-amsgrad": lambda ps: cr.optim.Adam(ps, lr=0.05, amsgrad=True),
    "adamw": lambda ps: cr.optim.AdamW(ps, lr=0.05),
    "rmsprop": lambda ps: cr.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True, weight_decay=1e-2),
    "adagrad": lambda ps: cr.optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
}


def _trajectory(make_opt, device: str, steps: int = 4) -> tuple[list, dict]:
    """A Linear model's weights after `steps` updates with the gradient of sum((w - 1)^2 * k),
    written in array arithmetic (no ops), so only the optimiser's own code is tested."""
    cr.manual_seed(0)
    m = nn.Linear(4, 3).double()
    opt = make_opt(m.parameters())  # before the move: its state must follow the parameters
    m.to(device)
    for step in range(steps):
        for k, p in enumerate(m.parameters()):
            p.grad = 2 * (p.data - 1) * (k + 1 + step)
        opt.step()
    return [host(p.data) for p in m.parameters()], opt.state_dict()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_on_the_device_equal_the_cpu_steps(gpu, name):
    cpu, cpu_state = _trajectory(OPTIMIZERS[name], "cpu")
    dev, dev_state = _trajectory(OPTIMIZERS[name], "cuda")
    for a, b in zip(cpu, dev):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    for i, s in dev_state["state"].items():  # saved as host arrays, equal to the CPU run's
        for k, v in s.items():
            assert not on_gpu(v)
            np.testing.assert_allclose(v, cpu_state["state"][i][k], rtol=0, atol=1e-10)


def test_optimizer_state_saved_on_gpu_loads_onto_the_parameters_device(gpu):
    cr.manual_seed(0)
    m = nn.Linear(4, 3).double().to("cuda")
    opt = cr.optim.Adam(m.parameters(), lr=0.1)
    for p in m.parameters():
        p.grad = p.data * 2
    opt.step()
    sd = opt.state_dict()
    m_cpu = copy.deepcopy(m).cpu()
    o_cpu = cr.optim.Adam(m_cpu.parameters(), lr=0.1)
    o_cpu.load_state_dict(sd)
    assert all(isinstance(s["exp_avg"], np.ndarray) for s in o_cpu.state.values())
    o_gpu = cr.optim.Adam(m.parameters(), lr=0.1)
    o_gpu.load_state_dict(sd)
    assert all(on_gpu(s["exp_avg"]) and s["step"] == 1 for s in o_gpu.state.values())
    for model, o in ((m, o_gpu), (m_cpu, o_cpu)):  # the next step agrees on both devices
        for p in model.parameters():
            p.grad = p.data * 2
        o.step()
    for a, b in zip(m.parameters(), m_cpu.parameters()):
        np.testing.assert_allclose(host(a.data), b.data, rtol=0, atol=1e-12)


def _averaged_twice(avg, m):
    """Average m's weights, then m's weights + 1: the first weight of the average (checked to be
    the mean of the two, whatever the devices) is returned."""
    first = host(next(m.parameters()).data)
    avg.update_parameters(m)
    with cr.no_grad():
        for p in m.parameters():
            p.data = p.data + 1
    avg.update_parameters(m)
    got = avg.module[0].weight
    np.testing.assert_allclose(host(got.data), first + 0.5, rtol=0, atol=1e-12)
    return got


def test_averaged_model_and_lr_scheduler_on_the_device(gpu):
    from chainrule.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    m = mlp().to("cuda")
    avg = AveragedModel(m, multi_avg_fn=get_ema_multi_avg_fn(0.5), use_buffers=True)
    got = _averaged_twice(avg, m)
    assert got.is_cuda
    opt = cr.optim.SGD(m.parameters(), lr=1.0)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for p in m.parameters():
        p.grad = xp_ones(p.data)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.5 and all(p.is_cuda for p in m.parameters())


@pytest.mark.parametrize("avg_on", ["cpu", "cuda"])
def test_averaged_model_on_another_device_than_the_model(gpu, avg_on):
    """PyTorch allows the average on the host while the model trains on a GPU (and the reverse)."""
    from chainrule.optim.swa_utils import AveragedModel

    m = mlp()
    avg = AveragedModel(copy.deepcopy(m).to(avg_on), use_buffers=True)
    m.to("cpu" if avg_on == "cuda" else "cuda")
    got = _averaged_twice(avg, m)
    assert got.device == avg_on


def xp_ones(a):
    return backend.array_module(a).ones_like(a)


# ---------------------------------------------------------------------- Solver
def _data(n: int = 60):
    r = np.random.default_rng(0)
    return {"X_train": r.normal(size=(n, 5)), "y_train": r.integers(0, 3, n),
            "X_val": r.normal(size=(20, 5)), "y_val": r.integers(0, 3, 20)}


def _solver(device, optimizer="sgd", **kw):
    cr.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    return cr.Solver(m, _data(), optimizer=optimizer, lr=0.05, batch_size=16, num_epochs=2, verbose=False,
                     device=device, **kw)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_solver_on_the_device_gives_the_cpu_history(gpu, optimizer):
    cpu = _solver("cpu", optimizer).train()
    dev = _solver("cuda", optimizer).train()
    assert dev.device == "cuda:0" and next(dev.model.parameters()).is_cuda
    for k, v in cpu.history.items():
        assert all(isinstance(x, float) for x in dev.history[k])
        np.testing.assert_allclose(dev.history[k], v, rtol=0, atol=1e-10)
    X = _data()["X_val"]
    pred, proba = dev.predict(X), dev.predict_proba(X)
    assert isinstance(pred, np.ndarray) and isinstance(proba, np.ndarray)
    np.testing.assert_array_equal(pred, cpu.predict(X))
    np.testing.assert_allclose(proba, cpu.predict_proba(X), rtol=0, atol=1e-10)


@pytest.mark.parametrize("first, then", [("cuda", "cpu"), ("cpu", "cuda")])
def test_solver_checkpoint_resumes_on_the_other_device(gpu, tmp_path, first, then):
    full = _solver("cpu", "adam").train()
    half = _solver(first, "adam", checkpoint_dir=tmp_path)
    half.num_epochs = 1
    half.train()
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double()  # (the config rebuilds float32)
    resumed = cr.Solver.resume(tmp_path / "last.safetensors", _data(), model=model, verbose=False, num_epochs=2,
                               device=then)
    assert resumed.device == then and next(model.parameters()).device == then
    resumed.train()
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        np.testing.assert_allclose(host(b.data), a.data, rtol=0, atol=1e-10)
    np.testing.assert_allclose(resumed.history["loss_history"], full.history["loss_history"], rtol=0, atol=1e-10)


def test_solver_follows_the_models_device(gpu):
    cr.manual_seed(0)
    m = nn.Linear(5, 3).double().to("cuda")
    s = cr.Solver(m, _data(), verbose=False)
    assert s.device == "cuda:0"
    assert isinstance(s.predict(_data()["X_val"]), np.ndarray)  # eval-only path: forward ops on the device


# -------------------------------------------------------------------------- CLI
def test_cli_device_cuda_without_cupy_prints_the_pip_hint(no_cupy, tmp_path, capsys):
    from chainrule.cli import main

    rc = main(["train", "--device", "cuda", "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "pip install 'chainrule[cuda]'" in err and "cupy-cuda13x" in err
    assert not (tmp_path / "r").exists()
    with pytest.raises(ImportError, match=r"chainrule\[cuda\]"):
        cr.zeros(2).to("cuda")


def test_tune_device_cuda_without_cupy_prints_the_pip_hint(no_cupy, tmp_path, capsys):
    pytest.importorskip("optuna")
    from chainrule.cli import main

    rc = main(["tune", "--model", "small_cnn", "--data", "digits", "--space", "lr=1e-3:1e-1:log",
               "--trials", "1", "--device", "cuda", "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "pip install 'chainrule[cuda]'" in err


def test_a_tune_trial_trains_on_the_device_it_is_given(gpu):
    pytest.importorskip("optuna")
    from chainrule.tune.solver_objective import SolverObjective

    histories = []
    for device in ("cuda", "cpu"):
        cr.manual_seed(0)  # the same initial weights
        solver = SolverObjective("small_cnn", "digits", epochs=1, subsample=120, device=device,
                                 fixed={"channels": [4, 8, 8]})({"lr": 1e-2})
        assert next(solver.model.parameters()).device == device
        solver.train()
        histories.append(solver.loss_history)
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-4)


def test_cli_device_auto_without_cupy_is_the_cpu(no_cupy):
    from chainrule.commands.common import resolve_device

    assert resolve_device("auto") == "cpu" and resolve_device(None) == "cpu"
    with pytest.raises(cr.commands.CLIError, match="expected device"):
        resolve_device("gpu")


# ------------------------------------------------------------ gradient clipping
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    grads = [r.normal(size=(4, 3)), r.normal(size=(3,))]
    ps = [nn.Parameter(np.zeros_like(g)) for g in grads]
    tps = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, t, g in zip(ps, tps, grads):
        p.grad, t.grad = g.copy(), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ps, 0.5, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(tps, 0.5, norm_type)
    assert abs(total.item() - t_total.item()) < 1e-12
    for p, t in zip(ps, tps):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)
    nn.utils.clip_grad_value_(ps, 0.01)
    torch.nn.utils.clip_grad_value_(tps, 0.01)
    for p, t in zip(ps, tps):
        assert np.abs(p.grad.data).max() == 0.01
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_on_the_device_equals_the_cpu(gpu):
    r = np.random.default_rng(1)
    grads = [r.normal(size=(4, 3)) * 5, r.normal(size=(3,))]
    cpu = [nn.Parameter(np.zeros_like(g)) for g in grads]
    dev = [nn.Parameter(np.zeros_like(g)).cuda() for g in grads]
    for a, b, g in zip(cpu, dev, grads):
        a.grad, b.grad = g.copy(), backend.to_device(g, "cuda")
    t_cpu, t_dev = nn.utils.clip_grad_norm_(cpu, 1.0), nn.utils.clip_grad_norm_(dev, 1.0)
    assert t_dev.is_cuda and t_dev.item() == t_cpu.item() and t_cpu.item() > 1.0
    nn.utils.clip_grad_value_(dev, 0.1)
    nn.utils.clip_grad_value_(cpu, 0.1)
    for a, b in zip(cpu, dev):
        assert on_gpu(b.grad.data)
        np.testing.assert_array_equal(host(b.grad.data), a.grad)
    with pytest.raises(RuntimeError, match="nan"):
        dev[0].grad = dev[0].grad * float("nan")
        nn.utils.clip_grad_norm_(dev, 1.0, error_if_nonfinite=True)


def test_cli_train_on_the_device_then_evaluate_on_the_cpu(gpu, tmp_path, capsys):
    from chainrule.cli import main

    out = tmp_path / "r"
    args = ["--model", "two_layer_net", "--subsample", "120", "--batch-size", "40", "--preprocess", "center",
            "--augment", "none", "--quiet"]
    assert main(["train", "--device", "cuda", "--epochs", "1", "--out", str(out), *args]) == 0
    cfg = __import__("json").loads((out / "config.json").read_text())
    assert cfg["args"]["device"] == "cuda"
    m = cr.load(out / "model.safetensors")
    assert not any(p.is_cuda for p in m.parameters())
    capsys.readouterr()
    assert main(["evaluate", str(out), "--device", "cpu"]) == 0
    cpu_line = capsys.readouterr().out
    assert main(["evaluate", str(out), "--device", "cuda"]) == 0
    assert capsys.readouterr().out == cpu_line and f"{cfg['results']['test_acc']:.4f}" in cpu_line
