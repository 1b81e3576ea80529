"""Layer specifications and their seeded initialisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as check
from .activations import canonical
from .kernels.activations import resolve


@dataclass(frozen=True)
class Dense:
    """A fully connected layer ``act(x @ W + b)``: W (in_features, out_features).

    activation: a name (``fastnn.activations.NAMES``), a spec string such as
    ``"leaky_relu(0.2)"`` or an object of ``fastnn.activations``; kept as its spec string.
    """

    in_features: int
    out_features: int
    activation: str = "identity"

    def __post_init__(self):
        check.positive_int(self.in_features, "Dense in_features")
        check.positive_int(self.out_features, "Dense out_features")
        object.__setattr__(self, "activation", canonical(self.activation))

    def init_weights(self, W: np.ndarray, rng: np.random.Generator) -> None:
        """Fill W (in, out) in place: He normal with the unit's gain for ReLU-like units
        (relu, leaky_relu, gelu), Glorot uniform otherwise."""
        fan_in, fan_out = self.in_features, self.out_features
        unit, param = resolve(self.activation)
        gain = unit.gain(param)
        if gain is not None:
            W[...] = rng.standard_normal(W.shape) * (gain / np.sqrt(fan_in))
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-limit, limit, W.shape)
