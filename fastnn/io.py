"""Saving and loading models: one ``.npz`` file, written atomically, read without pickle.

File format (version 1), every entry a plain array: ``format`` ("fastnn-model"),
``version`` (1), ``sizes`` int64 (L+1,), ``activations`` str (L,), ``loss`` str,
``dtype`` str, ``seed`` int64, ``input_scale`` float64, ``params`` (p,) of ``dtype`` (the
flat buffer: every W, then every b).
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from io import BytesIO
from pathlib import Path
from tokenize import TokenError

import numpy as np

from ._files import atomic_write
from .errors import FastnnError, ModelFileError, NotFittedError
from .kernels.net import count_params
from .layers import Dense

FORMAT = "fastnn-model"
VERSION = 1
KEYS = ("format", "version", "sizes", "activations", "loss", "dtype", "seed", "input_scale",
         "params")
_MAX_DESCRIPTION_BYTES = 1 << 16  # every entry but params is a few hundred bytes
# What reading a damaged zip or .npy header can raise; RuntimeError (NotImplementedError
# included) is zipfile's answer to features fastnn never writes (encryption, patch data).
_UNREADABLE = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, struct.error,
               RuntimeError)
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}


def save(model, path) -> None:
    """Write ``model`` to ``path`` atomically (see :func:`fastnn._files.atomic_write`): an
    interrupted save never leaves a truncated model where the old one was. A model that
    was neither fitted nor given parameters is refused: its file would load as trained."""
    if not model.fitted:
        raise NotFittedError("this model has not been fitted: saving it would write its "
                             "random initial weights, which load() treats as trained; call "
                             "fit() or set_params() first")
    with atomic_write(path) as f:
        np.savez(f, **model_arrays(model))


def model_arrays(model) -> dict[str, np.ndarray]:
    """The entries of ``model``'s file, by name (see the module docstring)."""
    return {
        "format": np.array(FORMAT), "version": np.array(VERSION, np.int64),
        "sizes": np.array(model.sizes, np.int64),
        "activations": np.array([layer.activation for layer in model.layers]),
        "loss": np.array(model.loss), "dtype": np.array(model.dtype.name),
        "seed": np.array(model.seed, np.int64),
        "input_scale": np.array(model.input_scale, np.float64), "params": model.params,
    }


