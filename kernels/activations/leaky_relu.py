"""leaky_relu with slope a >= 0 (default 0.01, PyTorch's): y = z for z > 0, a z else;
act' = 1 for y > 0, a else (at z = 0: a, as PyTorch). One rounding (a z), so u
relative to y; the slope is exact and dz one rounding."""

import numpy as np

NAME, USES = "leaky_relu", "y"
PARAM = 0.01
VALUE_ROUNDINGS, INPUT_ROUNDINGS, SLOPE_ROUNDINGS, LIPSCHITZ = 1, 0, 1, 1.0


def parse_param(text):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"leaky_relu's slope must be a number, got ({text})") from None


def format_param(p):
    return repr(float(p))


def check_param(p):
    # y > 0 exactly when z > 0 needs a >= 0, so the slope can be read from y; a <= 1 keeps
    # the unit 1-Lipschitz (the tolerances assume LIPSCHITZ)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"leaky_relu's negative slope must lie in [0, 1], got {p!r}")


def forward(out, z, p):
    np.multiply(z, np.where(z > 0, 1, p).astype(z.dtype), out=out)


def backward(d, z, y, p):
    d *= np.where(y > 0, 1, p).astype(d.dtype)


def value(z, p, f):
    zero = f(0)
    if z > zero:
        return z
    return z * p


def slope(z, y, p, f):
    zero = f(0)
    if y > zero:
        return f(1)
    return p


def gain(p):
    return np.sqrt(2.0 / (1.0 + p * p))


def onnx_nodes(z, y, p, dtype):
    """Where(z > 0, z, a z): ONNX Runtime has LeakyRelu for float32 only."""
    return ([("Greater", [z, f"{y}_zero"], [f"{y}_on"], {}),
             ("Mul", [z, f"{y}_slope"], [f"{y}_az"], {}),
             ("Where", [f"{y}_on", z, f"{y}_az"], [y], {})],
            {f"{y}_zero": dtype(0), f"{y}_slope": dtype(p)})
