"""gelu, PyTorch's two forms: exact (p = 0, the default) y = z Phi(z) = z/2 (1 + erf(z /
sqrt 2)), act' = Phi(z) + z phi(z); and "tanh" (p = 1) y = z/2 (1 + tanh(c (z + 0.044715
z^3))), c = sqrt(2/pi). The derivative needs z, so a gelu layer keeps z.

Rounding, as an absolute error in u |z| (1 + erf or 1 + tanh cancels for negative z, so
the error is not relative to y): the erf or tanh call 8u of a value <= 1, its argument's
roundings (up to 4, each scaled by the function's slope <= 1.13 and |argument|
... bounded by 2u over the range), the add 2u and the product u, halved: 6u |z|, plus u |y|.
dz: Phi (8u/2 + u), z phi(z) (exp 8u and its argument's 2u z^2 relative, times
|z phi(z)| <= 0.25; z^3 phi(z) <= 0.47) and the sum and product: at most 10u |dout|.
|act'| <= 1.13 for both forms (LIPSCHITZ)."""

import math

import numpy as np

from .. import scalar

NAME, USES = "gelu", "z"
PARAM = 0.0
VALUE_ROUNDINGS, INPUT_ROUNDINGS, SLOPE_ROUNDINGS, LIPSCHITZ = 1, 6, 10, 1.13
_FORMS = {"none": 0.0, "tanh": 1.0}
_ERF = np.frompyfunc(math.erf, 1, 1)
_SQRT_HALF, _C, _K = 0.7071067811865476, 0.7978845608028654, 0.044715
_INV_SQRT_2PI = 0.3989422804014327


def parse_param(text):
    if text not in _FORMS:
        raise ValueError(f"gelu's approximate must be 'none' or 'tanh', got {text!r}")
    return _FORMS[text]


def format_param(p):
    return "tanh" if p else "none"


def check_param(p):
    if p not in (0.0, 1.0):
        raise ValueError("gelu's parameter is 0 (exact) or 1 (tanh)")


def _phi_parts(z, p):
    """float64 (half = (1 + erf or tanh) / 2, slope act'(z)) of z (any float array)."""
    z = np.asarray(z, np.float64)
    if p:
        inner = _C * (z + _K * z**3)
        t = np.tanh(inner)
        half = 0.5 * (1 + t)
        return half, half + 0.5 * z * (1 - t * t) * _C * (1 + 3 * _K * z * z)
    half = 0.5 * (1 + _ERF(z * _SQRT_HALF).astype(np.float64))
    return half, half + z * np.exp(-0.5 * z * z) * _INV_SQRT_2PI


def forward(out, z, p):
    half, _ = _phi_parts(z, p)
    np.multiply(z, half, out=out, casting="unsafe")


def backward(d, z, y, p):
    _, s = _phi_parts(z, p)
    np.multiply(d, s, out=d, casting="unsafe")


def value(z, p, f):
    one, half = f(1), f(0.5)
    if p != 0:
        c, k = f(_C), f(_K)
        return half * z * (one + scalar.tanh(c * (z + k * z * z * z)))
    return half * z * (one + scalar.erf(z * f(_SQRT_HALF)))


def slope(z, y, p, f):
    one, half = f(1), f(0.5)
    if p != 0:
        c, k = f(_C), f(_K)
        t = scalar.tanh(c * (z + k * z * z * z))
        return half * (one + t) + half * z * (one - t * t) * c * (one + f(3) * k * z * z)
    return (half * (one + scalar.erf(z * f(_SQRT_HALF)))
            + z * scalar.exp(-half * z * z) * f(_INV_SQRT_2PI))


def gain(p):
    return np.sqrt(2.0)


_ONNX_FLOAT, _ONNX_DOUBLE = 1, 11  # TensorProto element types


def onnx_nodes(z, y, p, dtype):
    """Erf or Tanh with their arithmetic around them (opset 13 has no Gelu). ONNX Runtime
    has Erf for float32 only, so a float64 graph takes erf in float32 (an error of about
    float32 rounding in erf, ~6e-8 |z| in y)."""
    c = {f"{y}_half": dtype(0.5), f"{y}_one": dtype(1)}
    if p:
        c.update({f"{y}_c": dtype(_C), f"{y}_k": dtype(_K)})
        nodes = [("Mul", [z, z], [f"{y}_z2"], {}), ("Mul", [f"{y}_z2", z], [f"{y}_z3"], {}),
                 ("Mul", [f"{y}_z3", f"{y}_k"], [f"{y}_kz3"], {}),
                 ("Add", [z, f"{y}_kz3"], [f"{y}_in"], {}),
                 ("Mul", [f"{y}_in", f"{y}_c"], [f"{y}_arg"], {}),
                 ("Tanh", [f"{y}_arg"], [f"{y}_f"], {})]
    else:
        c[f"{y}_r"] = dtype(_SQRT_HALF)
        nodes = [("Mul", [z, f"{y}_r"], [f"{y}_arg"], {})]
        if dtype == np.float64:
            nodes += [("Cast", [f"{y}_arg"], [f"{y}_arg32"], {"to": _ONNX_FLOAT}),
                      ("Erf", [f"{y}_arg32"], [f"{y}_f32"], {}),
                      ("Cast", [f"{y}_f32"], [f"{y}_f"], {"to": _ONNX_DOUBLE})]
        else:
            nodes.append(("Erf", [f"{y}_arg"], [f"{y}_f"], {}))
    nodes += [("Add", [f"{y}_f", f"{y}_one"], [f"{y}_1f"], {}),
              ("Mul", [z, f"{y}_half"], [f"{y}_hz"], {}),
              ("Mul", [f"{y}_hz", f"{y}_1f"], [y], {})]
    return nodes, c
