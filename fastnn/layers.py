"""Layer specifications and their seeded initialisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as check
from .kernels.contract import ACTIVATIONS


@dataclass(frozen=True)
class Dense:
    """A fully connected layer ``act(x @ W + b)``: W (in_features, out_features)."""

    in_features: int
    out_features: int
    activation: str = "identity"

    def __post_init__(self):
        check.positive_int(self.in_features, "Dense in_features")
        check.positive_int(self.out_features, "Dense out_features")
        check.choice(self.activation, "activation", ACTIVATIONS)

    def init_weights(self, W: np.ndarray, rng: np.random.Generator) -> None:
        """Fill W (in, out) in place: He normal for relu, Glorot uniform otherwise."""
        fan_in, fan_out = self.in_features, self.out_features
        if self.activation == "relu":
            W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / fan_in)
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-limit, limit, W.shape)
