"""Losses with their gradients in one pass, and prediction transforms (numba).

Softmax cross-entropy: max, exp-sum, log and gradient per sample in one sweep, writing
``(p - onehot) / n`` straight into dlogits; no one-hot matrix, no probability copy.
The sweeps run class-major (a view (k, n) of the (n, k) logits), so their loops run over
samples and vectorise, with the float32 exp and log of ``_math.py`` (log1p stays numpy's);
the small-network path keeps its logits in that layout already. Loss sums are float64.
One compiled kernel, :func:`loss_rows`, serves the contract's three loss ops and the
compiled driver's row-major path, so a process compiles it once; it runs serially over
fixed chunks of samples (a parallel version cost about 9 s of compiling on a user's first
``evaluate`` and saved little: the sweeps are a small part of a forward pass).
"""

import numpy as np
from numba import njit

from ..scalar import exp
from ._math import log_of_sum
from ._rules import MSE, SIGMOID_BCE, SOFTMAX_CE, stable_sigmoid
from .config import CHUNK, JIT, inline


def softmax_cross_entropy(dlogits, logits, labels):
    """Mean of logsumexp(z) - z[label]; dlogits (n, k) = (softmax(z) - onehot) / n."""
    return _loss(SOFTMAX_CE, dlogits, logits, labels, _NO_TARGETS)


def sigmoid_bce(dlogits, logits, targets):
    """Mean of max(z,0) - z t + log1p(exp(-|z|)); dlogits = (sigmoid(z) - t) / (n k)."""
    return _loss(SIGMOID_BCE, dlogits, logits, _NO_LABELS, targets)


def mse(dpred, pred, targets):
    """Mean of (pred - t)^2; dpred = 2 (pred - t) / (n k)."""
    return _loss(MSE, dpred, pred, _NO_LABELS, targets)


_NO_LABELS = np.empty(0, np.int64)
_NO_TARGETS = np.empty((0, 0))


def _loss(code, grad, z, labels, targets):
    """The op through :func:`loss_rows`, the kernel the compiled driver calls too (so a
    process compiles it once); inputs of any memory order are copied to C order, and
    without a gradient buffer the gradient goes to a scratch one."""
    z = np.ascontiguousarray(z)
    d = grad if grad is not None and grad.flags.c_contiguous else np.empty_like(z)
    targets = np.ascontiguousarray(targets, z.dtype)
    loss = loss_rows(code, d, z, np.ascontiguousarray(labels), targets)[0]
    if grad is not None and d is not grad:
        grad[...] = d
    return loss


def count_correct(logits, targets, loss):
    """argmax == label (softmax CE) or [z > 0] == [t >= 0.5] (BCE), counted."""
    if loss == "softmax_cross_entropy":
        return int(argmax_hits(logits.T, targets, len(logits)))
    return int(sign_hits(logits.T, targets.T, len(logits)))


def softmax(out, logits):
    """Row-wise softmax of logits (n, k) into out (n, k)."""
    _softmax(out, logits)


def sigmoid(out, x):
    """Elementwise stable logistic function; out, x (n, k)."""
    _sigmoid(out, x)


# -- sweeps over samples, shared with both compiled training loops -------------------
# Every sweep takes its arrays class-major, z_t (k, N): one column per sample, so that
# each inner loop runs over samples and vectorises however few the classes (the small
# networks' two-class logits included: their buffers are C-contiguous (k, batch), whose
# rows numba knows to be contiguous; row-major callers pass ``logits.T``). A sweep covers
# samples lo..hi-1 of a mean over n samples.
@inline
def softmax_ce_cols(d_t, z_t, labels, lo, hi, n):
    """Sum over samples lo..hi-1 of logsumexp(z) - z[label] (float64); d_t[:, lo:hi] gets
    (softmax(z) - onehot) / n."""
    f = z_t.dtype.type
    scale = f(1) / f(n)
    top = z_t[0, lo:hi].copy()
    for j in range(1, z_t.shape[0]):
        z = z_t[j, lo:hi]
        for r in range(hi - lo):
            top[r] = max(top[r], z[r])
    total = np.zeros(hi - lo, z_t.dtype)
    for j in range(z_t.shape[0]):
        z, d = z_t[j, lo:hi], d_t[j, lo:hi]
        for r in range(hi - lo):
            e = exp(z[r] - top[r])
            d[r] = e
            total[r] += e
    loss = 0.0
    for r in range(hi - lo):
        loss += log_of_sum(total[r]) - (z_t[labels[lo + r], lo + r] - top[r])
    for r in range(hi - lo):
        total[r] = scale / total[r]
    for j in range(z_t.shape[0]):
        d = d_t[j, lo:hi]
        for r in range(hi - lo):
            d[r] *= total[r]
    for r in range(lo, hi):
        d_t[labels[r], r] -= scale
    return loss


