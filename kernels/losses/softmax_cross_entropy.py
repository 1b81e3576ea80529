"""softmax_cross_entropy: l = -sum_j t_j log softmax(z)_j per row, for integer labels (t
one-hot) or (n, k) target probabilities (PyTorch's ``CrossEntropyLoss`` with
probabilities); dl/dz = softmax(z) sum_j t_j - t. A row-wise loss (``KIND = "rows"``): a
compiled backend writes its sweep itself. The prediction is argmax z (counted correct
where it is the label, or the argmax of the target probabilities); probabilities are
softmax(z).

Rounding, per row with s = z - max z, lse = log sum exp s (see :func:`softmax_rel`): lse
has absolute error gamma_k + 8u + u R_w + 8u ln k, s_j adds u |s_j|, each term and the
row's sum u |l| more; the gradient p_j sum(t) - t_j: p_j's relative error and 3u
(p_j + t_j).
"""

import math

import numpy as np

from ..rounding import gamma, unit_roundoff
from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, KIND, TARGETS = "softmax_cross_entropy", "rows", "labels"
HITS, METRIC, PREDICT = "argmax", "accuracy", "softmax"


def check_targets(t, p):
    """Target probabilities (n, k): >= 0 (rows need not sum to one, as PyTorch's)."""
    if (t < 0).any():
        return f"softmax_cross_entropy target probabilities must be >= 0, got {t.min()!r}"
    return None


def _shifted(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted, np.log(np.exp(shifted).sum(axis=1))


def forward_rows(z, t, p):
    """float64 (n,): each row's loss; t int64 labels (n,) or probabilities (n, k)."""
    shifted, log_sum = _shifted(z)
    if t.ndim == 1:
        return (log_sum - shifted[np.arange(len(z)), t]).astype(np.float64)
    return (log_sum[:, None] * t - shifted * t).sum(axis=1, dtype=np.float64)


def backward_rows(d, z, t, p):
    """d (n, k) = softmax(z) sum(t) - t, the gradient of each row's loss."""
    shifted, log_sum = _shifted(z)
    np.exp(shifted - log_sum[:, None], out=d)
    if t.ndim == 1:
        d[np.arange(len(z)), t] -= 1
    else:
        d *= t.sum(axis=1, keepdims=True, dtype=d.dtype)
        d -= t


def softmax_parts(logits):
    """float64 shifted logits s = z - max, probabilities p, lse = log sum exp s, and the
    probability-weighted mean shift R_w = sum_j p_j |s_j| per row."""
    z = np.asarray(logits, np.float64)
    s = z - z.max(axis=1, keepdims=True)
    e = np.exp(s)
    S = e.sum(axis=1, keepdims=True)
    return s, e / S, np.log(S), np.sum(e / S * np.abs(s), axis=1, keepdims=True)


def softmax_rel(logits):
    """(p, relative error bound of a computed softmax p_j) per element.

    Per row, with s = z - max(z) and k classes:
      s_j = z_j - max:       abs error u|s_j|
      e_j = exp(s_j):        rel error 8u (4 ulps) + u|s_j| (its argument's error)
      S = sum_j e_j:         rel error gamma_k + sum_j p_j (8u + u|s_j|) = gamma_k + 8u + u R_w
    then either form of the normalisation:
      e_j / S:               rel 8u + u|s_j| + gamma_k + 8u + u R_w + u (the divide)
      exp(s_j - log S):      log S has abs error gamma_k + 8u + u R_w + 8u ln k (its ulps),
                             s_j - log S adds u|s_j| + u(|s_j| + ln k); exp adds 8u
    so rel(p_j) <= gamma_k + u (17 + 2|s_j| + R_w + 9 ln k) covers both.
    Note p_j |s_j| <= 1/e, so huge negative shifts cost nothing: they only make p_j ~ 0.
    """
    u = unit_roundoff(logits.dtype)
    k = logits.shape[1]
    s, p, _, R_w = softmax_parts(logits)
    return p, gamma(k, logits.dtype) + u * (17 + 2 * np.abs(s) + R_w + 9 * math.log(k))


def row_bounds(z, t, p):
    """(absolute error bound of each row's loss (n,), of each gradient entry (n, k)),
    float64, for logits z of their dtype and labels or probabilities t."""
    dt = z.dtype
    u = unit_roundoff(dt)
    n, k = z.shape
    s, prob, lse, R_w = softmax_parts(z)
    if t.ndim == 1:
        onehot = np.zeros((n, k))
        onehot[np.arange(n), t] = 1
    else:
        onehot = np.asarray(t, np.float64)
    mass = onehot.sum(axis=1)
    row_loss = (lse * onehot - s * onehot).sum(axis=1)
    lse_err = gamma(k, dt) + u * (8 + R_w[:, 0] + 8 * math.log(k))
    row_err = mass * lse_err + u * (np.abs(s) * onehot).sum(axis=1) + u * np.abs(row_loss)
    _, rel = softmax_rel(z)
    if t.ndim == 2:  # the sum over j of t_j (lse - s_j) (2k roundings), and sum(t) p_j
        row_err += gamma(2 * k, dt) * ((np.abs(lse) + np.abs(s)) * onehot).sum(axis=1)
        rel = rel + gamma(k + 1, dt)
    grad_err = prob * mass[:, None] * rel + 3 * u * (prob * mass[:, None] + onehot)
    return row_err, grad_err


def predict(out, z, p):
    shifted, log_sum = _shifted(z)
    np.exp(shifted - log_sum[:, None], out=out)


def onnx_nodes(z, y, p, dtype):
    return [("Softmax", [z], [y], {"axis": 1})], {}
