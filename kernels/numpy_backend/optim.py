"""Optimizer updates over a flat parameter buffer: the reference semantics (PyTorch's).

The first ``n_decay`` entries are weights and get L2 weight decay; biases follow them.
A step computes every new value first and writes them only if all are finite; otherwise
nothing changes and it returns False (``grads`` is scratch and may be overwritten).
Overflow warnings are silenced inside a step because its result is checked instead.
"""

import numpy as np


@np.errstate(over="ignore", invalid="ignore")
def sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay,
             bounds=None):
    """g += wd*p (weights); v = mu*v + g; p -= lr * (g + mu*v if nesterov else v); lr > 0.

    With momentum 0 the step is g and the velocity is left alone. grads becomes the step
    and then the new parameters. Checking the new parameters alone suffices: with lr > 0
    a NaN or inf in the new velocity reaches them.
    """
    g = grads
    if weight_decay:
        g[:n_decay] += weight_decay * params[:n_decay]
    step = g
    if momentum:
        new_v = momentum * velocity
        new_v += g
        if nesterov:
            g += momentum * new_v
        else:
            step = new_v
    new_p = np.multiply(step, -lr, out=g)
    new_p += params
    if not np.isfinite(new_p).all():
        return False
    params[...] = new_p
    if momentum:
        velocity[...] = new_v
    _forget(bounds)
    return True


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay,
              bounds=None):
    """Adam (bias-corrected moments, L2 in the gradient) at 1-based ``step``."""
    g = grads
    if weight_decay:
        g[:n_decay] += weight_decay * params[:n_decay]
    new_m = beta1 * m + (1 - beta1) * g
    new_v = beta2 * v + (1 - beta2) * (g * g)
    m_hat_scale = 1 / (1 - beta1**step)
    v_hat_scale = 1 / (1 - beta2**step)
    new_p = params - (lr * m_hat_scale) * new_m / (np.sqrt(new_v * v_hat_scale) + eps)
    if not all(np.isfinite(a).all() for a in (new_p, new_m, new_v)):
        return False
    params[...] = new_p
    m[...] = new_m
    v[...] = new_v
    _forget(bounds)
    return True


def _forget(bounds):
    """The reference does not track the optimizer bounds: mark them unknown."""
    if bounds is not None:
        bounds[:] = np.inf
