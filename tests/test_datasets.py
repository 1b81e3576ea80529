"""fastnn.datasets: bundled data, search order, checksums, download, toy sets, splitting."""

import functools
import gzip
import hashlib
import importlib.resources
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from fastnn import datasets as fnn_datasets
from fastnn.datasets import (
    HOUSING_FEATURES,
    IRIS_CLASSES,
    IRIS_FEATURES,
    Standardizer,
    _sources,
    housing,
    load_california_housing,
    load_iris,
    load_mnist,
    logic_gate,
    make_moons,
    mnist,
    train_test_split,
)
from fastnn.errors import (
    ChecksumError,
    ConfigError,
    DataFileError,
    DTypeError,
    NotFittedError,
    ShapeError,
    ValueRangeError,
)

DATA = Path(str(importlib.resources.files("fastnn._data")))
MNIST_GZ = [f"{name}.gz" for name in mnist.MNIST_FILES]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
HOUSING_MEANS = [-119.569704, 35.631861, 28.639486, 2635.763081, 537.898014,
                 1425.476744, 499.539680, 3.870671]
HOUSING_TARGET_MEAN = 206855.816909


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No FASTNN_* variables, and a private empty cache: no test reads ~/.cache or the net."""
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("FASTNN_MNIST_URL", (tmp_path / "no-mirror").as_uri())
    monkeypatch.setenv("FASTNN_FASHION_MNIST_URL", (tmp_path / "no-mirror").as_uri())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def no_bundle(monkeypatch):
    monkeypatch.setattr(mnist, "_bundled_dir", lambda: None)


@pytest.fixture(scope="module")
def bundled_mnist():
    return load_mnist()


def copy_mnist(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in MNIST_GZ:
        shutil.copy(DATA / "mnist" / name, directory / name)
    return directory


def flip_byte(path: Path, offset: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def assert_same(a, b):
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


# --- bundled files ------------------------------------------------------------------


def test_sha256sums_lists_every_bundled_data_file_with_its_digest():
    listed = {}
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        listed[name] = digest
    on_disk = {
        p.relative_to(DATA).as_posix()
        for p in DATA.rglob("*")
        if p.is_file() and p.suffix in {".gz", ".csv"}
    }
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest


# --- MNIST --------------------------------------------------------------------------


def test_mnist_bundled(bundled_mnist):
    (X_train, y_train), (X_test, y_test) = bundled_mnist
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.float32 and X_test.dtype == np.float32
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    for X in (X_train, X_test):
        assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == TEST_COUNTS


def test_mnist_uint8_is_raw_pixels(bundled_mnist):
    (X_train, y_train), (X_test, _) = load_mnist(dtype=np.uint8)
    assert X_train.dtype == np.uint8 and X_train.max() == 255
    np.testing.assert_array_equal(X_test, np.rint(bundled_mnist[1][0] * 255).astype(np.uint8))
    np.testing.assert_array_equal(y_train, bundled_mnist[0][1])


def test_mnist_float64_scaled():
    (_, _), (X_test, _) = load_mnist(dtype=np.float64)
    assert X_test.dtype == np.float64 and X_test.max() == 1.0


@pytest.mark.parametrize("dtype", [np.int32, np.complex64, bool])
def test_mnist_rejects_other_dtypes(dtype):
    with pytest.raises(DTypeError, match="dtype"):
        load_mnist(dtype=dtype)


def test_mnist_explicit_directory(tmp_path, bundled_mnist, no_bundle):
    assert_same(load_mnist(copy_mnist(tmp_path / "mine")), bundled_mnist)


def test_mnist_explicit_directory_of_ungzipped_files(tmp_path, bundled_mnist, no_bundle):
    for name in mnist.MNIST_FILES:
        (tmp_path / name).write_bytes(gzip.decompress((DATA / "mnist" / f"{name}.gz").read_bytes()))
    assert_same(load_mnist(str(tmp_path)), bundled_mnist)


def test_mnist_explicit_directory_missing_a_file_is_an_error(tmp_path):
    copy_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte") as info:
        load_mnist(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize("subdir", ["mnist", ""])
def test_mnist_from_fastnn_data(tmp_path, monkeypatch, bundled_mnist, no_bundle, subdir):
    copy_mnist(tmp_path / "root" / subdir)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "root"))
    assert_same(load_mnist(download=False), bundled_mnist)


def test_mnist_path_may_be_the_data_root_holding_mnist(tmp_path, bundled_mnist):
    copy_mnist(tmp_path / "mnist")
    assert_same(load_mnist(tmp_path), bundled_mnist)


def test_fastnn_data_that_is_no_directory_is_an_error_not_a_fall_back(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "typo"))
    for load in (lambda: load_mnist(download=False), load_california_housing):
        with pytest.raises(DataFileError, match="FASTNN_DATA=.*typo.* is not a directory"):
            load()


def test_an_incomplete_mnist_copy_in_fastnn_data_is_an_error(tmp_path, monkeypatch):
    copy_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    with pytest.raises(DataFileError, match="holds 3 of the four MNIST files; missing: "
                                            "t10k-images-idx3-ubyte"):
        load_mnist(download=False)


def test_mnist_corrupted_copy_raises_checksum_error(tmp_path):
    copy_mnist(tmp_path)
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    flip_byte(bad)
    with pytest.raises(ChecksumError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    expected = _sources.expected_sha256("mnist/train-labels-idx1-ubyte.gz")
    assert str(bad) in message
    assert expected in message
    assert hashlib.sha256(bad.read_bytes()).hexdigest() in message


def test_mnist_image_and_label_counts_must_agree(tmp_path):
    def idx(path, shape):
        header = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
        path.write_bytes(header + bytes(int(np.prod(shape))))

    idx(tmp_path / "train-images-idx3-ubyte", (3, 28, 28))
    idx(tmp_path / "train-labels-idx1-ubyte", (2,))
    idx(tmp_path / "t10k-images-idx3-ubyte", (1, 28, 28))
    idx(tmp_path / "t10k-labels-idx1-ubyte", (1,))
    with pytest.raises(DataFileError, match="3 images.*2 labels") as info:
        load_mnist(tmp_path)
    assert "train-images-idx3-ubyte" in str(info.value)
    assert "train-labels-idx1-ubyte" in str(info.value)


def test_mnist_download_from_file_url(tmp_path, monkeypatch, bundled_mnist, no_bundle):
    mirror = copy_mnist(tmp_path / "mirror")
    monkeypatch.setenv("FASTNN_MNIST_URL", mirror.as_uri() + "/")
    assert_same(load_mnist(), bundled_mnist)
    cache = tmp_path / "cache" / "fastnn" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(MNIST_GZ)

    shutil.rmtree(mirror)
    assert_same(load_mnist(download=False), bundled_mnist)


def test_mnist_download_with_wrong_bytes_keeps_nothing(tmp_path, monkeypatch, no_bundle):
    mirror = copy_mnist(tmp_path / "mirror")
    flip_byte(mirror / "train-labels-idx1-ubyte.gz")
    monkeypatch.setenv("FASTNN_MNIST_URL", mirror.as_uri())
    with pytest.raises(ChecksumError, match="train-labels-idx1-ubyte.gz") as info:
        load_mnist()
    assert _sources.expected_sha256("mnist/train-labels-idx1-ubyte.gz") in str(info.value)
    cache = tmp_path / "cache" / "fastnn" / "mnist"
    assert not (cache / "train-labels-idx1-ubyte.gz").exists()
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("download", [False, True])
def test_mnist_nowhere_to_be_found(tmp_path, no_bundle, download):
    with pytest.raises(DataFileError) as info:
        load_mnist(download=download)
    message = str(info.value)
    for place in ("FASTNN_DATA", "bundled copy", str(tmp_path / "cache"), "download", "path="):
        assert place in message, message
    if download:
        assert (tmp_path / "no-mirror").as_uri() in message


def test_verification_is_cached_per_path_size_and_mtime(tmp_path, monkeypatch):
    path = shutil.copy(DATA / "mnist" / MNIST_GZ[1], tmp_path / MNIST_GZ[1])
    calls = []
    real = _sources.sha256_file
    monkeypatch.setattr(_sources, "sha256_file", lambda p: calls.append(p) or real(p))
    relpath = f"mnist/{MNIST_GZ[1]}"
    _sources.verify(Path(path), relpath)
    _sources.verify(Path(path), relpath)
    assert len(calls) == 1
    os.utime(path, ns=(0, 10**9))
    _sources.verify(Path(path), relpath)
    assert len(calls) == 2


# --- California Housing -------------------------------------------------------------


def test_housing_bundled():
    X, y = load_california_housing()
    assert X.shape == (20640, 8) and y.shape == (20640,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert len(HOUSING_FEATURES) == 8 and HOUSING_FEATURES[-1] == "median_income"
    np.testing.assert_allclose(X.mean(axis=0), HOUSING_MEANS, rtol=1e-6)
    np.testing.assert_allclose(y.mean() * 1e5, HOUSING_TARGET_MEAN, rtol=1e-6)
    assert y.min() == pytest.approx(0.14999) and y.max() == pytest.approx(5.00001)


def test_housing_explicit_file_directory_env_and_plain_csv(tmp_path, monkeypatch):
    expected = load_california_housing()
    source = DATA / "california_housing" / "cal_housing.csv.gz"
    (tmp_path / "california_housing").mkdir()
    packed = shutil.copy(source, tmp_path / "california_housing" / source.name)
    plain = tmp_path / "cal_housing.csv"
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    monkeypatch.setattr(housing, "_bundled_dir", lambda: None)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    for found in (
        load_california_housing(packed),
        load_california_housing(tmp_path / "california_housing"),
        load_california_housing(plain),
        load_california_housing(),
    ):
        np.testing.assert_array_equal(found[0], expected[0])
        np.testing.assert_array_equal(found[1], expected[1])


def test_housing_corrupted_copy_raises_checksum_error(tmp_path):
    bad = shutil.copy(DATA / "california_housing" / "cal_housing.csv.gz", tmp_path)
    flip_byte(Path(bad))
    with pytest.raises(ChecksumError, match="expected [0-9a-f]{64}, found [0-9a-f]{64}"):
        load_california_housing(tmp_path)


HEADER = ",".join(HOUSING_FEATURES + ("median_house_value",))
ROW = "-122.23,37.88,41,880,129,322,126,8.3252,452600"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("lon,lat\n" + ROW + "\n", "line 1"),
        (HEADER + "\n" + ROW + "\n" + ROW.rsplit(",", 1)[0] + "\n", "line 3: expected 9 fields"),
        (HEADER + "\n" + ROW + "\n" + ROW.replace("880", "nan") + "\n", "line 3: expected finite"),
        (HEADER + "\n" + ROW.replace("41", "forty") + "\n", "line 2: expected numbers"),
        (HEADER + "\n", "no"),
        ("", "empty"),
    ],
)
def test_housing_malformed_csv(tmp_path, text, fragment):
    path = tmp_path / "cal_housing.csv"
    path.write_text(text)
    with pytest.raises(DataFileError, match=fragment) as info:
        load_california_housing(path)
    assert str(path) in str(info.value)


def test_housing_csv_with_a_byte_order_mark_and_trailing_blank_lines(tmp_path):
    path = tmp_path / "cal_housing.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\n{ROW}\r\n{ROW}\r\n\r\n \n".encode())
    X, y = load_california_housing(path)
    assert X.shape == (2, 8) and y.tolist() == [4.526, 4.526]


def test_a_blank_line_between_rows_is_still_an_error(tmp_path):
    path = tmp_path / "cal_housing.csv"
    path.write_text(f"{HEADER}\n{ROW}\n\n{ROW}\n")
    with pytest.raises(DataFileError, match="line 3: expected 9 fields, found 1"):
        load_california_housing(path)


def test_housing_not_found(tmp_path, monkeypatch):
    monkeypatch.setattr(housing, "_bundled_dir", lambda: None)
    with pytest.raises(DataFileError, match="FASTNN_DATA"):
        load_california_housing()
    with pytest.raises(DataFileError, match="cal_housing.csv.gz"):
        load_california_housing(tmp_path)


# --- iris, gates, moons -------------------------------------------------------------


def test_iris():
    X, y = load_iris()
    assert X.shape == (150, 4) and X.dtype == np.float64
    assert y.shape == (150,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50, 50]
    assert len(IRIS_FEATURES) == 4 and IRIS_CLASSES == ("setosa", "versicolor", "virginica")
    np.testing.assert_allclose(X.mean(axis=0), [5.843333, 3.057333, 3.758, 1.199333], atol=1e-6)


@pytest.mark.parametrize(
    "name, outputs",
    [("and", [0, 0, 0, 1]), ("OR", [0, 1, 1, 1]), ("Xor", [0, 1, 1, 0])],
)
def test_two_input_gates(name, outputs):
    X, y = logic_gate(name)
    assert X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, outputs)


def test_not_gate():
    X, y = logic_gate("not")
    np.testing.assert_array_equal(X, [[0.0], [1.0]])
    np.testing.assert_array_equal(y, [1, 0])


def test_unknown_gate_lists_valid_names():
    with pytest.raises(ConfigError, match="and, or, xor, not"):
        logic_gate("nand")


@pytest.mark.parametrize("n", [2, 3, 200, 201])
def test_moons_shape_and_balance(n):
    X, y = make_moons(n)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [(n + 1) // 2, n // 2]


def test_moons_without_noise_lie_on_the_half_circles():
    X, y = make_moons(101, noise=0.0)
    outer, inner = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0)
    np.testing.assert_allclose(np.hypot(1 - inner[:, 0], 0.5 - inner[:, 1]), 1.0)
    assert outer[:, 1].min() >= -1e-12 and inner[:, 1].max() <= 0.5 + 1e-12


def test_moons_seeded():
    a, b, c = make_moons(50, seed=3), make_moons(50, seed=3), make_moons(50, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kwargs", [{"n_samples": 1}, {"n_samples": 10, "noise": -0.1}])
def test_moons_bad_arguments(kwargs):
    with pytest.raises(ValueRangeError):
        make_moons(**kwargs)


# --- train_test_split ---------------------------------------------------------------


def test_split_sizes_and_disjoint():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, seed=1)
    assert len(X_test) == len(y_test) == 15 and len(X_train) == len(y_train) == 35
    assert X_train.dtype == np.float32
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(50))
    np.testing.assert_array_equal(X_train[:, 0], 2 * y_train)
    np.testing.assert_array_equal(X_test[:, 0], 2 * y_test)


def test_split_seeded():
    X, y = np.arange(40).reshape(20, 2), np.arange(20)
    a = train_test_split(X, y, seed=5)
    b = train_test_split(X, y, seed=5)
    c = train_test_split(X, y, seed=6)
    np.testing.assert_array_equal(a[3], b[3])
    assert not np.array_equal(a[3], c[3])


def test_split_stratified_keeps_class_proportions():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    X = np.arange(len(y))[:, None]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=True)
    assert np.bincount(y_test).tolist() == [12, 6, 2]
    assert np.bincount(y_train).tolist() == [48, 24, 8]
    assert not set(X_train[:, 0]) & set(X_test[:, 0])
    np.testing.assert_array_equal(y[X_test[:, 0]], y_test)


def test_split_stratified_gives_every_class_a_test_row():
    y = np.array([0] * 20 + [1, 1])
    _, _, y_train, y_test = train_test_split(np.zeros((22, 1)), y, test_size=0.1, stratify=True)
    assert np.bincount(y_test).tolist() == [2, 1] and np.bincount(y_train).tolist() == [18, 1]


def test_split_errors():
    X, y = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(ShapeError):
        train_test_split(X, y[:9])
    with pytest.raises(ShapeError):
        train_test_split(X, np.zeros((10, 2)), stratify=True)
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueRangeError):
            train_test_split(X, y, test_size=bad)
    with pytest.raises(ValueRangeError):
        train_test_split(X[:1], y[:1], test_size=0.5)


# --- Standardizer -------------------------------------------------------------------


def test_standardizer_round_trip():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 5.0, size=(200, 4))
    X[:, 2] = 7.0
    scaler = Standardizer()
    Z = scaler.fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), [1, 1, 0, 1], atol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, rtol=1e-12)


def test_standardizer_dtypes():
    X32 = np.random.default_rng(1).random((50, 3), dtype=np.float32)
    scaler = Standardizer().fit(X32)
    assert scaler.transform(X32).dtype == np.float32
    assert scaler.inverse_transform(scaler.transform(X32)).dtype == np.float32
    assert Standardizer().fit_transform(np.arange(6).reshape(3, 2)).dtype == np.float64


def test_standardizer_errors():
    with pytest.raises(NotFittedError):
        Standardizer().transform(np.zeros((2, 2)))
    with pytest.raises(ShapeError):
        Standardizer().fit(np.zeros(5))
    with pytest.raises(ShapeError):
        Standardizer().fit(np.zeros((4, 3))).transform(np.zeros((4, 2)))


# --- Fashion-MNIST and any IDX directory --------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) as an IDX file."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(directory: Path, n_train=3, n_test=2, image=(28, 28), gz=True, prefix="",
                  seed=0) -> dict[str, np.ndarray]:
    """Four small IDX files in the MNIST layout; returns their arrays by file name."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *image), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *image), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (directory / f"{prefix}{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (directory / f"{prefix}{name}").write_bytes(data)
    return arrays


@pytest.fixture
def fake_fashion(tmp_path, monkeypatch):
    """Small Fashion-MNIST look-alikes in tmp_path/fake whose digests stand in for the
    published ones (the real files are not on this machine)."""
    directory = tmp_path / "fake"
    arrays = write_idx_set(directory)
    for name in MNIST_GZ:
        monkeypatch.setitem(_sources.NOT_BUNDLED, f"fashion-mnist/{name}",
                            hashlib.sha256((directory / name).read_bytes()).hexdigest())
    return directory, arrays


def assert_is_set(loaded, arrays, dtype=np.float32):
    (X, y), (X_test, y_test) = loaded
    assert X.shape == (3, 784) and X_test.shape == (2, 784) and X.dtype == dtype
    assert y.dtype == np.int64 and y_test.dtype == np.int64
    pixels = arrays["train-images-idx3-ubyte"].reshape(3, 784)
    expected = pixels if dtype == np.uint8 else np.multiply(pixels, dtype(1 / 255), dtype=dtype)
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_fashion_mnist_real_digests_are_enforced(tmp_path):
    write_idx_set(tmp_path)
    with pytest.raises(ChecksumError, match="3aede38d61863908ad78613f6a32ed271626dd12800ba26"
                                            "36569512369268a84"):
        fnn_datasets.load_fashion_mnist(tmp_path)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_fashion_mnist_from_a_path_its_folder_fastnn_data_and_the_cache(tmp_path, monkeypatch,
                                                                         fake_fashion, dtype):
    directory, arrays = fake_fashion
    load = functools.partial(fnn_datasets.load_fashion_mnist, dtype=dtype, download=False)
    assert_is_set(load(directory), arrays, dtype)
    shutil.copytree(directory, tmp_path / "root" / "fashion-mnist")
    assert_is_set(load(tmp_path / "root"), arrays, dtype)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "root"))
    assert_is_set(load(), arrays, dtype)
    monkeypatch.delenv("FASTNN_DATA")
    shutil.copytree(directory, tmp_path / "cache" / "fastnn" / "fashion-mnist")
    assert_is_set(load(), arrays, dtype)


