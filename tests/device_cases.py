"""One computation on the CPU and on a device, compared: the bodies of test_cuda.py (real CuPy)
and test_fake_device.py (tests/fake_cupy.py, what CI runs).

Each `check_*` function takes a device string ("cuda") and raises AssertionError when the device
run differs from the CPU run: float64 to 1e-10, float32 to 1e-4, relative to the largest CPU
value of the array compared. `DeviceSuite` holds the tests themselves; a test file subclasses it
and provides the `device` fixture (which skips or installs the stand-in).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn
from chainrule.diagnostics.grad_cases import CASES, GradCase
from chainrule.nn import functional as F
from chainrule.tensor import Tensor

TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
DTYPES = [np.float64, np.float32]


# ------------------------------------------------------------------ helpers
def host(a: Any) -> np.ndarray:
    """A NumPy copy of a tensor or array, wherever it lives."""
    a = a.data if isinstance(a, Tensor) else a
    return np.array(backend.to_host(a))


def assert_close(dev: Any, cpu: Any, dtype: Any, what: str) -> None:
    """The device result equals the CPU one to TOL[dtype], relative to the largest CPU value."""
    d, c = host(dev), host(cpu)
    assert d.shape == c.shape, f"{what}: shape {d.shape} on the device, {c.shape} on the CPU"
    assert d.dtype == c.dtype, f"{what}: dtype {d.dtype} on the device, {c.dtype} on the CPU"
    if c.dtype.kind not in "fc":
        np.testing.assert_array_equal(d, c, err_msg=what)
        return
    scale = max(float(np.max(np.abs(c), initial=0.0)), 1e-6)
    err = float(np.max(np.abs(d - c), initial=0.0))
    assert err <= TOL[np.dtype(dtype)] * scale, f"{what}: max |device - cpu| = {err:.3g} (largest value {scale:.3g})"


def assert_on(a: Any, device: str, what: str) -> None:
    a = a.data if isinstance(a, Tensor) else a
    assert backend.device_of(a) == backend.device(device), f"{what} is on {backend.device_of(a)}, not {device}"


def _captured(fn: Callable) -> list:
    """The Modules and Tensors a case's fn closes over (directly, or in a list/tuple)."""
    found = []
    for cell in fn.__closure__ or ():
        try:
            v = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        for item in (v if isinstance(v, (list, tuple)) else [v]):
            if isinstance(item, (nn.Module, Tensor)):
                found.append(item)
    return found


def _move(t: Tensor, device: str, dtype: Any) -> None:
    """t's array in `dtype` (floating point only) on `device`, in place: the case's fn keeps its tensors."""
    data = t.data.astype(dtype) if t.dtype.kind == "f" else t.data
    t.data = backend.to_device(data, device) if device != "cpu" else data


def setup_case(case: GradCase, device: str, dtype: Any, seed: int = 0):
    """case.setup with its inputs, parameters and module buffers in `dtype` on `device`."""
    fn, checked, _ = case.setup(np.random.default_rng(seed))
    tensors = {id(t): t for t in checked.values()}
    modules = []
    for obj in _captured(fn):
        if isinstance(obj, Tensor):
            tensors.setdefault(id(obj), obj)
        else:
            modules.append(obj)
    try:
        for t in tensors.values():
            _move(t, device, dtype)
        for m in modules:  # parameters are moved already (the same objects); buffers go with the module
            m.to(dtype)
            m.to(device)
    except Exception:
        _restore(modules)
        raise
    return fn, checked, modules


def _restore(modules: list) -> None:
    """Back to the CPU in float64: a loss module of the table is one object shared by every setup
    (and by the other test files that run the table)."""
    for m in modules:
        m.to("cpu")
        m.to(np.float64)


def forward_backward(fn: Callable, checked: dict[str, Tensor], seed: int = 1):
    """fn()'s output and every checked tensor's gradient for a fixed random upstream gradient."""
    out = fn()
    up = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(Tensor(up).to(out.device))
    return out, up, {k: t.grad for k, t in checked.items()}


