"""Losses as units: one module per loss, every backend takes its code from it.

Each unit module defines:

- ``NAME``; ``PARAM``: the default of its one real parameter (0.0 if it has none),
  ``parse_param(text)``, ``format_param(p)`` and ``check_param(p)`` (ValueError for a bad one);
- ``KIND``: ``"entries"`` for a pointwise loss (each of a row's k entries has its own loss
  and the row's loss is their mean) or ``"rows"`` (softmax cross-entropy, whose compiled
  sweep a backend writes itself);
- ``TARGETS``: ``"labels"`` (int64 class labels (n,), or (n, k) target probabilities) or
  ``"values"`` ((n, k) of the net's dtype); ``check_targets(t, p)``: None, or a message
  saying why float targets t are outside the loss's range;
- ``HITS``: how correct predictions are counted, ``"argmax"``, ``"sign"`` (z > 0 against
  t >= 0.5, per entry) or ``"none"``; ``METRIC``: ``"accuracy"`` or ``"r2"`` (of the
  prediction); ``PREDICT``: the output transform, ``"softmax"``, ``"sigmoid"``,
  ``"identity"`` or ``"exp"``, applied by ``predict(out, z, p)`` (out may be z);
- the reference (numpy, the semantics): for ``"entries"``, ``forward(z, t, p)`` the loss of
  every entry (n, k), of the dtype or float64 (accumulated in float64), and
  ``backward(d, z, t, p)`` writing dl/dz of every entry into d; for ``"rows"``,
  ``forward_rows`` (float64 (n,)) and ``backward_rows``, the gradient of each row's loss;
- for ``"entries"``, the scalar rules a compiled backend builds its sweep from:
  ``value(z, t, p, f)`` (an entry's loss, float or float64) and ``grad(z, t, p, f)`` (its
  dl/dz, of dtype f), and for an r2 unit ``prediction(z, p, f)``, written with
  ``kernels.scalar``'s functions and constants typed from f;
- its rounding, for ``tolerances.py``: ``rounding(z, t, p)`` (entries: float64 (n, k)
  bounds, in units of u, of each entry's loss and gradient as the rules compute them) or
  ``row_bounds(z, t, p)`` (rows: absolute bounds of each row's loss and gradient entry);
- ``onnx_nodes(z, y, p, dtype)``: the ONNX lowering of its output transform, as an
  activation's (``kernels/activations``).

The loss of a batch is the weighted mean of its rows' losses, normalised by the sum of
the weights (all ones without weights: the mean over rows, and for a pointwise loss the
mean over all n k entries). Weights may be of either sign; a batch whose weights sum to
zero has loss 0 and a zero gradient.

A spec names a unit and, optionally, its parameter: ``"huber"``, ``"huber(0.5)"``.
:func:`resolve` parses and checks it.
"""

from __future__ import annotations

import functools

from .. import unit_specs
from . import huber, mae, mse, poisson, sigmoid_bce, softmax_cross_entropy

UNITS = {unit.NAME: unit for unit in (softmax_cross_entropy, sigmoid_bce, mse, huber, mae,
                                      poisson)}
"""Every loss, keyed by name; a unit's code is its position here."""
CODES = {name: code for code, name in enumerate(UNITS)}


@functools.lru_cache(maxsize=256)
def resolve(spec: str) -> tuple:
    """(unit module, parameter as float) for a loss spec; ValueError naming what is
    wrong with it."""
    return unit_specs.parse(spec, UNITS, "loss", "'huber(0.5)'")


def spec(name: str, param: float) -> str:
    """The canonical spec string of unit ``name`` with parameter ``param``."""
    return unit_specs.written(UNITS, name, param)


def canonical(spec_: str) -> str:
    """A spec in its canonical form (``"huber(1.0)"`` -> ``"huber"``)."""
    unit, param = resolve(spec_)
    return spec(unit.NAME, param)
