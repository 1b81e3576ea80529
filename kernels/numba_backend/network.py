"""The whole network's forward pass for inference in one compiled call (``network_forward``).

One call computes the logits of every row: rows in chunks of at most ``ROWS`` (split
evenly), and per chunk each layer's BLAS product (``blas.gemm``, ``vecmat`` for a single
row) and the fused bias and activation sweep of ``dense.py``; the hidden layers' outputs
alternate between two buffers, the last layer writes straight into ``out``. Float rows
of the net's dtype go to the first product as they are, each chunk checked finite just
before it (the check brings the chunk into cache for the product: no cost measured,
where a separate pass over 10,000 MNIST rows took 1.3 ms); other inputs (uint8 images)
are converted and scaled chunk by chunk into a buffer, ``dtype(x) * dtype(scale)`` as in
``loop.input_batch``. Dropout is inference's: none. The layers are rows of the driver's
table (``driver.Plan``), so a new depth or width is data: one compile per float dtype and
input dtype.

Not the driver's ``_forward_rows``: its input is the workspace's gathered x, a copy of
every float row (1.3 ms more at 10,000 MNIST rows), and its output stays in the workspace.
The buffers are borrowed from the net for the call (``Net.borrow``): reused from call to
call, never shared by two calls at once.
"""

import numpy as np
from numba import njit

from ..loop import NONFINITE_INPUT
from .blas import gemm, vecmat
from .config import JIT
from .dense import bias_activate
from .driver import B_AT, CODE, N_IN, N_OUT, W_AT, Plan, _view

# Rows per chunk at most: bounds the buffers (MNIST's net: 4 MiB, 10 MiB for uint8 rows)
# and keeps a chunk's hidden outputs in cache for the next sweep and product (one BLAS
# thread, 10,000 MNIST rows: 48.5 ms in chunks of 2048, 50.3 ms in one, 47.0 ms in chunks
# of 512 - within noise, but each chunk is one more wake-up of BLAS's threads per layer,
# which costs most on a busy machine).
ROWS = 2048
_KEY = "network_forward"


def network_forward(ops, out, x, net):
    """``Backend.network_forward`` (``contract.py``) in one compiled call."""
    n = x.shape[0]
    chunk = -(-n // -(-n // ROWS)) if n else 1  # ceil(n / chunks): equal chunks
    scale = net.dtype.type(net.input_scale)
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    direct = x.dtype == net.dtype and scale == 1 and x.flags.c_contiguous
    scratch = net.borrow(_KEY) or _Scratch(net)
    need = chunk * ((0 if direct else net.sizes[0]) + 2 * scratch.width)
    if scratch.ws.size < need:
        scratch.ws = np.empty(need, net.dtype)
    none = _none(net.dtype)
    try:
        return _forward(out, x if direct else none, none if direct else x, net.params,
                        scratch.ws, scratch.layers, scratch.params, scale, chunk)
    finally:
        net.give_back(_KEY, scratch)


_NONE = {np.dtype(np.float32): np.empty((0, 0), np.float32),
         np.dtype(np.float64): np.empty((0, 0), np.float64)}
_none = _NONE.__getitem__


class _Scratch:
    """One call's buffers: the driver's layer table (a batch-0 Plan: the table alone) and
    a flat workspace, grown when a call needs more."""

    def __init__(self, net):
        plan = Plan(net, 0, False)
        self.layers, self.params, self.ws = plan.layers, plan.params, plan.ws
        self.width = max(net.sizes[1:-1], default=0)  # the widest hidden layer


@njit(**JIT)
def _forward(out, X, X_other, params, ws, layers, act_params, scale, chunk):
    # The rows come as X (n, i), of ws's dtype, C-contiguous and unscaled: the first
    # product reads them; or as X_other (n, i), any real dtype and layout: converted and
    # scaled into ws first. The other one is empty (0, 0), so every path is typed.
    direct = X.shape[0] > 0
    n, i = X.shape if direct else X_other.shape
    n_layers = layers.shape[0]
    width = 0
    for l in range(n_layers - 1):
        width = max(width, layers[l, N_OUT])
    h_at = 0 if direct else chunk * i  # the two hidden buffers, after x's
    bad = 0
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        if direct:
            a = X[start:start + m]
            if not _finite(a):
                return NONFINITE_INPUT
        else:
            a = _view(ws, 0, i, m, False)
            if not _converted(a, X_other[start:start + m], scale):
                return NONFINITE_INPUT
        for l in range(n_layers):
            layer = layers[l]
            k, o = layer[N_IN], layer[N_OUT]
            W = params[layer[W_AT]:layer[W_AT] + k * o].reshape((k, o))
            b = params[layer[B_AT]:layer[B_AT] + o]
            if l == n_layers - 1:
                y = out[start:start + m]
            else:
                y = _view(ws, h_at + (l % 2) * chunk * width, o, m, False)
            if m == 1:
                vecmat(a[0], W, y[0])
            else:
                gemm(a, W, y, False, False)
            bias_activate(y, y, b, layer[CODE], act_params[l])
            a = y
        bad += _nonfinite_rows(out[start:start + m])
    return bad


@njit(**JIT)
def _finite(x):
    """Whether every entry of x (m, i) is finite: the sum of x * 0 is 0, else NaN (a NaN
    or an infinity times 0), and never overflows."""
    zero = x.dtype.type(0)
    s = zero
    for r in range(x.shape[0]):
        row = x[r]
        for q in range(row.shape[0]):
            s += row[q] * zero
    return s == zero


@njit(**JIT)
def _converted(x, X, scale):
    """x (m, i) = dtype(X) * scale for X (m, i) of any real dtype; whether X is finite."""
    f = x.dtype.type
    zero = f(0)
    s = zero
    for r in range(X.shape[0]):
        row, x_row = X[r], x[r]
        for q in range(row.shape[0]):
            v = f(row[q])
            s += v * zero
            x_row[q] = v * scale
    return s == zero


@njit(**JIT)
def _nonfinite_rows(y):
    """How many rows of y (m, k) hold a NaN or an infinity."""
    zero = y.dtype.type(0)
    bad = 0
    for r in range(y.shape[0]):
        row = y[r]
        s = zero
        for j in range(row.shape[0]):
            s += row[j] * zero
        if s != zero:
            bad += 1
    return bad
