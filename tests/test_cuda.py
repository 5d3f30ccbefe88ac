"""tests/device_cases.py on a real GPU with CuPy: every op's forward and backward, 20-step training
trajectories (SGD-momentum, Adam), save on the GPU -> load on the CPU, moving tensors and the
Solver, each compared with the same run on the CPU (float64 to 1e-10, float32 to 1e-4).
Skipped, with the reason, where CuPy or a CUDA device is missing (CI); benchmarks/gpu_check.sh
runs it on the GPU machine."""
from __future__ import annotations

import pytest

import chainrule as cr
from device_cases import DeviceSuite


class TestCuda(DeviceSuite):
    @pytest.fixture
    def device(self):
        pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'chainrule[cuda]')")
        if not cr.cuda.is_available():
            pytest.skip("CuPy imports but sees no CUDA device (cr.cuda.is_available() is False)")
        return "cuda"
