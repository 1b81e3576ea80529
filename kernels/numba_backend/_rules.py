"""Scalar rules shared by the numba kernels: activations, their derivatives, the stable
sigmoid, and one entry and one range of each optimizer update. Inlined into every kernel.

numba types ``float32 * 1`` as float64, so every constant here arrives typed: kernels
take ``one = x.dtype.type(1)`` / ``zero`` from their arrays, and the Python wrappers
cast scalar hyper-parameters to the arrays' dtype. float32 stays float32.
"""

import numpy as np
from numba import njit

from .config import JIT

IDENTITY, RELU, TANH, SIGMOID = 0, 1, 2, 3
ACTIVATION_CODES = {"identity": IDENTITY, "relu": RELU, "tanh": TANH, "sigmoid": SIGMOID}
SOFTMAX_CE, SIGMOID_BCE, MSE = 0, 1, 2
LOSS_CODES = {"softmax_cross_entropy": SOFTMAX_CE, "sigmoid_bce": SIGMOID_BCE, "mse": MSE}

inline = njit(inline="always", **JIT)


@inline
def stable_sigmoid(z, one):
    """1/(1+e) for z >= 0, e/(1+e) else, with e = exp(-|z|): no overflow."""
    e = np.exp(-abs(z))
    return (one if z >= 0 else e) / (one + e)


@inline
def activate(z, code, one, zero):
    """act(z) for an activation code."""
    if code == RELU:
        return z if z > zero else zero
    if code == TANH:
        return np.tanh(z)
    if code == SIGMOID:
        return stable_sigmoid(z, one)
    return z


@inline
def derivative(y, code, one, zero):
    """act'(z) from the output y = act(z)."""
    if code == RELU:
        return one if y > zero else zero
    if code == TANH:
        return one - y * y
    if code == SIGMOID:
        return y * (one - y)
    return one


@inline
def sgd_element(p, v, g, lr, momentum, wd, nesterov):
    """One entry of an SGD step: returns (new param, new velocity); typed scalars."""
    g = g + wd * p
    if momentum == 0:
        return p - lr * g, v
    v = momentum * v + g
    return p - lr * (g + momentum * v if nesterov else v), v


@inline
def sgd_range(p, vel, g, lo, hi, lr, momentum, wd, nesterov, n_decay, commit):
    """SGD over entries lo..hi-1 (weight decay below n_decay only).

    commit=False writes nothing and returns whether every new value would be finite;
    commit=True writes them (and returns True). Loops index 1-D views from 0, the form
    LLVM vectorises.
    """
    zero = p.dtype.type(0)
    acc = zero
    split = min(max(n_decay, lo), hi)
    for a, b, decay in ((lo, split, wd), (split, hi, zero)):
        pv, vv, gv = p[a:b], vel[a:b], g[a:b]
        for j in range(b - a):
            pn, vn = sgd_element(pv[j], vv[j], gv[j], lr, momentum, decay, nesterov)
            if commit:
                pv[j] = pn
                vv[j] = vn
            else:
                acc += (pn + vn) * zero
    return acc == zero


@inline
def adam_element(p, m, v, g, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd):
    """One entry of an Adam step: returns (new param, new m, new v); typed scalars."""
    g = g + wd * p
    m = beta1 * m + c1 * g
    v = beta2 * v + c2 * (g * g)
    return p - lr_hat * m / (np.sqrt(v * v_scale) + eps), m, v


@inline
def adam_range(p, m, v, g, lo, hi, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, n_decay,
               commit):
    """Adam over entries lo..hi-1; c1 = 1-beta1, c2 = 1-beta2 (formed in float64),
    lr_hat = lr/(1-beta1^t), v_scale = 1/(1-beta2^t). commit as in :func:`sgd_range`."""
    zero = p.dtype.type(0)
    acc = zero
    split = min(max(n_decay, lo), hi)
    for a, b, decay in ((lo, split, wd), (split, hi, zero)):
        pv, mv, vv, gv = p[a:b], m[a:b], v[a:b], g[a:b]
        for j in range(b - a):
            pn, mn, vn = adam_element(pv[j], mv[j], vv[j], gv[j], lr_hat, beta1, c1, beta2,
                                      c2, v_scale, eps, decay)
            if commit:
                pv[j] = pn
                mv[j] = mn
                vv[j] = vn
            else:
                acc += (pn + mn + vn) * zero
    return acc == zero
