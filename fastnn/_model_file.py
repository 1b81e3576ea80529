"""The model file format and its writer; :mod:`fastnn.io` holds the checking reader.

A model file is one ``.npz`` (a zip of ``.npy`` entries), version 1, every entry a plain
array: ``format`` ("fastnn-model"), ``version`` (1), ``sizes`` int64 (L+1,),
``activations`` str (L,), ``loss`` str, ``dtype`` str, ``seed`` int64, ``input_scale``
float64, a number () or one per input feature (i,), ``params`` (p,) of ``dtype`` (the
flat buffer: every W, then every b). Two optional entries, written only where a model
has them (files without them load as before): ``input_shift`` float64 () or (i,), the
input map's shift (``x' = (x - input_shift) * input_scale``), ``classes`` (k,) str,
int64 or float64, the class names ``predict`` returns, and ``dropout`` float64 (L,), the
rate of the Dropout on each Dense layer's input (0: none). This module imports nothing of
the model, so ``Sequential.save`` and ``fastnn.io`` can both use it without importing
each other.

A checkpoint (``include_optimizer=True``) adds, all or none of them: ``optimizer`` str,
JSON of the optimizer's class and fields (a schedule, of the learning rate or the
weight decay, as its class and fields); ``optimizer_step`` int64; ``optimizer_slots``
(s, p) of ``dtype``, one row per slot of the rule; ``shuffle_state`` str, JSON of the
shuffling generator's state. With them a stopped run resumes exactly where it stopped.
One optional checkpoint entry,
written only where it is not 1 (files without it load with 1): ``optimizer_lr_scale``
float64 (), the state's learning-rate multiplier (``ReduceLROnPlateau``'s reductions).
The optimizer's description holds its clipping (``clipnorm``, ``clipvalue``) where set;
older descriptions without them load without clipping.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from ._files import atomic_write
from .errors import NotFittedError

__all__ = ["FORMAT", "VERSION", "KEYS", "OPTIONAL_KEYS", "OPTIMIZER_KEYS",
           "OPTIONAL_OPTIMIZER_KEYS", "save", "model_arrays", "optimizer_arrays"]

FORMAT = "fastnn-model"
VERSION = 1
KEYS = ("format", "version", "sizes", "activations", "loss", "dtype", "seed", "input_scale",
        "params")
OPTIONAL_KEYS = ("input_shift", "classes", "dropout")
OPTIMIZER_KEYS = ("optimizer", "optimizer_step", "optimizer_slots", "shuffle_state")
OPTIONAL_OPTIMIZER_KEYS = ("optimizer_lr_scale",)


def save(model, path, include_optimizer: bool = False) -> None:
    """Write ``model`` to ``path`` atomically (see :func:`fastnn._files.atomic_write`): an
    interrupted save never leaves a truncated model where the old one was. A model that
    was neither fitted nor given parameters is refused: its file would load as trained.
    ``include_optimizer`` also writes the optimizer's state (a checkpoint)."""
    if not model.fitted:
        raise NotFittedError("this model has not been fitted: saving it would write its "
                             "random initial weights, which load() treats as trained; call "
                             "fit() or set_params() first")
    arrays = model_arrays(model)
    if include_optimizer:
        arrays.update(optimizer_arrays(model))
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def model_arrays(model) -> dict[str, np.ndarray]:
    """The entries of ``model``'s file, by name (see the module docstring)."""
    arrays = {
        "format": np.array(FORMAT), "version": np.array(VERSION, np.int64),
        "sizes": np.array(model.sizes, np.int64),
        "activations": np.array(model.net.activations),
        "loss": np.array(model.loss), "dtype": np.array(model.dtype.name),
        "seed": np.array(model.seed, np.int64),
        "input_scale": np.array(model.input_scale, np.float64), "params": model.params,
    }
    if np.any(model.input_shift != 0):
        arrays["input_shift"] = np.array(model.input_shift, np.float64)
    if model.classes is not None:
        arrays["classes"] = np.array(model.classes)
    if any(model.net.dropout):
        arrays["dropout"] = np.array(model.net.dropout, np.float64)
    return arrays


def optimizer_arrays(model) -> dict[str, np.ndarray]:
    """The checkpoint entries of ``model``'s optimizer state (see the module docstring)."""
    state = model.optimizer_state
    if state is None:
        raise NotFittedError("include_optimizer=True needs a model trained by fit(): this "
                             "one has no optimizer state")
    arrays = {
        "optimizer": np.array(json.dumps(_described(model.optimizer))),
        "optimizer_step": np.array(state.step, np.int64),
        "optimizer_slots": np.stack(state.slots),
        "shuffle_state": np.array(json.dumps(model.shuffle_rng.bit_generator.state)),
    }
    if state.lr_scale != 1:
        arrays["optimizer_lr_scale"] = np.array(state.lr_scale, np.float64)
    return arrays


def _described(obj) -> dict:
    """{"class": name, "fields": {...}} of a dataclass (an optimizer or a schedule); an
    optimizer's keyword-only fields (its clipping, Adam's eps_hat) only where set, so a
    file of an optimizer without them reads as before."""
    fields = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if field.kw_only and value == field.default:
            continue
        fields[field.name] = _described(value) if dataclasses.is_dataclass(value) else value
    return {"class": type(obj).__name__, "fields": fields}
