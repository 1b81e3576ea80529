"""Small data sets for examples and tests: Fisher's iris, logic gates, two moons."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from fastnn import _validate as check
from fastnn.datasets import _sources
from fastnn.datasets._csv import read_numeric_csv
from fastnn.errors import ConfigError, DataFileError, ValueRangeError

__all__ = ["load_iris", "IRIS_FEATURES", "IRIS_CLASSES", "logic_gate", "make_moons"]

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
IRIS_CLASSES = ("setosa", "versicolor", "virginica")

_PAIRS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
_GATES = {
    "and": (_PAIRS, [0, 0, 0, 1]),
    "or": (_PAIRS, [0, 1, 1, 1]),
    "xor": (_PAIRS, [0, 1, 1, 0]),
    "not": (np.array([[0.0], [1.0]]), [1, 0]),
}


def load_iris():
    """Fisher's iris from the bundled ``iris.csv`` as ``(X, y)``, rows in file order.

    X float64 (150, 4) in IRIS_FEATURES order, centimetres; y int64 (150,) indexing
    IRIS_CLASSES, 50 rows per class.
    """
    path = _sources.bundled("iris.csv")
    if path is None:
        raise DataFileError("fastnn._data/iris.csv: expected the bundled iris table, found none")
    _sources.verify(path, "iris.csv")
    data = read_numeric_csv(path, IRIS_FEATURES + ("species",))
    return data[:, :-1].copy(), data[:, -1].astype(np.int64)


def logic_gate(name: str):
    """Truth table of ``and``, ``or``, ``xor`` or ``not`` (any case) as ``(X, y)``.

    Two-input gates: X float64 (4, 2) rows (0,0), (0,1), (1,0), (1,1); ``not``: X (2, 1)
    rows 0, 1. y int64 of the gate's outputs.
    """
    key = str(name).lower()
    if key not in _GATES:
        raise ConfigError(f"logic_gate: unknown gate {name!r}; expected one of {', '.join(_GATES)}")
    X, y = _GATES[key]
    return X.copy(), np.array(y, dtype=np.int64)


def make_moons(n_samples: int = 200, *, noise: float = 0.2, seed: int = 0):
    """Two interleaving half circles, shuffled: X float64 (n_samples, 2), y int64 (n_samples,).

    Class 0 (outer, gets the odd sample): (cos t, sin t); class 1 (inner):
    (1 - cos t, 0.5 - sin t); t evenly spaced over [0, pi]. Gaussian noise of std ``noise``
    is added, then rows are shuffled, both from ``np.random.default_rng(seed)``.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 2:
        raise ValueRangeError(f"make_moons: expected an integer n_samples >= 2, got {n_samples!r}")
    noise = check.real(noise, "make_moons: noise", low=0.0)
    seed = check.seed(seed, "make_moons: seed")
    n_inner = n_samples // 2
    t_outer = np.linspace(0.0, np.pi, n_samples - n_inner)
    t_inner = np.linspace(0.0, np.pi, n_inner)
    X = np.concatenate(
        [
            np.column_stack([np.cos(t_outer), np.sin(t_outer)]),
            np.column_stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)]),
        ]
    )
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n_samples - n_inner, n_inner])
    rng = np.random.default_rng(seed)
    X += rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]
