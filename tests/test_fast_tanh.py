"""The numba backend's float32 tanh (``kernels/numba_backend/_math.py``), through the op
that uses it: ``dense_forward`` of a 1x1 identity layer is tanh(x) itself."""

import numpy as np
import pytest

from fastnn.backend import get_backend

U = 2.0**-24  # float32 unit roundoff
ALLOWED = 8 * U  # the equivalence tolerances' allowance per transcendental call


def tanh_op(x, backend_name):
    import fastnn as fnn
    with fnn.use_backend(backend_name):
        ops = get_backend()
    out = np.empty((x.size, 1), np.float32)
    ops.dense_forward(out, x.reshape(-1, 1), np.ones((1, 1), np.float32),
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
    got = tanh_op(x, "numba").astype(np.float64)
    exact = np.tanh(x.astype(np.float64))
    relative = np.abs(got - exact) / np.maximum(np.abs(exact), np.finfo(np.float32).tiny)
    worst = int(np.argmax(relative))
    assert relative[worst] <= ALLOWED, (x[worst], got[worst], exact[worst], relative[worst] / U)


@pytest.mark.parametrize("value, expected", [(np.nan, np.nan), (np.inf, 1.0), (-np.inf, -1.0)])
def test_float32_tanh_of_nan_and_infinities(value, expected):
    got = tanh_op(np.array([value], np.float32), "numba")[0]
    np.testing.assert_equal(got, np.float32(expected))
