"""Activations as units: one module per activation, every backend takes its code from it.

Each unit module defines:

- ``NAME``; ``PARAM``: the default of its one real parameter (0.0 if it has none) and
  ``check_param(p)`` raising ValueError for a bad one; ``USES``: ``"y"`` if its derivative
  is taken from the layer's output y = act(z), ``"z"`` if it needs the pre-activation z
  (a layer of such an activation keeps z beside y);
- the reference (numpy, the semantics): ``forward(out, z, p)`` writes act(z) into out (out
  may be z), ``backward(d, z, y, p)`` multiplies d (the gradient of y) in place by
  act'(z) (z is None for ``USES == "y"``);
- the scalar rules a compiled backend builds its sweeps from: ``value(z, p)`` and
  ``slope(z, y, p)``, plain Python over scalars written with ``kernels.scalar``'s
  functions, with constants typed from their arguments (``f(1)``, never a bare ``1.0``,
  which would make float32 code float64);
- its rounding: ``VALUE_ROUNDINGS`` (error of the output in u, relative to |y|),
  ``INPUT_ROUNDINGS`` (an absolute error in u |z|, for outputs formed as z times a factor
  that may cancel), ``SLOPE_ROUNDINGS`` (error of dz in u |dout|) and ``LIPSCHITZ`` (a bound
  of |act'|), which ``tolerances.py`` turns into tolerances;
- ``gain(p)``: the initialisation's gain (sqrt(2) for ReLU-like units, He initialisation;
  None for Glorot uniform);
- ``onnx_nodes(z, y, p, dtype)``: its ONNX lowering, as a list of ``(op_type, inputs,
  outputs, attributes)`` and a dict of constants ``{name: numpy scalar}`` (empty lists for
  identity).

A spec names a unit and, optionally, its parameter: ``"relu"``, ``"leaky_relu"`` (default
slope), ``"leaky_relu(0.2)"``, ``"gelu(tanh)"``. :func:`resolve` parses and checks it.
"""

from __future__ import annotations

import functools

from .. import unit_specs
from . import gelu, identity, leaky_relu, relu, sigmoid, tanh

UNITS = {unit.NAME: unit for unit in (identity, relu, tanh, sigmoid, leaky_relu, gelu)}
"""Every activation, keyed by name; a unit's code is its position here."""
CODES = {name: code for code, name in enumerate(UNITS)}


@functools.lru_cache(maxsize=256)
def resolve(spec: str) -> tuple:
    """(unit module, parameter as float) for an activation spec; ValueError naming what is
    wrong with it."""
    return unit_specs.parse(spec, UNITS, "activation", "'leaky_relu(0.2)', 'gelu(tanh)'")


def spec(name: str, param: float) -> str:
    """The canonical spec string of unit ``name`` with parameter ``param``."""
    return unit_specs.written(UNITS, name, param)
