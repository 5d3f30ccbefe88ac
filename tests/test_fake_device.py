"""tests/device_cases.py on the CPU stand-in for CuPy (tests/fake_cupy.py): the device code paths
of every op, layer, optimizer, save/load and the Solver, checked in CI without a GPU."""
from __future__ import annotations

import pytest

import fake_cupy
from device_cases import DeviceSuite


class TestFakeDevice(DeviceSuite):
    @pytest.fixture
    def device(self):
        with fake_cupy.installed():
            yield "cuda"