def load(path):
    """Read a model saved by :func:`save`; never unpickles.

    Every entry's ``.npy`` header (dtype, shape) is checked against the bytes it really
    holds before its array is made, and ``params`` against the size the architecture
    implies, so a corrupt or hostile file can neither run code nor make fastnn allocate
    more than the file holds. Raises FileNotFoundError if there is no file, ModelFileError
    if it is corrupt, truncated, of another format or version, or inconsistent.
    """
    from .model import Sequential

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            missing = [key for key in KEYS if f"{key}.npy" not in names]
            if missing:
                raise ModelFileError(f"{path}: not a fastnn model file (missing "
                                     f"{', '.join(missing)})")
            entries = {key: _entry(z, path, key, _MAX_DESCRIPTION_BYTES) for key in KEYS[:-1]}
            sizes, acts, dtype = _description(path, entries)
            n_params = count_params(sizes)
            params = _entry(z, path, "params", n_params * dtype.itemsize + _MAX_DESCRIPTION_BYTES)
    except (FileNotFoundError, ModelFileError):
        raise
    except _UNREADABLE as exc:
        raise ModelFileError(f"{path}: not a readable fastnn model file "
                             f"({type(exc).__name__}: {exc})") from None
    if params.shape != (n_params,) or params.dtype != dtype:
        raise ModelFileError(f"{path}: params must be {dtype.name} of shape ({n_params},) for "
                             f"sizes {tuple(sizes)}, got {params.dtype} {params.shape}")
    if not np.isfinite(params).all():
        raise ModelFileError(f"{path}: params hold NaN or infinite values")
    try:
        layers = [Dense(i, o, a) for i, o, a in zip(sizes[:-1], sizes[1:], acts)]
        model = Sequential(layers, loss=entries["loss"].item(), seed=int(entries["seed"]),
                           dtype=dtype, input_scale=entries["input_scale"].item())
    except (FastnnError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: inconsistent model description: {exc}") from None
    model.params[...] = params
    model.fitted = True
    return model


def _entry(z: zipfile.ZipFile, path, key: str, max_bytes: int) -> np.ndarray:
    """The array stored as ``key.npy``: at most ``max_bytes``, header checked, no pickle."""
    info = z.getinfo(f"{key}.npy")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(f"{path}: entry {key!r} uses zip compression method "
                             f"{info.compress_type}, expected stored (0) or deflated (8)")
    if info.file_size > max_bytes:
        raise ModelFileError(f"{path}: entry {key!r} declares {info.file_size} bytes, "
                             f"expected at most {max_bytes}")
    data = z.read(info)  # also checks the entry's CRC-32
    f = BytesIO(data)
    version = np.lib.format.read_magic(f)
    if version not in _NPY_HEADER_READERS:
        raise ModelFileError(f"{path}: entry {key!r} has .npy format version {version}, "
                             f"expected 1.0 or 2.0")
    try:
        shape, fortran, dtype = _NPY_HEADER_READERS[version](f)
    except (ValueError, SyntaxError, TokenError) as exc:  # what numpy's parser says to junk
        raise ModelFileError(f"{path}: entry {key!r} has an unreadable .npy header "
                             f"({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise ModelFileError(f"{path}: entry {key!r} holds Python objects (dtype {dtype}); "
                             f"fastnn never unpickles model files")
    count, held = math.prod(shape), len(data) - f.tell()
    if dtype.itemsize == 0 or count * dtype.itemsize != held:
        raise ModelFileError(f"{path}: entry {key!r} declares {dtype} of shape {shape} "
                             f"({count * dtype.itemsize} bytes) but holds {held} bytes")
    return np.frombuffer(data, dtype, count, f.tell()).reshape(shape,
                                                               order="F" if fortran else "C")


def _description(path, entries) -> tuple[list[int], list[str], np.dtype]:
    """Sizes, activation names and float dtype from the small entries, checked."""
    _expect(path, entries["format"], "format", "U", FORMAT)
    _expect(path, entries["version"], "version", "i", VERSION)
    sizes, acts = entries["sizes"], entries["activations"]
    if sizes.dtype.kind != "i" or sizes.ndim != 1 or len(sizes) < 2 or (sizes < 1).any():
        raise ModelFileError(f"{path}: sizes must be positive integers, got {_shown(sizes)}")
    if acts.dtype.kind != "U" or acts.shape != (len(sizes) - 1,):
        raise ModelFileError(f"{path}: activations must be {len(sizes) - 1} names, got "
                             f"{_shown(acts)}")
    kinds = {"U": "name", "i": "integer", "f": "number"}
    for name, kind in (("loss", "U"), ("dtype", "U"), ("seed", "i"), ("input_scale", "f")):
        value = entries[name]
        if value.dtype.kind != kind or value.shape != ():
            raise ModelFileError(f"{path}: {name} must be a single {kinds[kind]}, got "
                                 f"{_shown(value)}")
    dtype = entries["dtype"].item()
    if dtype not in ("float32", "float64"):  # the names save writes, no aliases ("f4")
        raise ModelFileError(f"{path}: dtype must be float32 or float64, got {dtype!r}")
    return [int(s) for s in sizes], [str(a) for a in acts], np.dtype(dtype)


def _expect(path, value, name, kind, expected):
    if value.dtype.kind != kind or value.shape != () or value.item() != expected:
        raise ModelFileError(f"{path}: {name} must be {expected!r}, got {_shown(value)}"
                             + (" (saved by a newer fastnn?)" if name == "version" else ""))


def _shown(value: np.ndarray) -> str:
    """An entry for a one-line message: dtype, shape and its first few values."""
    return f"{value.dtype} {value.shape} {value.ravel()[:6].tolist()!r}"
