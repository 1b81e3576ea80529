"""Dropout, forward then backward: the reference (see ``kernels/dropout.py`` for the masks)."""

import numpy as np

from ..dropout import keeps, scale, threshold


def dropout_forward(out, x, rate, key):
    """out (n, u) = x * keep / (1 - rate), keep from the step's ``key`` (uint64)."""
    np.multiply(x, _factors(x.shape, rate, key, x.dtype), out=out)


def dropout_backward(d, rate, key):
    """d (n, u), the gradient of the dropout's output, becomes its input's in place:
    multiplied by the same factors as the forward."""
    d *= _factors(d.shape, rate, key, d.dtype)


def _factors(shape, rate, key, dtype):
    positions = np.arange(shape[0] * shape[1], dtype=np.uint64).reshape(shape)
    kept = keeps(np.uint64(key), positions, threshold(rate))
    return np.where(kept, scale(rate, dtype), dtype.type(0))
