"""The one-kernel optimiser updates of optim/fused.py (GPU only) against the plain updates.

The kernels' source is compiled as C++ (tests/cupy_as_c.py) and run through the optimiser classes
on the CPU stand-in for CuPy, so SGD and Adam take exactly the path they take on a GPU; their
trajectories must equal the plain NumPy updates' (float64) for every option."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend

import cupy_as_c
import fake_cupy


@pytest.fixture
def kernels(monkeypatch):
    """The fake device, with CuPy's ElementwiseKernel emulated by the C++ build; yields the names run."""
    cp = cupy_as_c.module()
    if cp is None:
        pytest.skip("no C++ compiler")
    ran: list[str] = []

    class Kernel:
        def __init__(self, in_params, out_params, body, name):
            self.kernel, self.name = cp.ElementwiseKernel(in_params, out_params, body, name), name

        def __call__(self, *args):
            ran.append(self.name)
            return self.kernel(*(a._a if isinstance(a, fake_cupy.ndarray) else a for a in args))

    with fake_cupy.installed():
        monkeypatch.setattr(fake_cupy.fake, "ElementwiseKernel", Kernel, raising=False)
        monkeypatch.setattr(backend, "_kernels", {})
        yield ran


def _trajectory(make_opt, device: str, steps: int = 4) -> list[np.ndarray]:
    """Parameters after `steps` updates with fixed float64 gradients, on `device`."""
    rng = np.random.default_rng(0)
    params = [cr.Tensor(rng.standard_normal(s), requires_grad=True, device=device) for s in [(3, 4), (5,)]]
    opt = make_opt(params)
    for _ in range(steps):
        for p in params:
            p.grad = backend.to_device(rng.standard_normal(p.shape), device)
        opt.step()
    return [backend.to_host(p.data) for p in params] + [
        backend.to_host(v) for st in opt.state.values() for k, v in sorted(st.items()) if k != "step"]


SGD = [dict(momentum=0.9), dict(momentum=0.9, nesterov=True), dict(momentum=0.5, dampening=0.3),
       dict(momentum=0.9, weight_decay=1e-2), dict(momentum=0.8, maximize=True)]
ADAM = [dict(), dict(amsgrad=True), dict(weight_decay=1e-2), dict(betas=(0.3, 0.99)),
        dict(bias_correction=False), dict(maximize=True, amsgrad=True, weight_decay=0.1)]


@pytest.mark.parametrize("kw", SGD, ids=lambda kw: ",".join(kw))
def test_sgd_momentum_kernel_equals_the_plain_update(kernels, kw):
    make = lambda ps: cr.optim.SGD(ps, lr=0.1, **kw)  # noqa: E731
    got, want = _trajectory(make, "cuda"), _trajectory(make, "cpu")
    assert kernels.count("chainrule_sgd_momentum") == 4 * 2  # every step of both parameters
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("cls", [cr.optim.Adam, cr.optim.AdamW])
@pytest.mark.parametrize("kw", ADAM, ids=lambda kw: ",".join(kw) or "default")
def test_adam_kernel_equals_the_plain_update(kernels, cls, kw):
    make = lambda ps: cls(ps, lr=0.05, **kw)  # noqa: E731
    got, want = _trajectory(make, "cuda"), _trajectory(make, "cpu")
    name = "chainrule_adam_amsgrad" if kw.get("amsgrad") else "chainrule_adam"
    assert kernels.count(name) == 4 * 2
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_without_kernels_the_plain_update_runs_on_the_device():
    with fake_cupy.installed():  # the stand-in has no ElementwiseKernel: backend.fused gives None
        make = lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
        for a, b in zip(_trajectory(make, "cuda"), _trajectory(make, "cpu"), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_kernel_that_fails_warns_once_and_the_plain_update_takes_over(monkeypatch):
    built = []

    class Broken:
        def __init__(self, *args):
            built.append(args[-1])

        def __call__(self, *args):
            raise RuntimeError("nvrtc: compile error")

    with fake_cupy.installed():
        monkeypatch.setattr(fake_cupy.fake, "ElementwiseKernel", Broken, raising=False)
        monkeypatch.setattr(backend, "_kernels", {})
        make = lambda ps: cr.optim.Adam(ps, lr=0.05)  # noqa: E731
        with pytest.warns(RuntimeWarning, match="fused kernel adam failed"):
            got = _trajectory(make, "cuda")
        for a, b in zip(got, _trajectory(make, "cpu"), strict=True):
            np.testing.assert_array_equal(a, b)
    assert built == ["chainrule_adam"]