def test_fashion_mnist_is_not_looked_for_in_the_fastnn_data_root(tmp_path, monkeypatch,
                                                                  fake_fashion):
    directory, _ = fake_fashion
    monkeypatch.setenv("FASTNN_DATA", str(directory))  # the files sit in the root itself
    with pytest.raises(DataFileError, match="Fashion-MNIST not found") as info:
        fnn_datasets.load_fashion_mnist(download=False)
    message = str(info.value)
    assert str(directory / "fashion-mnist") in message and "bundled" not in message
    assert "load_fashion_mnist(path=DIR)" in message and "DIR/fashion-mnist" in message


def test_fashion_mnist_download_is_verified(tmp_path, monkeypatch, fake_fashion):
    directory, arrays = fake_fashion
    monkeypatch.setenv("FASTNN_FASHION_MNIST_URL", directory.as_uri())
    assert_is_set(fnn_datasets.load_fashion_mnist(), arrays)
    cache = tmp_path / "cache" / "fastnn" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(MNIST_GZ)
    shutil.rmtree(cache)
    flip_byte(directory / MNIST_GZ[0], offset=20)
    with pytest.raises(ChecksumError, match="fashion-mnist/train-images-idx3-ubyte.gz"):
        fnn_datasets.load_fashion_mnist()
    assert not [p for p in cache.iterdir() if p.name.startswith(MNIST_GZ[0])]


