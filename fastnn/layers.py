"""Layer specifications (``Dense``, ``Dropout``) and their seeded initialisation.

A layer is a description the model builds its network from. Inside a model, each Dense
layer also gives access to its parameters: ``model.layers[i].W`` (in, out) and ``.b``
(out,) are writable views into the model's flat parameter buffer.
"""

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

    @property
    def W(self) -> np.ndarray:
        """The weights (in_features, out_features), a writable view into the model's flat
        parameter buffer; only for a layer of a model (``model.layers[i]``)."""
        return self._views()[0]

    @property
    def b(self) -> np.ndarray:
        """The biases (out_features,), a writable view like :attr:`W`."""
        return self._views()[1]

    def _views(self):
        views = self.__dict__.get("_bound")
        if views is None:
            raise AttributeError("this Dense layer is a description only: its W and b exist in "
                                 "a model, as model.layers[i].W and model.layers[i].b")
        return views

    def bound(self, W: np.ndarray, b: np.ndarray) -> Dense:
        """A copy of this layer whose W and b are the given views (a model's)."""
        layer = Dense(self.in_features, self.out_features, self.activation)
        object.__setattr__(layer, "_bound", (W, b))
        return layer

    def __getstate__(self):  # a pickled layer is its description, never a copy of W
        return {key: value for key, value in self.__dict__.items() if key != "_bound"}

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


@dataclass(frozen=True)
class Dropout:
    """Inverted dropout on the input of the next Dense layer (PyTorch's ``Dropout``): in
    ``fit``, each entry is zeroed with probability ``rate`` and the others are multiplied
    by ``1 / (1 - rate)``; in ``predict`` and ``evaluate`` it does nothing. The masks are
    a function of the model's seed, the optimizer step and the entry's position, the same
    on every backend, so training continued or resumed draws what one run would have.
    """

    rate: float

    def __post_init__(self):
        check.real(self.rate, "Dropout rate", low=0, high=1, high_open=True)
        object.__setattr__(self, "rate", float(self.rate))
