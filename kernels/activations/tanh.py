"""tanh: y = tanh(z); act' = 1 - y^2.

One transcendental call: TRANSCENDENTAL_ULPS ulps = 8u relative to y. dz: 1 - y*y is
formed with two roundings (each at most u absolute, as y*y <= 1) and the product with
dout one more: 3u |dout|."""

import numpy as np

from .. import scalar
from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, USES = "tanh", "y"
VALUE_ROUNDINGS, INPUT_ROUNDINGS, SLOPE_ROUNDINGS, LIPSCHITZ = 8, 0, 3, 1.0


def forward(out, z, p):
    np.tanh(z, out=out)


def backward(d, z, y, p):
    d *= 1 - y * y


def value(z, p, f):
    return scalar.tanh(z)


def slope(z, y, p, f):
    return (f(1)) - y * y


def gain(p):
    return None


def onnx_nodes(z, y, p, dtype):
    return [("Tanh", [z], [y], {})], {}
