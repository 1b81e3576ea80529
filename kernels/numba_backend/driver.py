"""The compiled driver: whole training runs of ANY network in one compiled call.

One function, :func:`_train`, trains every network: the layers are rows of an int64 table
(sizes, activation code, offsets into the flat parameter, gradient and workspace buffers)
rather than tuples of arrays, so a new depth, width, activation or loss is new data, not
a new specialisation: it is compiled once per float dtype (and input dtype) and then only
loaded from numba's cache. The loss is each loss unit's compiled C function
(``losses.loss_function``), passed as an argument like the optimizer's update. Each op
of a step is its own compiled function, called rather than inlined (gather, layer
forward, loss, layer backward, update), so the driver stays small and every piece is
compiled and cached once.

The step is the generic loop's (``kernels/loop.py``): gather a batch in the epoch's
order, forward through every layer, the loss and its gradient, backward in exactly the
reverse order, one all-or-nothing update; with no Python between steps (at batch 32 an
MNIST epoch is 1,875 steps). Two layouts, differing only in their layer sweeps
(``dense.py``):

- row-major (batch, units), products by BLAS (``blas.gemm``, OpenBLAS's ``cblas_?gemm``;
  never inside a parallel loop), for networks above ``SMALL_NET_WEIGHTS`` weights;
- transposed (units, batch), products as written-out loops over the batch, for the
  tutorial nets, whose per-step arithmetic would cost less than a BLAS call.

Within a call the update's overflow proof carries its bound of max |p| from step to step,
so each step reads the gradient once for it; the slot bounds are kept per state as
``optimizer_step`` keeps them.
"""

import math

import numpy as np
from numba import njit

from ..activations import CODES, resolve
from ..dropout import scale, threshold
from ..loop import steps_per_epoch
from ..losses import resolve as resolve_loss
from ..net import EpochStats
from .blas import gemm
from .config import JIT
from .dense import activation_grad_bias, bias_activate, forward_t, grad_bias_t, products_t
from .dropout import compiled_key_of, mask_rows
from .losses import call_loss, loss_function
from .optim import (
    MAX_SLOTS,
    abs_sum,
    call_update,
    compiles,
    decay_index,
    hyper,
    keep_slot_bounds,
    limit_of,
    slot_bounds,
    slot_matrix,
    state_update,
)

SMALL_NET_WEIGHTS = 4096  # networks with at most this many weights train transposed
STOP_NONE, STOP_LOSS, STOP_GRADIENT = 0, 1, 2
# columns of the layer table
N_IN, N_OUT, W_AT, B_AT, CODE, Y_AT, D_AT, Z_AT, DROP_AT = range(9)
NO_DROPOUT = -1


def takes(net, state, X, targets, weights=None) -> bool:
    """Whether the driver trains this: an update rule this backend compiles, 2-D
    C-contiguous inputs, C-contiguous targets and float64 weights (anything else takes
    the generic Python loop)."""
    return (compiles(state) and X.ndim == 2 and X.flags.c_contiguous
            and targets.flags.c_contiguous
            and (weights is None or (weights.dtype == np.float64
                                     and weights.flags.c_contiguous)))


class Plan:
    """The layer table and the flat workspace of one network at one batch size.

    layers int64 (L, 9): in and out units, offsets of W and b in the parameter buffer, the
    activation's code, offsets of the layer's output y, its gradient and its z (y's when
    the unit does not keep z) in ``ws``, and of its input after dropout (NO_DROPOUT if it
    has none); params float64 (L,): the activations' parameters; cuts uint64 (L,) and
    factors (L,) of the net's dtype: each dropout's threshold and scale
    (``kernels/dropout.py``); ws (size,) of the net's dtype, the gathered input x first.
    """

    def __init__(self, net, batch: int, transposed: bool):
        self.transposed = transposed
        self.layers = np.empty((net.n_layers, 9), np.int64)
        self.params = np.empty(net.n_layers, np.float64)
        self.cuts = np.array([threshold(rate) for rate in net.dropout], np.uint64)
        self.factors = np.array([scale(rate, net.dtype) for rate in net.dropout], net.dtype)
        at = batch * net.sizes[0]
        w_at, b_at = 0, net.n_weights
        for l, (i, o, spec) in enumerate(zip(net.sizes[:-1], net.sizes[1:], net.activations)):
            unit, p = resolve(spec)
            keeps_z = unit.USES == "z"
            drop_at = at if net.dropout[l] else NO_DROPOUT
            at += batch * i if net.dropout[l] else 0
            y_at, d_at = at, at + batch * o
            z_at = d_at + batch * o if keeps_z else y_at
            self.layers[l] = (i, o, w_at, b_at, CODES[unit.NAME], y_at, d_at, z_at, drop_at)
            self.params[l] = p
            at = d_at + batch * o * (2 if keeps_z else 1)
            w_at, b_at = w_at + i * o, b_at + o
        self.ws = np.zeros(at, net.dtype)


