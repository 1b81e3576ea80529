"""A user's own table: a CSV file with a header row, numeric features and one target column.

The format is deliberately small: comma-separated, no quoting, one header row naming every
column, every other row holding one value per column (a UTF-8 byte order mark, CRLF line
ends, a gzip-compressed file and blank lines at the end are accepted; the text must be
ASCII). Every error is a :class:`~fastnn.errors.DataFileError` naming the file, the
1-based line and the column of the bad cell.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fastnn.datasets._csv import csv_fields, csv_lines
from fastnn.errors import DataFileError

__all__ = ["load_csv", "Table"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


class Table(NamedTuple):
    """What :func:`load_csv` returns; unpacks as ``X, y, feature_names = table``.

    X: float32 (n, d), the feature columns in file order; y: (n,), float64 if every target
    cell is a number, else the cells as strings (dtype ``<U``); feature_names: the d
    column names of X.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]


def load_csv(path, target: str) -> Table:
    """Read the CSV table at ``path``: column ``target`` (by name) becomes y, every other
    column must hold finite numbers and becomes a column of X.

    DataFileError for an unknown or repeated column name, a row of the wrong length, an
    empty target cell, or a feature cell that is not a finite number.
    """
    path = Path(path)
    lines = csv_lines(path)
    header = [name.strip() for name in lines[0].split(",")]
    _check_header(path, header, target)
    column = header.index(target)
    features = [name for name in header if name != target]
    X = np.empty((len(lines) - 1, len(features)), np.float32)
    labels = []
    for row, line in enumerate(lines[1:]):
        fields = [field.strip() for field in csv_fields(path, row + 2, line, len(header))]
        label = fields.pop(column)
        if not label:
            raise DataFileError(f"{path}: line {row + 2}, column {target!r}: expected a "
                                f"target value, found an empty cell")
        labels.append(label)
        for j, field in enumerate(fields):
            X[row, j] = _number(path, row + 2, features[j], field)
    return Table(X, _targets(labels), features)


def _check_header(path: Path, header: list[str], target: str) -> None:
    for number, name in enumerate(header, start=1):
        if not name:
            raise DataFileError(f"{path}: line 1: expected a name for every column, column "
                                f"{number} has none")
        if header.index(name) != number - 1:
            raise DataFileError(f"{path}: line 1: column name {name!r} appears twice")
    if target not in header:
        raise DataFileError(f"{path}: no column named {target!r}; the columns are "
                            f"{', '.join(header)}")
    if len(header) < 2:
        raise DataFileError(f"{path}: expected feature columns besides the target "
                            f"{target!r}, found none")


def _number(path: Path, number: int, name: str, field: str) -> float:
    """The finite float in a feature cell, else DataFileError naming its line and column."""
    try:
        value = float(field)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
        found = repr(field) if field else "an empty cell"
        raise DataFileError(f"{path}: line {number}, column {name!r}: expected a finite "
                            f"float32 number, found {found}")
    return value


def _targets(labels: list[str]) -> np.ndarray:
    """float64 if every label is a finite number, else the labels as strings."""
    try:
        values = np.array([float(label) for label in labels])
    except ValueError:
        return np.array(labels)
    return values if np.isfinite(values).all() else np.array(labels)
