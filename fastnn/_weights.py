"""Sample and class weights for ``fit`` and ``evaluate``: validation and the class weights'
expansion into one weight per sample (Keras's and scikit-learn's meanings)."""

from __future__ import annotations

import numpy as np

from . import _validate as check
from .errors import ConfigError, ShapeError, ValueRangeError


def sample_weights(w, n_rows: int, name: str = "sample_weight") -> np.ndarray | None:
    """w as C-contiguous float64 (n_rows,): 1-D, one per row, finite, of a positive total
    (see :func:`total_is_positive`); None stays None. A weight may be negative, as in
    scikit-learn: its row counts against the weighted mean."""
    if w is None:
        return None
    arr = check.real_array(w, name)
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ShapeError(f"{name} must be 1-D with one weight per sample ({n_rows},), got "
                         f"shape {arr.shape}")
    return total_is_positive(np.ascontiguousarray(arr, np.float64), name)


def total_is_positive(w: np.ndarray, name: str) -> np.ndarray:
    """w itself if its sum is positive, the denominator of every weighted mean (the loss,
    the metric); else a ValueRangeError naming it."""
    if not w.any():
        raise ValueRangeError(f"{name} is zero for every sample: at least one sample needs a "
                              f"non-zero weight")
    total = float(np.sum(w))
    if not total > 0:
        raise ValueRangeError(f"{name} sums to {total:g}: the weighted mean of the samples' "
                              f"losses needs a positive total weight")
    return w


def class_of_each_row(t: np.ndarray, hits: str) -> np.ndarray | None:
    """int64 (n,): each row's class (its label, the argmax of its target probabilities, or
    for one logistic output t >= 0.5), or None where the targets name no classes."""
    if hits == "argmax":
        return t if t.ndim == 1 else t.argmax(axis=1)
    if hits == "sign" and t.shape[1] == 1:
        return (t[:, 0] >= 0.5).astype(np.int64)
    return None


def with_class_weights(weights, class_weight, t, hits: str, n_classes: int, names=None,
                       counts=None):
    """The sample weights (or None) times each row's class weight: ``class_weight`` a dict
    {class: weight} (the model's class names if it has them, else labels 0..k-1; classes
    it leaves out weigh 1) or ``"balanced"``, n / (classes present * rows of the class).
    counts: float64 (n_classes,), the rows of each class in the whole data set when t is
    a part of it (a data-parallel rank's shard), else None (t's own)."""
    if class_weight is None:
        return weights
    classes = class_of_each_row(t, hits)
    if classes is None:
        raise ConfigError("class_weight needs class targets: a softmax_cross_entropy model, "
                          "or sigmoid_bce with one output; give sample_weight instead")
    if counts is None:
        counts = np.bincount(classes, minlength=n_classes).astype(np.float64)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ConfigError(f"class_weight must be a dict or 'balanced', got "
                              f"{class_weight!r}")
        per_class = np.where(counts > 0, counts.sum() / (np.count_nonzero(counts)
                                                          * np.maximum(counts, 1)), 1.0)
    elif isinstance(class_weight, dict):
        per_class = np.ones(n_classes)
        keys = list(range(n_classes)) if names is None else list(names.tolist())
        for key, value in class_weight.items():
            key = key.item() if isinstance(key, np.generic) else key
            if key not in keys:
                raise ValueRangeError(f"class_weight names class {key!r}, which is not one of "
                                      f"this model's classes {keys}")
            per_class[keys.index(key)] = check.real(value, f"class_weight[{key!r}]", low=0)
    else:
        raise ConfigError(f"class_weight must be a dict or 'balanced', got "
                          f"{type(class_weight).__name__}")
    rows = per_class[classes]
    combined = rows if weights is None else weights * rows
    return total_is_positive(np.ascontiguousarray(combined, np.float64),
                             "sample_weight times class_weight")