def plan_for(net, batch: int) -> Plan:
    """The net's plan at this batch size (made once, kept with the net's workspaces)."""
    transposed = net.n_weights <= SMALL_NET_WEIGHTS
    key = ("plan", batch, transposed)
    plan = net.cached(key)
    if plan is None:
        plan = net.keep(key, Plan(net, batch, transposed))
    return plan


def train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size, weights=None):
    """``Backend.train_epochs`` in one compiled call for all epochs."""
    stats = EpochStats.empty(n_epochs)
    n = X.shape[0]
    plan = plan_for(net, min(batch_size, n))
    bounds = np.empty(1 + MAX_SLOTS)
    bounds[1:] = slot_bounds(state)
    with slot_matrix(state) as slots:
        stop, epoch, batch_at, steps = _run(net, plan, slots, state, X, targets, weights,
                                            orders, n_epochs, batch_size, bounds, stats)
    state.step += steps
    if steps:
        keep_slot_bounds(state, bounds[1:])
    if stop != STOP_NONE:
        stats.failed_epoch, stats.failed_batch = epoch, batch_at
        stats.failed_what = "loss" if stop == STOP_LOSS else "gradient"
    return stats


def _run(net, plan, slots, state, X, targets, weights, orders, n_epochs, batch_size, bounds,
         stats):
    """The compiled call: (stop code, failed epoch, failed batch, steps applied)."""
    steps = n_epochs * steps_per_epoch(X.shape[0], batch_size)
    decays = state.weight_decays(steps)
    labelled = targets.ndim == 1
    no_labels, no_targets = np.empty(0, np.int64), np.empty((0, 0), net.dtype)
    update = state_update(state, net.dtype)
    unit, loss_param = resolve_loss(net.loss)
    return _train(
        update, loss_function(unit.NAME, net.dtype, plan.transposed, labelled), loss_param,
        net.params, net.grads, slots, plan.ws, plan.layers, plan.params, plan.cuts,
        plan.factors, np.uint64(net.dropout_seed),
        X, targets if labelled else no_labels, no_targets if labelled else targets,
        np.empty(0) if weights is None else weights, net.dtype.type(net.input_scale),
        orders if orders is not None else np.empty((0, 0), np.int64), orders is not None,
        n_epochs, batch_size, True if plan.transposed else None, hyper(state),
        state.learning_rates(steps), np.empty(0) if decays is None else decays,
        decay_index(state), state.step, net.n_weights, bounds, limit_of(net.params),
        stats.loss_sum, stats.correct)


def intermediates(net, m):
    """After a one-batch call of m rows: the gathered input (m, i), the layer outputs
    (m, units), the gradients of their pre-activations dz (m, units), the kept z (or
    None) and each layer's input after dropout (m, i) (or None), as the driver computed
    them (views, transposed back where needed)."""
    plan = plan_for(net, m)

    def rows(at, units):  # the driver's own view, transposed back to (m, units)
        a = _view(plan.ws, at, units, m, plan.transposed)
        return a.T if plan.transposed else a

    outs, dz, zs, dropped = [], [], [], []
    for l, (i, o) in enumerate(zip(net.sizes[:-1], net.sizes[1:])):
        layer = plan.layers[l]
        outs.append(rows(layer[Y_AT], o))
        dz.append(rows(layer[D_AT], o))
        zs.append(rows(layer[Z_AT], o) if layer[Z_AT] != layer[Y_AT] else None)
        dropped.append(rows(layer[DROP_AT], i) if layer[DROP_AT] != NO_DROPOUT else None)
    return rows(0, net.sizes[0]), outs, dz, zs, dropped


# -- the compiled pieces ------------------------------------------------------------------
@njit(**JIT)
def _view(ws, at, units, m, transposed):
    flat = ws[at:at + m * units]
    return flat.reshape((units, m)) if transposed else flat.reshape((m, units))


