"""Saving and loading models: one ``.npz`` file, written atomically, read without pickle.

File format (version 1), every entry a plain array: ``format`` ("fastnn-model"),
``version`` (1), ``sizes`` int64 (L+1,), ``activations`` str (L,), ``loss`` str,
``dtype`` str, ``seed`` int64, ``params`` (p,) of ``dtype`` (the flat buffer: every W,
then every b).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import FastnnError, ModelFileError
from .layers import Dense

FORMAT = "fastnn-model"
VERSION = 1
_KEYS = ("format", "version", "sizes", "activations", "loss", "dtype", "seed", "params")


def save(model, path) -> None:
    """Write ``model`` to ``path``: a temporary file in the same directory, flushed and
    fsynced, then renamed over ``path``, so an interrupted save never leaves a truncated
    model where the old one was."""
    path = Path(path)
    arrays = {
        "format": np.array(FORMAT), "version": np.array(VERSION, np.int64),
        "sizes": np.array(model.sizes, np.int64),
        "activations": np.array([layer.activation for layer in model.layers]),
        "loss": np.array(model.loss), "dtype": np.array(model.dtype.name),
        "seed": np.array(model.seed, np.int64), "params": model.params,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def load(path):
    """Read a model saved by :func:`save`; never unpickles.

    Raises FileNotFoundError if there is no file, ModelFileError if it is corrupt,
    truncated, of another format or version, or inconsistent.
    """
    from .model import Sequential

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            entries = {key: z[key] for key in _KEYS if key in z.files}
            missing = [key for key in _KEYS if key not in z.files]
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable fastnn model file ({exc})") from None
    if missing:
        raise ModelFileError(f"{path}: not a fastnn model file (missing {', '.join(missing)})")
    _expect(path, entries["format"], "format", "U", FORMAT)
    _expect(path, entries["version"], "version", "i", VERSION)
    sizes, acts, params = entries["sizes"], entries["activations"], entries["params"]
    if sizes.dtype.kind != "i" or sizes.ndim != 1 or len(sizes) < 2 or (sizes < 1).any():
        raise ModelFileError(f"{path}: sizes must be positive integers, got {sizes!r}")
    if acts.dtype.kind != "U" or acts.shape != (len(sizes) - 1,):
        raise ModelFileError(f"{path}: activations must be {len(sizes) - 1} names, got {acts!r}")
    try:
        layers = [Dense(int(i), int(o), str(a)) for i, o, a in zip(sizes[:-1], sizes[1:], acts)]
        model = Sequential(layers, loss=str(entries["loss"]), seed=int(entries["seed"]),
                           dtype=str(entries["dtype"]))
    except (FastnnError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: inconsistent model description: {exc}") from None
    if params.shape != model.params.shape or params.dtype != model.dtype:
        raise ModelFileError(f"{path}: params must be {model.dtype.name} of shape "
                             f"{model.params.shape} for sizes {tuple(sizes)}, got "
                             f"{params.dtype} {params.shape}")
    if not np.isfinite(params).all():
        raise ModelFileError(f"{path}: params hold NaN or infinite values")
    model.params[...] = params
    model.fitted = True
    return model


def _expect(path, value, name, kind, expected):
    if value.dtype.kind != kind or value.shape != () or value.item() != expected:
        raise ModelFileError(f"{path}: {name} must be {expected!r}, got {value!r}"
                             + (" (saved by a newer fastnn?)" if name == "version" else ""))


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
