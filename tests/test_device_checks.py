"""The device checks at the top of PyTorch scripts (cr.accelerator, cr.backends, cr.device) and
map_location, answered truly on a CPU machine and with a GPU (tests/fake_cupy.py stands in)."""
from __future__ import annotations

import io

import numpy as np
import pytest

import chainrule as cr

import fake_cupy
from test_device_plumbing import no_cupy  # noqa: F401  (the fixture: a machine without CuPy)


def test_without_a_gpu(no_cupy):
    assert cr.accelerator.is_available() is False and cr.cuda.is_available() is False
    assert cr.accelerator.current_accelerator() is None
    assert cr.accelerator.current_device_index() == -1 and cr.accelerator.device_count() == 0
    device = cr.accelerator.current_accelerator().type if cr.accelerator.is_available() else "cpu"
    assert cr.device(device) == cr.device("cpu")
    assert cr.backends.cuda.is_built() in (True, False)


def test_with_a_gpu():
    with fake_cupy.installed():
        assert cr.accelerator.is_available() is True
        assert cr.accelerator.current_accelerator() == cr.device("cuda")
        assert cr.accelerator.current_accelerator().type == "cuda"
        assert cr.accelerator.current_device_index() == 0
        buf = io.BytesIO()
        cr.save({"w": cr.randn(2, 3), "p": cr.nn.Parameter(np.ones(2, np.float32))}, buf)
        for where in ("cuda", cr.device("cuda:0"), {"cpu": "cuda"}):
            buf.seek(0)
            out = cr.load(buf, map_location=where)
            assert out["w"].is_cuda and out["p"].is_cuda and isinstance(out["p"], cr.nn.Parameter)
        buf.seek(0)
        assert not cr.load(buf, map_location="cpu")["w"].is_cuda


def test_mps_and_cudnn_answers():
    assert cr.backends.mps.is_available() is False and cr.backends.mps.is_built() is False
    cudnn = cr.backends.cudnn
    assert cudnn.is_available() is False and cudnn.version() is None
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == (True, False, False)  # PyTorch's defaults
    import chainrule.backends.cudnn as imported
    assert imported is cudnn


def test_device_forms_follow_torch():
    torch = pytest.importorskip("torch")
    for args in [("cpu",), ("cuda:1",), ("cuda", 2)]:  # ("cuda",) names index 0 here, None in torch
        assert repr(cr.device(*args)) == repr(torch.device(*args))
        assert str(cr.device(*args)) == str(torch.device(*args))
    assert cr.device(cr.device("cuda:1")) == cr.device("cuda:1")
    assert str(torch.device(torch.device("cuda:1"))) == str(cr.device(cr.device("cuda:1")))
    with pytest.raises(ValueError):
        cr.device("tpu")
