"""Dense layer, forward then backward: the BLAS product, then ONE fused numba pass.

Forward: ``out = x @ W`` (BLAS), then one serial pass adds b and applies act in place
(serial: a numba parallel region between BLAS calls would need OpenMP's threads to wait
passively, a setting fastnn may not impose on the process; see ``config.py``).
Backward: one pass turns dout into dz = dout * act'(out) and reduces db, then the weight
and input products (BLAS). These ops, called from Python, use numpy's
``matmul(out=...)``; the compiled training path calls the same sweeps between products
made with ``blas.gemm`` (``fused.py``).
"""

import numpy as np
from numba import njit

from ._rules import ACTIVATION_CODES, activate, derivative
from .config import JIT, inline


def dense_forward(out, x, W, b, activation):
    """``out = act(x @ W + b)``; out (n, o), x (n, i), W (i, o), b (o,)."""
    np.matmul(x, W, out=out)
    _bias_activate(out, b, ACTIVATION_CODES[activation])


def dense_backward(dW, db, dx, dout, x, W, out, activation):
    """dz = dout * act'(out) in place in dout (n, o), db = sum_n dz (one pass); then
    dW = x.T @ dz and, unless dx is None, dx = dz @ W.T."""
    _activation_grad_bias(dout, db, out, ACTIVATION_CODES[activation])
    np.matmul(x.T, dout, out=dW)
    if dx is not None:
        np.matmul(dout, W.T, out=dx)


@inline
def bias_activate_rows(out, b, code, lo, hi):
    """out[r] = act(out[r] + b) for rows lo..hi-1 (row views indexed from 0 vectorise)."""
    one, zero = out.dtype.type(1), out.dtype.type(0)
    for r in range(lo, hi):
        row = out[r]
        for j in range(row.shape[0]):
            row[j] = activate(row[j] + b[j], code, one, zero)


@inline
def activation_grad_bias_cols(dout, db, out, code, lo, hi):
    """dout[:, j] *= act'(out[:, j]) and db[j] = sum of dout[:, j], for columns lo..hi-1.

    Rows are added in order 0..n-1, as numpy's sum over axis 0 does.
    """
    one, zero = out.dtype.type(1), out.dtype.type(0)
    acc = db[lo:hi]
    for j in range(hi - lo):
        acc[j] = zero
    for r in range(dout.shape[0]):
        d_row, y_row = dout[r, lo:hi], out[r, lo:hi]
        for j in range(hi - lo):
            d = d_row[j] * derivative(y_row[j], code, one, zero)
            d_row[j] = d
            acc[j] += d


@njit(**JIT)
def _bias_activate(out, b, code):
    bias_activate_rows(out, b, code, 0, out.shape[0])


@njit(**JIT)
def _activation_grad_bias(dout, db, out, code):
    activation_grad_bias_cols(dout, db, out, code, 0, dout.shape[1])
