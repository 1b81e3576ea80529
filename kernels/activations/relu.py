"""relu: y = max(z, 0); act' = [y > 0] (0 at z = 0, as PyTorch). Exact."""

import numpy as np

from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, USES = "relu", "y"
VALUE_ROUNDINGS, INPUT_ROUNDINGS, SLOPE_ROUNDINGS, LIPSCHITZ = 0, 0, 0, 1.0


def forward(out, z, p):
    np.maximum(z, 0, out=out)


def backward(d, z, y, p):
    d *= y > 0


def value(z, p, f):
    zero = f(0)
    if z > zero:
        return z
    return zero


def slope(z, y, p, f):
    zero = f(0)
    if y > zero:
        return f(1)
    return zero


def gain(p):
    return np.sqrt(2.0)


def onnx_nodes(z, y, p, dtype):
    return [("Relu", [z], [y], {})], {}
