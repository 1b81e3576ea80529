"""Pieces shared by the reference updates and their error bounds."""

import numpy as np


def write_flushed(slot: np.ndarray, new: np.ndarray) -> None:
    """``slot[...] = new`` with the entries of magnitude below the dtype's smallest normal
    number written as +0 (``new`` is finite: the step checked it).

    A float is zero or subnormal exactly when its exponent field is zero, so each entry's
    bits are multiplied by the sign (0 or 1) of its exponent field: three same-type
    integer passes in place in ``slot``, without a temporary. Comparing magnitudes and
    multiplying by the boolean result costs about 1.5 times as much (the mixed-type
    multiply converts the mask on the fly).
    """
    int_type = _INT[new.dtype]
    bits, out = new.view(int_type), slot.view(int_type)
    np.bitwise_and(bits, _EXPONENT[new.dtype], out=out)  # the exponent fields
    np.sign(out, out=out)
    np.multiply(bits, out, out=out)


_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}
_EXPONENT = {dtype: int_type(((1 << np.finfo(dtype).nexp) - 1) << np.finfo(dtype).nmant)
             for dtype, int_type in _INT.items()}


def decay_mask(size: int, n_decay: int, weight_decay: float) -> np.ndarray:
    """float64 (size,): weight_decay on the first n_decay entries (the weights), 0 after."""
    wd = np.zeros(size)
    wd[:n_decay] = weight_decay
    return wd


def f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)
