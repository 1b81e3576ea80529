"""Activations with a parameter, for ``Dense(..., activation=...)`` and ``MLP``.

An activation is given by name (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"identity"``,
``"leaky_relu"``, ``"gelu"``) or, to set its parameter, by one of these objects::

    fnn.Dense(64, 32, activation=fnn.activations.LeakyReLU(0.2))
    fnn.MLP([2, 16, 2], activation=fnn.activations.GELU(approximate="tanh"))

Each is stored as a spec string (``"leaky_relu(0.2)"``, ``"gelu(tanh)"``) in the layer, the
model file and the model's summary; the string works wherever the object does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .kernels import activations as _units

NAMES = tuple(_units.UNITS)
"""Every activation's name."""


@dataclass(frozen=True)
class LeakyReLU:
    """z for z > 0, ``negative_slope`` z else (PyTorch's ``LeakyReLU``); slope in [0, 1]."""

    negative_slope: float = 0.01

    def __str__(self):
        return _units.spec("leaky_relu", float(self.negative_slope))


@dataclass(frozen=True)
class GELU:
    """z Phi(z), Phi the standard normal CDF (PyTorch's ``GELU``): ``approximate="none"``
    uses erf, ``"tanh"`` the tanh approximation."""

    approximate: str = "none"

    def __str__(self):
        return f"gelu({self.approximate})" if self.approximate != "none" else "gelu"


def canonical(activation) -> str:
    """The spec string of an activation given by name, spec string or object; ConfigError
    naming the valid activations otherwise."""
    text = str(activation) if isinstance(activation, (LeakyReLU, GELU)) else activation
    try:
        unit, param = _units.resolve(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return _units.spec(unit.NAME, param)
