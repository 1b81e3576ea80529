"""MNIST and Fashion-MNIST: find the four IDX files, verify them, return flat arrays.

Both ship in the same layout (:data:`MNIST_FILES`, 28x28 images, labels 0..9) and are
found the same way; ``FOLDER`` is ``mnist`` or ``fashion-mnist``. Search order, first
complete directory wins: the ``path`` argument or its ``FOLDER`` folder (authoritative: if
neither has all four files, that is the error), ``$FASTNN_DATA/FOLDER``, for MNIST also
``$FASTNN_DATA`` itself (a FASTNN_DATA that is no directory, or a folder there with only
some of the files, is an error, not a fall-through), the bundled copy (MNIST only), the
user cache ``~/.cache/fastnn/FOLDER``; then, if allowed, a download into the cache from
``$FASTNN_MNIST_URL`` (default :data:`DEFAULT_URL`) or ``$FASTNN_FASHION_MNIST_URL``
(default :data:`FASHION_MNIST_URL`). Each file may be gzipped (``.gz``, checked against
its published sha256) or un-gzipped (no digest; the IDX checks still run). A ``.gz`` file
of the other data set is named as such, with the loader to call instead.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastnn._files import atomic_write
from fastnn.datasets import _sources
from fastnn.datasets.idx import read_idx
from fastnn.datasets.idxdir import IDX_FILES, checked_dtype, find, image_label_pair, missing
from fastnn.errors import ChecksumError, DataFileError

__all__ = ["load_mnist", "load_fashion_mnist", "MNIST_FILES", "DEFAULT_URL",
           "FASHION_MNIST_URL"]

MNIST_FILES = IDX_FILES
DEFAULT_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class _DataSet:
    """Where one data set in the MNIST layout is looked for and fetched from."""

    title: str  # in messages: "MNIST"
    article: str  # before the title: "an MNIST file", "a Fashion-MNIST file"
    folder: str  # under the path argument, FASTNN_DATA, the bundle and the cache
    loader: str  # the function that loads it, for messages
    url_variable: str  # the environment variable naming a mirror
    default_url: str
    bundled: bool  # shipped in fastnn._data; also looked for in $FASTNN_DATA itself


_MNIST = _DataSet("MNIST", "an", "mnist", "load_mnist", "FASTNN_MNIST_URL", DEFAULT_URL, True)
_FASHION = _DataSet("Fashion-MNIST", "a", "fashion-mnist", "load_fashion_mnist",
                    "FASTNN_FASHION_MNIST_URL", FASHION_MNIST_URL, False)


def load_mnist(path=None, *, dtype=np.float32, download=True):
    """Load MNIST (handwritten digits) as ``((X_train, y_train), (X_test, y_test))``.

    X: (60000, 784) and (10000, 784), row-major 28x28 images. A float ``dtype`` gives
    pixels * (1/255) in [0, 1] (255 maps to exactly 1); ``np.uint8`` gives the raw pixels
    0..255 (a quarter of the float32 memory). y: int64 labels 0..9, (60000,) and (10000,).
    ``path``: a directory holding the four files; the module docstring has the search order.
    """
    return _load(_MNIST, path, checked_dtype(dtype, "load_mnist"), download)


def load_fashion_mnist(path=None, *, dtype=np.float32, download=True):
    """Load Fashion-MNIST (Zalando's clothing images, MIT licence) like :func:`load_mnist`.

    Same shapes, dtypes and scaling; labels 0..9 are T-shirt/top, trouser, pullover,
    dress, coat, sandal, shirt, sneaker, bag, ankle boot. Not bundled: pass ``path``, set
    ``FASTNN_DATA`` (files in its ``fashion-mnist`` folder) or let it download.
    """
    return _load(_FASHION, path, checked_dtype(dtype, "load_fashion_mnist"), download)


def _load(data_set: _DataSet, path, dtype: np.dtype, download: bool):
    train_images, train_labels, test_images, test_labels = _locate(data_set, path, download)
    return (
        _load_pair(data_set, train_images, train_labels, dtype),
        _load_pair(data_set, test_images, test_labels, dtype),
    )


def _bundled_dir() -> Path | None:
    """The bundled ``fastnn._data/mnist`` directory, or None if not installed."""
    return _sources.bundled("mnist")


def _complete(directory: Path) -> list[Path] | None:
    """The four files (MNIST_FILES order) if ``directory`` holds all of them."""
    found = find(directory, MNIST_FILES)
    return [found[name] for name in MNIST_FILES] if len(found) == len(MNIST_FILES) else None


def _locate(data_set: _DataSet, path, download: bool) -> list[Path]:
    """The four files (MNIST_FILES order) from the first place that has all of them."""
    title = data_set.title
    if path is not None:
        for directory in (Path(path), Path(path) / data_set.folder):
            if files := _complete(directory):
                return files
        found = find(Path(path), MNIST_FILES)
        raise DataFileError(
            f"{path}: expected the four {title} files (.gz or un-gzipped) there or in its "
            f"{data_set.folder}/ folder, found {len(found)}; missing: "
            f"{missing(found, MNIST_FILES)}"
        )

    cache = _sources.cache_dir(data_set.folder)
    env = _sources.env_root()
    looked = [] if env else ["FASTNN_DATA: not set"]
    places = [("FASTNN_DATA", env / data_set.folder)] if env else []
    if data_set.bundled:
        places += [("FASTNN_DATA", env)] if env else []
        places += [("bundled copy", _bundled_dir())]
    places += [("cache", cache)]
    for label, directory in places:
        if directory is None:
            looked.append(f"{label}: not installed")
            continue
        if files := _complete(directory):
            return files
        found = find(directory, MNIST_FILES)
        if found and label == "FASTNN_DATA":  # an incomplete copy the user pointed at
            raise DataFileError(f"FASTNN_DATA: {directory} holds {len(found)} of the four "
                                f"{title} files; missing: {missing(found, MNIST_FILES)}")
        looked.append(f"{label} {directory}: missing {missing(found, MNIST_FILES)}")

    url = os.environ.get(data_set.url_variable) or data_set.default_url
    if download:
        try:
            return _download(data_set, url, cache)
        except OSError as exc:  # includes urllib.error.URLError
            looked.append(f"download from {url} into {cache}: failed ({exc})")
    else:
        looked.append("download: not attempted (download=False)")
    raise DataFileError(
        f"{title} not found. Looked in:\n  - "
        + "\n  - ".join(looked)
        + f"\nTo fix: pass {data_set.loader}(path=DIR) or set FASTNN_DATA=DIR, where DIR"
        + (" " if data_set.bundled else f"/{data_set.folder} ")
        + "holds " + ", ".join(f"{name}.gz" for name in MNIST_FILES)
        + " (or un-gzipped); or call with download=True where the network is reachable"
        f" ({data_set.url_variable}=URL picks a mirror)."
    )


def _download(data_set: _DataSet, url: str, cache: Path) -> list[Path]:
    """Fetch the files missing from ``cache``; return all four cached paths."""
    cache.mkdir(parents=True, exist_ok=True)
    found = find(cache, MNIST_FILES)
    for name in MNIST_FILES:
        if name not in found:
            found[name] = cache / f"{name}.gz"
            _fetch(f"{url.rstrip('/')}/{name}.gz", found[name],
                   f"{data_set.folder}/{name}.gz")
    return [found[name] for name in MNIST_FILES]


def _fetch(url: str, target: Path, relpath: str) -> None:
    """Stream ``url`` to a temp file beside ``target``; rename only if its sha256 matches
    the digest published for ``relpath``."""
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


def _reader(data_set: _DataSet):
    """read_idx for ``data_set``: a ``.gz`` file is verified first, and a file of the
    other data set in this layout is named as such."""
    def read(path: Path) -> np.ndarray:
        if path.name.endswith(".gz"):
            try:
                _sources.verify(path, f"{data_set.folder}/{path.name}")
            except ChecksumError as exc:
                known = _sources.known_as(exc.found) or ""
                other = next((d for d in (_MNIST, _FASHION)
                              if d != data_set and known.startswith(f"{d.folder}/")), None)
                if other is None:
                    raise
                raise ChecksumError(
                    f"{path}: this is the {other.title} file {known.split('/')[-1]}, not "
                    f"{data_set.article} {data_set.title} file: load {other.title} with "
                    f"{other.loader}({str(path.parent)!r})") from None
        return read_idx(path)

    return read


def _load_pair(data_set: _DataSet, images_path: Path, labels_path: Path, dtype: np.dtype):
    """``(X, y)`` from one images file and its labels file, checked against each other."""
    X, y = image_label_pair(images_path, labels_path, dtype, _reader(data_set),
                            image_shape=(28, 28))
    if y.max() > 9:
        raise DataFileError(f"{labels_path}: expected labels 0..9, found {y.max()}")
    return X, y
