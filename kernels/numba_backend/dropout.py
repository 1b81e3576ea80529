"""Dropout, forward then backward (numba): one pass each, the reference's masks
(``kernels/dropout.py``) drawn per entry in either layout."""

import numpy as np
from numba import njit

from ..dropout import keeps, key_of, mix, scale, threshold
from .config import JIT
from .units import bound_copy, inline_copy

_mix = inline_copy(bound_copy(mix, {}, "dropout_mix"))
_keeps = inline_copy(bound_copy(keeps, {"mix": _mix}, "dropout_keeps"))
compiled_key_of = inline_copy(bound_copy(key_of, {"mix": _mix}, "dropout_key_of"))


def dropout_forward(out, x, rate, key):
    """``Backend.dropout_forward``: out (n, u) = x * keep / (1 - rate)."""
    mask_rows(out, np.ascontiguousarray(x), np.uint64(key), threshold(rate),
              scale(rate, x.dtype), False)


def dropout_backward(d, rate, key):
    """``Backend.dropout_backward``: d (n, u) *= keep / (1 - rate), in place."""
    mask_rows(d, d, np.uint64(key), threshold(rate), scale(rate, d.dtype), False)


@njit(**JIT)
def mask_rows(out, x, key, cut, factor, transposed):
    """out = x * keep * factor, entry (r, c) of the batch at position r * units + c: x and
    out (n, units), or (units, n) if ``transposed``; out may be x."""
    zero = x.dtype.type(0)
    rows, cols = x.shape
    for a in range(rows):
        x_row, out_row = x[a], out[a]
        for b in range(cols):
            at = np.uint64(b * rows + a) if transposed else np.uint64(a * cols + b)
            out_row[b] = x_row[b] * factor if _keeps(key, at, cut) else zero
