"""identity: y = z."""

from ._plain import PARAM, check_param, format_param, parse_param  # noqa: F401

NAME, USES = "identity", "y"
VALUE_ROUNDINGS, INPUT_ROUNDINGS, SLOPE_ROUNDINGS, LIPSCHITZ = 0, 0, 0, 1.0


def forward(out, z, p):
    if out is not z:
        out[...] = z


def backward(d, z, y, p):
    return None


def value(z, p, f):
    return z


def slope(z, y, p, f):
    return f(1)


def gain(p):
    return None


def onnx_nodes(z, y, p, dtype):
    return [("Identity", [z], [y], {})], {}
