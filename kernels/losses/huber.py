"""huber with threshold delta > 0 (default 1.0), PyTorch's ``HuberLoss``: with d = z - t,
l = d^2 / 2 for |d| <= delta, delta (|d| - delta / 2) beyond; dl/dz = d inside, delta
sign(d) beyond. The prediction is z itself.

Rounding: d one rounding (u|d|); d^2/2 adds one (error 3u d^2/2 with d's doubled);
delta (|d| - delta/2): the difference and the product, 2u |l| + delta u|d|. So at most
3u |l| + delta u |d| + u d^2, bounded by 3u (|l| + |d| (delta + |d|)). The gradient: d
(u|d|) or delta sign(d) (delta's own rounding to the dtype, u delta).
"""

import numpy as np

from ._identity_output import onnx_nodes, predict, prediction  # noqa: F401

NAME, KIND, TARGETS = "huber", "entries", "values"
HITS, METRIC, PREDICT = "none", "r2", "identity"
PARAM = 1.0


def parse_param(text):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"huber's delta must be a number, got ({text})") from None


def format_param(p):
    return repr(float(p))


def check_param(p):
    if not (np.isfinite(p) and p > 0):
        raise ValueError(f"huber's delta must be a positive finite number, got {p!r}")


def check_targets(t, p):
    return None


def forward(z, t, p):
    d = np.abs(z - t).astype(np.float64)
    return np.where(d <= p, 0.5 * d * d, p * (d - 0.5 * p))


def backward(d, z, t, p):
    np.subtract(z, t, out=d)
    np.clip(d, -d.dtype.type(p), d.dtype.type(p), out=d)


def value(z, t, p, f):
    d = np.float64(abs(z - t))
    if d <= p:
        return 0.5 * d * d
    return p * (d - 0.5 * p)


def grad(z, t, p, f):
    d = z - t
    delta = f(p)
    return min(max(d, -delta), delta)


def rounding(z, t, p):
    d = np.abs(z - t)
    loss = np.where(d <= p, 0.5 * d * d, p * (d - 0.5 * p))
    return 3 * (loss + d * (p + d)), np.minimum(d, p)

