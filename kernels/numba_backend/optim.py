"""Optimizer updates over the flat parameter buffer (numba), all or nothing, in one pass.

A step must either apply completely or leave everything as it was and return False, so
parameters never become NaN or inf. The safe way is two passes: compute every new value
without writing and check it is finite, then write. Here the first pass is replaced, in
the usual case, by a proof: the previous step left upper bounds of max |param| and of
max |slot| (the sums of absolute values its write pass accumulated, in ``bounds``), and a
pass over the gradient alone gives a bound of max |g| (finite only if every g is). If
the update formula applied to those bounds stays below a quarter of the dtype's largest
value, no new value can overflow or be NaN, and the step is one write pass. Otherwise
(first step, a NaN gradient, values near overflow) the check pass runs first, as before.
Scalars are cast to the buffers' dtype first (coefficients like 1 - beta formed in
float64), so float32 arithmetic stays float32; the bounds are float64.
"""

import numpy as np
from numba import njit, prange

from ._rules import adam_range, sgd_range
from .config import CHUNK, JIT, inline


def sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay,
             bounds=None):
    """SGD with momentum/Nesterov and L2 on params[:n_decay]; False (nothing written)
    if any new value would not be finite. bounds: float64 (3,) kept between steps."""
    t = params.dtype.type
    bounds = _unknown() if bounds is None else bounds
    kernel = _sgd if params.size <= CHUNK else _sgd_chunked
    return bool(kernel(params, velocity, grads, t(lr), t(momentum), t(weight_decay),
                       bool(nesterov), int(n_decay), bounds, _limit(params)))


def adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay,
              bounds=None):
    """Adam at 1-based ``step`` with L2 in the gradient; False (nothing written) if any
    new value would not be finite. bounds: float64 (3,) kept between steps."""
    t = params.dtype.type
    lr_hat, v_scale = adam_scales(lr, beta1, beta2, step)
    bounds = _unknown() if bounds is None else bounds
    kernel = _adam if params.size <= CHUNK else _adam_chunked
    return bool(kernel(params, m, v, grads, t(lr_hat), t(beta1), t(1 - beta1), t(beta2),
                       t(1 - beta2), t(v_scale), t(eps), t(weight_decay), int(n_decay), bounds,
                       _limit(params)))


def adam_scales(lr, beta1, beta2, step):
    """Bias corrections in float64: (lr / (1 - beta1^step), 1 / (1 - beta2^step))."""
    return lr / (1 - beta1**step), 1 / (1 - beta2**step)


def _unknown():
    return np.full(3, np.inf)


def _limit(params):
    # A quarter of the largest value: every bounded quantity is at most a few roundings
    # (each a factor 1 + 2^-24 or less) above its bound.
    return float(np.finfo(params.dtype).max) / 4


@inline
def _sgd_cannot_overflow(bounds, g_sum, lr, mu, wd, nesterov, limit):
    """With |p| <= bounds[0], |v| <= bounds[1], |g| <= g_sum: are every new value and
    every intermediate (g + wd p, the step before lr scales it) <= limit? (Coefficients
    enter by magnitude; NaN or inf anywhere gives False.)"""
    lr, mu, wd = abs(lr), abs(mu), abs(wd)
    g_hat = g_sum + wd * bounds[0]
    v_new = mu * bounds[1] + g_hat if mu != 0 else 0.0
    if mu == 0:
        step = g_hat
    else:
        step = g_hat + mu * v_new if nesterov else v_new
    p_new = bounds[0] + lr * step
    return g_hat <= limit and v_new <= limit and step <= limit and p_new <= limit


@inline
def _adam_cannot_overflow(bounds, g_sum, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd,
                          limit):
    """With |p|, |m|, v <= bounds and |g| <= g_sum: every new value and intermediate
    (g + wd p, g^2, v * v_scale, lr_hat * m, the denominator sqrt(v * v_scale) + eps and
    the update, whose denominator is at least eps) <= limit? Needs non-negative betas and
    1 - betas (as Adam validates), so that v stays >= 0 and its square root is never NaN,
    and eps > 0."""
    if not (beta1 >= 0 and c1 >= 0 and beta2 >= 0 and c2 >= 0 and v_scale >= 0 and eps > 0):
        return False
    g_hat = g_sum + abs(wd) * bounds[0]
    g2 = g_hat * g_hat
    m_new = beta1 * bounds[1] + c1 * g_hat
    v_new = beta2 * bounds[2] + c2 * g2
    lr_m = abs(lr_hat) * m_new
    p_new = bounds[0] + lr_m / eps
    return (g_hat <= limit and g2 <= limit and m_new <= limit and v_new * v_scale <= limit
            and lr_m <= limit and eps <= limit and p_new <= limit)