def test_fashion_mnist_nowhere_to_be_found_names_its_mirror_variable(tmp_path):
    with pytest.raises(DataFileError, match="FASTNN_FASHION_MNIST_URL") as info:
        fnn_datasets.load_fashion_mnist()
    assert str(tmp_path / "cache" / "fastnn" / "fashion-mnist") in str(info.value)


def test_load_mnist_on_fashion_mnist_files_says_so(fake_fashion):
    directory, _ = fake_fashion
    with pytest.raises(ChecksumError) as info:
        load_mnist(directory)
    message = str(info.value)
    assert "Fashion-MNIST file" in message and "load_fashion_mnist(" in message
    assert "not an MNIST file" in message
    assert str(directory) in message and "corrupt" not in message


def test_load_fashion_mnist_on_mnist_files_says_so(tmp_path):
    copy_mnist(tmp_path)
    with pytest.raises(ChecksumError) as info:
        fnn_datasets.load_fashion_mnist(tmp_path)
    message = str(info.value)
    assert "this is the MNIST file" in message and "load_mnist(" in message
    assert "not a Fashion-MNIST file" in message


def test_fashion_mnist_ungzipped_files_skip_the_digest(tmp_path):
    arrays = write_idx_set(tmp_path, gz=False)
    assert_is_set(fnn_datasets.load_fashion_mnist(tmp_path), arrays)


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_dir_any_image_shape_and_labels(tmp_path, gz):
    arrays = write_idx_set(tmp_path, n_train=4, n_test=3, image=(5, 4), gz=gz)
    (X, y), (X_test, y_test) = fnn_datasets.load_idx_dir(tmp_path)
    assert X.shape == (4, 20) and X_test.shape == (3, 20) and X.dtype == np.float32
    np.testing.assert_array_equal(X, arrays["train-images-idx3-ubyte"].reshape(4, 20)
                                  * np.float32(1 / 255))
    assert y.dtype == np.int64 and y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert X.max() <= 1.0
    (raw, _), _ = fnn_datasets.load_idx_dir(str(tmp_path), dtype=np.uint8)
    np.testing.assert_array_equal(raw, arrays["train-images-idx3-ubyte"].reshape(4, 20))


