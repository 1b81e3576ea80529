"""Dense layer, forward then backward, in both layouts the compiled driver uses.

Row-major (batch, units), for larger layers: ``out = x @ W`` (BLAS), then ONE fused pass
adds b and applies the activation in place, keeping z where the unit's derivative needs
it; backward, one pass turns dout into dz = dout * act' and reduces db, then the weight
and input products (BLAS). Transposed (units, batch), for small layers (a few to a few
dozen units), where BLAS calls would cost more than their arithmetic: loops written out,
each inner loop running over the batch so it vectorises however few the units.

Every sweep is a template instantiated per activation unit (``units.by_unit``): the
unit's scalar ``value`` / ``slope`` inlined into its own loop. The sweeps run serially
(a numba parallel region between BLAS calls would need OpenMP's threads to wait passively,
a setting fastnn may not impose on the process; see ``config.py``). The contract's ops
(``dense_forward`` / ``dense_backward``, called from Python) use numpy's
``matmul(out=...)`` and the row-major sweeps.
"""

import numpy as np
from numba import njit

from ..activations import CODES, resolve
from .config import JIT
from .units import KEEPS_Z, by_unit, slope, value


def dense_forward(out, x, W, b, activation, z=None):
    """``out = act(x @ W + b)``; out (n, o), x (n, i), W (i, o), b (o,); z (n, o) receives
    the pre-activation when the activation's derivative needs it."""
    unit, p = resolve(activation)
    np.matmul(x, W, out=out)
    bias_activate(out, out if z is None else z, b, CODES[unit.NAME], p)


def dense_backward(dW, db, dx, dout, x, W, out, activation, z=None):
    """dz = dout * act' in place in dout (n, o), db = sum_n dz (one pass); then
    dW = x.T @ dz and, unless dx is None, dx = dz @ W.T. z: the pre-activation, for an
    activation whose derivative needs it."""
    unit, p = resolve(activation)
    if unit.USES == "z" and z is None:
        raise ValueError(f"the backward of {activation} needs the pre-activation z")
    activation_grad_bias(dout, db, out, out if z is None else z, CODES[unit.NAME], p)
    np.matmul(x.T, dout, out=dW)
    if dx is not None:
        np.matmul(dout, W.T, out=dx)


# -- row-major: (batch, units) ------------------------------------------------------------
def bias_activate_rows_template(out, z_out, b, p, m):
    """out[r] = act(out[r] + b) for rows 0..m-1; z_out[r] = out[r] + b if the unit
    keeps z (row views indexed from 0 vectorise)."""
    f = out.dtype.type
    pf = f(p)
    for r in range(m):
        row, z_row = out[r], z_out[r]
        for j in range(row.shape[0]):
            z = row[j] + b[j]
            if KEEPS_Z:
                z_row[j] = z
            row[j] = value(z, pf, f)


def activation_grad_bias_cols_template(dout, db, out, z_in, p):
    """dout *= act' (from out, or z_in for units that need z) and db = column sums of
    the result, rows added in order 0..n-1 as numpy's sum over axis 0."""
    f = out.dtype.type
    pf = f(p)
    for j in range(db.shape[0]):
        db[j] = f(0)
    for r in range(dout.shape[0]):
        d_row, y_row, z_row = dout[r], out[r], z_in[r]
        for j in range(d_row.shape[0]):
            d = d_row[j] * slope(z_row[j], y_row[j], pf, f)
            d_row[j] = d
            db[j] += d


bias_activate_rows = by_unit(bias_activate_rows_template)
activation_grad_bias_cols = by_unit(activation_grad_bias_cols_template)


# -- transposed: (units, batch) -----------------------------------------------------------
def forward_t_template(out_t, z_t, a_t, W, b, p):
    """out_t (o, m) = act(W.T @ a_t + b), a_t (i, m), W (i, o); z_t (o, m) gets the
    pre-activation if the unit keeps z."""
    f = W.dtype.type
    pf = f(p)
    m = out_t.shape[1]
    for j in range(W.shape[1]):
        row = out_t[j]
        for r in range(m):
            row[r] = b[j]
        for q in range(W.shape[0]):
            w, a_row = W[q, j], a_t[q]
            for r in range(m):
                row[r] += w * a_row[r]
        if KEEPS_Z:
            z_row = z_t[j]
            for r in range(m):
                z_row[r] = row[r]
        for r in range(m):
            row[r] = value(row[r], pf, f)


def grad_bias_t_template(dz_t, db, out_t, z_t, p):
    """dz_t (o, m) *= act' (from out_t, or z_t), db = its row sums."""
    f = db.dtype.type
    pf = f(p)
    for j in range(dz_t.shape[0]):
        d_row, y_row, z_row = dz_t[j], out_t[j], z_t[j]
        s = f(0)
        for r in range(d_row.shape[0]):
            d = d_row[r] * slope(z_row[r], y_row[r], pf, f)
            d_row[r] = d
            s += d
        db[j] = s


forward_t = by_unit(forward_t_template)
grad_bias_t = by_unit(grad_bias_t_template)


@njit(**JIT)
def products_t(dW, dx_t, dz_t, a_t, W, want_dx):
    """dW (i, o) = a_t @ dz_t.T; dx_t (i, m) = W @ dz_t unless want_dx is False."""
    f = W.dtype.type
    m = dz_t.shape[1]
    for q in range(W.shape[0]):
        a_row = a_t[q]
        for j in range(W.shape[1]):
            d_row = dz_t[j]
            s = f(0)
            for r in range(m):
                s += a_row[r] * d_row[r]
            dW[q, j] = s
    if want_dx:
        for q in range(W.shape[0]):
            x_row = dx_t[q]
            for r in range(m):
                x_row[r] = f(0)
            for j in range(W.shape[1]):
                w, d_row = W[q, j], dz_t[j]
                for r in range(m):
                    x_row[r] += w * d_row[r]


# the row-major kernels, called by the contract's ops and by the compiled driver alike
@njit(**JIT)
def bias_activate(out, z_out, b, code, p):
    """out (n, o) = act(out + b) for the unit of ``code`` with parameter p; z_out (n, o)
    gets out + b if the unit keeps z (pass out itself otherwise)."""
    bias_activate_rows(code, out, z_out, b, p, out.shape[0])


@njit(**JIT)
def activation_grad_bias(dout, db, out, z_in, code, p):
    """dout (n, o) *= act' (from out, or z_in (n, o)), db (o,) = column sums."""
    activation_grad_bias_cols(code, dout, db, out, z_in, p)