@njit(**JIT)
def _gather(ws, X, labels, T, weights, labels_b, T_b, w_b, rows, start, m, scale, transposed,
            classify):
    """Rows ``rows[start:start+m]`` (or start..start+m-1 if rows is empty) of X into the
    workspace's input, converted and scaled; their labels into labels_b or their targets
    into T_b (>= m, k); their weights into w_b, unless weights is empty."""
    x = _view(ws, 0, X.shape[1], m, transposed)
    f = ws.dtype.type
    for r in range(m):
        src = rows[start + r] if rows.size else start + r
        row = X[src]
        if transposed:
            for q in range(row.shape[0]):
                x[q, r] = f(row[q]) * scale
        else:
            x_row = x[r]
            for q in range(row.shape[0]):
                x_row[q] = f(row[q]) * scale
        if classify:
            labels_b[r] = labels[src]
        else:
            for j in range(T_b.shape[1]):
                T_b[r, j] = T[src, j]
        if weights.size:
            w_b[r] = weights[src]


@njit(**JIT)
def _layer(params, grads, ws, layers, l, m, transposed):
    """Views of layer l: W and dW (i, o), b and db (o,), its input a (layer l-1's output or
    the gathered x), y, z and dz, and the gradient buffer of its input (empty for l = 0)."""
    layer = layers[l]
    i, o = layer[N_IN], layer[N_OUT]
    W = params[layer[W_AT]:layer[W_AT] + i * o].reshape((i, o))
    dW = grads[layer[W_AT]:layer[W_AT] + i * o].reshape((i, o))
    b, db = params[layer[B_AT]:layer[B_AT] + o], grads[layer[B_AT]:layer[B_AT] + o]
    a_in = _view(ws, _input_at(layers, l), i, m, transposed)
    y = _view(ws, layer[Y_AT], o, m, transposed)
    z = _view(ws, layer[Z_AT], o, m, transposed)
    dz = _view(ws, layer[D_AT], o, m, transposed)
    dx = _view(ws, layers[l - 1, D_AT] if l else 0, i, m if l else 0, transposed)
    return W, dW, b, db, a_in, y, z, dz, dx


@njit(**JIT)
def _input_at(layers, l):
    """Offset of layer l's input: after its dropout, else layer l-1's output or x."""
    if layers[l, DROP_AT] != NO_DROPOUT:
        return layers[l, DROP_AT]
    return 0 if l == 0 else layers[l - 1, Y_AT]


@njit(**JIT)
def _dropout(ws, layers, l, m, transposed, key, cut, factor, backward):
    """Layer l's dropout: forward, its input (x or layer l-1's output) masked into its
    dropped buffer; backward, the gradient of layer l-1's output masked in place."""
    i = layers[l, N_IN]
    if backward:
        d = _view(ws, layers[l - 1, D_AT], i, m, transposed)
        mask_rows(d, d, key, cut, factor, transposed)
    else:
        a = _view(ws, 0 if l == 0 else layers[l - 1, Y_AT], i, m, transposed)
        mask_rows(_view(ws, layers[l, DROP_AT], i, m, transposed), a, key, cut, factor,
                  transposed)


# -- the two layouts' layer sweeps and loss: (batch, units) with BLAS, (units, batch) ------
@njit(**JIT)
def _forward_rows(params, grads, ws, layers, act_params, l, m):
    W, _, b, _, a_in, y, z, _, _ = _layer(params, grads, ws, layers, l, m, False)
    gemm(a_in, W, y, False, False)
    bias_activate(y, z, b, layers[l, CODE], act_params[l])


@njit(**JIT)
def _backward_rows(params, grads, ws, layers, act_params, l, m):
    W, dW, _, db, a_in, y, z, dz, dx = _layer(params, grads, ws, layers, l, m, False)
    activation_grad_bias(dz, db, y, z, layers[l, CODE], act_params[l])
    gemm(a_in, dz, dW, True, False)
    if l > 0:
        gemm(dz, W, dx, False, True)


@njit(**JIT)
def _forward_t(params, grads, ws, layers, act_params, l, m):
    W, _, b, _, a_in, y, z, _, _ = _layer(params, grads, ws, layers, l, m, True)
    forward_t(layers[l, CODE], y, z, a_in, W, b, act_params[l])


