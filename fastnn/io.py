"""Saving and loading models: one ``.npz`` file, written atomically, read without pickle.

The format and the writer live in :mod:`fastnn._model_file` (``save`` is re-exported
here); this module reads, trusting nothing: a file with an entry fastnn does not know is
refused, naming the entry.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
import zlib
from io import BytesIO
from pathlib import Path
from tokenize import TokenError

import numpy as np

from . import schedules
from ._model_file import (
    FORMAT,
    KEYS,
    OPTIMIZER_KEYS,
    OPTIONAL_KEYS,
    OPTIONAL_OPTIMIZER_KEYS,
    VERSION,
    model_arrays,
    save,
)
from .errors import FastnnError, ModelFileError
from .kernels.net import count_params
from .kernels.optimizers import RULES
from .layers import Dense, Dropout
from .model import Sequential
from .optimizers import OPTIMIZERS

_OPTIMIZER_CLASSES = {cls.__name__: cls for cls in OPTIMIZERS.values()}
_SCHEDULE_CLASSES = {name: getattr(schedules, name) for name in schedules.__all__}

__all__ = ["load", "save", "model_arrays", "FORMAT", "VERSION", "KEYS"]

_MAX_DESCRIPTION_BYTES = 1 << 16  # every entry but params is a few hundred bytes
_MAX_SLOTS = max(len(rule.slots) for rule in RULES.values())  # slot rows a checkpoint may hold
_MAX_CLASS_NAME_BYTES = 1 << 12  # per class: a name of up to 1024 characters (UTF-32)
# What reading a damaged zip or .npy header can raise; RuntimeError (NotImplementedError
# included) is zipfile's answer to features fastnn never writes (encryption, patch data).
_UNREADABLE = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, struct.error,
               RuntimeError)
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}


def load(path):
    """Read a model saved by :func:`save`; never unpickles.

    Every entry's ``.npy`` header (dtype, shape) is checked against the bytes it really
    holds before its array is made, and ``params`` against the size the architecture
    implies, so a corrupt or hostile file can neither run code nor make fastnn allocate
    more than the file holds. Raises FileNotFoundError if there is no file, ModelFileError
    if it is corrupt, truncated, of another format or version, holds an entry fastnn does
    not know, or is inconsistent.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            missing = [key for key in KEYS if f"{key}.npy" not in names]
            if missing:
                raise ModelFileError(f"{path}: not a fastnn model file (missing "
                                     f"{', '.join(missing)})")
            known = {f"{key}.npy" for key in KEYS + OPTIONAL_KEYS + OPTIMIZER_KEYS
                     + OPTIONAL_OPTIMIZER_KEYS}
            unknown = sorted(names - known)
            if unknown:
                name = unknown[0].removesuffix(".npy")
                raise ModelFileError(f"{path}: unknown entry {name!r} ({len(unknown)} in all); "
                                     f"a fastnn model file holds only {', '.join(KEYS)}, "
                                     f"optionally {', '.join(OPTIONAL_KEYS)} (and a "
                                     f"checkpoint {', '.join(OPTIMIZER_KEYS)}, optionally "
                                     f"{', '.join(OPTIONAL_OPTIMIZER_KEYS)})")
            present = [key for key in OPTIMIZER_KEYS if f"{key}.npy" in names]
            if not present and any(f"{key}.npy" in names for key in OPTIONAL_OPTIMIZER_KEYS):
                raise ModelFileError(f"{path}: {', '.join(OPTIONAL_OPTIMIZER_KEYS)} belongs "
                                     f"to a checkpoint, but the file has no optimizer state")
            if present and len(present) < len(OPTIMIZER_KEYS):
                missing = [key for key in OPTIMIZER_KEYS if key not in present]
                raise ModelFileError(f"{path}: a checkpoint needs every optimizer entry; "
                                     f"missing {', '.join(missing)}")
            entries = {key: _entry(z, path, key, _MAX_DESCRIPTION_BYTES) for key in KEYS[:-2]}
            sizes, acts, dtype = _description(path, entries)
            limits = {"input_scale": 8 * sizes[0], "input_shift": 8 * sizes[0],
                      "classes": _MAX_CLASS_NAME_BYTES * max(sizes[-1], 2),
                      "dropout": 8 * len(acts)}
            for key, limit in limits.items():
                if f"{key}.npy" in names:
                    entries[key] = _entry(z, path, key, limit + _MAX_DESCRIPTION_BYTES)
            input_map = _input_map(path, entries, sizes[0])
            n_params = count_params(sizes)
            params = _entry(z, path, "params", n_params * dtype.itemsize + _MAX_DESCRIPTION_BYTES)
            checkpoint = None
            if present:
                checkpoint = {key: _entry(z, path, key, _MAX_DESCRIPTION_BYTES)
                              for key in ("optimizer", "optimizer_step", "shuffle_state")}
                for key in OPTIONAL_OPTIMIZER_KEYS:
                    if f"{key}.npy" in names:
                        checkpoint[key] = _entry(z, path, key, _MAX_DESCRIPTION_BYTES)
                checkpoint["optimizer_slots"] = _entry(
                    z, path, "optimizer_slots", _MAX_SLOTS * n_params * dtype.itemsize
                    + _MAX_DESCRIPTION_BYTES)
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
        layers = []
        for i, o, a, rate in zip(sizes[:-1], sizes[1:], acts, _dropout(path, entries, len(acts))):
            layers += [Dropout(rate)] if rate else []
            layers.append(Dense(i, o, a))
        model = Sequential(layers, loss=entries["loss"].item(), seed=int(entries["seed"]),
                           dtype=dtype, **input_map)
    except (FastnnError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: inconsistent model description: {exc}") from None
    model.params[...] = params
    model.fitted = True
    if checkpoint is not None:
        _restore_optimizer(path, model, checkpoint)
    return model


def _restore_optimizer(path, model, entries) -> None:
    """Give ``model`` the optimizer, its state and the shuffling state of a checkpoint."""
    try:
        optimizer = _rebuilt(json.loads(_text(path, entries, "optimizer")), _OPTIMIZER_CLASSES)
        state = optimizer.state(model.net.n_params, model.dtype)
        slots, step = entries["optimizer_slots"], entries["optimizer_step"]
        if slots.shape != (len(state.slots), model.net.n_params) or slots.dtype != model.dtype:
            raise ValueError(f"optimizer_slots must be {model.dtype.name} of shape "
                             f"({len(state.slots)}, {model.net.n_params}), got {slots.dtype} "
                             f"{slots.shape}")
        if not np.isfinite(slots).all():
            raise ValueError("optimizer_slots hold NaN or infinite values")
        if step.shape != () or step.dtype.kind != "i" or step < 0:
            raise ValueError(f"optimizer_step must be a non-negative integer, got {step!r}")
        scale = entries.get("optimizer_lr_scale", np.array(1.0))
        if scale.shape != () or scale.dtype.kind != "f" or not 0 < scale < np.inf:
            raise ValueError(f"optimizer_lr_scale must be a positive finite number, got "
                             f"{scale!r}")
        for slot, saved in zip(state.slots, slots):
            slot[...] = saved
        state.step, state.lr_scale = int(step), float(scale)
        model.shuffle_rng.bit_generator.state = json.loads(_text(path, entries,
                                                                 "shuffle_state"))
    except (FastnnError, ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"{path}: inconsistent optimizer state: {exc}") from None
    model.optimizer, model.optimizer_state = optimizer, state


def _dropout(path, entries, n_layers: int) -> list[float]:
    """The optional ``dropout`` entry: float64 (L,), each Dense layer's input dropout rate."""
    if "dropout" not in entries:
        return [0.0] * n_layers
    rates = entries["dropout"]
    if rates.dtype != np.float64 or rates.shape != (n_layers,):
        raise ModelFileError(f"{path}: dropout must be float64 of shape ({n_layers},), got "
                             f"{rates.dtype} {rates.shape}")
    return [float(rate) for rate in rates]


def _text(path, entries, key) -> str:
    value = entries[key]
    if value.shape != () or value.dtype.kind != "U":
        raise ModelFileError(f"{path}: entry {key!r} must be a string, got {value.dtype} "
                             f"{value.shape}")
    return value.item()


def _rebuilt(described, classes):
    """The optimizer (or schedule) of a checkpoint's JSON, through its class's checks."""
    cls = classes.get(described["class"])
    if cls is None:
        raise ValueError(f"unknown class {described['class']!r}")
    fields = {key: _rebuilt(value, _SCHEDULE_CLASSES) if isinstance(value, dict) else value
              for key, value in described["fields"].items()}
    return cls(**fields)


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
    _expect(path, entries["version"], "version", "i", VERSION, _version_hint(entries["version"]))
    sizes, acts = entries["sizes"], entries["activations"]
    if sizes.dtype.kind != "i" or sizes.ndim != 1 or len(sizes) < 2 or (sizes < 1).any():
        raise ModelFileError(f"{path}: sizes must be positive integers, got {_shown(sizes)}")
    if acts.dtype.kind != "U" or acts.shape != (len(sizes) - 1,):
        raise ModelFileError(f"{path}: activations must be {len(sizes) - 1} names, got "
                             f"{_shown(acts)}")
    kinds = {"U": "name", "i": "integer", "f": "number"}
    for name, kind in (("loss", "U"), ("dtype", "U"), ("seed", "i")):
        value = entries[name]
        if value.dtype.kind != kind or value.shape != ():
            raise ModelFileError(f"{path}: {name} must be a single {kinds[kind]}, got "
                                 f"{_shown(value)}")
    dtype = entries["dtype"].item()
    if dtype not in ("float32", "float64"):  # the names save writes, no aliases ("f4")
        raise ModelFileError(f"{path}: dtype must be float32 or float64, got {dtype!r}")
    return [int(s) for s in sizes], [str(a) for a in acts], np.dtype(dtype)


def _input_map(path, entries, n_features: int) -> dict:
    """``input_scale``, ``input_shift`` and ``classes`` for Sequential, checked for kind
    and shape here (their values by Sequential): a number or one per feature (i,) of
    float64, and names (k,) of str, int64 or float64."""
    found = {}
    for name in ("input_scale", "input_shift"):
        value = entries.get(name)
        if value is None:
            continue
        if value.dtype.kind != "f" or value.shape not in ((), (n_features,)):
            raise ModelFileError(f"{path}: {name} must be a single number or one per input "
                                 f"feature ({n_features},), got {_shown(value)}")
        found[name] = value.item() if value.shape == () else value
    classes = entries.get("classes")
    if classes is not None:
        if classes.dtype.kind not in "Uif" or classes.ndim != 1:
            raise ModelFileError(f"{path}: classes must be a list of names (str, int64 or "
                                 f"float64), got {_shown(classes)}")
        found["classes"] = classes
    return found


def _expect(path, value, name, kind, expected, hint=""):
    if value.dtype.kind != kind or value.shape != () or value.item() != expected:
        raise ModelFileError(f"{path}: {name} must be {expected!r}, got {_shown(value)}{hint}")


def _version_hint(value: np.ndarray) -> str:
    """Why an integer version other than VERSION is refused."""
    if value.dtype.kind != "i" or value.shape != ():
        return ""
    if value.item() > VERSION:
        return " (saved by a newer fastnn?)"
    return f" (an older or invalid version: this fastnn reads version {VERSION} only)"


def _shown(value: np.ndarray) -> str:
    """An entry for a one-line message: dtype, shape and its first few values."""
    return f"{value.dtype} {value.shape} {value.ravel()[:6].tolist()!r}"
