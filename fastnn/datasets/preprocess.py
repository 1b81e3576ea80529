"""Per-column standardisation, fitted on training data and reused on any other."""

from __future__ import annotations

import numpy as np

from fastnn import _validate as check
from fastnn.errors import NotFittedError, ShapeError

__all__ = ["Standardizer"]


class Standardizer:
    """``(X - mean_) / scale_`` per column.

    ``mean_`` and ``scale_`` are float64 (d,): column mean and standard deviation over
    axis 0, a zero deviation replaced by 1. Float input keeps its dtype; other input
    becomes float64. Inputs are never modified.
    """

    def __init__(self):
        self.mean_ = None
        self.scale_ = None

    def fit(self, X) -> Standardizer:
        """Learn the statistics of X (n, d), n >= 1."""
        X = check.real_array(X, "Standardizer.fit: X")
        if X.ndim != 2 or len(X) == 0:
            raise ShapeError(f"Standardizer.fit: expected X of shape (n, d), n >= 1, got {X.shape}")
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        self.scale_ = np.where(std == 0.0, 1.0, std)
        return self

    def transform(self, X) -> np.ndarray:
        """Standardised copy of X (n, d)."""
        X, dtype = self._check(X, "transform")
        return (X - self.mean_.astype(dtype)) / self.scale_.astype(dtype)

    def fit_transform(self, X) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X) -> np.ndarray:
        """Undo ``transform``: ``X * scale_ + mean_``, same shape and dtype rules."""
        X, dtype = self._check(X, "inverse_transform")
        return X * self.scale_.astype(dtype) + self.mean_.astype(dtype)

    def _check(self, X, method: str):
        if self.mean_ is None:
            raise NotFittedError(f"Standardizer.{method}: call fit first")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.mean_):
            raise ShapeError(
                f"Standardizer.{method}: expected X of shape (n, {len(self.mean_)}), got {X.shape}"
            )
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        return X.astype(dtype, copy=False), dtype
