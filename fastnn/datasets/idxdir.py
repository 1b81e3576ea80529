"""Any directory of IDX images and labels in the MNIST layout (KMNIST, EMNIST, ...).

The layout is four files, each gzipped (``.gz``) or not: ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``.
No digests are checked here (fastnn cannot know them), only the IDX structure and that
the files agree with each other. :mod:`fastnn.datasets.mnist` builds on these helpers and
adds the published digests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fastnn.datasets.idx import read_idx
from fastnn.errors import DataFileError, DTypeError

__all__ = ["load_idx_dir", "IDX_FILES"]

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def load_idx_dir(path, dtype=np.float32, *, prefix: str = ""):
    """Load ``((X_train, y_train), (X_test, y_test))`` from the four IDX files in ``path``.

    X: the images flattened to (n, pixels) (an image of shape (h, w) gives h*w pixels,
    row-major); a float ``dtype`` gives pixels * (1/255) in [0, 1], ``np.uint8`` the raw
    bytes 0..255. y: int64 (n,), the labels exactly as stored (EMNIST letters are 1..26).
    ``prefix`` is put before every file name (``"emnist-balanced-"`` for EMNIST's files).
    Nothing is verified against a digest. DataFileError for a missing file, counts of
    images and labels that differ, or training and test images of different shapes.
    """
    dtype = checked_dtype(dtype, "load_idx_dir")
    directory = Path(path)
    names = tuple(prefix + name for name in IDX_FILES)
    found = find(directory, names)
    if len(found) < len(names):
        raise DataFileError(f"{directory}: expected the four files {', '.join(names)} "
                            f"(.gz or un-gzipped), found {len(found)}; missing: "
                            f"{missing(found, names)}")
    train_images, train_labels, test_images, test_labels = (found[name] for name in names)
    train = image_label_pair(train_images, train_labels, dtype, read_idx)
    test = image_label_pair(test_images, test_labels, dtype, read_idx)
    if train[0].shape[1] != test[0].shape[1]:
        raise DataFileError(f"{train_images} holds images of {train[0].shape[1]} pixels but "
                            f"{test_images} of {test[0].shape[1]}: expected the same shape")
    return train, test


def checked_dtype(dtype, caller: str) -> np.dtype:
    """``dtype`` as np.dtype if it is uint8 or a float dtype; DTypeError naming ``caller``."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{caller}: expected dtype uint8 or a float dtype, got "
                         f"{dtype!r}") from None
    if dtype != np.uint8 and dtype.kind != "f":
        raise DTypeError(f"{caller}: expected dtype uint8 or a float dtype, got {dtype}")
    return dtype


def find(directory: Path, names) -> dict[str, Path]:
    """``{name: file}`` for each of ``names`` present in ``directory`` (``.gz`` first)."""
    found = {}
    for name in names:
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                found[name] = candidate
                break
    return found


def missing(found: dict[str, Path], names) -> str:
    """The names not in ``found``, comma separated."""
    return ", ".join(name for name in names if name not in found)


def image_label_pair(images_path: Path, labels_path: Path, dtype: np.dtype,
                     read: Callable[[Path], np.ndarray], image_shape=None):
    """``(X, y)``: images (n, ...) read by ``read`` flattened to (n, pixels) of ``dtype``
    (floats scaled by 1/255), labels (n,) as int64; their counts must agree. With
    ``image_shape`` the images must be (n, *image_shape)."""
    images, labels = read(images_path), read(labels_path)
    if images.ndim < 2 or (image_shape and images.shape[1:] != tuple(image_shape)):
        expected = ", ".join(map(str, image_shape or ("height", "width")))
        raise DataFileError(f"{images_path}: expected images of shape (n, {expected}), "
                            f"found {images.shape}")
    if labels.ndim != 1:
        raise DataFileError(f"{labels_path}: expected labels of shape (n,), found {labels.shape}")
    if len(images) != len(labels):
        raise DataFileError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels: expected equal counts"
        )
    X = images.reshape(len(images), math.prod(images.shape[1:]))
    if dtype != np.uint8:
        X = np.multiply(X, dtype.type(1 / 255), dtype=dtype)
    return X, labels.astype(np.int64)
