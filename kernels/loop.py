"""The generic training loop, built only from a backend's primitive ops.

Every backend gets ``train_epochs`` from here unless it overrides it; the numpy backend's
use of it is the reference semantics of one epoch: gather a batch (and its sample
weights) in the epoch's order, forward through every layer, loss and its gradient,
backward in exactly the reverse order, one optimizer update. An epoch's ``loss_sum``
adds each batch's loss times its weight (its rows, without weights), ``correct`` the
batch's ``metric_sum``. :func:`loss_and_gradient` is one full-batch pass without an
update (for optimizers that drive the loss themselves, e.g. L-BFGS).
"""

from __future__ import annotations

import math

import numpy as np

from .net import EpochStats, Net
from .optimizers import OptimizerState


@np.errstate(over="ignore", invalid="ignore")
def train_epochs(ops, net: Net, state: OptimizerState, X: np.ndarray, targets: np.ndarray,
                 orders: np.ndarray | None, n_epochs: int, batch_size: int,
                 weights: np.ndarray | None = None) -> EpochStats:
    """See ``Backend.train_epochs`` in ``contract.py``; ``ops`` is the assembled backend.

    Overflow warnings are silenced: a non-finite loss or update stops the loop instead.
    """
    stats = EpochStats.empty(n_epochs)
    n = X.shape[0]
    lrs = state.learning_rates(n_epochs * steps_per_epoch(n, batch_size)).tolist()
    full = min(batch_size, n)
    ws = net.workspace(full)
    batches = {m: _BatchViews(ws, m, targets, weights) for m in {full, n % batch_size or full}}
    stage = ws.stage(X.dtype) if X.dtype != net.dtype else None
    batches_of = range(0, n, batch_size)
    for epoch in range(n_epochs):
        order = None if orders is None else orders[epoch]
        for batch, start in enumerate(batches_of):
            stop = min(start + batch_size, n)
            m = stop - start
            views = batches[m]
            x, t, w = _gather(views, X, targets, weights, order, start, stop,
                              net.input_scale, stage)
            t_step = state.step + 1  # the step this batch computes: its dropout masks
            logits = forward(ops, net, x, views.out, views.z, views.dropped, t_step)
            dlogits = views.dout[-1]
            loss = ops.loss(dlogits, logits, t, net.loss, w)
            if not math.isfinite(loss):
                return _failed(stats, epoch, batch, "loss")
            stats.correct[epoch] += ops.metric_sum(logits, t, net.loss, w)
            backward(ops, net, x, views.out, views.dout, views.z, views.dropped, t_step)
            if not ops.optimizer_step(net.params, net.grads, state, net.n_weights,
                                      lrs[epoch * len(batches_of) + batch]):
                return _failed(stats, epoch, batch, "gradient")
            stats.loss_sum[epoch] += loss * (m if w is None else _sum64(w))
    return stats


def loss_and_gradient(ops, net: Net, X: np.ndarray, targets: np.ndarray,
                      weights: np.ndarray | None = None) -> float:
    """Full-batch forward, loss and backward: returns the loss of all n rows (the weighted
    mean, as ``Backend.loss``) and leaves its gradient in ``net.grads``.

    X (n, i) of net.dtype or an integer dtype (times ``net.input_scale``, as training
    gathers it); targets and weights as ``Backend.train_epochs`` takes them. No dropout
    (a deterministic function of the parameters, as a line search needs). A non-finite
    loss is returned as it is (the gradient is then meaningless).
    """
    n = X.shape[0]
    ws = net.workspace(n)
    views = _BatchViews(ws, n, targets, weights)
    stage = ws.stage(X.dtype) if X.dtype != net.dtype else None
    x = input_batch(views.x, X, slice(0, n), net.input_scale, stage)
    with np.errstate(over="ignore", invalid="ignore"):
        logits = forward(ops, net, x, views.out, views.z)
        loss = ops.loss(views.dout[-1], logits, targets, net.loss, weights)
        backward(ops, net, x, views.out, views.dout, views.z)
    return loss


def forward(ops, net: Net, x: np.ndarray, outs: list[np.ndarray], zs=None, dropped=None,
            step: int = 0) -> np.ndarray:
    """Run every layer; ``outs[l]`` (n, sizes[l+1]) receives layer l's output and ``zs[l]``
    its pre-activation where the activation needs it (zs: one buffer or None per layer, as
    ``Workspace.z``; zs None keeps no z: enough for a forward pass alone). With
    ``dropped`` (buffers as ``Workspace.dropped``) the layers' dropouts apply as in the
    training step ``step`` (1-based); without, as in inference (none). Returns logits."""
    a = x
    for l, (W, b, act, out) in enumerate(zip(net.W, net.b, net.activations, outs)):
        if dropped is not None and net.dropout[l]:
            ops.dropout_forward(dropped[l], a, net.dropout[l], net.dropout_key(step, l))
            a = dropped[l]
        ops.dense_forward(out, a, W, b, act, None if zs is None else zs[l])
        a = out
    return a