@njit(**JIT)
def _backward_t(params, grads, ws, layers, act_params, l, m):
    W, dW, _, db, a_in, y, z, dz, dx = _layer(params, grads, ws, layers, l, m, True)
    grad_bias_t(layers[l, CODE], dz, db, y, z, act_params[l])
    products_t(dW, dx, dz, a_in, W, l > 0)


@njit(**JIT)
def _batch_loss(loss_fn, loss_param, ws, last, labels_b, T_b, w_b, m, transposed, hits):
    """The loss unit's compiled function on the last layer's output of the batch, its
    gradient into the last layer's gradient buffer: (loss, the batch's weight)."""
    k = last[N_OUT]
    weight = np.float64(m)
    if w_b.size:
        weight = 0.0
        for r in range(m):
            weight += w_b[r]
    loss = call_loss(loss_fn, _view(ws, last[D_AT], k, m, transposed),
                     _view(ws, last[Y_AT], k, m, transposed), labels_b[:m], T_b[:m],
                     w_b[:m], transposed, loss_param, hits)
    return loss, weight


@njit(**JIT)
def _train(update, loss_fn, loss_param, params, grads, slots, ws, layers, act_params, cuts,
           factors, seed, X, labels, T, weights, scale, orders, shuffled, n_epochs, batch,
           rows, hp, lrs, decays, decay_at, step, n_decay, bounds, limit, loss_sum, correct):
    # rows: None for the row-major layout, True for the transposed one. A None argument
    # is a type of its own, so numba compiles the driver once per layout and prunes the
    # other layout's branches before typing them: a process compiles only the sweeps of
    # the layouts it uses.
    transposed = rows is not None
    n = X.shape[0]
    n_layers = layers.shape[0]
    last = layers[n_layers - 1]
    classify = labels.size > 0
    rows_cap = min(batch, n)
    labels_b = np.empty(rows_cap if classify else 0, np.int64)
    T_b = np.empty((rows_cap if not classify else 0, last[N_OUT]), ws.dtype)
    w_b = np.empty(rows_cap if weights.size else 0)
    hits = np.zeros(1)
    no_rows = np.empty(0, np.int64)
    one_batch = not shuffled and batch >= n  # the same batch every epoch: gather it once
    bounds[0] = abs_sum(params, 0, params.size)
    steps = 0
    for epoch in range(n_epochs):
        batch_index = 0
        for start in range(0, n, batch):
            m = min(batch, n - start)
            if epoch == 0 or not one_batch:
                _gather(ws, X, labels, T, weights, labels_b, T_b, w_b,
                        orders[epoch] if shuffled else no_rows, start, m, scale,
                        transposed, classify)
            t = np.uint64(step + steps + 1)  # this step's: its dropout masks
            for l in range(n_layers):
                if layers[l, DROP_AT] != NO_DROPOUT:
                    _dropout(ws, layers, l, m, transposed, compiled_key_of(seed, t, np.uint64(l)),
                             cuts[l], factors[l], False)
                if rows is None:
                    _forward_rows(params, grads, ws, layers, act_params, l, m)
                else:
                    _forward_t(params, grads, ws, layers, act_params, l, m)
            loss, weight = _batch_loss(loss_fn, loss_param, ws, last, labels_b, T_b, w_b, m,
                                       transposed, hits)
            if not math.isfinite(loss):
                return STOP_LOSS, epoch, batch_index, steps
            correct[epoch] += hits[0]
            for l in range(n_layers - 1, -1, -1):
                if rows is None:
                    _backward_rows(params, grads, ws, layers, act_params, l, m)
                else:
                    _backward_t(params, grads, ws, layers, act_params, l, m)
                if l > 0 and layers[l, DROP_AT] != NO_DROPOUT:
                    _dropout(ws, layers, l, m, transposed, compiled_key_of(seed, t, np.uint64(l)),
                             cuts[l], factors[l], True)
            if decays.size:  # a weight-decay schedule: this step's value
                hp[decay_at] = decays[steps]
            if not call_update(update, params, slots, grads, hp, lrs[steps],
                               step + steps + 1, n_decay, bounds, limit):
                return STOP_GRADIENT, epoch, batch_index, steps
            steps += 1
            loss_sum[epoch] += loss * weight
            batch_index += 1
    return STOP_NONE, -1, -1, steps

