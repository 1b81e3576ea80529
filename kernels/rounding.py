"""Rounding-error units shared by every tolerance: the unit roundoff, Higham's gamma_k,
the single safety factor and the underflow floor (see ``tolerances.py`` for how they are
used)."""

from __future__ import annotations

import numpy as np

SAFETY = 4.0
"""The single safety factor, applied to every bound below (see the module docstring).

It covers what the first-order analysis drops (products of two small errors, the
1/(1 - K u) terms at second order) and small differences between the rounding counts
assumed here and those of a particular implementation (e.g. a scale formed as 2/N and
then multiplied, instead of one division)."""

TRANSCENDENTAL_ULPS = 4
"""Accuracy assumed for exp, tanh, log, log1p: this many ulps (numba/LLVM vs numpy SIMD)."""

def unit_roundoff(dtype) -> float:
    """u: half the machine epsilon; 2^-24 for float32, 2^-53 for float64."""
    return float(np.finfo(dtype).eps) / 2


def gamma(k, dtype) -> float | np.ndarray:
    """Higham's gamma_k = k u / (1 - k u): the relative error bound of a k-term sum."""
    u = unit_roundoff(dtype)
    k = np.asarray(k, dtype=np.float64)
    if np.any(k * u >= 1):
        raise ValueError(f"gamma_k undefined for k u >= 1 (k={np.max(k)}, u={u})")
    g = k * u / (1 - k * u)
    return float(g) if g.ndim == 0 else g


def floor(dtype) -> float:
    """The absolute floor of every tolerance: underflowed results (subnormal or flushed)."""
    return 2 * SAFETY * float(np.finfo(dtype).tiny)
