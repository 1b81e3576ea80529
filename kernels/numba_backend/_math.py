"""A float32 tanh that LLVM can vectorise.

numba lowers ``np.tanh`` on float32 to the libm call ``tanhf`` once per element (this
llvmlite has no SVML vector library): about 18 ns each, which made tanh most of the time
of the two-moons tutorial. :func:`tanh` is instead, for float32, the 13/6-degree odd
rational approximation on [-9, 9] used by Eigen (``generic_fast_tanh_float``, MPL-2.0;
the coefficients below are Eigen's), returning x itself for |x| < 4e-4 (where
tanh(x) = x (1 - x^2/3 + ...) rounds to within 1 ulp of x) and for NaN, and the value
at +-9 beyond it (tanh(9) rounds to 1 in float32). Only multiplies, adds, one divide, min/max and a select: every
loop using it vectorises. Measured against float64 tanh over EVERY float32 in [0, 9]
(it is odd to the bit): relative error at most 5.5 u (u = 2^-24), inside the 8 u the
equivalence tolerances allow each transcendental call (``kernels/tolerances.py``).
float64 keeps ``np.tanh``.
"""

import numpy as np
from numba import types
from numba.extending import overload

from .config import FASTMATH

_CLAMP, _TINY = np.float32(9.0), np.float32(4e-4)
_A1, _A3, _A5, _A7, _A9, _A11, _A13 = (np.float32(c) for c in (
    4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
    -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
_B0, _B2, _B4, _B6 = (np.float32(c) for c in (
    4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))


def tanh(x):
    """tanh(x); for float32 inside numba kernels, the vectorisable approximation above."""
    return np.tanh(x)


def _tanh_float32(x):
    y = min(max(x, -_CLAMP), _CLAMP)
    y2 = y * y
    p = ((((((_A13 * y2 + _A11) * y2 + _A9) * y2 + _A7) * y2 + _A5) * y2 + _A3) * y2 + _A1)
    q = (((_B6 * y2 + _B4) * y2 + _B2) * y2 + _B0)
    return y * p / q if abs(x) >= _TINY else x  # NaN fails the test: NaN out


@overload(tanh, jit_options={"fastmath": FASTMATH})
def _tanh_overload(x):
    if x == types.float32:
        return _tanh_float32
    return lambda x: np.tanh(x)
