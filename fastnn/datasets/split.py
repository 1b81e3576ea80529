"""Seeded train/test split, optionally stratified by class."""

from __future__ import annotations

import math

import numpy as np

from fastnn import _validate as check
from fastnn.errors import ShapeError, ValueRangeError

__all__ = ["train_test_split"]


def train_test_split(X, y, *, test_size: float = 0.2, seed: int = 0, stratify: bool = False):
    """Split rows of ``X`` (n, ...) and ``y`` (n, ...) into ``(X_train, X_test, y_train, y_test)``.

    Plain: ``ceil(test_size * n)`` rows, drawn by ``np.random.default_rng(seed)``, go to
    test. ``stratify=True`` (y must be 1-D labels): each class contributes
    ``round(test_size * count)`` rows, at least one and at most ``count - 1`` when it has
    two or more. Rows keep their dtype; each part is in shuffled order.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise ShapeError(
            f"train_test_split: expected X and y with the same number of rows, "
            f"got shapes {X.shape} and {y.shape}"
        )
    if not 0.0 < test_size < 1.0:
        raise ValueRangeError(f"train_test_split: expected 0 < test_size < 1, got {test_size}")
    rng = np.random.default_rng(check.seed(seed, "train_test_split: seed"))
    if stratify:
        train, test = _stratified(y, test_size, rng)
    else:
        n_test = math.ceil(test_size * len(y))
        if n_test >= len(y):
            raise ValueRangeError(
                f"train_test_split: test_size={test_size} of {len(y)} rows leaves no training row"
            )
        order = rng.permutation(len(y))
        train, test = order[n_test:], order[:n_test]
    return X[train], X[test], y[train], y[test]


def _stratified(y: np.ndarray, test_size: float, rng: np.random.Generator):
    """Shuffled (train, test) row indices with each class split in proportion."""
    if y.ndim != 1:
        raise ShapeError(f"train_test_split: stratify needs 1-D labels y, got shape {y.shape}")
    train, test = [], []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        n_test = min(max(round(test_size * len(rows)), 1), len(rows) - 1)
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
