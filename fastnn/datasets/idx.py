"""Read IDX files (the MNIST container format), raw or gzip-compressed, defensively.

Layout: two zero bytes, a type code (only 0x08 = unsigned byte is accepted), a dimension
count 1..4, one big-endian uint32 per dimension, then the row-major payload. The declared
payload size is checked against what the file really holds before anything of that size is
allocated: a raw file by its length on disk, a gzip stream by decompressing in bounded
chunks that stop as soon as the stream runs short or overlong. Every failure is a
:class:`~fastnn.errors.DataFileError` naming the file, what was expected, what was found
and the byte offset (into the decompressed stream, for gzip files).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import NoReturn

import numpy as np

from fastnn.errors import DataFileError

__all__ = ["read_idx", "MAX_PAYLOAD_BYTES"]

MAX_PAYLOAD_BYTES = 2**31
_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
_CHUNK = 1 << 20


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read the IDX file at ``path`` (gzip detected by its magic bytes, not its name).

    Returns a writable uint8 array of the declared shape (1 to 4 dimensions).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as raw:
            if raw.read(2) == _GZIP_MAGIC:
                raw.seek(0)
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _read(stream, name, file_size=None)
            raw.seek(0)
            return _read(raw, name, file_size=os.fstat(raw.fileno()).st_size)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFileError(
            f"{name}: expected a complete gzip stream, found a truncated or corrupt one ({exc})"
        ) from exc
    except OSError as exc:
        raise DataFileError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc


def _read(stream, name: str, file_size: int | None) -> np.ndarray:
    """Parse header and payload from an open binary ``stream``; ``file_size`` only if raw."""
    magic = stream.read(4)
    if len(magic) < 4:
        _fail(name, 0, "a 4-byte IDX magic number", f"{len(magic)} byte(s), then end of file")
    if magic[0] or magic[1]:
        _fail(name, 0, "two zero bytes opening the magic number", f"0x{magic[:2].hex()}")
    if magic[2] != _UBYTE:
        _fail(name, 2, "type code 0x08 (unsigned byte)", f"0x{magic[2]:02x}")
    ndim = magic[3]
    if not 1 <= ndim <= 4:
        _fail(name, 3, "a dimension count of 1 to 4", str(ndim))

    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        _fail(name, 4 + len(dims), f"{ndim} big-endian uint32 dimension sizes", "end of file")
    shape = struct.unpack(f">{ndim}I", dims)
    for axis, size in enumerate(shape):
        if size == 0:
            _fail(name, 4 + 4 * axis, f"dimension {axis} > 0", "0")

    start = 4 + 4 * ndim
    payload = math.prod(shape)
    if payload > MAX_PAYLOAD_BYTES:
        _fail(
            name,
            start,
            f"a payload of at most {MAX_PAYLOAD_BYTES} bytes",
            f"shape {shape} declaring {payload} bytes",
        )
    end = start + payload
    if file_size is not None and file_size != end:
        found = f"{file_size - end} trailing byte(s)" if file_size > end else "end of file"
        _fail(
            name,
            min(file_size, end),
            f"a file of {end} bytes ({payload} payload bytes for shape {shape})",
            f"{found}, file length {file_size}",
        )

    data = _read_payload(stream, name, start, payload, shape)
    if stream.read(1):
        _fail(name, end, f"end of data after the payload of shape {shape}", "trailing bytes")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _read_payload(stream, name: str, start: int, payload: int, shape) -> bytearray:
    """Read exactly ``payload`` bytes, growing the buffer only as real data arrives."""
    data = bytearray()
    while len(data) < payload:
        chunk = stream.read(min(_CHUNK, payload - len(data)))
        if not chunk:
            _fail(
                name,
                start + len(data),
                f"{payload} payload bytes for shape {shape}",
                f"only {len(data)}, then end of data",
            )
        data += chunk
    return data


def _fail(name: str, offset: int, expected: str, found: str) -> NoReturn:
    raise DataFileError(f"{name}: at byte offset {offset}: expected {expected}, found {found}")
