"""Whole training runs of small networks inside ONE compiled call.

For the tutorial nets (a few to a few dozen units) the work per step is a few hundred
flops, so Python dispatch would cost 100x the arithmetic. Here every epoch, batch, layer,
loss and optimizer update runs in one serial numba function. Activations are kept
transposed, (units, batch), so every inner loop runs over the batch, contiguous and
vectorised, even for layers of two or three units. The losses are ``losses.py``'s
sweeps over samples, which take the logits in this layout, and the update is ``optim.py``'s
:func:`~optim.update_range` for whichever rule the state holds: the path shares every
definition with the rest of the backend and adds only the transposed layer loops.
"""

import math

import numpy as np
from numba import njit

from ..loop import input_batch, steps_per_epoch
from ..net import EpochStats
from ._rules import ACTIVATION_CODES, LOSS_CODES, SOFTMAX_CE, activate, derivative
from .config import JIT, inline
from .losses import loss_and_hits
from .optim import CODES, hyper, scalars, update_range

SMALL_NET_WEIGHTS = 4096  # networks with at most this many weights take this path
SMALL_COPY_BYTES = 1 << 20  # and a narrower input is converted in full up to this size
STOP_NONE, STOP_LOSS, STOP_GRADIENT = 0, 1, 2


def takes(net, state, X) -> bool:
    """Whether this path trains net on X: at most SMALL_NET_WEIGHTS weights, and, as it
    converts the whole input to the net's dtype once, X no narrower than that dtype or
    its copy at most SMALL_COPY_BYTES (uint8 images go through the generic loop, which
    converts them batch by batch); and an update rule this backend compiles."""
    narrower = X.dtype.itemsize < net.dtype.itemsize
    small_copy = X.size * net.dtype.itemsize <= SMALL_COPY_BYTES
    return (net.n_weights <= SMALL_NET_WEIGHTS and (not narrower or small_copy)
            and state.rule in CODES)


def intermediates(net, m):
    """After a one-batch call of m rows: the gathered input (m, i), the layer outputs
    (m, units) and the gradients of their pre-activations dz (m, units), as the path
    computed them (transposed views)."""
    ws = net.workspace(m, transposed=True)
    return ws.x[:, :m].T, [out[:, :m].T for out in ws.out], [d[:, :m].T for d in ws.dout]


def train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size):
    """``Backend.train_epochs`` for a small net: one compiled call for all epochs."""
    stats = EpochStats.empty(n_epochs)
    if X.dtype != net.dtype or net.input_scale != 1.0:  # see takes(): convert it once
        X = input_batch(np.empty(X.shape, net.dtype), X, slice(None), net.input_scale)
    batch = min(batch_size, X.shape[0])
    ws_t = net.workspace(batch, transposed=True)
    classify = net.loss == "softmax_cross_entropy"
    no_labels, no_targets = np.empty(0, np.int64), np.empty((0, 0), net.dtype)
    s1, s2 = (state.slots * 2)[:2]
    lrs = state.learning_rates(n_epochs * steps_per_epoch(X.shape[0], batch_size))
    stop, epoch, batch_at, steps = _train(
        net.params, net.grads, tuple(net.W), tuple(net.b), tuple(net.dW), tuple(net.db),
        s1, s2, (ws_t.x,) + tuple(ws_t.out), (ws_t.x[:0],) + tuple(ws_t.dout),
        ws_t.targets if classify else no_labels, no_targets if classify else ws_t.targets,
        np.array([ACTIVATION_CODES[a] for a in net.activations], np.int64),
        LOSS_CODES[net.loss], X, targets if classify else no_labels,
        no_targets if classify else targets,
        orders if orders is not None else np.empty((0, 0), np.int64), orders is not None,
        n_epochs, batch_size, CODES[state.rule], hyper(state), lrs, state.step,
        net.n_weights, stats.loss_sum, stats.correct)
    state.step += steps
    if stop != STOP_NONE:
        stats.failed_epoch, stats.failed_batch = epoch, batch_at
        stats.failed_what = "loss" if stop == STOP_LOSS else "gradient"
    return stats


