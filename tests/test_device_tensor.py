"""Devices on tensors (backend.py, Tensor.to/.cpu/.cuda, factories, the one-device rule),
run on the CPU stand-in for CuPy (tests/fake_cupy.py) and, where it matters, without CuPy at all."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend

import fake_cupy


@pytest.fixture
def gpu():
    with fake_cupy.installed() as fake:
        yield fake


@pytest.fixture
def no_cupy(monkeypatch):
    """As on a machine without CuPy: importing it fails."""
    import builtins

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.split(".")[0] in ("cupy", "cupyx"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    before = backend.use_cupy(None, None)
    monkeypatch.setattr(builtins, "__import__", refuse)
    yield
    backend.use_cupy(*before)


@pytest.mark.parametrize("spec, text, rep", [
    ("cpu", "cpu", "device(type='cpu')"),
    ("cuda", "cuda:0", "device(type='cuda', index=0)"),
    ("cuda:1", "cuda:1", "device(type='cuda', index=1)"),
])
def test_device_names_like_torch(spec, text, rep):
    d = cr.device(spec)
    assert str(d) == text and repr(d) == rep
    assert d == text and d == cr.device(text) and hash(d) == hash(cr.device(text))


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cpu:1", "mps"])
def test_bad_device_names_say_what_is_expected(spec):
    with pytest.raises(ValueError, match="cpu"):
        cr.device(spec)


def test_without_cupy_cuda_is_unavailable_and_to_cuda_names_the_install(no_cupy):
    assert cr.cuda.is_available() is False and cr.cuda.device_count() == 0
    assert backend.device("auto") == "cpu"
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[cuda\]'"):
        cr.randn(2).to("cuda")
    with pytest.raises(ImportError, match="cupy-cuda13x"):
        cr.zeros(2, device="cuda")


def test_to_cuda_and_back_keeps_values_dtype_and_gradient(gpu):
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, dtype=cr.float64)
    y = x.to("cuda")
    assert y.device == "cuda:0" and y.is_cuda and isinstance(y.data, gpu.ndarray)
    assert y.dtype == np.float64 and y.grad_fn is not None
    back = (y * y).cpu()
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    back.sum().backward()
    assert isinstance(x.grad, cr.Tensor) and isinstance(x.grad.data, np.ndarray)
    np.testing.assert_array_equal(x.grad, 2 * np.arange(6.0).reshape(2, 3))


def test_to_forms_follow_pytorch(gpu):
    x = cr.randn(2, 2)
    assert x.to("cpu") is x and x.to(cr.float32) is x
    y = x.to("cuda", cr.float64)
    assert y.device == "cuda:0" and y.dtype == np.float64
    z = cr.zeros(1, dtype=cr.float64).to(y)  # another tensor's device and dtype
    assert z.device == "cuda:0" and z.dtype == np.float64
    w = x.to(device="cuda", dtype="float64")
    np.testing.assert_array_equal(w.cpu().numpy(), x.numpy().astype(np.float64))
    assert x.cuda().device == "cuda:0" and x.cuda(0).device == "cuda:0"
    c = x.to(copy=True)
    assert c is not x and c.data is not x.data


def test_factories_take_device_and_draw_the_same_numbers(gpu):
    cr.manual_seed(3)
    a = cr.randn(4, 5, device="cuda")
    cr.manual_seed(3)
    b = cr.randn(4, 5)
    assert a.device == "cuda:0"
    np.testing.assert_array_equal(a.cpu().numpy(), b.numpy())
    for t in (cr.zeros(2, 3, device="cuda"), cr.ones(2, device="cuda"), cr.rand(2, device="cuda"),
              cr.arange(5, device="cuda"), cr.tensor([1.0, 2.0], device="cuda"),
              cr.zeros_like(a), cr.ones_like(a)):
        assert t.device == "cuda:0", t
    assert cr.zeros_like(a, device="cpu").device == "cpu"
    assert cr.arange(5, device="cuda").dtype == np.int64


def test_mixing_devices_in_one_op_names_both(gpu):
    a, b = cr.randn(3), cr.randn(3).to("cuda")
    with pytest.raises(RuntimeError, match=r"cpu and cuda:0"):
        a + b
    with pytest.raises(RuntimeError, match="same device"):
        cr.matmul(cr.randn(2, 3).cuda(), cr.randn(3, 2))


def test_numpy_of_a_cuda_tensor_says_to_copy_first(gpu):
    t = cr.randn(2).cuda()
    with pytest.raises(TypeError, match=r"Use Tensor.cpu\(\)"):
        t.numpy()
    with pytest.raises(TypeError, match="cuda:0"):
        np.asarray(t)
    assert "device='cuda:0'" in repr(t)
    assert t.cpu().numpy().shape == (2,)


def test_item_tolist_argmax_on_the_device(gpu):
    t = cr.tensor([[1.0, 5.0], [7.0, 2.0]], device="cuda")
    assert t.sum().item() == 15.0 and t.tolist() == [[1.0, 5.0], [7.0, 2.0]]
    am = t.argmax(dim=1)
    assert am.device == "cuda:0" and am.dtype == np.int64 and am.tolist() == [1, 0]


def test_backward_grad_on_another_device_is_refused(gpu):
    x = cr.randn(3, requires_grad=True).cuda()
    y = x * 2
    with pytest.raises(RuntimeError, match="output on cuda:0"):
        y.backward(np.ones(3, np.float32))
    y.backward(cr.ones(3, device="cuda"))


def test_leaf_on_device_accumulates_its_gradient_there(gpu):
    w = cr.Tensor(cr.randn(3, 2).to("cuda").data, requires_grad=True)
    x = cr.randn(4, 3, device="cuda")
    for _ in range(2):
        (x @ w).sum().backward()
    assert isinstance(w.grad.data, gpu.ndarray)
    want = 2 * x.cpu().numpy().sum(axis=0)[:, None] * np.ones((1, 2))
    np.testing.assert_allclose(backend.to_host(w.grad.data), want, rtol=1e-5)


def test_to_reads_devices_and_dtypes_like_pytorch(gpu):
    x = cr.randn(2)
    assert x.to(0).device == "cuda:0" and x.to("auto").device == "cuda:0"
    assert x.to("float64").dtype == np.float64 and x.to("f8").dtype == np.float64
    for bad in ("gpu", "CUDA", "cuda:x"):
        with pytest.raises(ValueError, match="expected device 'cpu', 'cuda' or 'cuda:N'"):
            x.to(bad)
    assert (cr.device("cpu") == "foo") is False


def test_factories_honour_the_device_index(gpu):
    # the stand-in has one device: asking for another must reach it, not fall back to cuda:0
    for make in (lambda: cr.zeros(2, device="cuda:1"), lambda: cr.ones(2, device="cuda:1"),
                 lambda: cr.zeros_like(cr.randn(2), device="cuda:1"), lambda: cr.randn(2, device="cuda:1")):
        with pytest.raises(RuntimeError, match="one device, not 1"):
            make()
    assert cr.zeros(2, device=0).device == "cuda:0"


def test_a_cupy_without_a_gpu_says_so(gpu, monkeypatch):
    monkeypatch.setattr(gpu.cuda.runtime, "getDeviceCount", lambda: 0)
    with pytest.raises(RuntimeError, match="no CUDA device is available"):
        cr.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="no CUDA device is available"):
        cr.randn(2).to("cuda")
