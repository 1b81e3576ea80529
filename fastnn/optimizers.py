"""Optimizers: validated hyper-parameters that create the kernels' optimizer state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as check
from .errors import ConfigError, ValueRangeError
from .kernels.net import OptimizerState


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent with momentum, optional Nesterov, and L2 on the weights."""

    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def __post_init__(self):
        check.real(self.lr, "lr", low=0, low_open=True)
        check.real(self.momentum, "momentum", low=0, high=1, high_open=True)
        check.real(self.weight_decay, "weight_decay", low=0)
        if self.nesterov and self.momentum == 0:
            raise ValueRangeError("nesterov=True needs momentum > 0")

    def state(self, n_params: int, dtype) -> OptimizerState:
        """Fresh state (zero velocity) for a flat buffer of ``n_params``."""
        return OptimizerState("sgd", self.lr, (np.zeros(n_params, dtype),),
                              momentum=self.momentum, nesterov=self.nesterov,
                              weight_decay=self.weight_decay)


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba) with bias correction; weight_decay is L2 added to the gradient."""

    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self):
        check.real(self.lr, "lr", low=0, low_open=True)
        check.real(self.beta1, "beta1", low=0, high=1, high_open=True)
        check.real(self.beta2, "beta2", low=0, high=1, high_open=True)
        check.real(self.eps, "eps", low=0, low_open=True)
        check.real(self.weight_decay, "weight_decay", low=0)

    def state(self, n_params: int, dtype) -> OptimizerState:
        """Fresh state (zero moments) for a flat buffer of ``n_params``."""
        return OptimizerState("adam", self.lr, (np.zeros(n_params, dtype),
                                                np.zeros(n_params, dtype)),
                              weight_decay=self.weight_decay, beta1=self.beta1,
                              beta2=self.beta2, eps=self.eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def get_optimizer(optimizer) -> SGD | Adam:
    """An optimizer object, or one made with defaults from its name ("sgd", "adam")."""
    if isinstance(optimizer, (SGD, Adam)):
        return optimizer
    if isinstance(optimizer, str):
        return OPTIMIZERS[check.choice(optimizer.lower(), "optimizer", tuple(OPTIMIZERS))]()
    raise ConfigError(f"optimizer must be fastnn.SGD(...), fastnn.Adam(...), 'sgd' or "
                            f"'adam', got {optimizer!r}")
