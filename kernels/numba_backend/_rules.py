"""Scalar rules shared by the numba kernels: activations (with the float32 tanh and exp
of ``_math.py``), their derivatives and the stable sigmoid. Inlined into every kernel
(the optimizers' per-entry rules live in ``optim.py``).

numba types ``float32 * 1`` as float64, so every constant here arrives typed: kernels
take ``one = x.dtype.type(1)`` / ``zero`` from their arrays, and the Python wrappers
cast scalar hyper-parameters to the arrays' dtype. float32 stays float32.
"""

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