@inline
def _abs_sum(g, lo, hi):
    """Sum of |g[lo:hi]| (a bound of its max |g|, finite only if every g is)."""
    part = g[lo:hi]
    acc = g.dtype.type(0)
    for j in range(part.size):
        acc += abs(part[j])
    return acc


# Each optimizer has a serial kernel (up to one chunk of entries) and a parallel one over
# fixed chunks. They are separate functions so that a network below one chunk (MNIST-MLP
# has 235,146 parameters) never compiles the parallel loops, which take most of the
# compile time.
@njit(**JIT)
def _sgd(p, vel, g, lr, momentum, wd, nesterov, n_decay, bounds, limit):
    n = p.size
    if not (_sgd_cannot_overflow(bounds, np.float64(_abs_sum(g, 0, n)), lr, momentum, wd,
                                 nesterov, limit)
            or sgd_range(p, vel, g, 0, n, lr, momentum, wd, nesterov, n_decay, False)[0]):
        return False
    _, bounds[0], bounds[1] = sgd_range(p, vel, g, 0, n, lr, momentum, wd, nesterov, n_decay,
                                        True)
    return True


@njit(parallel=True, **JIT)
def _sgd_chunked(p, vel, g, lr, momentum, wd, nesterov, n_decay, bounds, limit):
    n = p.size
    n_chunks = (n + CHUNK - 1) // CHUNK
    g_sum = 0.0
    for c in prange(n_chunks):
        g_sum += _abs_sum(g, c * CHUNK, min(n, (c + 1) * CHUNK))
    if not _sgd_cannot_overflow(bounds, g_sum, lr, momentum, wd, nesterov, limit):
        bad = 0
        for c in prange(n_chunks):
            lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
            if not sgd_range(p, vel, g, lo, hi, lr, momentum, wd, nesterov, n_decay,
                             False)[0]:
                bad += 1
        if bad:
            return False
    sum_p, sum_v = 0.0, 0.0
    for c in prange(n_chunks):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        _, part_p, part_v = sgd_range(p, vel, g, lo, hi, lr, momentum, wd, nesterov, n_decay,
                                      True)
        sum_p += part_p
        sum_v += part_v
    bounds[0], bounds[1] = sum_p, sum_v
    return True


@njit(**JIT)
def _adam(p, m, v, g, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, n_decay, bounds, limit):
    n = p.size
    if not (_adam_cannot_overflow(bounds, np.float64(_abs_sum(g, 0, n)), lr_hat, beta1, c1,
                                  beta2, c2, v_scale, eps, wd, limit)
            or adam_range(p, m, v, g, 0, n, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd,
                          n_decay, False)[0]):
        return False
    _, bounds[0], bounds[1], bounds[2] = adam_range(p, m, v, g, 0, n, lr_hat, beta1, c1,
                                                    beta2, c2, v_scale, eps, wd, n_decay, True)
    return True


@njit(parallel=True, **JIT)
def _adam_chunked(p, m, v, g, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, n_decay, bounds,
                  limit):
    n = p.size
    n_chunks = (n + CHUNK - 1) // CHUNK
    g_sum = 0.0
    for c in prange(n_chunks):
        g_sum += _abs_sum(g, c * CHUNK, min(n, (c + 1) * CHUNK))
    if not _adam_cannot_overflow(bounds, g_sum, lr_hat, beta1, c1, beta2, c2, v_scale, eps,
                                 wd, limit):
        bad = 0
        for c in prange(n_chunks):
            lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
            if not adam_range(p, m, v, g, lo, hi, lr_hat, beta1, c1, beta2, c2, v_scale, eps,
                              wd, n_decay, False)[0]:
                bad += 1
        if bad:
            return False
    sum_p, sum_m, sum_v = 0.0, 0.0, 0.0
    for c in prange(n_chunks):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        _, part_p, part_m, part_v = adam_range(p, m, v, g, lo, hi, lr_hat, beta1, c1, beta2,
                                               c2, v_scale, eps, wd, n_decay, True)
        sum_p += part_p
        sum_m += part_m
        sum_v += part_v
    bounds[0], bounds[1], bounds[2] = sum_p, sum_m, sum_v
    return True
