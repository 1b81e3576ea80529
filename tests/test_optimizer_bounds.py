"""The optimizer bounds that let a step skip its check pass (the numba backend keeps them
privately per optimizer state; ``optim_calls`` shares one state between the steps given
the same ``bounds`` array).

A backend may replace the check pass of an all-or-nothing step by a proof from the
bounds the previous step left; these tests pin down that the shortcut never changes a
result, that the bounds written are true upper bounds, and that a step which would
overflow still changes nothing when the bounds are known.
"""

import numpy as np
import pytest
from optim_calls import adam_step, sgd_step

from fastnn.backend import get_backend

# 600,001 entries span three of the numba backend's parallel chunks (2^18 entries).
SIZES = [7, 1000, 600_001]
SGD_KINDS = {"plain": (0.0, False), "momentum": (0.9, False), "nesterov": (0.9, True)}
# gradient clipping: the proof then bounds the clipped gradient (steps() draws |g| ~ 0.1,
# norms ~ 0.1 sqrt(size): the norm clips at every size, the value some entries)
CLIPS = {"unclipped": None, "clipnorm": {"clipnorm": 0.5}, "clipvalue": {"clipvalue": 0.05},
         "both": {"clipnorm": 0.5, "clipvalue": 0.05}}


def sgd(ops, state, g, bounds, kind, weight_decay, clip=None):
    momentum, nesterov = SGD_KINDS[kind]
    p, v = state
    return sgd_step(ops, p, v, g.copy(), 0.05, momentum, weight_decay, nesterov,
                    p.size // 2, bounds, clip)


def adam(ops, state, g, bounds, step, weight_decay, clip=None):
    p, m, v = state
    return adam_step(ops, p, m, v, g.copy(), step, 1e-3, 0.9, 0.999, 1e-8, weight_decay,
                     p.size // 2, bounds, clip=clip)


def steps(dtype, size, n=4, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(size).astype(dtype)
    return p, [(rng.standard_normal(size) * 0.1).astype(dtype) for _ in range(n)]


def unchanged_after(step, arrays):
    """step()'s result, after checking that it changed none of ``arrays``."""
    before = [a.copy() for a in arrays]
    ok = step()
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)
    return ok


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["plain", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("clip", CLIPS)
def test_steps_with_bounds_equal_steps_without_bit_for_bit(backend, dtype, size, kind, clip):
    p0, grads = steps(dtype, size)
    ops = get_backend()
    n_slots = 2 if kind == "adam" else 1
    tracked = [p0.copy()] + [np.zeros(size, dtype) for _ in range(n_slots)]
    checked = [a.copy() for a in tracked]
    bounds, clip = np.full(3, np.inf), CLIPS[clip]
    for t, g in enumerate(grads, start=1):
        if kind == "adam":
            assert (adam(ops, tracked, g, bounds, t, 1e-2, clip)
                    and adam(ops, checked, g, None, t, 1e-2, clip))
        else:
            assert (sgd(ops, tracked, g, bounds, kind, 1e-2, clip)
                    and sgd(ops, checked, g, None, kind, 1e-2, clip))
    for a, b in zip(tracked, checked):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["momentum", "nesterov", "adam"])
@pytest.mark.parametrize("clip", CLIPS)
def test_bounds_left_by_a_step_bound_the_values_written(backend, size, kind, clip):
    p0, grads = steps(np.float32, size)
    ops = get_backend()
    state = [p0.copy()] + [np.zeros(size, np.float32) for _ in range(2 if kind == "adam" else 1)]
    bounds, clip = np.full(3, np.inf), CLIPS[clip]
    for t, g in enumerate(grads, start=1):
        assert adam(ops, state, g, bounds, t, 0.0, clip) if kind == "adam" else \
            sgd(ops, state, g, bounds, kind, 0.0, clip)
        for bound, values in zip(bounds, state):
            assert bound >= np.abs(values).max()  # inf (untracked) included


@pytest.mark.parametrize("kind", ["momentum", "adam"])
def test_a_step_that_would_overflow_changes_nothing_with_known_bounds(backend, kind):
    # A first step leaves known bounds; the next gradient is finite but makes a new value
    # overflow: SGD's velocity 0.9 * 0.6 max + 0.6 max, Adam's g * g.
    p0, (g, _, _, _) = steps(np.float32, 1000)
    ops = get_backend()
    big = 0.6 * np.finfo(np.float32).max
    state = [p0.copy()] + [np.zeros(1000, np.float32) for _ in range(2 if kind == "adam" else 1)]
    bounds = np.full(3, np.inf)
    g = g.copy()
    if kind == "adam":
        assert adam(ops, state, g, bounds, 1, 0.0)
    else:
        g[123] = big
        assert sgd(ops, state, g, bounds, kind, 0.0)
    g[123] = big
    ok = unchanged_after(lambda: adam(ops, state, g, bounds, 2, 0.0) if kind == "adam" else
                         sgd(ops, state, g, bounds, kind, 0.0), state + [bounds])
    assert ok is False


def test_an_adam_step_that_is_nan_without_overflow_changes_nothing(backend):
    # A negative beta2 (which Adam() refuses, but the op does not) lets v turn negative,
    # so its square root is NaN while every value stays small: known bounds must not let
    # such a step skip the check. Step 1: v = 1.5 g^2; step 2 with g/10: v = -0.735 g^2.
    ops = get_backend()
    p0, (g, _, _, _) = steps(np.float32, 1000)
    state = [p0.copy(), np.zeros(1000, np.float32), np.zeros(1000, np.float32)]
    bounds = np.full(3, np.inf)
    hyper = (1e-3, 0.9, -0.5, 1e-8, 0.0, 500)
    assert adam_step(ops, *state, g.copy(), 1, *hyper, bounds)
    assert unchanged_after(lambda: adam_step(ops, *state, g / 10, 2, *hyper, bounds),
                           state + [bounds]) is False


def test_known_bounds_do_not_hide_an_intermediate_that_overflows(backend):
    # Plain SGD with a small lr: the new parameter lr (g + wd p) would stay finite if
    # g + wd p did, but that intermediate overflows: -3e38 + 1e3 * -1e35.
    ops = get_backend()
    p, v, bounds = np.ones(1, np.float32), np.zeros(1, np.float32), np.full(3, np.inf)
    hyper = (1e-3, 0.0, 1e3, False, 1, bounds)
    assert sgd_step(ops, p, v, np.array([1e38], np.float32), *hyper)
    assert unchanged_after(
        lambda: sgd_step(ops, p, v, np.array([-3e38], np.float32), *hyper), [p, v, bounds]) is False


def test_known_bounds_do_not_hide_an_adam_numerator_that_overflows(backend):
    # With eps = 1e12 the update lr_hat * m / (sqrt(v) + eps) is finite, but lr_hat * m,
    # formed first, is not: 1e30 / 0.19 * 1e8.
    ops = get_backend()
    state = [np.full(7, 0.5, np.float32), np.zeros(7, np.float32), np.zeros(7, np.float32)]
    bounds = np.full(3, np.inf)
    hyper = (1e30, 0.9, 0.999, 1e12, 0.0, 7, bounds)
    assert adam_step(ops, *state, np.full(7, 1e-3, np.float32), 1, *hyper)
    assert unchanged_after(lambda: adam_step(ops, *state, np.full(7, 1e9, np.float32), 2, *hyper),
                           state + [bounds]) is False


@pytest.mark.parametrize("kind", ["momentum", "nesterov", "adam"])
def test_a_step_whose_values_are_finite_but_sum_past_the_largest_float_applies(backend, kind):
    # New p and v (or m) near 2e38 each: finite, though p + v is not. Expected values in
    # float64; rtol 1e-6 covers a few float32 roundings (2^-24 each).
    ops = get_backend()
    big = np.float32(2e38)
    p, slot, g = np.array([big]), np.array([big]), np.ones(1, np.float32)
    if kind == "adam":
        v = np.ones(1, np.float32)
        assert adam_step(ops, p, slot, v, g, 5, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1)
        m_new, v_new = 0.9 * 2e38 + 0.1, 0.999 + 0.001
        p_new = 2e38 - 1e-3 / (1 - 0.9**5) * m_new / (np.sqrt(v_new / (1 - 0.999**5)) + 1e-8)
    else:
        assert sgd_step(ops, p, slot, g, 1e-10, 0.9, 0.0, kind == "nesterov", 1)
        m_new = 0.9 * 2e38 + 1
        p_new = 2e38 - 1e-10 * (1 + 0.9 * m_new if kind == "nesterov" else m_new)
    np.testing.assert_allclose(slot, m_new, rtol=1e-6)
    np.testing.assert_allclose(p, p_new, rtol=1e-6)


@pytest.mark.parametrize("kind", ["momentum", "adam"])
def test_known_bounds_with_clipvalue_do_not_hide_an_infinite_gradient(backend, kind):
    # clipvalue bounds every finite clipped entry by v, but an infinite entry is not
    # clipped (it fails the step): the proof must not take v as the bound of such a g.
    p0, (g, _, _, _) = steps(np.float32, 1000)
    ops = get_backend()
    state = [p0.copy()] + [np.zeros(1000, np.float32) for _ in range(2 if kind == "adam" else 1)]
    bounds, clip = np.full(3, np.inf), {"clipvalue": 0.05}
    assert adam(ops, state, g, bounds, 1, 0.0, clip) if kind == "adam" else \
        sgd(ops, state, g, bounds, kind, 0.0, clip)
    g = g.copy()
    g[123] = np.inf
    ok = unchanged_after(lambda: adam(ops, state, g, bounds, 2, 0.0, clip) if kind == "adam"
                         else sgd(ops, state, g, bounds, kind, 0.0, clip), state + [bounds])
    assert ok is False