def test_load_idx_dir_with_a_prefix_and_no_digest(tmp_path):
    write_idx_set(tmp_path, prefix="emnist-letters-")
    (X, _), _ = fnn_datasets.load_idx_dir(tmp_path, prefix="emnist-letters-")
    assert X.shape == (3, 784)


def test_load_idx_dir_errors(tmp_path):
    write_idx_set(tmp_path / "a", gz=False)
    (tmp_path / "a" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataFileError, match="found 3; missing: t10k-labels-idx1-ubyte"):
        fnn_datasets.load_idx_dir(tmp_path / "a")
    write_idx_set(tmp_path / "b", gz=False)
    (tmp_path / "b" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataFileError, match="holds 2 images but .* holds 5 labels"):
        fnn_datasets.load_idx_dir(tmp_path / "b")
    write_idx_set(tmp_path / "c", gz=False)
    (tmp_path / "c" / "t10k-images-idx3-ubyte").write_bytes(
        idx_bytes(np.zeros((2, 5, 5), np.uint8)))
    with pytest.raises(DataFileError, match="images of 784 pixels but .* of 25"):
        fnn_datasets.load_idx_dir(tmp_path / "c")
    with pytest.raises(DTypeError, match="load_idx_dir"):
        fnn_datasets.load_idx_dir(tmp_path / "c", dtype=np.int16)
