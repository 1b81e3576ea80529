"""MNIST handwritten digits: find the four IDX files, verify them, return flat arrays.

Search order, first complete directory wins: the ``path`` argument or its ``mnist``
folder (authoritative: if neither has all four files, that is the error),
``$FASTNN_DATA/mnist``, ``$FASTNN_DATA`` (a FASTNN_DATA that is no directory, or a folder
there with only some of the files, is an error, not a fall-through), the bundled copy, the
user cache; then, if allowed, a download into the cache from
``$FASTNN_MNIST_URL`` (default :data:`DEFAULT_URL`). Each file may be gzipped (``.gz``,
checked against the bundled SHA256SUMS) or un-gzipped (no digest; the IDX checks still run).
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import numpy as np

from fastnn._files import atomic_write
from fastnn.datasets import _sources
from fastnn.datasets.idx import read_idx
from fastnn.errors import ChecksumError, DataFileError, DTypeError

__all__ = ["load_mnist", "MNIST_FILES", "DEFAULT_URL"]

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DEFAULT_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_DOWNLOAD_TIMEOUT_S = 60


def load_mnist(path=None, *, dtype=np.float32, download=True):
    """Load MNIST as ``((X_train, y_train), (X_test, y_test))``.

    X: (60000, 784) and (10000, 784), row-major 28x28 images. A float ``dtype`` gives
    pixels * (1/255) in [0, 1] (255 maps to exactly 1); ``np.uint8`` gives the raw pixels
    0..255 (a quarter of the float32 memory). y: int64 labels 0..9, (60000,) and (10000,).
    ``path``: a directory holding the four files; the module docstring has the search order.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"load_mnist: expected dtype uint8 or a float dtype, got "
                         f"{dtype!r}") from None
    if dtype != np.uint8 and dtype.kind != "f":
        raise DTypeError(f"load_mnist: expected dtype uint8 or a float dtype, got {dtype}")
    train_images, train_labels, test_images, test_labels = _locate(path, download)
    return (
        _load_pair(train_images, train_labels, dtype),
        _load_pair(test_images, test_labels, dtype),
    )


def _bundled_dir() -> Path | None:
    """The bundled ``fastnn._data/mnist`` directory, or None if not installed."""
    return _sources.bundled("mnist")


def _find(directory: Path) -> dict[str, Path]:
    """``{name: file}`` for each of MNIST_FILES present in ``directory`` (``.gz`` first)."""
    found = {}
    for name in MNIST_FILES:
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                found[name] = candidate
                break
    return found


def _missing(found: dict[str, Path]) -> str:
    return ", ".join(name for name in MNIST_FILES if name not in found)


def _locate(path, download: bool) -> list[Path]:
    """The four files (MNIST_FILES order) from the first place that has all of them."""
    if path is not None:
        for directory in (Path(path), Path(path) / "mnist"):
            found = _find(directory)
            if len(found) == len(MNIST_FILES):
                return [found[name] for name in MNIST_FILES]
        found = _find(Path(path))
        raise DataFileError(
            f"{path}: expected the four MNIST files (.gz or un-gzipped) there or in its "
            f"mnist/ folder, found {len(found)}; missing: {_missing(found)}"
        )

    cache = _sources.cache_dir("mnist")
    env = _sources.env_root()
    looked = [] if env else ["FASTNN_DATA: not set"]
    places = [("FASTNN_DATA", d) for d in ([env / "mnist", env] if env else [])]
    places += [("bundled copy", _bundled_dir()), ("cache", cache)]
    for label, directory in places:
        if directory is None:
            looked.append(f"{label}: not installed")
            continue
        found = _find(directory)
        if len(found) == len(MNIST_FILES):
            return [found[name] for name in MNIST_FILES]
        if found and label == "FASTNN_DATA":  # an incomplete copy the user pointed at
            raise DataFileError(f"FASTNN_DATA: {directory} holds {len(found)} of the four "
                                f"MNIST files; missing: {_missing(found)}")
        looked.append(f"{label} {directory}: missing {_missing(found)}")

    url = os.environ.get("FASTNN_MNIST_URL") or DEFAULT_URL
    if download:
        try:
            return _download(url, cache)
        except OSError as exc:  # includes urllib.error.URLError
            looked.append(f"download from {url} into {cache}: failed ({exc})")
    else:
        looked.append("download: not attempted (download=False)")
    raise DataFileError(
        "MNIST not found. Looked in:\n  - "
        + "\n  - ".join(looked)
        + "\nTo fix: pass load_mnist(path=DIR) or set FASTNN_DATA=DIR, where DIR holds "
        + ", ".join(f"{name}.gz" for name in MNIST_FILES)
        + " (or un-gzipped); or call with download=True where the network is reachable"
        " (FASTNN_MNIST_URL=URL picks a mirror)."
    )


def _download(url: str, cache: Path) -> list[Path]:
    """Fetch the files missing from ``cache``; return all four cached paths."""
    cache.mkdir(parents=True, exist_ok=True)
    found = _find(cache)
    for name in MNIST_FILES:
        if name not in found:
            found[name] = cache / f"{name}.gz"
            _fetch(f"{url.rstrip('/')}/{name}.gz", found[name])
    return [found[name] for name in MNIST_FILES]


def _fetch(url: str, target: Path) -> None:
    """Stream ``url`` to a temp file beside ``target``; rename only if its sha256 matches."""
    relpath = f"mnist/{target.name}"
    expected = _sources.expected_sha256(relpath)
    with atomic_write(target) as out:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            while block := response.read(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != expected:
            raise ChecksumError(
                f"{url}: sha256 mismatch for {relpath}: expected {expected}, "
                f"found {digest.hexdigest()}; nothing was saved to {target.parent}"
            )


def _read(path: Path) -> np.ndarray:
    if path.name.endswith(".gz"):
        _sources.verify(path, f"mnist/{path.name}")
    return read_idx(path)


def _load_pair(images_path: Path, labels_path: Path, dtype: np.dtype):
    """``(X, y)`` from one images file and its labels file, checked against each other."""
    images, labels = _read(images_path), _read(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFileError(
            f"{images_path}: expected images of shape (n, 28, 28), found {images.shape}"
        )
    if labels.ndim != 1:
        raise DataFileError(f"{labels_path}: expected labels of shape (n,), found {labels.shape}")
    if len(images) != len(labels):
        raise DataFileError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels: expected equal counts"
        )
    if labels.max() > 9:
        raise DataFileError(f"{labels_path}: expected labels 0..9, found {labels.max()}")
    X = images.reshape(len(images), 28 * 28)
    if dtype != np.uint8:
        X = np.multiply(X, dtype.type(1 / 255), dtype=dtype)
    return X, labels.astype(np.int64)
