"""Metrics on predictions: accuracy, R² and the confusion matrix (plain numpy)."""

from __future__ import annotations

import numpy as np


def accuracy(y_true, y_pred) -> float:
    """Fraction of equal entries of two same-shaped label arrays."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred))


def r2_score(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SSE / SST``, summed over all outputs.

    y_true, y_pred (n,) or (n, k); with several outputs the sums run over all of them
    (scikit-learn's ``multioutput="variance_weighted"``).
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(y_true.shape)
    sse = np.sum((y_true - y_pred) ** 2)
    sst = np.sum((y_true - y_true.mean(axis=0)) ** 2)
    return float(1 - sse / sst)


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """int64 (C, C) counts, rows true class, columns predicted class."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    c = n_classes or int(max(y_true.max(), y_pred.max())) + 1
    return np.bincount(y_true * c + y_pred, minlength=c * c).reshape(c, c)
