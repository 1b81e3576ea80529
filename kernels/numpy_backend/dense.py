"""Dense layer, forward then backward: the reference semantics in numpy.

Written for clarity first, but float32 end to end and in place where that costs no
clarity, so the reference is also a fair numpy baseline. Each activation's forward and
backward is its unit's reference (``kernels/activations``).
"""

import numpy as np

from ..activations import resolve
from ..activations.sigmoid import logistic as sigmoid  # noqa: F401  (the contract's op)


def dense_forward(out, x, W, b, activation, z=None):
    """``out = act(x @ W + b)``; out (n, o), x (n, i), W (i, o), b (o,); z (n, o), if
    given, receives the pre-activation (needed by the backward of some activations)."""
    unit, p = resolve(activation)
    np.matmul(x, W, out=out)
    out += b
    if z is not None:
        z[...] = out
    unit.forward(out, out, p)


def dense_backward(dW, db, dx, dout, x, W, out, activation, z=None):
    """dz = dout * act' in place in dout (n, o); dW = x.T @ dz, db = sum_n dz,
    dx = dz @ W.T. act' is taken from out, or from z for activations that need it."""
    unit, p = resolve(activation)
    if unit.USES == "z" and z is None:
        raise ValueError(f"the backward of {activation} needs the pre-activation z")
    unit.backward(dout, z, out, p)
    np.matmul(x.T, dout, out=dW)
    dout.sum(axis=0, out=db)
    if dx is not None:
        np.matmul(dout, W.T, out=dx)
