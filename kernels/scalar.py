"""Scalar math that activation and loss units write their per-entry rules with.

Each function here is plain Python (numpy's or ``math``'s result), so a unit's scalar rule
runs as written anywhere; a compiled backend may register faster versions of these names
for its own dtypes (the numba backend does for float32 in ``numba_backend/_math.py``)
without the unit knowing.
"""

import math

import numpy as np


def exp(x):
    """exp(x)."""
    return np.exp(x)


def tanh(x):
    """tanh(x)."""
    return np.tanh(x)


def erf(x):
    """The error function erf(x)."""
    return math.erf(x)
