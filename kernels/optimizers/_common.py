"""Pieces shared by the reference updates and their error bounds."""

import numpy as np


def flush_subnormals(slot: np.ndarray) -> None:
    """Set the entries of ``slot`` below the dtype's smallest normal magnitude to zero."""
    np.copyto(slot, 0, where=np.abs(slot) < np.finfo(slot.dtype).tiny)


def decay_mask(size: int, n_decay: int, weight_decay: float) -> np.ndarray:
    """float64 (size,): weight_decay on the first n_decay entries (the weights), 0 after."""
    wd = np.zeros(size)
    wd[:n_decay] = weight_decay
    return wd


def f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)
