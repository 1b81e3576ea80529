"""Metrics on predictions: accuracy, R² and the confusion matrix (plain numpy).

Inputs are checked like ``fit``'s: same shapes (never broadcast), non-empty, finite,
and labels integer-valued (ShapeError, NonFiniteError, ValueRangeError naming the argument).
"""

from __future__ import annotations

import numpy as np

from . import _validate as check
from .errors import ShapeError


def accuracy(y_true, y_pred) -> float:
    """Fraction of equal entries of two label arrays of one shape, (n,) or (n, k)."""
    y_true, y_pred = _pair(y_true, y_pred, labels=True)
    return float(np.mean(y_true == y_pred))


def r2_score(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SSE / SST``, summed over all outputs; NaN when
    y_true is constant (SST = 0), as ``evaluate`` reports it.

    y_true, y_pred (n,) or (n, k) of one shape ((n,) and (n, 1) count as one); with
    several outputs the sums run over all of them (scikit-learn's
    ``multioutput="variance_weighted"``).
    """
    y_true, y_pred = _pair(y_true, y_pred, labels=False)
    y_true, y_pred = y_true.astype(np.float64), y_pred.astype(np.float64)
    sse = np.sum((y_true - y_pred) ** 2)
    sst = np.sum((y_true - y_true.mean(axis=0)) ** 2)
    return float(1 - sse / sst) if sst > 0 else float("nan")


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """int64 (C, C) counts, rows true class, columns predicted class; y_true, y_pred (n,)
    labels in 0..C-1, with C = n_classes, or the largest label + 1 if it is None."""
    y_true, y_pred = _pair(y_true, y_pred, labels=True)
    if y_true.ndim != 1:
        raise ShapeError(f"y_true and y_pred must be 1-D label arrays, got shape {y_true.shape}")
    if n_classes is None:
        c, valid = int(max(y_true.max(), y_pred.max())) + 1, "be >= 0"
    else:
        c = check.positive_int(n_classes, "n_classes")
        valid = f"lie in 0..{c - 1} (n_classes={c})"
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        check.refuse((labels < 0) | (labels >= c), labels, name, f"labels must {valid}")
    return np.bincount(y_true * c + y_pred, minlength=c * c).reshape(c, c)


def _pair(y_true, y_pred, labels: bool):
    """Both arrays checked: real, finite, non-empty, one shape ((n, 1) taken as (n,));
    with ``labels``, integer-valued and returned as int64."""
    arrays = []
    for name, a in (("y_true", y_true), ("y_pred", y_pred)):
        arr = check.real_array(a, name)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim not in (1, 2) or arr.shape[0] == 0:
            raise ShapeError(f"{name} must be a non-empty (n,) or (n, k) array, got shape "
                             f"{arr.shape}")
        if labels:
            arr = check.integer_valued(arr, name)
        arrays.append(arr)
    if arrays[0].shape != arrays[1].shape:
        raise ShapeError(f"y_true and y_pred must have one shape, got {arrays[0].shape} and "
                         f"{arrays[1].shape}")
    return arrays