# ------------------------------------------------------------------ (a) every op and layer
def check_case(case: GradCase, device: str, dtype: Any) -> None:
    """Forward and backward of one grad_cases entry on the CPU and on `device`, compared."""
    fn, checked, modules = setup_case(case, "cpu", dtype)
    out_c, _, grads_c = forward_backward(fn, checked)
    fn, checked, modules = setup_case(case, device, dtype)
    try:
        out_d, up, grads_d = forward_backward(fn, checked)
    finally:
        _restore(modules)
    assert_on(out_d, device, f"{case.name} output")
    for k, g in grads_d.items():
        assert g is not None, f"{case.name}: no gradient for {k} on the device"
        assert_on(g, device, f"{case.name} gradient of {k}")
    if case.name == "Dropout" and not np.allclose(host(out_d), host(out_c)):
        _check_dropout(host(checked["x"]), host(out_d), host(grads_d["x"]), up, dtype)
        return
    assert_close(out_d, out_c, dtype, f"{case.name} output")
    for k in grads_c:
        assert_close(grads_d[k], grads_c[k], dtype, f"{case.name} gradient of {k}")


def _check_dropout(x: np.ndarray, out: np.ndarray, gx: np.ndarray, up: np.ndarray, dtype: Any) -> None:
    """A device that draws its own mask (as PyTorch's CUDA generator does) must still apply it
    consistently: out = x * mask / (1 - p) and dx = up * mask / (1 - p), p = 0.5."""
    mask = out != 0
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(out, np.where(mask, 2 * x, 0), rtol=tol, err_msg="Dropout output on the device")
    np.testing.assert_allclose(gx, np.where(mask, 2 * up, 0), rtol=tol, err_msg="Dropout gradient on the device")


def case_params() -> list:
    """pytest params: every case of the shared table in float64 and float32."""
    return [pytest.param(case, dt, id=f"{i:02d}-{case.name}-{np.dtype(dt).name}")
            for i, case in enumerate(CASES) for dt in DTYPES]


# ------------------------------------------------------------------ (b) a training trajectory
STEPS, BATCH = 20, 8


def small_convnet(dtype: Any, seed: int = 0) -> nn.Module:
    """conv3x3-BN-ReLU-maxpool-conv3x3-BN-ReLU-global avg pool-linear (no dropout)."""
    cr.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    return model.to(dtype)


