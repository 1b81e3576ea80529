"""mse: l = (z - t)^2 per entry, dl/dz = 2 (z - t); the prediction is z itself.

Rounding: d = z - t one rounding (u|d|), squared in float64: 2u d^2 per entry; the
gradient 2 d is d's rounding, u |2 d|.
"""

import numpy as np

from ._identity_output import onnx_nodes, predict, prediction  # noqa: F401
from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, KIND, TARGETS = "mse", "entries", "values"
HITS, METRIC, PREDICT = "none", "r2", "identity"


def check_targets(t, p):
    return None


def forward(z, t, p):
    d = z - t
    return np.square(d, dtype=np.float64)


def backward(d, z, t, p):
    np.subtract(z, t, out=d)
    d *= d.dtype.type(2)


def value(z, t, p, f):
    d = z - t
    return np.float64(d) * np.float64(d)


def grad(z, t, p, f):
    return f(2) * (z - t)


def rounding(z, t, p):
    d2 = (z - t) ** 2
    return 2 * d2, 2 * np.abs(z - t)

