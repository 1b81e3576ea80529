"""The generic training loop, built only from a backend's primitive ops.

Every backend gets ``train_epochs`` from here unless it overrides it; the numpy backend's
use of it is the reference semantics of one epoch: gather a batch in the epoch's order,
forward through every layer, loss and its gradient, backward in exactly the reverse
order, one optimizer update.
"""

from __future__ import annotations

import math

import numpy as np

from .net import EpochStats, Net
from .optimizers import OptimizerState


@np.errstate(over="ignore", invalid="ignore")
def train_epochs(ops, net: Net, state: OptimizerState, X: np.ndarray, targets: np.ndarray,
                 orders: np.ndarray | None, n_epochs: int, batch_size: int) -> EpochStats:
    """See ``Backend.train_epochs`` in ``contract.py``; ``ops`` is the assembled backend.

    Overflow warnings are silenced: a non-finite loss or update stops the loop instead.
    """
    stats = EpochStats.empty(n_epochs)
    n = X.shape[0]
    lrs = state.learning_rates(n_epochs * steps_per_epoch(n, batch_size)).tolist()
    full = min(batch_size, n)
    ws = net.workspace(full)
    batches = {m: _BatchViews(ws, m) for m in {full, n % batch_size or full}}
    stage = ws.stage(X.dtype) if X.dtype != net.dtype else None
    loss_op = getattr(ops, net.loss)
    classifies = net.loss != "mse"
    batches_of = range(0, n, batch_size)
    for epoch in range(n_epochs):
        order = None if orders is None else orders[epoch]
        for batch, start in enumerate(batches_of):
            stop = min(start + batch_size, n)
            m = stop - start
            views = batches[m]
            x, t = _gather(views, X, targets, order, start, stop, net.input_scale, stage)
            t_step = state.step + 1  # the step this batch computes: its dropout masks
            logits = forward(ops, net, x, views.out, views.z, views.dropped, t_step)
            dlogits = views.dout[-1]
            loss = loss_op(dlogits, logits, t)
            if not math.isfinite(loss):
                return _failed(stats, epoch, batch, "loss")
            if classifies:
                stats.correct[epoch] += ops.count_correct(logits, t, net.loss)
            backward(ops, net, x, views.out, views.dout, views.z, views.dropped, t_step)
            if not ops.optimizer_step(net.params, net.grads, state, net.n_weights,
                                      lrs[epoch * len(batches_of) + batch]):
                return _failed(stats, epoch, batch, "gradient")
            stats.loss_sum[epoch] += loss * m
    return stats


@np.errstate(over="ignore", invalid="ignore")
def loss_and_gradient(ops, net: Net, X: np.ndarray, targets: np.ndarray,
                      weights: np.ndarray | None = None) -> float:
    """Full-batch forward, loss and backward: the mean loss over the rows of X (n, i) of
    net.dtype, and its gradient written into ``net.grads``; targets as ``train_epochs``
    takes them. ``weights`` (n,) float64, or None for equal weights: the weighted mean
    ``sum(w l) / sum(w)``. X is multiplied by ``net.input_scale`` as in training. A
    non-finite loss or gradient is returned and written as it is (no warning), for the
    caller to judge.
    """
    n = X.shape[0]
    ws = net.workspace(n)
    x = input_batch(ws.x, X, slice(0, n), net.input_scale)
    logits = forward(ops, net, x, ws.out, ws.z)
    dlogits = ws.dout[-1]
    loss_op = getattr(ops, net.loss)
    if weights is None:
        loss = loss_op(dlogits, logits, targets)
    else:
        loss = _weighted_loss(loss_op, dlogits, logits, targets, weights)
    backward(ops, net, x, ws.out, ws.dout, ws.z)
    return loss


def _weighted_loss(loss_op, dlogits, logits, targets, weights) -> float:
    """``sum(w l) / sum(w)`` and its gradient into dlogits, from a loss op's plain mean:
    every loss's gradient of the mean is row by row (row i's part is its own gradient
    over n), so scaling row i by ``n w_i / sum(w)`` weights it; the loss is summed over
    the rows of each distinct weight (one op call per distinct weight)."""
    n = logits.shape[0]
    total = float(np.sum(weights, dtype=np.float64))
    loss_op(dlogits, logits, targets)
    dlogits *= (weights * (n / total)).astype(dlogits.dtype)[:, None]
    loss = 0.0
    for value in np.unique(weights):
        if value != 0:
            rows = np.flatnonzero(weights == value)
            loss += float(value) * len(rows) * loss_op(None, logits[rows], targets[rows])
    return loss / total


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
    """The first m rows of a workspace's buffers, sliced once per batch size, not per step."""

    def __init__(self, ws, m: int):
        self.x, self.targets = ws.x[:m], ws.targets[:m]
        self.out = [out[:m] for out in ws.out]
        self.dout = [d[:m] for d in ws.dout]
        self.z = [None if z is None else z[:m] for z in ws.z]
        self.dropped = [None if d is None else d[:m] for d in ws.dropped]


def _gather(views, X, targets, order, start, stop, scale, stage):
    if order is None:
        rows, t = slice(start, stop), targets[start:stop]
    else:
        rows = order[start:stop]
        t = _take_rows(targets, rows, views.targets)
    return input_batch(views.x, X, rows, scale, stage), t


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
