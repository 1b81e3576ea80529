"""California Housing (Pace & Barry 1997, StatLib): 20,640 block groups, 8 features.

Search order, first hit wins: the ``path`` argument (a file, or a directory holding
``cal_housing.csv.gz`` or ``cal_housing.csv``), ``$FASTNN_DATA/california_housing``, the
bundled copy. A file named ``cal_housing.csv.gz`` is checked against the bundled SHA256SUMS.
"""

from __future__ import annotations

from pathlib import Path

from fastnn.datasets import _sources
from fastnn.datasets._csv import read_numeric_csv
from fastnn.errors import DataFileError

__all__ = ["load_california_housing", "HOUSING_FEATURES"]

HOUSING_FEATURES = (
    "longitude",
    "latitude",
    "housing_median_age",
    "total_rooms",
    "total_bedrooms",
    "population",
    "households",
    "median_income",
)
_TARGET = "median_house_value"
_NAMES = ("cal_housing.csv.gz", "cal_housing.csv")
_EITHER = " or ".join(_NAMES)
_TARGET_UNIT = 1e5


def load_california_housing(path=None):
    """Load ``(X, y)``: X float64 (20640, 8) in HOUSING_FEATURES order; y float64 (20640,).

    y is median_house_value in units of 100,000 US dollars (the file's dollars / 1e5), so
    it lies in 0.14999 .. 5.00001 (censored at the top). ``median_income`` is in units of
    10,000 US dollars, as published.
    """
    source = _locate(path)
    if source.name == _NAMES[0]:
        _sources.verify(source, f"california_housing/{source.name}")
    data = read_numeric_csv(source, HOUSING_FEATURES + (_TARGET,))
    return data[:, :-1].copy(), data[:, -1] / _TARGET_UNIT


def _locate(path) -> Path:
    """The CSV file to read: from ``path``, else FASTNN_DATA, else the bundled copy."""
    if path is not None:
        path = Path(path)
        found = path if path.is_file() else _find(path)
        if found is None:
            raise DataFileError(f"{path}: expected a file, or a directory holding {_EITHER}")
        return found
    env = _sources.env_root()
    places = [env / "california_housing" if env else None, _bundled_dir()]
    for directory in filter(None, places):
        found = _find(directory)
        if found is not None:
            return found
    raise DataFileError(
        f"California Housing not found: looked for {_EITHER} in "
        f"$FASTNN_DATA/california_housing ({places[0] or 'FASTNN_DATA not set'}) and in "
        f"the bundled copy ({places[1] or 'not installed'}). To fix: pass "
        "load_california_housing(path=FILE_OR_DIR) or set FASTNN_DATA=DIR with "
        "DIR/california_housing/cal_housing.csv.gz."
    )


def _bundled_dir() -> Path | None:
    """The bundled ``fastnn._data/california_housing`` directory, or None if not installed."""
    return _sources.bundled("california_housing")


def _find(directory: Path) -> Path | None:
    return next((directory / n for n in _NAMES if (directory / n).is_file()), None)
