"""Losses with their gradients in one pass, and prediction transforms (numba).

Softmax cross-entropy: per row, max, exp-sum, log and gradient in one sweep, writing
``(p - onehot) / n`` straight into dlogits; no one-hot matrix, no probability copy.
exp and log are the vectorisable float32 ones of ``_math.py`` (log1p stays numpy's).
Loss sums are float64. Large inputs run in parallel over fixed row chunks whose partial
sums are added in chunk order, so the result does not depend on the thread count.
"""

import numpy as np
from numba import njit, prange

from ._math import exp, log_of_sum
from ._rules import SIGMOID_BCE, SOFTMAX_CE, stable_sigmoid
from .config import CHUNK, JIT, inline


def softmax_cross_entropy(dlogits, logits, labels):
    """Mean of logsumexp(z) - z[label]; dlogits (n, k) = (softmax(z) - onehot) / n."""
    want = dlogits is not None
    grad = dlogits if want else np.empty((0, 0), logits.dtype)
    n = logits.shape[0]
    return _softmax_ce(grad, logits, labels, want) / n


def sigmoid_bce(dlogits, logits, targets):
    """Mean of max(z,0) - z t + log1p(exp(-|z|)); dlogits = (sigmoid(z) - t) / (n k)."""
    want = dlogits is not None
    grad = dlogits if want else np.empty((0, 0), logits.dtype)
    return _bce(grad, logits, targets, want) / logits.size


def mse(dpred, pred, targets):
    """Mean of (pred - t)^2; dpred = 2 (pred - t) / (n k)."""
    want = dpred is not None
    grad = dpred if want else np.empty((0, 0), pred.dtype)
    return _mse(grad, pred, targets, want) / pred.size


def count_correct(logits, targets, loss):
    """argmax == label (softmax CE) or [z > 0] == [t >= 0.5] (BCE), counted."""
    if loss == "softmax_cross_entropy":
        return int(argmax_hits(logits, targets))
    return int(sign_hits(logits, targets))


def softmax(out, logits):
    """Row-wise softmax of logits (n, k) into out (n, k)."""
    _softmax(out, logits)


def sigmoid(out, x):
    """Elementwise stable logistic function; out, x (n, k)."""
    _sigmoid(out, x)


# -- per-row sweeps, shared with the small-network training loop ----------------------
@inline
def softmax_ce_rows(dlogits, logits, labels, lo, hi, want):
    """Sum over rows lo..hi-1 of the row losses (float64); dlogits rows get (p - onehot)/n."""
    n, k = logits.shape
    scale = logits.dtype.type(1) / logits.dtype.type(n)
    total = 0.0
    for r in range(lo, hi):
        top = logits[r, 0]
        for j in range(1, k):
            top = max(top, logits[r, j])
        s = logits.dtype.type(0)
        for j in range(k):
            e = exp(logits[r, j] - top)
            s += e
            if want:
                dlogits[r, j] = e
        log_s = log_of_sum(s)
        label = labels[r]
        total += log_s - (logits[r, label] - top)
        if want:
            inv = scale / s
            for j in range(k):
                dlogits[r, j] *= inv
            dlogits[r, label] -= scale
    return total


@inline
def bce_rows(dlogits, logits, targets, lo, hi, want):
    """Sum of elementwise BCE-from-logits over rows lo..hi-1; dlogits = (sigmoid - t)/(n k)."""
    one, zero = logits.dtype.type(1), logits.dtype.type(0)
    scale = one / logits.dtype.type(logits.size)
    total = 0.0
    for r in range(lo, hi):
        for j in range(logits.shape[1]):
            z, t = logits[r, j], targets[r, j]
            e = exp(-abs(z))
            total += max(z, zero) - z * t + np.log1p(e)
            if want:
                dlogits[r, j] = ((one if z >= zero else e) / (one + e) - t) * scale
    return total


@inline
def mse_rows(dpred, pred, targets, lo, hi, want):
    """Sum of squared errors (float64) over rows lo..hi-1; dpred = 2 (pred - t)/(n k)."""
    scale = pred.dtype.type(2) / pred.dtype.type(pred.size)
    total = 0.0
    for r in range(lo, hi):
        for j in range(pred.shape[1]):
            diff = pred[r, j] - targets[r, j]
            total += np.float64(diff) * np.float64(diff)
            if want:
                dpred[r, j] = diff * scale
    return total


