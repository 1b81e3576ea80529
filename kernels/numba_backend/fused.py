"""Whole epochs of the generic training loop inside ONE compiled call.

The step of ``kernels/loop.py`` (gather a batch in the epoch's order, forward through
every layer, the loss and its gradient, backward in exactly the reverse order, one
all-or-nothing update) with no Python between steps: at batch 32 an MNIST epoch is
1,875 steps, and a dozen Python-level kernel calls per step cost about as much as the
arithmetic. The products are BLAS calls made from inside numba (``blas.gemm``, OpenBLAS's
``cblas_?gemm`` of scipy-openblas32; never inside a parallel loop); everything between
them is this backend's own code: ``dense.py``'s bias-activation and activation-gradient
sweeps, ``losses.py``'s sweeps over samples (given transposed views of the logits) and
``optim.py``'s guarded update. Within a call the update's overflow proof carries its
bound of max |p| from step to step, so each step reads the gradient once for it; the
slot bounds are kept per state as ``optimizer_step`` keeps them.

Layout is row-major, as in the generic loop: x (batch, i), out[l] and dout[l]
(batch, units). The elementwise sweeps run serially (measured: with BLAS already using
every core between them, threads for these short passes cost more than they save).
"""

import math

import numpy as np
from numba import njit

from ..loop import steps_per_epoch
from ..net import EpochStats
from ._rules import ACTIVATION_CODES, LOSS_CODES, SOFTMAX_CE
from .blas import gemm
from .config import JIT
from .dense import activation_grad_bias_cols, bias_activate_rows
from .losses import loss_and_hits
from .optim import (
    CODES,
    _abs_sum,
    _limit,
    guarded_update,
    hyper,
    keep_slot_bounds,
    scalars,
    slot_bounds,
    slot_pair,
)

STOP_NONE, STOP_LOSS, STOP_GRADIENT = 0, 1, 2


def takes(net, state, X, targets) -> bool:
    """Whether this path trains: a rule this backend compiles and C-contiguous inputs and
    targets (anything else takes the generic Python loop)."""
    return (state.rule in CODES and X.flags.c_contiguous and targets.flags.c_contiguous
            and X.ndim == 2)


def train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size):
    """``Backend.train_epochs`` in one compiled call for all epochs."""
    stats = EpochStats.empty(n_epochs)
    n = X.shape[0]
    ws = net.workspace(min(batch_size, n))
    classify = net.loss == "softmax_cross_entropy"
    no_labels, no_targets = np.empty(0, np.int64), np.empty((0, 0), net.dtype)
    s1, s2 = slot_pair(state)
    bounds = np.empty(3)
    bounds[1:] = slot_bounds(state)
    lrs = state.learning_rates(n_epochs * steps_per_epoch(n, batch_size))
    stop, epoch, batch_at, steps = _train(
        net.params, net.grads, tuple(net.W), tuple(net.b), tuple(net.dW), tuple(net.db),
        s1, s2, ws.x, tuple(ws.out), tuple(ws.dout),
        ws.targets if classify else no_labels, no_targets if classify else ws.targets,
        np.array([ACTIVATION_CODES[a] for a in net.activations], np.int64),
        LOSS_CODES[net.loss], X, targets if classify else no_labels,
        no_targets if classify else targets, net.dtype.type(net.input_scale),
        orders if orders is not None else np.empty((0, 0), np.int64), orders is not None,
        n_epochs, batch_size, CODES[state.rule], hyper(state), lrs, state.step,
        net.n_weights, bounds, _limit(net.params), stats.loss_sum, stats.correct)
    state.step += steps
    if steps:
        keep_slot_bounds(state, bounds[1:])
    if stop != STOP_NONE:
        stats.failed_epoch, stats.failed_batch = epoch, batch_at
        stats.failed_what = "loss" if stop == STOP_LOSS else "gradient"
    return stats


def intermediates(net, m):
    """After a one-batch call of m rows: the gathered input (m, i), the layer outputs
    (m, units) and the gradients of their pre-activations dz (m, units), as the path
    computed them."""
    ws = net.workspace(m)
    return ws.x[:m], [out[:m] for out in ws.out], [d[:m] for d in ws.dout]


@njit(**JIT)
def _train(params, grads, W, b, dW, db, slot1, slot2, x_buf, outs, douts, labels_b, T_b,
           codes, loss_code, X, labels, T, scale, orders, shuffled, n_epochs, batch, rule,
           hp, lrs, step, n_weights, bounds, limit, loss_sum, correct):
    n_layers = len(W)
    n = X.shape[0]
    bounds[0] = _abs_sum(params, 0, params.size)
    steps = 0
    for epoch in range(n_epochs):
        batch_index = 0
        for start in range(0, n, batch):
            m = min(batch, n - start)
            x = x_buf[:m]
            for r in range(m):  # gather, converted to the dtype and scaled
                src = orders[epoch, start + r] if shuffled else start + r
                row = X[src]
                for q in range(row.shape[0]):
                    x[r, q] = x_buf.dtype.type(row[q]) * scale
                if loss_code == SOFTMAX_CE:
                    labels_b[r] = labels[src]
                else:
                    T_b[r, :] = T[src, :]
            a = x
            for l in range(n_layers):
                out = outs[l][:m]
                gemm(a, W[l], out, False, False)
                bias_activate_rows(out, b[l], codes[l], 0, m)
                a = out
            loss, hits = loss_and_hits(loss_code, douts[n_layers - 1].T, outs[n_layers - 1].T,
                                       labels_b, T_b.T, m)
            if not math.isfinite(loss):
                return STOP_LOSS, epoch, batch_index, steps
            correct[epoch] += hits
            for l in range(n_layers - 1, -1, -1):
                dz, a_in = douts[l][:m], x if l == 0 else outs[l - 1][:m]
                activation_grad_bias_cols(dz, db[l], outs[l][:m], codes[l], 0, dz.shape[1])
                gemm(a_in, dz, dW[l], True, False)
                if l > 0:
                    gemm(dz, W[l], douts[l - 1][:m], False, True)
            c, nesterov = scalars(rule, hp, lrs[steps], step + steps + 1, params)
            if not guarded_update(rule, params, slot1, slot2, grads, c, nesterov, n_weights,
                                  bounds, limit):
                return STOP_GRADIENT, epoch, batch_index, steps
            steps += 1
            loss_sum[epoch] += loss * m
            batch_index += 1
    return STOP_NONE, -1, -1, steps
