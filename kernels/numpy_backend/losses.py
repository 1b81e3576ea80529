"""Losses with their gradients, metrics and prediction transforms: the reference semantics.

One op for every loss unit (``kernels/losses``): the batch's loss, the weighted mean of
its rows' losses normalised by the sum of the weights (accumulated in float64), and,
unless the gradient buffer is None, the gradient of that mean in the same call.
"""

import numpy as np

from ..losses import resolve


def loss(grad, z, targets, spec, weights=None):
    """Weighted mean row loss of z (n, k) for the unit ``spec``; grad (n, k) receives its
    gradient. targets: int64 labels (n,) or (n, k) values; weights float64 (n,) or None
    (all ones), of either sign. Weights summing to zero: loss 0 and a zero gradient."""
    unit, p = resolve(spec)
    n, k = z.shape
    rows = unit.KIND == "rows"
    per_row = 1 if rows else k
    each = unit.forward_rows(z, targets, p) if rows else unit.forward(z, targets, p)
    if weights is None:
        value = _mean64(each)
        if grad is not None:
            _backward(unit, grad, z, targets, p)
            grad /= n * per_row
        return float(value)
    total = float(np.add.reduce(weights, dtype=np.float64))
    if total == 0:
        if grad is not None:
            grad.fill(0)
        return 0.0
    row_sums = each if rows else np.add.reduce(each, axis=1, dtype=np.float64)
    value = float(np.dot(weights, row_sums) / (total * per_row))
    if grad is not None:
        _backward(unit, grad, z, targets, p)
        grad *= (weights / (total * per_row)).astype(grad.dtype)[:, None]
    return value


def _backward(unit, grad, z, targets, p):
    if unit.KIND == "rows":
        unit.backward_rows(grad, z, targets, p)
    else:
        unit.backward(grad, z, targets, p)


def _mean64(x):
    """The mean of every entry of x, summed in float64: ``np.mean(x, dtype=np.float64)``'s
    arithmetic without its Python wrapper (about 20 of a batch-32 loss's 55 us)."""
    return np.add.reduce(x, axis=None, dtype=np.float64) / x.size


def metric_sum(z, targets, spec, weights=None):
    """What the loss's metric sums, weighted by row (float): correct predictions for
    ``HITS`` argmax (argmax z, the first maximum, against the label or the argmax of the
    target probabilities) or sign (entries where z > 0 agrees with t >= 0.5); for an r2
    loss the sum of squared errors of the prediction (``PREDICT``) against t, float64."""
    unit, p = resolve(spec)
    if unit.HITS == "argmax":
        truth = targets if targets.ndim == 1 else targets.argmax(axis=1)
        per_row = (z.argmax(axis=1) == truth).astype(np.float64)
    elif unit.HITS == "sign":
        per_row = np.count_nonzero((z > 0) == (targets >= 0.5), axis=1).astype(np.float64)
    else:
        pred = np.empty_like(z)
        unit.predict(pred, z, p)
        diff = pred.astype(np.float64) - targets
        per_row = np.einsum("ij,ij->i", diff, diff)
    return float(per_row.sum() if weights is None else np.dot(weights, per_row))


def softmax(out, logits):
    """Row-wise softmax of logits (n, k) into out (n, k)."""
    np.subtract(logits, logits.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
