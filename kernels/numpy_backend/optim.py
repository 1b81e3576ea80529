"""Optimizer updates over a flat parameter buffer: the reference semantics (PyTorch's).

The first ``n_decay`` entries are weights and get L2 weight decay; biases follow them.
In place throughout; ``grads`` is scratch and may be overwritten.
"""

import numpy as np


def sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay):
    """g += wd*p (weights); v = mu*v + g; p -= lr * (g + mu*v if nesterov else v). False if g not finite."""
    if not np.isfinite(grads).all():
        return False
    g = grads
    if weight_decay:
        g[:n_decay] += weight_decay * params[:n_decay]
    if momentum:
        velocity *= momentum
        velocity += g
        if nesterov:
            g += momentum * velocity
        else:
            g = velocity
    params -= lr * g
    return True


def adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay):
    """Adam (bias-corrected moments, L2 in the gradient) at 1-based ``step``. False if g not finite."""
    if not np.isfinite(grads).all():
        return False
    g = grads
    if weight_decay:
        g[:n_decay] += weight_decay * params[:n_decay]
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    m_hat_scale = 1 / (1 - beta1**step)
    v_hat_scale = 1 / (1 - beta2**step)
    params -= (lr * m_hat_scale) * m / (np.sqrt(v * v_hat_scale) + eps)
    return True