def _batches(dtype: Any, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    g = np.random.default_rng(seed)
    return [(g.standard_normal((BATCH, 3, 8, 8)).astype(dtype), g.integers(0, 10, BATCH)) for _ in range(STEPS)]


OPTIMIZERS = {
    "sgd_momentum": lambda params: cr.optim.SGD(params, lr=0.05, momentum=0.9),
    "adam": lambda params: cr.optim.Adam(params, lr=1e-3),
}


def train_trajectory(device: str, optimizer: str, dtype: Any) -> tuple[list[float], dict[str, np.ndarray]]:
    """STEPS steps of small_convnet on `device`: the losses and the final state_dict (on the host)."""
    model = small_convnet(dtype)
    if device != "cpu":
        model.to(device)
    for p in model.parameters():
        assert_on(p, device, "a parameter after model.to(device)")
    opt = OPTIMIZERS[optimizer](model.parameters())
    model.train()
    losses = []
    for xb, yb in _batches(dtype):
        x, y = Tensor(xb).to(device), Tensor(yb).to(device)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        assert_on(loss, device, "the loss")
        losses.append(loss.item())
    return losses, {k: host(v) for k, v in model.state_dict().items()}


def check_trajectory(device: str, optimizer: str, dtype: Any) -> None:
    """The same 20 steps on the CPU and on `device`: every loss and every final parameter/buffer."""
    losses_c, state_c = train_trajectory("cpu", optimizer, dtype)
    losses_d, state_d = train_trajectory(device, optimizer, dtype)
    assert_close(np.array(losses_d), np.array(losses_c), dtype, f"{optimizer} losses")
    assert state_d.keys() == state_c.keys()
    for k in state_c:
        assert_close(state_d[k], state_c[k], dtype, f"{optimizer} final {k}")


# ------------------------------------------------------------------ (c) save on the device, load anywhere
def _trained_on(device: str, dtype: Any) -> tuple[nn.Module, np.ndarray]:
    model = small_convnet(dtype).to(device) if device != "cpu" else small_convnet(dtype)
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for xb, yb in _batches(dtype)[:3]:  # a few steps so the BN running stats are not the defaults
        opt.zero_grad()
        F.cross_entropy(model(Tensor(xb).to(device)), Tensor(yb).to(device)).backward()
        opt.step()
    model.eval()
    return model, np.random.default_rng(5).standard_normal((4, 3, 8, 8)).astype(dtype)


def _saved_and_loaded(device: str, dtype: Any, path) -> tuple[np.ndarray, np.ndarray, Any]:
    """Outputs of a model trained on `device`, and of its copy saved there and loaded on the CPU."""
    model, x = _trained_on(device, dtype)
    with cr.no_grad():
        out = model(Tensor(x).to(device))
    loaded = cr.load(cr.save(model, path))
    for p in loaded.parameters():
        assert_on(p, "cpu", "a parameter loaded by cr.load")
    dtype_loaded = next(loaded.parameters()).dtype
    with cr.no_grad():
        return host(out), host(loaded(Tensor(x.astype(dtype_loaded)))), dtype_loaded


def check_save_load(device: str, dtype: Any, tmp_path) -> None:
    """cr.save of a model on `device` -> cr.load on the CPU -> the outputs of the same model trained,
    saved and loaded on the CPU, and the device model's own outputs; a model comes back in the
    dtype it was saved in."""
    out_d, loaded_d, loaded_dtype = _saved_and_loaded(device, dtype, tmp_path / "dev.safetensors")
    assert loaded_dtype == np.dtype(dtype), f"cr.load gave {loaded_dtype} for a {np.dtype(dtype)} model"
    _, loaded_c, _ = _saved_and_loaded("cpu", dtype, tmp_path / "cpu.safetensors")
    assert_close(loaded_d, loaded_c, loaded_dtype, "outputs after save on the device, load on the CPU")
    assert_close(loaded_d, out_d.astype(loaded_dtype), loaded_dtype, "loaded outputs against the device model's")


def check_load_to_device(device: str, tmp_path) -> None:
    """cr.load(path, device=...) puts the CPU-saved model on the device, same outputs."""
    model, x = _trained_on("cpu", np.float32)
    path = cr.save(model, tmp_path / "m.safetensors")
    loaded = cr.load(path, device=device)
    for p in loaded.parameters():
        assert_on(p, device, "a parameter loaded by cr.load(device=)")
    with cr.no_grad():
        assert_close(loaded(Tensor(x).to(device)), model(Tensor(x)), np.float32, "outputs after load on the device")


# ------------------------------------------------------------------ (d) moving tensors
def check_round_trip(device: str) -> None:
    """t.to(device).cpu() gives back the values and dtype; .device and .is_cuda say where it is."""
    g = np.random.default_rng(0)
    for a in (g.standard_normal((3, 4)), g.standard_normal(5).astype(np.float32),
              g.integers(-5, 5, (2, 3)), np.array([True, False]), np.array(2.5)):
        t = Tensor(a)
        d = t.to(device)
        assert d.is_cuda and not t.is_cuda
        assert d.device == backend.device(device) and str(d.device).startswith("cuda")
        assert d.dtype == t.dtype and d.shape == t.shape
        back = d.cpu()
        assert back.device == backend.device("cpu") and back.dtype == a.dtype
        np.testing.assert_array_equal(back.numpy(), a)
    assert cr.zeros(2, 3, device=device).device == backend.device(device)
    assert Tensor(np.ones(2)).cuda().device == backend.device(device)


def check_mixing_raises(device: str) -> None:
    """One op on a CPU and a device tensor: RuntimeError naming both devices."""
    a, b = Tensor(np.ones(3)), Tensor(np.ones(3)).to(device)
    for op in (lambda: a + b, lambda: b * a, lambda: cr.ops.matmul(b, a)):
        with pytest.raises(RuntimeError) as e:
            op()
        msg = str(e.value)
        assert "cpu" in msg and "cuda" in msg, msg


def check_numpy_raises(device: str) -> None:
    """.numpy() and np.asarray of a device tensor raise (a host copy must be asked for)."""
    t = Tensor(np.ones(3)).to(device)
    with pytest.raises((TypeError, RuntimeError), match="cpu"):
        t.numpy()
    with pytest.raises((TypeError, RuntimeError)):
        np.asarray(t)


def check_grad_through_to(device: str) -> None:
    """Gradients flow back through .to(device) and .cpu() to a CPU leaf, landing on the CPU."""
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x.to(device) * Tensor(np.array([2.0, 3.0, 4.0])).to(device)
    (y.sum().cpu() * 5).backward()
    assert_on(x.grad, "cpu", "x.grad")
    np.testing.assert_array_equal(host(x.grad), [10.0, 15.0, 20.0])
    w = Tensor(np.array([0.5, 1.5]), requires_grad=True).to(device)  # a non-leaf on the device
    w.retain_grad()
    (w * w).sum().backward()
    assert_on(w.grad, device, "w.grad")
    np.testing.assert_array_equal(host(w.grad), [1.0, 3.0])


# ------------------------------------------------------------------ (e) the Solver
def solver_history(device: str) -> dict[str, list[float]]:
    """2 epochs of a tiny digits CNN (no dropout) with the Solver on `device`."""
    data = cr.data.load_digits(subsample=160, val_size=64, test_size=64)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    kw: dict[str, Any] = {}
    if device != "cpu":
        model.to(device)
        if "device" in inspect.signature(cr.Solver).parameters:
            kw["device"] = device
    solver = cr.Solver(model, data, optimizer="sgd", lr=0.05, batch_size=32, num_epochs=2,
                       verbose=False, train_acc_samples=160, **kw)
    solver.train()
    for p in model.parameters():
        assert_on(p, device, "a parameter after Solver.train")
    return solver.history


def check_solver(device: str) -> None:
    """The Solver's history on `device` equals the CPU's (float32: losses to 1e-4, same accuracies)."""
    cpu, dev = solver_history("cpu"), solver_history(device)
    assert dev.keys() == cpu.keys()
    assert_close(np.array(dev["loss_history"]), np.array(cpu["loss_history"]), np.float32, "Solver losses")
    for k in ("train_acc_history", "val_acc_history", "lr_history"):
        np.testing.assert_allclose(dev[k], cpu[k], rtol=1e-6, err_msg=f"Solver {k}")


# ------------------------------------------------------------------ the tests
class DeviceSuite:
    """The tests; a subclass named Test... provides the `device` fixture."""

    @pytest.mark.parametrize("case, dtype", case_params())
    def test_case(self, device, case, dtype):
        check_case(case, device, dtype)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
    def test_trajectory(self, device, optimizer, dtype):
        check_trajectory(device, optimizer, dtype)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_save_on_device_load_on_cpu(self, device, dtype, tmp_path):
        check_save_load(device, dtype, tmp_path)

    def test_load_to_device(self, device, tmp_path):
        check_load_to_device(device, tmp_path)

    def test_round_trip(self, device):
        check_round_trip(device)

    def test_mixing_devices_raises(self, device):
        check_mixing_raises(device)

    def test_numpy_of_device_tensor_raises(self, device):
        check_numpy_raises(device)

    def test_grad_through_to(self, device):
        check_grad_through_to(device)

    def test_solver(self, device):
        check_solver(device)
