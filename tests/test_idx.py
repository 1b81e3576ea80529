"""read_idx: round trips, and every malformed file is a DataFileError naming the file."""

import gzip
import struct
import time

import numpy as np
import pytest

from fastnn.datasets import read_idx
from fastnn.errors import DataFileError


def idx_bytes(shape, payload=None, type_code=0x08, ndim=None):
    """An IDX file image: header for ``shape``, then ``payload`` (default: counting bytes)."""
    ndim = len(shape) if ndim is None else ndim
    header = bytes([0, 0, type_code, ndim]) + struct.pack(f">{len(shape)}I", *shape)
    if payload is None:
        payload = (np.arange(int(np.prod(shape))) % 251).astype(np.uint8).tobytes()
    return header + payload


def write(tmp_path, data, name="data.idx", gz=False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def assert_fails(path, *fragments):
    with pytest.raises(DataFileError) as info:
        read_idx(path)
    message = str(info.value)
    for fragment in (str(path),) + fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2)])
def test_round_trip(tmp_path, shape, gz):
    expected = (np.arange(int(np.prod(shape))) % 251).astype(np.uint8).reshape(shape)
    got = read_idx(write(tmp_path, idx_bytes(shape), gz=gz))
    assert got.dtype == np.uint8 and got.shape == shape
    np.testing.assert_array_equal(got, expected)
    assert got.flags.writeable


def test_gzip_detected_by_magic_not_name(tmp_path):
    gz_named_raw = write(tmp_path, idx_bytes((4,)), name="raw.gz")
    raw_named_gz = write(tmp_path, idx_bytes((4,)), name="packed.idx", gz=True)
    np.testing.assert_array_equal(read_idx(gz_named_raw), read_idx(raw_named_gz))


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, gz):
    path = write(tmp_path, idx_bytes((10, 10))[:-7], gz=gz)
    assert_fails(path, "offset 105", "shape (10, 10)")


@pytest.mark.parametrize("gz", [False, True])
def test_trailing_bytes(tmp_path, gz):
    path = write(tmp_path, idx_bytes((10, 10)) + b"\x00\x01", gz=gz)
    assert_fails(path, "offset 112", "trailing")


def test_wrong_magic(tmp_path):
    data = b"\x01" + idx_bytes((3,))[1:]
    assert_fails(write(tmp_path, data), "offset 0", "two zero bytes", "0x0100")


@pytest.mark.parametrize("type_code", [0x09, 0x0B, 0x0C, 0x0D, 0x0E])
def test_wrong_type_code(tmp_path, type_code):
    path = write(tmp_path, idx_bytes((3,), type_code=type_code))
    assert_fails(path, "offset 2", "0x08", f"0x{type_code:02x}")


@pytest.mark.parametrize("ndim", [0, 5, 255])
def test_bad_dimension_count(tmp_path, ndim):
    path = write(tmp_path, bytes([0, 0, 8, ndim]) + b"\x00\x00\x00\x01" * min(ndim, 5))
    assert_fails(path, "offset 3", "1 to 4", str(ndim))


def test_zero_sized_dimension(tmp_path):
    assert_fails(write(tmp_path, idx_bytes((3, 0), payload=b"")), "offset 8", "dimension 1")


def test_truncated_header(tmp_path):
    path = write(tmp_path, bytes([0, 0, 8, 3]) + struct.pack(">2I", 2, 2))
    assert_fails(path, "offset 12", "dimension sizes")


@pytest.mark.parametrize("gz", [False, True])
def test_empty_file(tmp_path, gz):
    assert_fails(write(tmp_path, b"", gz=gz), "offset 0", "magic")


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(65536, 65536), (1, 1024, 1024, 1024), (2**15, 2**15)])
def test_hostile_header_neither_allocates_nor_waits(tmp_path, shape, gz, peak_bytes):
    """~4 GiB (over the cap) and 1 GiB (under it) declared in a file of a few bytes."""
    path = write(tmp_path, idx_bytes(shape, payload=b"\x07" * 64), gz=gz)
    start = time.perf_counter()
    peak = peak_bytes(assert_fails, path, "shape")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert peak < 50 * 2**20


def test_gzip_bomb_of_zeros_stops_at_declared_size(tmp_path, peak_bytes):
    """A stream inflating far past its header's 1 MiB is cut off after ~1 MiB, not fully read."""
    data = idx_bytes((1024, 1024), payload=bytes(64 * 2**20))
    path = write(tmp_path, data, gz=True)
    peak = peak_bytes(assert_fails, path, "offset 1048588", "trailing")
    assert peak < 16 * 2**20


def test_corrupt_gzip_stream(tmp_path):
    payload = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    packed = bytearray(gzip.compress(idx_bytes((40, 100), payload=payload)))
    middle = len(packed) // 2
    packed[middle : middle + 4] = bytes(b ^ 0xFF for b in packed[middle : middle + 4])
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(packed))
    assert_fails(path, "gzip")


@pytest.mark.parametrize("keep", [5, 30, -4])
def test_truncated_gzip_stream(tmp_path, keep):
    packed = gzip.compress(idx_bytes((40, 100)))
    path = tmp_path / "short.gz"
    path.write_bytes(packed[:keep])
    assert_fails(path)


def test_missing_file(tmp_path):
    assert_fails(tmp_path / "absent.idx", "cannot read")


def test_payload_cap_is_enforced_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("fastnn.datasets.idx.MAX_PAYLOAD_BYTES", 100)
    path = write(tmp_path, idx_bytes((10, 11)), gz=True)
    assert_fails(path, "offset 12", "at most 100 bytes", "declaring 110 bytes")