def backward(ops, net: Net, x: np.ndarray, outs: list[np.ndarray], douts: list[np.ndarray],
             zs=None, dropped=None, step: int = 0) -> None:
    """Layer gradients into ``net.grads``, from ``douts[-1]`` (the loss gradient), last layer first.

    douts[l] (n, sizes[l+1]) are overwritten; no input gradient is computed for layer 0;
    zs[l]: the pre-activation :func:`forward` kept, or None (zs None: no layer kept one);
    dropped and step: as the forward pass had them.
    """
    for l in reversed(range(net.n_layers)):
        drops = dropped is not None and net.dropout[l]
        a_in = dropped[l] if drops else x if l == 0 else outs[l - 1]
        dx = None if l == 0 else douts[l - 1]
        ops.dense_backward(net.dW[l], net.db[l], dx, douts[l], a_in, net.W[l], outs[l],
                           net.activations[l], None if zs is None else zs[l])
        if drops and dx is not None:
            ops.dropout_backward(dx, net.dropout[l], net.dropout_key(step, l))


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps in one epoch of n rows: ceil(n / batch_size)."""
    return -(-n // batch_size)


def input_batch(out, X, rows, scale, stage=None):
    """The network's input for rows ``rows`` of X, in out's dtype, times ``scale``.

    out (m, i) float buffer; X (N, i) of out's dtype, or integer (e.g. uint8 images, which
    are converted batch by batch and never exist in float in full); rows a slice or an
    int64 index array of m rows, all in range; stage an (>= m, i) buffer of X's dtype
    for gathering non-float rows without allocating. Returns ``X[rows]`` itself when it is
    a slice needing neither conversion nor scaling, else ``out`` filled with
    ``dtype(x) * dtype(scale)``, exactly the arithmetic of ``load_mnist``.
    """
    m = out.shape[0]
    convert = X.dtype != out.dtype
    if isinstance(rows, slice):
        if not convert and scale == 1.0:
            return X[rows]
        src = X[rows]
    elif convert:
        src = _take_rows(X, rows, None if stage is None else stage[:m])
    else:
        src = _take_rows(X, rows, out)
    if convert or scale != 1.0:
        np.multiply(src, out.dtype.type(scale), out=out, dtype=out.dtype)
    return out


class _BatchViews:
    """The first m rows of a workspace's buffers, sliced once per batch size, not per step;
    buffers of their own for targets of the other form (probabilities where the loss
    takes labels) and for the weights."""

    def __init__(self, ws, m: int, targets, weights):
        self.x = ws.x[:m]
        self.targets = (ws.targets[:m] if ws.targets.ndim == targets.ndim
                        else np.empty((m, *targets.shape[1:]), targets.dtype))
        self.weights = None if weights is None else np.empty(m)
        self.out = [out[:m] for out in ws.out]
        self.dout = [d[:m] for d in ws.dout]
        self.z = [None if z is None else z[:m] for z in ws.z]
        self.dropped = [None if d is None else d[:m] for d in ws.dropped]


def _gather(views, X, targets, weights, order, start, stop, scale, stage):
    w = None
    if order is None:
        rows, t = slice(start, stop), targets[start:stop]
        if weights is not None:
            w = weights[start:stop]
    else:
        rows = order[start:stop]
        t = _take_rows(targets, rows, views.targets)
        if weights is not None:
            w = _take_rows(weights, rows, views.weights)
    return input_batch(views.x, X, rows, scale, stage), t, w


def _sum64(w):
    return float(np.add.reduce(w, dtype=np.float64))


def _take_rows(a, rows, out):
    """``a[rows]`` into out (or a new array if out is None); rows must be in range.

    mode="clip" because with the default "raise" numpy gathers into a temporary and then
    copies it to ``out``: 4.5x slower for a 128-row MNIST batch (230 vs 51 us). The rows
    are an epoch's permutation of range(N), so clipping never changes one. The method,
    not ``np.take``, whose Python wrapper adds about 2 us per call.
    """
    return a.take(rows, axis=0, out=out, mode="clip")


def _failed(stats: EpochStats, epoch: int, batch: int, what: str) -> EpochStats:
    stats.failed_epoch, stats.failed_batch, stats.failed_what = epoch, batch, what
    return stats
