"""Read small numeric CSV tables (plain or gzip) with line-numbered validation errors."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from fastnn.errors import DataFileError

__all__ = ["read_numeric_csv", "csv_lines", "csv_fields"]


def read_numeric_csv(path: Path, columns: tuple[str, ...]) -> np.ndarray:
    """Parse the CSV at ``path`` (gzip detected by magic) into float64 (rows, len(columns)).

    The first line must name ``columns`` in order; every other line must hold that many
    finite numbers (blank lines at the end are ignored). Errors are DataFileError naming
    the file and the 1-based line number.
    """
    lines = csv_lines(path)
    header = tuple(name.strip() for name in lines[0].split(","))
    if header != columns:
        raise DataFileError(
            f"{path}: line 1: expected header {','.join(columns)}, found {lines[0]!r}"
        )
    data = np.empty((len(lines) - 1, len(columns)))
    for number, line in enumerate(lines[1:], start=2):
        fields = csv_fields(path, number, line, len(columns))
        try:
            data[number - 2] = [float(field) for field in fields]
        except ValueError:
            raise DataFileError(
                f"{path}: line {number}: expected numbers, found {line!r}"
            ) from None
    bad = np.flatnonzero(~np.isfinite(data).all(axis=1))
    if bad.size:
        raise DataFileError(
            f"{path}: line {bad[0] + 2}: expected finite numbers, found {lines[bad[0] + 1]!r}"
        )
    return data


def csv_lines(path: Path) -> list[str]:
    """The header line and the data lines of the CSV at ``path`` (gzip detected by magic),
    blank lines at the end dropped; DataFileError if there is no header or no data."""
    lines = _read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataFileError(f"{path}: expected a header line, found an empty file")
    if len(lines) < 2:
        raise DataFileError(f"{path}: expected data rows after the header, found none")
    return lines


def csv_fields(path: Path, number: int, line: str, width: int) -> list[str]:
    """The ``width`` comma-separated fields of line ``number`` (1-based), unstripped;
    no quoting. DataFileError naming the line if it has another count."""
    fields = line.split(",")
    if len(fields) != width:
        raise DataFileError(
            f"{path}: line {number}: expected {width} fields, found {len(fields)}"
        )
    return fields


def _read_text(path: Path) -> str:
    """The file's ASCII text, gunzipped if it starts with the gzip magic, without the
    UTF-8 byte order mark some spreadsheets write first."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.removeprefix(b"\xef\xbb\xbf").decode("ascii")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFileError(
            f"{path}: expected a complete gzip stream, found a corrupt one ({exc})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{path}: at byte offset {exc.start}: expected ASCII text, found a non-ASCII byte"
        ) from exc
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc

