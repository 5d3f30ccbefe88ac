"""`Generator`: a seeded source of randomness handed to samplers, `random_split` and `DataLoader`
(PyTorch's `torch.Generator`), over NumPy's PCG64. Its state is a JSON-able dict (never pickle)."""
from __future__ import annotations

import copy
import secrets
from typing import Any

import numpy as np

from ...rng import get_generator

DEFAULT_SEED = 67280421310721  # torch.Generator's default seed: an unseeded Generator is still reproducible


class Generator:
    """`g = Generator().manual_seed(0)`; pass it as `generator=g`. `device` is accepted for PyTorch
    code and must be "cpu" (draws are made on the host, whatever the model's device)."""

    def __init__(self, device: str = "cpu"):
        if str(device) != "cpu":
            raise ValueError(f"Generator: only device='cpu' is supported (data is drawn on the host), got {device!r}")
        self.device = "cpu"
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed: int) -> "Generator":
        """Reseed in place; returns self (so `Generator().manual_seed(0)` works as in PyTorch)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"Generator.manual_seed expects an int, got {type(seed).__name__}")
        self._seed = int(seed) % 2 ** 64  # PyTorch also takes negative seeds, modulo 2**64
        self.numpy = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        s = secrets.randbits(63)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        """A JSON-able dict: the seed and the PCG64 state."""
        return {"seed": self._seed, "bit_generator": copy.deepcopy(self.numpy.bit_generator.state)}

    def set_state(self, state: dict[str, Any]) -> "Generator":
        if not isinstance(state, dict) or "bit_generator" not in state:
            raise ValueError("Generator.set_state expects a dict returned by Generator.get_state()")
        self._seed = int(state.get("seed", self._seed))
        self.numpy.bit_generator.state = copy.deepcopy(state["bit_generator"])
        return self

    def __repr__(self) -> str:
        return f"Generator(initial_seed={self._seed})"


def numpy_generator(generator: "Generator | np.random.Generator | None") -> np.random.Generator:
    """The NumPy generator behind `generator`; None means chainrule's global one (`cr.manual_seed`)."""
    if generator is None:
        return get_generator()
    if isinstance(generator, Generator):
        return generator.numpy
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a chainrule Generator (or None), got {type(generator).__name__}")


def draw_seed(generator: "Generator | np.random.Generator | None") -> int:
    """One 63-bit seed drawn from `generator` (the global generator when None), as PyTorch draws
    an int64 from its generator to seed each epoch's permutation."""
    return int(numpy_generator(generator).integers(2 ** 63))
