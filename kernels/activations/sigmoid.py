"""sigmoid: y = 1 / (1 + exp(-z)), computed without overflow; act' = y (1 - y).

As 1/(1+e) or e/(1+e) with e = exp(-|z|): the exp in the numerator (8u) + the exp inside
1+e weighted by e/(1+e) <= 1/2 (4u) + the add (u) + the divide (u) = 14u relative to y.
dz: y (1 - y) in [0, 1/4] with two roundings, the product one more: 3u |dout|."""

import numpy as np

from .. import scalar
from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, USES = "sigmoid", "y"
VALUE_ROUNDINGS, INPUT_ROUNDINGS, SLOPE_ROUNDINGS, LIPSCHITZ = 14, 0, 3, 1.0


def logistic(out, z):
    """The stable logistic function: with e = exp(-|z|), 1/(1+e) for z >= 0, e/(1+e) else."""
    e = np.exp(-np.abs(z))
    np.divide(np.where(z >= 0, 1, e), 1 + e, out=out)


def forward(out, z, p):
    logistic(out, z)


def backward(d, z, y, p):
    d *= y * (1 - y)


def value(z, p, f):
    one = f(1)
    e = scalar.exp(-abs(z))
    if z >= 0:
        return one / (one + e)
    return e / (one + e)


def slope(z, y, p, f):
    return y * (f(1) - y)


def gain(p):
    return None


def onnx_nodes(z, y, p, dtype):
    return [("Sigmoid", [z], [y], {})], {}