@inline
def bce_cols(d_t, z_t, t_t, lo, hi, n):
    """Sum of elementwise BCE-from-logits over samples lo..hi-1 (float64);
    d_t[:, lo:hi] = (sigmoid(z) - t) / (n k)."""
    one, zero = z_t.dtype.type(1), z_t.dtype.type(0)
    scale = one / z_t.dtype.type(n * z_t.shape[0])
    loss = 0.0
    for j in range(z_t.shape[0]):
        z, t = z_t[j, lo:hi], t_t[j, lo:hi]
        for r in range(hi - lo):
            e = exp(-abs(z[r]))
            loss += max(z[r], zero) - z[r] * t[r] + np.log1p(e)
            d_t[j, lo + r] = ((one if z[r] >= zero else e) / (one + e) - t[r]) * scale
    return loss


@inline
def mse_cols(d_t, y_t, t_t, lo, hi, n):
    """Sum of squared errors over samples lo..hi-1 (float64); d_t[:, lo:hi] = 2 (y - t) /
    (n k)."""
    scale = y_t.dtype.type(2) / y_t.dtype.type(n * y_t.shape[0])
    loss = 0.0
    for j in range(y_t.shape[0]):
        y, t = y_t[j, lo:hi], t_t[j, lo:hi]
        for r in range(hi - lo):
            diff = y[r] - t[r]
            loss += np.float64(diff) * np.float64(diff)
            d_t[j, lo + r] = diff * scale
    return loss


@inline
def loss_and_hits(loss_code, d_t, z_t, labels, t_t, m):
    """One batch's mean loss (float64) and correct count for a loss code, the gradient of
    the mean into d_t: the sweeps above over samples 0..m-1, as both compiled training
    paths take them. z_t, d_t (k, >= m); labels (>= m,) for softmax CE, else targets
    t_t (k, >= m)."""
    k = z_t.shape[0]
    if loss_code == SOFTMAX_CE:
        return (softmax_ce_cols(d_t, z_t, labels, 0, m, m) / m,
                argmax_hits(z_t, labels, m))
    if loss_code == SIGMOID_BCE:
        return bce_cols(d_t, z_t, t_t, 0, m, m) / (m * k), sign_hits(z_t, t_t, m)
    return mse_cols(d_t, z_t, t_t, 0, m, m) / (m * k), 0


@inline
def argmax_hits(z_t, labels, m):
    """Samples 0..m-1 (columns of z_t (k, >= m)) whose first maximum sits at the label."""
    top = z_t[0, :m].copy()
    best = np.zeros(m, np.int64)
    for j in range(1, z_t.shape[0]):
        z = z_t[j, :m]
        for r in range(m):
            above = z[r] > top[r]
            best[r] = j if above else best[r]
            top[r] = z[r] if above else top[r]
    hits = 0
    for r in range(m):
        hits += best[r] == labels[r]
    return hits


@inline
def sign_hits(z_t, t_t, m):
    """Entries of samples 0..m-1 where z > 0 agrees with t >= 0.5; z_t, t_t (k, >= m)."""
    hits = 0
    half, zero = t_t.dtype.type(0.5), z_t.dtype.type(0)
    for j in range(z_t.shape[0]):
        z, t = z_t[j, :m], t_t[j, :m]
        for r in range(m):
            hits += (z[r] > zero) == (t[r] >= half)
    return hits


# -- the row-major kernel: every loss, fixed chunks of samples ------------------------------
@njit(**JIT)
def loss_rows(loss_code, d, z, labels, T):
    """(mean loss (float64), correct count) of z (n, k) for a loss code: labels int64 (n,)
    for softmax cross-entropy, else targets T (n, k); d (n, k) gets the gradient of the
    mean (always: one compiled variant, shared by training and evaluation). The sweeps
    run over fixed chunks of samples whose partial sums are added in order, so the result
    does not depend on how the caller batches. Called by the contract's ops and by the
    compiled driver's row-major loss (``driver.py``)."""
    n, k = z.shape
    d_t, z_t, t_t = d.T, z.T, T.T
    per_chunk = max(1, CHUNK // max(k, 1))
    total = 0.0
    for lo in range(0, n, per_chunk):
        hi = min(n, lo + per_chunk)
        if loss_code == SOFTMAX_CE:
            total += softmax_ce_cols(d_t, z_t, labels, lo, hi, n)
        elif loss_code == SIGMOID_BCE:
            total += bce_cols(d_t, z_t, t_t, lo, hi, n)
        else:
            total += mse_cols(d_t, z_t, t_t, lo, hi, n)
    if loss_code == SOFTMAX_CE:
        return total / n, argmax_hits(z_t, labels, n)
    if loss_code == SIGMOID_BCE:
        return total / (n * k), sign_hits(z_t, t_t, n)
    return total / (n * k), 0


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