@inline
def loss_and_hits(loss_code, dlogits, logits, labels, targets):
    """One batch's mean loss (float64) and correct count for a loss code, the gradient of
    the mean into dlogits: the row sweeps above, as both compiled training paths take
    them. logits, dlogits (m, k); labels (m,) for softmax CE, else targets (m, k)."""
    if loss_code == SOFTMAX_CE:
        return (softmax_ce_rows(dlogits, logits, labels, 0, logits.shape[0], True)
                / logits.shape[0], argmax_hits(logits, labels))
    if loss_code == SIGMOID_BCE:
        return (bce_rows(dlogits, logits, targets, 0, logits.shape[0], True) / logits.size,
                sign_hits(logits, targets))
    return mse_rows(dlogits, logits, targets, 0, logits.shape[0], True) / logits.size, 0


@inline
def argmax_hits(logits, labels):
    """Rows whose first maximum sits at the label."""
    hits = 0
    for r in range(logits.shape[0]):
        best = 0
        for j in range(1, logits.shape[1]):
            if logits[r, j] > logits[r, best]:
                best = j
        hits += best == labels[r]
    return hits


@inline
def sign_hits(logits, targets):
    """Entries where logits > 0 agrees with targets >= 0.5."""
    hits = 0
    half, zero = targets.dtype.type(0.5), logits.dtype.type(0)
    for r in range(logits.shape[0]):
        for j in range(logits.shape[1]):
            hits += (logits[r, j] > zero) == (targets[r, j] >= half)
    return hits


# -- compiled entry points: serial below one chunk, fixed row chunks above -------------
# Three explicit kernels, not one made by a factory: numba's cache keys a kernel by its
# qualified name, and closures from one factory would share (and clobber) one entry.
@inline
def _chunking(n, k):
    rows = max(1, CHUNK // max(k, 1))
    return rows, (n + rows - 1) // rows


@inline
def _in_order(partial):
    total = 0.0
    for c in range(partial.shape[0]):
        total += partial[c]
    return total


@njit(parallel=True, **JIT)
def _softmax_ce(grad, logits, labels, want):
    n = logits.shape[0]
    rows, n_chunks = _chunking(n, logits.shape[1])
    if n_chunks <= 1:
        return softmax_ce_rows(grad, logits, labels, 0, n, want)
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        partial[c] = softmax_ce_rows(grad, logits, labels, c * rows, min(n, (c + 1) * rows), want)
    return _in_order(partial)


@njit(parallel=True, **JIT)
def _bce(grad, logits, targets, want):
    n = logits.shape[0]
    rows, n_chunks = _chunking(n, logits.shape[1])
    if n_chunks <= 1:
        return bce_rows(grad, logits, targets, 0, n, want)
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        partial[c] = bce_rows(grad, logits, targets, c * rows, min(n, (c + 1) * rows), want)
    return _in_order(partial)


@njit(parallel=True, **JIT)
def _mse(grad, pred, targets, want):
    n = pred.shape[0]
    rows, n_chunks = _chunking(n, pred.shape[1])
    if n_chunks <= 1:
        return mse_rows(grad, pred, targets, 0, n, want)
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        partial[c] = mse_rows(grad, pred, targets, c * rows, min(n, (c + 1) * rows), want)
    return _in_order(partial)


@njit(**JIT)
def _softmax(out, logits):
    for r in range(logits.shape[0]):
        top = logits[r, 0]
        for j in range(1, logits.shape[1]):
            top = max(top, logits[r, j])
        s = logits.dtype.type(0)
        for j in range(logits.shape[1]):
            out[r, j] = exp(logits[r, j] - top)
            s += out[r, j]
        for j in range(logits.shape[1]):
            out[r, j] /= s


@njit(**JIT)
def _sigmoid(out, x):
    one = x.dtype.type(1)
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[r, j] = stable_sigmoid(x[r, j], one)
