"""Losses, for ``Sequential(..., loss=...)`` and ``MLP``.

A loss is given by name (``"softmax_cross_entropy"``, ``"sigmoid_bce"``, ``"mse"``,
``"huber"``, ``"mae"``, ``"poisson"``) or, to set its parameter, by one of these objects::

    fnn.MLP([8, 64, 1], loss=fnn.losses.Huber(delta=0.5))

Each is stored as a spec string (``"huber(0.5)"``) in the model, its file and its
summary; the string works wherever the object does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .kernels import losses as _units

NAMES = tuple(_units.UNITS)
"""Every loss's name."""


@dataclass(frozen=True)
class Huber:
    """d^2 / 2 for |d| <= delta, delta (|d| - delta / 2) beyond, d = prediction - target,
    averaged over every output (PyTorch's ``HuberLoss``); delta > 0."""

    delta: float = 1.0

    def __str__(self):
        return _units.spec("huber", float(self.delta))


def canonical(loss) -> str:
    """The spec string of a loss given by name, spec string or object; ConfigError naming
    the valid losses otherwise."""
    text = str(loss) if isinstance(loss, Huber) else loss
    try:
        unit, param = _units.resolve(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return _units.spec(unit.NAME, param)


def unit_of(loss: str):
    """The loss unit (``kernels/losses``) of a canonical spec and its parameter."""
    return _units.resolve(loss)
