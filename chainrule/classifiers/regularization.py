"""Weight penalties R(W) for the linear classifiers, and their (sub)gradients.

    "l2":      reg * sum W^2                  dR = 2 reg W
    "l1":      reg * sum |W|                  dR = reg sign(W)   (subgradient 0 at W = 0)
    "elastic": reg * sum(beta W^2 + |W|)      dR = reg (2 beta W + sign(W))

With `bias_row=True` the last row of W is the bias (the "bias trick": X gets a
column of ones) and is not penalised: shrinking the bias does not make the
classifier simpler, it only shifts the scores.
"""
from __future__ import annotations

import numpy as np

REG_TYPES = ("l2", "l1", "elastic")


def check_reg_type(reg_type: str, where: str = "regularization") -> None:
    if reg_type not in REG_TYPES:
        raise ValueError(f"{where}: expected reg_type in {REG_TYPES}, got {reg_type!r}")


def regularization(W: np.ndarray, reg: float, reg_type: str = "l2", beta: float = 0.5,
                   bias_row: bool = False) -> tuple[float, np.ndarray]:
    """Penalty and gradient. W: (D, C) or (D+1, C) with bias_row. Returns (R, dR) with dR like W."""
    check_reg_type(reg_type)
    Wp = W[:-1] if bias_row else W  # the penalised weights
    if reg_type == "l2":
        R, dR = reg * np.sum(Wp * Wp), 2.0 * reg * Wp
    elif reg_type == "l1":
        R, dR = reg * np.sum(np.abs(Wp)), reg * np.sign(Wp)
    else:
        R, dR = reg * np.sum(beta * Wp * Wp + np.abs(Wp)), reg * (2.0 * beta * Wp + np.sign(Wp))
    dW = np.zeros_like(W)
    dW[:Wp.shape[0]] = dR
    return float(R), dW
