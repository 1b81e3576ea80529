"""sigmoid_bce: binary cross-entropy of sigmoid(z) per entry, targets in [0, 1], computed
stably as l = max(z, 0) - z t + log1p(exp(-|z|)); dl/dz = sigmoid(z) - t. A prediction
is z > 0 (counted correct where it agrees with t >= 0.5); probabilities are sigmoid(z).

Rounding, per entry with A = max(z, 0) - z t and L = log1p(exp(-|z|)): z t: u|z t|; A:
u|A|; exp(-|z|) <= 1: 8u relative, which reaches L through e/(1+e) <= 1/2 (4u); log1p:
8u relative of L <= ln 2 (< 6u); l = A + L: u|l|. So u (|z t| + |A| + |l| + 10). The
gradient: the stable sigmoid's 14u relative to sigmoid(z) (``activations/sigmoid.py``)
and the subtraction, u |sigmoid(z) - t|.
"""

import numpy as np

from .. import scalar
from ..activations.sigmoid import logistic
from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, KIND, TARGETS = "sigmoid_bce", "entries", "values"
HITS, METRIC, PREDICT = "sign", "accuracy", "sigmoid"


def check_targets(t, p):
    if (t < 0).any() or (t > 1).any():
        return (f"sigmoid_bce targets must lie in [0, 1], got values from {t.min().item()!r} "
                f"to {t.max().item()!r}")
    return None


def forward(z, t, p):
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


def backward(d, z, t, p):
    logistic(d, z)
    d -= t


def value(z, t, p, f):
    zero = f(0)
    return max(z, zero) - z * t + np.log1p(scalar.exp(-abs(z)))


def grad(z, t, p, f):
    one, zero = f(1), f(0)
    e = scalar.exp(-abs(z))
    return (one if z >= zero else e) / (one + e) - t


def rounding(z, t, p):
    A = np.maximum(z, 0) - z * t
    ell = A + np.log1p(np.exp(-np.abs(z)))
    sig = np.exp(-np.logaddexp(0, -z))
    return np.abs(z * t) + np.abs(A) + np.abs(ell) + 10, 14 * sig + np.abs(sig - t)


def predict(out, z, p):
    logistic(out, z)


def onnx_nodes(z, y, p, dtype):
    return [("Sigmoid", [z], [y], {})], {}
