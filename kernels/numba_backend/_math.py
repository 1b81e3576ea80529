"""float32 tanh, exp and log (of a softmax sum) that LLVM can vectorise.

numba lowers ``np.tanh``, ``np.exp`` and ``np.log`` on float32 to the libm calls
``tanhf``, ``expf`` and ``logf``, one per element (this llvmlite has no SVML vector
library): about 18, 3.5 and 4 ns each, which made them most of the time of the two-moons
tutorial.

``kernels.scalar``'s ``exp``, ``tanh`` and ``erf`` (what activation and loss units write
their rules with) get their numba implementations here. For float32:

- ``tanh`` is the odd 13/6-degree rational approximation on [-9, 9] used by Eigen
  (``generic_fast_tanh_float``, MPL-2.0; the coefficients below are Eigen's), returning x
  itself for |x| < 4e-4 (where tanh(x) = x (1 - x^2/3 + ...) rounds to within 1 ulp of x)
  and for NaN, and the value at +-9 beyond it (tanh(9) rounds to 1 in float32).
- ``exp`` is Cephes' expf: n = round(x / ln 2), r = x - n ln 2 in two parts (Cody and
  Waite), a degree-7 polynomial in r, times 2^n built from its bit pattern; inf above
  88.7228, 0 below -87.3365 (where the result would be subnormal: flushed, as the
  tolerances allow) and NaN for NaN.
- :func:`log_of_sum` is Cephes' logf for what the softmax kernels take the log of, a sum
  of exponentials whose largest term is exp(0) = 1, so x >= 1 and finite, or NaN: x =
  m 2^e with m in [sqrt(1/2), sqrt(2)) taken from the bit pattern, log(m) = f - f^2/2 +
  f^3 P(f) with f = m - 1 and a degree-8 P, plus e ln 2 in two parts; NaN for NaN. (No
  zeros, negatives, infinities or subnormals, so no special cases beyond NaN.)

Only multiplies, adds, a divide, floor, min/max, bit casts and selects: every loop using
them vectorises. Measured against float64 over EVERY float32 of the range: tanh on [0, 9]
(odd to the bit) within 5.5 u, exp on [-87.34, 88.72] within 1.5 u, log_of_sum on every
float32 of [1, 3.4e38] within 2.1 u (u = 2^-24), all inside the 8 u the equivalence tolerances
allow each transcendental call (``kernels/tolerances.py``). float64 keeps numpy's
functions; so does log1p.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ..scalar import erf, exp, tanh
from .config import FASTMATH, inline

_CLAMP, _TINY = np.float32(9.0), np.float32(4e-4)
_A1, _A3, _A5, _A7, _A9, _A11, _A13 = (np.float32(c) for c in (
    4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
    -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
_B0, _B2, _B4, _B6 = (np.float32(c) for c in (
    4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))


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


@overload(erf)
def _erf_overload(x):
    return lambda x: math.erf(x)  # libm's erff / erf: a call per entry, not vectorised


# -- bit casts ----------------------------------------------------------------------------
def _bitcast(name, source, target, llvm_target):
    """An intrinsic ``name(x)``: the ``target`` scalar with the IEEE bits of ``source`` x."""
    def cast(typingctx, x):
        if x != source:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_target)

        return target(source), codegen

    cast.__name__ = cast.__qualname__ = name
    return intrinsic(cast)


_float32_from_bits = _bitcast("_float32_from_bits", types.int32, types.float32, ir.FloatType())
_bits_from_float32 = _bitcast("_bits_from_float32", types.float32, types.int32, ir.IntType(32))


# -- exp ----------------------------------------------------------------------------------
_LOG2E, _LN2_HI, _LN2_LO = np.float32(1.44269504088896341), np.float32(0.693359375), \
    np.float32(-2.12194440e-4)
_EXP_MAX, _EXP_MIN = np.float32(88.7228390), np.float32(-87.3365448)
_E0, _E1, _E2, _E3, _E4, _E5 = (np.float32(c) for c in (
    1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
    5.0000001201e-1))


@inline
def _power_of_two(k):
    """2^k as float32 for an int32 k in -126..127, from its bit pattern."""
    return _float32_from_bits(np.int32((k + np.int32(127)) << np.int32(23)))


def _exp_float32(x):
    y = min(max(x, _EXP_MIN), _EXP_MAX)
    n = np.floor(y * _LOG2E + np.float32(0.5))
    r = (y - n * _LN2_HI) - n * _LN2_LO
    p = ((((_E0 * r + _E1) * r + _E2) * r + _E3) * r + _E4) * r + _E5
    half = np.int32(n) >> np.int32(1)  # 2^n as 2^half * 2^(n - half): n reaches 128
    e = (p * (r * r) + r + np.float32(1)) * _power_of_two(half) * _power_of_two(
        np.int32(n) - half)
    if x > _EXP_MAX:
        return np.float32(np.inf)
    return e if x >= _EXP_MIN else (x if x != x else np.float32(0))


# Without "reassoc": LLVM would fold 2^half * 2^(n - half) into 2^n, which overflows
# for n = 128 (x above 88.38).
@overload(exp, jit_options={"fastmath": FASTMATH - {"reassoc"}})
def _exp_overload(x):
    if x == types.float32:
        return _exp_float32
    return lambda x: np.exp(x)


# -- log ----------------------------------------------------------------------------------
_SQRT_HALF = np.float32(0.707106781186547524)
_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8 = (np.float32(c) for c in (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1))


def log_of_sum(x):
    """log(x) for a softmax normaliser: x >= 1 and finite, or NaN (then NaN); for float32
    inside numba kernels, the vectorisable version below."""
    return np.log(x)


def _log_of_sum_float32(x):
    bits = _bits_from_float32(x)
    field = (bits >> np.int32(23)) & np.int32(0xFF)  # the biased exponent; 255 for NaN
    # x = m 2^e with m in [1/2, 1): m keeps x's mantissa under the exponent of 1/2
    m = _float32_from_bits(np.int32((bits & np.int32(0x807FFFFF)) | np.int32(0x3F000000)))
    e = np.float32(np.int32(field) - np.int32(126))
    below = np.float32(m < _SQRT_HALF)  # 1: use 2m in [1, sqrt(2)) and e - 1
    f = (m + m * below) - np.float32(1)
    e = e - below
    f2 = f * f
    p = (((((((_L0 * f + _L1) * f + _L2) * f + _L3) * f + _L4) * f + _L5) * f + _L6) * f
         + _L7) * f + _L8
    y = p * f * f2 + e * _LN2_LO - np.float32(0.5) * f2
    # times 1.0, or times NaN (bits 0x7FC00000) when x is NaN: a select without a branch
    nan_or_one = _float32_from_bits(np.int32(
        np.int32(0x3F800000) + np.int32(field == np.int32(0xFF)) * np.int32(0x40400000)))
    return ((f + y) + e * _LN2_HI) * nan_or_one


# Inlined into the calling kernel as numba IR, so compiled with the kernel's flags: as a
# separate function LLVM left it a call per element inside the small-net training loop
# (about 9.5 ns per log there, against 1 ns inlined). The accuracy above was measured
# under those flags (reassoc included). Branch-free on purpose: numba 0.68 on Python 3.11
# warns (NumbaIRAssumptionWarning, numba issue #9489) when an inlined function with
# if-expressions is used twice in one kernel.
@overload(log_of_sum, inline="always")
def _log_of_sum_overload(x):
    if x == types.float32:
        return _log_of_sum_float32
    return lambda x: np.log(x)
