"""mae: l = |z - t| per entry (PyTorch's ``L1Loss``), dl/dz = sign(z - t), 0 at z = t as
PyTorch's; the prediction is z itself.

Rounding: d = z - t one rounding (u|d|), |d| exact; the gradient is exact where the
sign of the rounded d is that of the exact one (always: rounding keeps the sign, and a
difference rounds to 0 only when it is 0).
"""

import numpy as np

from ._identity_output import onnx_nodes, predict, prediction  # noqa: F401
from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, KIND, TARGETS = "mae", "entries", "values"
HITS, METRIC, PREDICT = "none", "r2", "identity"


def check_targets(t, p):
    return None


def forward(z, t, p):
    return np.abs(z - t)


def backward(d, z, t, p):
    np.sign(z - t, out=d)


def value(z, t, p, f):
    return abs(z - t)


def grad(z, t, p, f):
    d = z - t
    if d > f(0):
        return f(1)
    if d < f(0):
        return f(-1)
    return f(0)


def rounding(z, t, p):
    return np.abs(z - t), np.zeros(np.shape(z))

