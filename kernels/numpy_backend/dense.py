"""Dense layer and activations, forward then backward: the reference semantics in numpy.

Written for clarity first, but float32 end to end and in place where that costs no
clarity, so the reference is also a fair numpy baseline.
"""

import numpy as np


def dense_forward(out, x, W, b, activation):
    """``out = act(x @ W + b)``; out (n, o), x (n, i), W (i, o), b (o,)."""
    np.matmul(x, W, out=out)
    out += b
    activate(out, out, activation)


def dense_backward(dW, db, dx, dout, x, W, out, activation):
    """dz = dout * act'(out) in place in dout (n, o); dW = x.T @ dz, db = sum_n dz,
    dx = dz @ W.T."""
    activation_backward(dout, out, activation)
    np.matmul(x.T, dout, out=dW)
    dout.sum(axis=0, out=db)
    if dx is not None:
        np.matmul(dout, W.T, out=dx)


def activate(out, z, activation):
    """``out = act(z)`` elementwise; out may be z."""
    if activation == "relu":
        np.maximum(z, 0, out=out)
    elif activation == "tanh":
        np.tanh(z, out=out)
    elif activation == "sigmoid":
        sigmoid(out, z)
    elif activation == "identity":
        if out is not z:
            out[...] = z
    else:
        raise KeyError(f"unknown activation {activation!r}")


def activation_backward(dy, y, activation):
    """``dy *= act'`` where the derivative is expressed through the output y."""
    if activation == "relu":
        dy *= y > 0
    elif activation == "tanh":
        dy *= 1 - y * y
    elif activation == "sigmoid":
        dy *= y * (1 - y)
    elif activation != "identity":
        raise KeyError(f"unknown activation {activation!r}")


def sigmoid(out, x):
    """Logistic function without overflow: with e = exp(-|x|), 1/(1+e) for x >= 0, e/(1+e) else."""
    e = np.exp(-np.abs(x))
    np.divide(np.where(x >= 0, 1, e), 1 + e, out=out)