@inline
def _forward_t(out_t, a_t, W, b, code, m):
    """out_t[:, :m] = act(W.T @ a_t[:, :m] + b); out_t (o, batch), a_t (i, batch), W (i, o)."""
    one, zero = W.dtype.type(1), W.dtype.type(0)
    for j in range(W.shape[1]):
        row = out_t[j, :m]
        row[:] = b[j]
        for q in range(W.shape[0]):
            w, a_row = W[q, j], a_t[q, :m]
            for r in range(m):
                row[r] += w * a_row[r]
        for r in range(m):
            row[r] = activate(row[r], code, one, zero)


@inline
def _backward_t(dW, db, dx_t, dz_t, a_t, W, out_t, code, m, want_dx):
    """dz_t (o, batch) *= act'(out_t); db = row sums; dW = a_t @ dz_t.T; dx_t = W @ dz_t."""
    one, zero = W.dtype.type(1), W.dtype.type(0)
    for j in range(W.shape[1]):
        d_row, y_row = dz_t[j, :m], out_t[j, :m]
        s = zero
        for r in range(m):
            d = d_row[r] * derivative(y_row[r], code, one, zero)
            d_row[r] = d
            s += d
        db[j] = s
    for q in range(W.shape[0]):
        a_row = a_t[q, :m]
        for j in range(W.shape[1]):
            d_row = dz_t[j, :m]
            s = zero
            for r in range(m):
                s += a_row[r] * d_row[r]
            dW[q, j] = s
    if want_dx:
        for q in range(W.shape[0]):
            x_row = dx_t[q, :m]
            x_row[:] = zero
            for j in range(W.shape[1]):
                w, d_row = W[q, j], dz_t[j, :m]
                for r in range(m):
                    x_row[r] += w * d_row[r]


@njit(**JIT)
def _train(params, grads, W, b, dW, db, slot1, slot2, acts_t, douts_t, labels_b, T_b,
           codes, loss_code, X, labels, T, orders, shuffled, n_epochs, batch,
           rule, hp, lrs, step, n_weights, loss_sum, correct):
    n_layers = len(W)
    n = X.shape[0]
    steps = 0
    one_batch = not shuffled and batch >= n  # the same batch every epoch: gather it once
    for epoch in range(n_epochs):
        batch_index = 0
        for start in range(0, n, batch):
            m = min(batch, n - start)
            x_t = acts_t[0]
            for r in range(m if epoch == 0 or not one_batch else 0):
                src = orders[epoch, start + r] if shuffled else start + r
                for q in range(X.shape[1]):
                    x_t[q, r] = X[src, q]
                if loss_code == SOFTMAX_CE:
                    labels_b[r] = labels[src]
                else:
                    T_b[:, r] = T[src, :]
            for l in range(n_layers):
                _forward_t(acts_t[l + 1], acts_t[l], W[l], b[l], codes[l], m)
            loss, hits = loss_and_hits(loss_code, douts_t[n_layers], acts_t[n_layers],
                                       labels_b, T_b, m)
            if not math.isfinite(loss):
                return STOP_LOSS, epoch, batch_index, steps
            correct[epoch] += hits
            for l in range(n_layers - 1, -1, -1):
                _backward_t(dW[l], db[l], douts_t[l], douts_t[l + 1], acts_t[l], W[l],
                            acts_t[l + 1], codes[l], m, l > 0)
            c, nesterov = scalars(rule, hp, lrs[steps], step + steps + 1, params)
            for commit in (False, True):
                if not update_range(rule, params, slot1, slot2, grads, 0, params.size, c,
                                    nesterov, n_weights, commit)[0]:
                    return STOP_GRADIENT, epoch, batch_index, steps
            steps += 1
            loss_sum[epoch] += loss * m
            batch_index += 1
    return STOP_NONE, -1, -1, steps
