"""Optimizer updates over the flat parameter buffer (numba).

A step is two passes over fixed chunks: the first computes the update without writing
and checks that every new parameter and slot value is finite (which also catches a NaN
or inf gradient); only then the second writes it. So a step either applies completely or
leaves everything as it was and returns False: parameters never become NaN or inf.
Scalars are cast to the buffers' dtype first (coefficients like 1 - beta formed in
float64), so float32 arithmetic stays float32.
"""

from numba import njit, prange

from ._rules import adam_range, sgd_range
from .config import CHUNK, JIT


def sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay):
    """SGD with momentum/Nesterov and L2 on params[:n_decay]; False (nothing written)
    if any new value would not be finite."""
    t = params.dtype.type
    return bool(_sgd(params, velocity, grads, t(lr), t(momentum), t(weight_decay),
                     bool(nesterov), int(n_decay)))


def adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay):
    """Adam at 1-based ``step`` with L2 in the gradient; False (nothing written) if any
    new value would not be finite."""
    t = params.dtype.type
    lr_hat, v_scale = adam_scales(lr, beta1, beta2, step)
    return bool(_adam(params, m, v, grads, t(lr_hat), t(beta1), t(1 - beta1), t(beta2),
                      t(1 - beta2), t(v_scale), t(eps), t(weight_decay), int(n_decay)))


def adam_scales(lr, beta1, beta2, step):
    """Bias corrections in float64: (lr / (1 - beta1^step), 1 / (1 - beta2^step))."""
    return lr / (1 - beta1**step), 1 / (1 - beta2**step)


@njit(parallel=True, **JIT)
def _sgd(p, vel, g, lr, momentum, wd, nesterov, n_decay):
    n = p.size
    n_chunks = (n + CHUNK - 1) // CHUNK
    if n_chunks <= 1:
        if not sgd_range(p, vel, g, 0, n, lr, momentum, wd, nesterov, n_decay, False):
            return False
        return sgd_range(p, vel, g, 0, n, lr, momentum, wd, nesterov, n_decay, True)
    bad = 0
    for c in prange(n_chunks):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        if not sgd_range(p, vel, g, lo, hi, lr, momentum, wd, nesterov, n_decay, False):
            bad += 1
    if bad:
        return False
    for c in prange(n_chunks):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        sgd_range(p, vel, g, lo, hi, lr, momentum, wd, nesterov, n_decay, True)
    return True


@njit(parallel=True, **JIT)
def _adam(p, m, v, g, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, n_decay):
    n = p.size
    n_chunks = (n + CHUNK - 1) // CHUNK
    if n_chunks <= 1:
        if not adam_range(p, m, v, g, 0, n, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd,
                          n_decay, False):
            return False
        return adam_range(p, m, v, g, 0, n, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd,
                          n_decay, True)
    bad = 0
    for c in prange(n_chunks):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        if not adam_range(p, m, v, g, lo, hi, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd,
                          n_decay, False):
            bad += 1
    if bad:
        return False
    for c in prange(n_chunks):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        adam_range(p, m, v, g, lo, hi, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd,
                   n_decay, True)
    return True
