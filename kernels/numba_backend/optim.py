"""Optimizer updates, one pass over the flat parameter buffer each (numba).

Each step first checks the gradients for NaN/inf (a cheap vectorised read) and updates
nothing if one is found, then applies the update in one parallel pass over fixed chunks.
Scalars are cast to the buffers' dtype first, so float32 arithmetic stays float32.
"""

from numba import njit, prange

from ._rules import adam_range, all_finite, sgd_range
from .config import CHUNK, JIT


def sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay):
    """SGD with momentum/Nesterov and L2 on params[:n_decay]; False if grads not finite."""
    t = params.dtype.type
    return bool(_sgd(params, velocity, grads, t(lr), t(momentum), t(weight_decay),
                     bool(nesterov), int(n_decay)))


def adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay):
    """Adam at 1-based ``step`` with L2 in the gradient; False if grads not finite."""
    t = params.dtype.type
    lr_hat, v_scale = adam_scales(lr, beta1, beta2, step)
    return bool(_adam(params, m, v, grads, t(lr_hat), t(beta1), t(1 - beta1), t(beta2),
                      t(1 - beta2), t(v_scale), t(eps), t(weight_decay), int(n_decay)))


def adam_scales(lr, beta1, beta2, step):
    """Bias corrections in float64: (lr / (1 - beta1^step), 1 / (1 - beta2^step))."""
    return lr / (1 - beta1**step), 1 / (1 - beta2**step)


@njit(parallel=True, **JIT)
def _grads_finite(g):
    n = g.size
    n_chunks = (n + CHUNK - 1) // CHUNK
    if n_chunks <= 1:
        return all_finite(g, 0, n)
    bad = 0
    for c in prange(n_chunks):
        if not all_finite(g, c * CHUNK, min(n, (c + 1) * CHUNK)):
            bad += 1
    return bad == 0


@njit(parallel=True, **JIT)
def _sgd(p, vel, g, lr, momentum, wd, nesterov, n_decay):
    if not _grads_finite(g):
        return False
    n = p.size
    n_chunks = (n + CHUNK - 1) // CHUNK
    if n_chunks <= 1:
        sgd_range(p, vel, g, 0, n, lr, momentum, wd, nesterov, n_decay)
    else:
        for c in prange(n_chunks):
            sgd_range(p, vel, g, c * CHUNK, min(n, (c + 1) * CHUNK), lr, momentum, wd,
                      nesterov, n_decay)
    return True


@njit(parallel=True, **JIT)
def _adam(p, m, v, g, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, n_decay):
    if not _grads_finite(g):
        return False
    n = p.size
    n_chunks = (n + CHUNK - 1) // CHUNK
    if n_chunks <= 1:
        adam_range(p, m, v, g, 0, n, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, n_decay)
    else:
        for c in prange(n_chunks):
            adam_range(p, m, v, g, c * CHUNK, min(n, (c + 1) * CHUNK), lr_hat, beta1, c1,
                       beta2, c2, v_scale, eps, wd, n_decay)
    return True
