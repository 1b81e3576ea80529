"""Scalar rules shared by the numba kernels: activations, their derivatives, the stable
sigmoid, finiteness, and one range of each optimizer update. Inlined into every kernel.

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
def all_finite(a, lo, hi):
    """True if a[lo:hi] holds no NaN or inf (x*0 is NaN exactly for those; vectorises)."""
    zero = a.dtype.type(0)
    acc = zero
    view = a[lo:hi]
    for j in range(hi - lo):
        acc += view[j] * zero
    return acc == zero


@inline
def sgd_range(p, vel, g, lo, hi, lr, momentum, wd, nesterov, n_decay):
    """SGD update of entries lo..hi-1 (see the contract's sgd_step); scalars typed like p.

    g is scratch: weight decay is added into it first (entries below n_decay only).
    Loops index 1-D views from 0, the form LLVM vectorises.
    """
    p, vel, g = p[lo:hi], vel[lo:hi], g[lo:hi]
    decayed = min(max(n_decay - lo, 0), hi - lo)
    if wd != 0:
        for j in range(decayed):
            g[j] += wd * p[j]
    if momentum == 0:
        for j in range(hi - lo):
            p[j] -= lr * g[j]
    elif nesterov:
        for j in range(hi - lo):
            vj = momentum * vel[j] + g[j]
            vel[j] = vj
            p[j] -= lr * (g[j] + momentum * vj)
    else:
        for j in range(hi - lo):
            vj = momentum * vel[j] + g[j]
            vel[j] = vj
            p[j] -= lr * vj


@inline
def adam_range(p, m, v, g, lo, hi, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, n_decay):
    """Adam update of entries lo..hi-1; c1 = 1-beta1, c2 = 1-beta2, lr_hat = lr/(1-beta1^t),
    v_scale = 1/(1-beta2^t); scalars typed like p; g is scratch (weight decay added in)."""
    p, m, v, g = p[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi]
    decayed = min(max(n_decay - lo, 0), hi - lo)
    if wd != 0:
        for j in range(decayed):
            g[j] += wd * p[j]
    for j in range(hi - lo):
        mj = beta1 * m[j] + c1 * g[j]
        vj = beta2 * v[j] + c2 * (g[j] * g[j])
        m[j] = mj
        v[j] = vj
        p[j] -= lr_hat * mj / (np.sqrt(vj * v_scale) + eps)
