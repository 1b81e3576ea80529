"""Validation at the API boundary: every user array and setting is checked here, once.

Each check converts what it accepts into exactly what the kernels expect (C-contiguous,
the model's float dtype, int64 labels), so the kernels never see a bad value.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from .errors import ConfigError, DTypeError, NonFiniteError, ShapeError, ValueRangeError
from .kernels.losses import resolve as resolve_loss


def _as_real_array(a, name, hint=""):
    """``a`` as an array of bool, int, uint or float; DTypeError (ending in ``hint`` for
    strings) otherwise."""
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"{name} must be a rectangular numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"{name} must hold real numbers (int, uint or float), got dtype "
                         f"{arr.dtype}" + (" (complex)" if arr.dtype.kind == "c" else "")
                         + (hint if arr.dtype.kind in "USO" else ""))
    return arr


_STRING_HINTS = {
    "labels": "; to train on class names, encode them as 0..k-1 first: classes, y = "
              "np.unique(y, return_inverse=True) (classes[k] names label k)",
    "numbers": "; numbers stored as text convert with np.asarray(y, dtype=float)",
}


def _first(mask):
    """The index of the first True entry of ``mask``: an int (1-D) or a tuple."""
    first = np.unravel_index(np.argmax(mask), mask.shape)
    return int(first[0]) if len(first) == 1 else tuple(int(i) for i in first)


def _require_finite(arr, name):
    # A finite sum proves every entry finite (NaN and inf propagate through addition) in
    # one pass without a boolean temporary; only a non-finite sum (a bad entry, or an
    # overflow of the sum itself) needs the entrywise check.
    if arr.dtype.kind != "f":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(arr)
    if not np.isfinite(total):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise NonFiniteError(f"{name} holds {int(bad.sum())} NaN or infinite value(s); "
                                 f"the first at index {_first(bad)}")


def converted(arr, dtype, name):
    """``arr`` (finite) as C-contiguous ``dtype``; ValueRangeError for values that
    overflow it (indexed in arr's own shape)."""
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    if out.dtype.kind == "f" and out.dtype.itemsize < arr.dtype.itemsize:
        bad = ~np.isfinite(out)
        if bad.any():
            first = _first(bad)
            raise ValueRangeError(
                f"{name} holds {int(bad.sum())} value(s) beyond the {out.dtype.name} range "
                f"(±{np.finfo(out.dtype).max:.3g}), the first {arr[first].item()!r} at index "
                f"{first}; rescale the data or use dtype='float64'")
    return out


def features(X, n_features: int, dtype, name: str = "X", keep_integers: bool = False
             ) -> np.ndarray:
    """X as a C-contiguous (n, n_features) array of ``dtype``, n >= 1, all finite.

    With ``keep_integers``, integer and bool X stay as they are (native byte order): the
    kernels convert them batch by batch (e.g. uint8 images, a quarter of float32).
    """
    arr = _as_real_array(X, name)
    if arr.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (samples, features), got {arr.ndim}-D shape "
                         f"{arr.shape}")
    if arr.shape[0] == 0:
        raise ShapeError(f"{name} is empty: shape {arr.shape}")
    if arr.shape[1] != n_features:
        raise ShapeError(f"{name} has {arr.shape[1]} features per sample but the model's first "
                         f"layer takes {n_features}")
    _require_finite(arr, name)
    if keep_integers and arr.dtype.kind in "biu":
        return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return converted(arr, dtype, name)


def targets(y, n_rows: int, loss: str, n_outputs: int, dtype, name: str = "y") -> np.ndarray:
    """y as the kernels want it for the loss unit ``loss``: int64 labels (n,), or float
    (n, n_outputs) of ``dtype`` (values; for a loss of labels with at least two outputs,
    target probabilities), within the unit's range."""
    unit, param = resolve_loss(loss)
    labels = unit.TARGETS == "labels"
    arr = _as_real_array(y, name, _STRING_HINTS["labels" if labels else "numbers"])
    if arr.shape[:1] != (n_rows,):
        raise ShapeError(f"{name} must have one row per sample of X ({n_rows}), got shape "
                         f"{arr.shape}")
    _require_finite(arr, name)
    if labels and not (arr.ndim == 2 and arr.shape[1] == n_outputs and n_outputs > 1):
        return _labels(arr, n_outputs, name)
    shape = (n_rows, 1) if arr.ndim == 1 and n_outputs == 1 else arr.shape  # (n,) as (n, 1)
    if shape != (n_rows, n_outputs):
        raise ShapeError(f"{name} must have shape ({n_rows}, {n_outputs}) for a network with "
                         f"{n_outputs} output(s), got {arr.shape}")
    problem = unit.check_targets(arr, param)
    if problem is not None:
        raise ValueRangeError(f"{name}: {problem}")
    return converted(arr, dtype, name).reshape(n_rows, n_outputs)


def _labels(arr, n_classes, name):
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ShapeError(f"{name} must be a 1-D array of integer class labels, got shape "
                         f"{arr.shape}")
    refuse(arr.dtype.kind == "f" and arr != np.round(arr), arr, name,
            "must hold integer class labels")
    out_of_range = (arr < 0) | (arr >= n_classes)
    refuse(out_of_range, arr, name, f"labels must lie in 0..{n_classes - 1} (the network "
                                     f"has {n_classes} outputs)")
    return np.ascontiguousarray(arr, dtype=np.int64)


def real_array(a, name: str) -> np.ndarray:
    """``a`` as an array of real numbers (bool, int, uint, float), all finite."""
    arr = _as_real_array(a, name)
    _require_finite(arr, name)
    return arr


def integer_valued(arr: np.ndarray, name: str) -> np.ndarray:
    """A finite real array as C-contiguous int64; ValueRangeError for a fractional value
    or one beyond int64."""
    refuse(arr.dtype.kind == "f" and arr != np.round(arr), arr, name,
            "must hold integer class labels")
    limits = np.iinfo(np.int64)
    refuse(arr.dtype.kind in "uf" and ((arr > limits.max) | (arr < limits.min)), arr, name,
            "labels must fit in int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def refuse(bad, arr, name, must):
    """ValueRangeError "{name} {must}, got {value} at index {i}" for the first True of bad
    (an array, or False for nothing to refuse)."""
    if np.any(bad):
        i = _first(bad)
        raise ValueRangeError(f"{name} {must}, got {arr[i].item()!r} at index {i}")


def seed(value, name: str = "seed") -> int:
    """A seed: an int >= 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueRangeError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def positive_int(value, name: str) -> int:
    """An int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueRangeError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def real(value, name: str, *, low: float, high: float = math.inf,
         low_open: bool = False, high_open: bool = False) -> float:
    """A finite float within [low, high] (ends open where asked)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueRangeError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if value < low or value > high or (low_open and value == low) or (
            high_open and value == high):
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueRangeError(f"{name} must lie in {lo}{low}, {high}{hi}, got {value!r}")
    return value


def choice(value, name: str, valid) -> str:
    """One of the names in ``valid``."""
    if value not in valid:
        raise ConfigError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    return value


def float_dtype(dtype) -> np.dtype:
    """float32 or float64."""
    try:
        dt = None if dtype is None else np.dtype(dtype)  # np.dtype(None) is float64
    except TypeError:
        dt = None  # tested with `is None`: np.dtype("float64") == None is True
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DTypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt
