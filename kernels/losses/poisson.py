"""poisson with a log link: the network's output is z = log mu, l = exp(z) - t z per entry
(PyTorch's ``PoissonNLLLoss(log_input=True, full=False)``), dl/dz = exp(z) - t; the
prediction is mu = exp(z) (scikit-learn's ``MLPRegressor(loss="poisson")``). Targets are
counts or rates, t >= 0. An exp(z) that overflows makes the loss infinite, which stops
training as any non-finite loss does.

Rounding: exp(z) is a libm call (TRANSCENDENTAL_ULPS = 4 ulps, 8u relative), t z one
rounding, the difference one more: 8u e + u |t z| + u |l| <= 10u (e + |t z|). The
gradient: 8u e and the subtraction u |e - t|.
"""

import numpy as np

from .. import scalar
from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, KIND, TARGETS = "poisson", "entries", "values"
HITS, METRIC, PREDICT = "none", "r2", "exp"


def check_targets(t, p):
    if (t < 0).any():
        return f"poisson targets must be >= 0 (counts or rates), got a minimum of {t.min()!r}"
    return None


def forward(z, t, p):
    return np.exp(z) - t * z


def backward(d, z, t, p):
    np.exp(z, out=d)
    d -= t


def value(z, t, p, f):
    return scalar.exp(z) - t * z


def grad(z, t, p, f):
    return scalar.exp(z) - t


def rounding(z, t, p):
    e = np.exp(z)
    return 10 * (e + np.abs(t * z)), 9 * e + np.abs(e - t)


def predict(out, z, p):
    np.exp(z, out=out)


def onnx_nodes(z, y, p, dtype):
    return [("Exp", [z], [y], {})], {}


def prediction(z, p, f):
    return scalar.exp(z)
