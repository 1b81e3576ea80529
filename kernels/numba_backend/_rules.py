"""Scalar rules shared by the numba kernels: activations (with the float32 tanh and exp
of ``_math.py``), their derivatives, the stable sigmoid, and one entry and one range of
each optimizer update. Inlined into every kernel.

numba types ``float32 * 1`` as float64, so every constant here arrives typed: kernels
take ``one = x.dtype.type(1)`` / ``zero`` from their arrays, and the Python wrappers
cast scalar hyper-parameters to the arrays' dtype. float32 stays float32.
"""

import numpy as np

from ._math import exp, tanh
from .config import inline

IDENTITY, RELU, TANH, SIGMOID = 0, 1, 2, 3
ACTIVATION_CODES = {"identity": IDENTITY, "relu": RELU, "tanh": TANH, "sigmoid": SIGMOID}
SOFTMAX_CE, SIGMOID_BCE, MSE = 0, 1, 2
LOSS_CODES = {"softmax_cross_entropy": SOFTMAX_CE, "sigmoid_bce": SIGMOID_BCE, "mse": MSE}

@inline
def stable_sigmoid(z, one):
    """1/(1+e) for z >= 0, e/(1+e) else, with e = exp(-|z|): no overflow."""
    e = exp(-abs(z))
    return (one if z >= 0 else e) / (one + e)


@inline
def activate(z, code, one, zero):
    """act(z) for an activation code."""
    if code == RELU:
        return z if z > zero else zero
    if code == TANH:
        return tanh(z)
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
def sgd_range(p, vel, g, lo, hi, lr, momentum, wd, nesterov, n_decay, commit):
    """SGD over entries lo..hi-1 (weight decay below n_decay only); typed scalars.

    Returns (ok, sum |new p|, sum |new v|) (inf for v with momentum 0: v is not
    touched, so not bounded). commit=False writes nothing; ok says whether every new
    value would be finite (the sums are 0): each kind of value goes into its own sum of
    ``x * 0``, NaN exactly when some x is not finite (adding p and v first would refuse
    two finite values whose sum overflows). commit=True writes them (ok is True). A float
    sum of absolute values is an upper bound of their maximum (rounding is monotonic),
    and a finite one proves every term finite: the optimizer kernels keep these sums to
    skip their check pass (see ``optim.py``). The flags are tested outside the loops and
    every loop indexes 1-D views from 0: the form LLVM vectorises.
    """
    split = min(max(n_decay, lo), hi)
    zero = p.dtype.type(0)
    if momentum == 0:
        ok_w, p_w, _ = _sgd_plain(p[lo:split], g[lo:split], lr, wd, commit)
        ok_b, p_b, _ = _sgd_plain(p[split:hi], g[split:hi], lr, zero, commit)
        return ok_w and ok_b, p_w + p_b, p.dtype.type(np.inf)  # velocity untouched
    ok_w, p_w, v_w = _sgd_momentum(p[lo:split], vel[lo:split], g[lo:split], lr, momentum, wd,
                                   nesterov, commit)
    ok_b, p_b, v_b = _sgd_momentum(p[split:hi], vel[split:hi], g[split:hi], lr, momentum,
                                   zero, nesterov, commit)
    return ok_w and ok_b, p_w + p_b, v_w + v_b


@inline
def _sgd_plain(p, g, lr, wd, commit):
    """p -= lr (g + wd p)."""
    zero = p.dtype.type(0)
    acc = zero
    if commit:
        for j in range(p.shape[0]):
            pj = p[j] - lr * (g[j] + wd * p[j])
            p[j] = pj
            acc += abs(pj)
        return True, acc, zero
    for j in range(p.shape[0]):
        acc += (p[j] - lr * (g[j] + wd * p[j])) * zero
    return acc == zero, zero, zero


@inline
def _sgd_momentum(p, v, g, lr, mu, wd, nesterov, commit):
    """v = mu v + (g + wd p); p -= lr v, or lr (g + wd p + mu v) with Nesterov."""
    zero = p.dtype.type(0)
    acc, acc_v = zero, zero
    if nesterov:
        if commit:
            for j in range(p.shape[0]):
                gj = g[j] + wd * p[j]
                vj = mu * v[j] + gj
                pj = p[j] - lr * (gj + mu * vj)
                v[j], p[j] = vj, pj
                acc += abs(pj)
                acc_v += abs(vj)
            return True, acc, acc_v
        for j in range(p.shape[0]):
            gj = g[j] + wd * p[j]
            vj = mu * v[j] + gj
            acc += (p[j] - lr * (gj + mu * vj)) * zero
            acc_v += vj * zero
        return acc == zero and acc_v == zero, zero, zero
    if commit:
        for j in range(p.shape[0]):
            vj = mu * v[j] + (g[j] + wd * p[j])
            pj = p[j] - lr * vj
            v[j], p[j] = vj, pj
            acc += abs(pj)
            acc_v += abs(vj)
        return True, acc, acc_v
    for j in range(p.shape[0]):
        vj = mu * v[j] + (g[j] + wd * p[j])
        acc += (p[j] - lr * vj) * zero
        acc_v += vj * zero
    return acc == zero and acc_v == zero, zero, zero


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
    lr_hat = lr/(1-beta1^t), v_scale = 1/(1-beta2^t). Returns (ok, sum |new p|,
    sum |new m|, sum new v); commit as in :func:`sgd_range`."""
    split = min(max(n_decay, lo), hi)
    ok_w, p_w, m_w, v_w = _adam_segment(p[lo:split], m[lo:split], v[lo:split], g[lo:split],
                                        lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, commit)
    ok_b, p_b, m_b, v_b = _adam_segment(p[split:hi], m[split:hi], v[split:hi], g[split:hi],
                                        lr_hat, beta1, c1, beta2, c2, v_scale, eps,
                                        p.dtype.type(0), commit)
    return ok_w and ok_b, p_w + p_b, m_w + m_b, v_w + v_b


@inline
def _adam_segment(p, m, v, g, lr_hat, beta1, c1, beta2, c2, v_scale, eps, wd, commit):
    zero = p.dtype.type(0)
    acc, acc_m, acc_v = zero, zero, zero
    if commit:
        for j in range(p.shape[0]):
            pj, mj, vj = adam_element(p[j], m[j], v[j], g[j], lr_hat, beta1, c1, beta2, c2,
                                      v_scale, eps, wd)
            p[j], m[j], v[j] = pj, mj, vj
            acc += abs(pj)
            acc_m += abs(mj)
            acc_v += vj
        return True, acc, acc_m, acc_v
    for j in range(p.shape[0]):
        pn, mn, vn = adam_element(p[j], m[j], v[j], g[j], lr_hat, beta1, c1, beta2, c2,
                                  v_scale, eps, wd)
        acc += pn * zero
        acc_m += mn * zero
        acc_v += vn * zero
    return acc == zero and acc_m == zero and acc_v == zero, zero, zero, zero
