"""Pieces shared by the reference updates and their error bounds."""

import numpy as np


def write_flushed(slot: np.ndarray, new: np.ndarray) -> None:
    """``slot[...] = new`` with the entries of magnitude below the dtype's smallest normal
    number written as zero (``new`` is finite: the step checked it)."""
    np.multiply(new, np.abs(new) >= np.finfo(slot.dtype).tiny, out=slot)


def decay_mask(size: int, n_decay: int, weight_decay: float) -> np.ndarray:
    """float64 (size,): weight_decay on the first n_decay entries (the weights), 0 after."""
    wd = np.zeros(size)
    wd[:n_decay] = weight_decay
    return wd


def f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)
