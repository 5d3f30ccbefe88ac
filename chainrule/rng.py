"""One random generator for every draw chainrule makes.

`manual_seed(s)` reseeds it in place, so code that holds a reference to the
generator (a DataLoader, a Dropout layer) sees the new seed too. Its state is a
plain dict of ints, which checkpoints store as JSON (never pickle).
"""
from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.Generator(np.random.PCG64())


def manual_seed(seed: int) -> np.random.Generator:
    """Seed every random draw chainrule makes (`cr.randn`, init, dropout, shuffling)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _generator.bit_generator.state = np.random.PCG64(int(seed)).state
    return _generator


def get_generator() -> np.random.Generator:
    """The shared generator (a `numpy.random.Generator`)."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The generator's state as a JSON-serialisable dict."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by `get_rng_state`."""
    _generator.bit_generator.state = state
