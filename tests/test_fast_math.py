"""The numba backend's vectorisable float32 tanh, exp and log of a softmax sum
(``kernels/numba_backend/_math.py``).

tanh is tested through the op that uses it (``dense_forward`` of a 1x1 identity layer is
tanh(x) itself); exp and log, used inside the loss kernels, through a loop compiled here
with the backend's flags.
"""

import numpy as np
import pytest
from numba import njit

from fastnn.kernels import load_backend
from fastnn.kernels.numba_backend import _math
from fastnn.kernels.numba_backend.config import FASTMATH

U = 2.0**-24  # float32 unit roundoff
ALLOWED = 8 * U  # the equivalence tolerances' allowance per transcendental call


def tanh_op(x):
    out = np.empty((x.size, 1), np.float32)
    load_backend("numba").dense_forward(out, x.reshape(-1, 1), np.ones((1, 1), np.float32),
                                        np.zeros(1, np.float32), "tanh")
    return out.ravel()


def test_float32_tanh_is_within_8u_of_the_exact_value():
    rng = np.random.default_rng(0)
    grid = np.linspace(-10, 10, 1_000_001, dtype=np.float32)
    tiny = np.float32(4e-4) * np.linspace(-1.5, 1.5, 100_001, dtype=np.float32)
    near_clamp = np.float32(9) + np.linspace(-1e-3, 1e-3, 10_001, dtype=np.float32)
    random_bits = rng.integers(0, 0x41100000, 1_000_000, dtype=np.int32).view(np.float32)
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, 9.0, -9.0, 1e30, -1e30],
                       np.float32)
    x = np.concatenate([grid, tiny, near_clamp, -near_clamp, random_bits, -random_bits,
                        special])
    got = tanh_op(x).astype(np.float64)
    exact = np.tanh(x.astype(np.float64))
    relative = np.abs(got - exact) / np.maximum(np.abs(exact), np.finfo(np.float32).tiny)
    worst = int(np.argmax(relative))
    assert relative[worst] <= ALLOWED, (x[worst], got[worst], exact[worst], relative[worst] / U)


@pytest.mark.parametrize("value, expected", [(np.nan, np.nan), (np.inf, 1.0), (-np.inf, -1.0)])
def test_float32_tanh_of_nan_and_infinities(value, expected):
    got = tanh_op(np.array([value], np.float32))[0]
    np.testing.assert_equal(got, np.float32(expected))


def elementwise(fn):
    """fn applied to each entry of a float32 array, compiled with the backend's flags."""
    @njit(fastmath=FASTMATH)
    def run(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    def apply(x):
        out = np.empty_like(x)
        run(x, out)
        return out
    return apply


exp_kernel, log_kernel = elementwise(_math.exp), elementwise(_math.log_of_sum)


def test_float32_exp_is_within_8u_of_the_exact_value():
    # Results below the smallest normal float32 (x < -87.34) may be flushed to zero: the
    # equivalence tolerances have an absolute floor for underflow.
    rng = np.random.default_rng(1)
    lo, hi = np.float32(-104), np.float32(88.72)
    grid = np.linspace(lo, hi, 2_000_001, dtype=np.float32)
    random_bits = rng.integers(0, 0x42B17217, 1_000_000, dtype=np.int32).view(np.float32)
    edges = np.array([0.0, -0.0, 88.3762, 88.7228, -87.3365, -87.34, -1e-45, 1e-45],
                     np.float32)
    x = np.concatenate([grid, random_bits, -random_bits, edges])
    got = exp_kernel(x).astype(np.float64)
    exact = np.exp(x.astype(np.float64))
    tiny = np.finfo(np.float32).tiny
    normal = exact >= tiny
    relative = np.abs(got - exact)[normal] / exact[normal]
    worst = int(np.argmax(relative))
    assert relative[worst] <= ALLOWED, (x[normal][worst], relative[worst] / U)
    assert np.all(np.abs(got - exact)[~normal] <= tiny)


@pytest.mark.parametrize("value, expected", [(np.nan, np.nan), (np.inf, np.inf),
                                             (-np.inf, 0.0), (88.8, np.inf), (-1e4, 0.0),
                                             (0.0, 1.0)])
def test_float32_exp_special_values(value, expected):
    np.testing.assert_equal(exp_kernel(np.array([value], np.float32))[0], np.float32(expected))


def test_float32_log_of_sum_is_within_8u_of_the_exact_value():
    # Its domain: x >= 1 and finite (a sum of exponentials whose largest is exp(0) = 1).
    rng = np.random.default_rng(2)
    random_bits = rng.integers(0x3F800000, 0x7F800000, 2_000_000, dtype=np.int32)
    near_one = np.float32(1) + np.linspace(0, 0.01, 1_000_001, dtype=np.float32)
    near_split = np.float32(np.sqrt(2)) * (np.float32(1) + np.linspace(
        -1e-4, 1e-4, 10_001, dtype=np.float32))
    edges = np.array([1.0, 2.0, 10.0, 3.4028235e38], np.float32)
    x = np.concatenate([random_bits.view(np.float32), near_one, near_split, edges])
    got = log_kernel(x).astype(np.float64)
    exact = np.log(x.astype(np.float64))
    relative = np.abs(got - exact) / np.maximum(exact, np.finfo(np.float32).tiny)
    worst = int(np.argmax(relative))
    assert relative[worst] <= ALLOWED, (x[worst], relative[worst] / U)


def test_float32_log_of_sum_of_one_and_nan():
    got = log_kernel(np.array([1.0, np.nan], np.float32))
    np.testing.assert_equal(got, np.array([0.0, np.nan], np.float32))
