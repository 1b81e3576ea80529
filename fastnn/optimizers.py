"""Optimizers: validated hyper-parameters that create the kernels' optimizer state.

Each class names its update rule (``kernels/optimizers/<rule>.py``, which defines the
arithmetic on every backend); everything else here is the rule's hyper-parameters and
their checks. ``lr`` is a positive number or a schedule (``fastnn.schedules``): a callable
mapping an int64 array of 0-based step indices to learning rates, evaluated per step.
``weight_decay`` is a number >= 0 or a schedule in the same way (each step's weight decay,
e.g. a cosine from 0.04 to 0.4 as DINO trains).

Every optimizer also takes, by keyword, gradient clipping (``kernels/optimizers/clipping.py``
defines it on every backend): ``clipnorm`` rescales the whole flat gradient to a global
L2 norm of at most clipnorm (g * clipnorm / max(||g||, clipnorm), the norm accumulated in
float64; PyTorch's ``clip_grad_norm_``, Keras's ``global_clipnorm``), ``clipvalue`` clamps
each entry to [-clipvalue, clipvalue]; with both, the norm first (Keras's order). Each is
a positive finite number or None (off). The clipping is of the loss's gradient, before the
L2 weight decay term is added.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from . import _validate as check
from .errors import ConfigError, ValueRangeError
from .kernels.optimizers import RULES, OptimizerState


@dataclass(frozen=True, repr=False)
class Optimizer:
    """Base of fastnn's optimizers: ``rule`` names the update, the dataclass fields other
    than ``lr`` are the rule's hyper-parameters; ``clipnorm`` and ``clipvalue``
    (keyword-only, every optimizer) clip the gradient (see the module docstring)."""

    rule: ClassVar[str]
    clipnorm: float | None = field(default=None, kw_only=True)
    clipvalue: float | None = field(default=None, kw_only=True)

    def __repr__(self):
        """The rule's fields in order, then the keyword-only ones that are set (clipping,
        Adam's ``eps_hat``)."""
        fields = sorted(dataclasses.fields(self), key=lambda f: f.kw_only)  # stable
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields
                 if not f.kw_only or getattr(self, f.name) != f.default]
        return f"{type(self).__name__}({', '.join(shown)})"

    def state(self, n_params: int, dtype) -> OptimizerState:
        """Fresh state (zero slots) for a flat buffer of ``n_params`` entries of ``dtype``."""
        rule = RULES[self.rule]
        hyper = {name: getattr(self, name) for name in rule.hyper}
        slots = np.zeros((len(rule.slot_names(**hyper)), n_params), dtype)  # one matrix:
        return OptimizerState(self.rule, self.lr, hyper, tuple(slots))  # a backend's (s, p)

    def _check_lr(self):
        """The checks every optimizer shares: lr, weight_decay, clipnorm and clipvalue."""
        if not callable(self.lr):
            check.real(self.lr, "lr", low=0, low_open=True)
        if not callable(self.weight_decay):  # a schedule's values are checked as it runs
            check.real(self.weight_decay, "weight_decay", low=0)
        for name in ("clipnorm", "clipvalue"):
            if getattr(self, name) is not None:
                check.real(getattr(self, name), name, low=0, low_open=True)


@dataclass(frozen=True, repr=False)
class SGD(Optimizer):
    """Stochastic gradient descent with momentum, optional Nesterov, and L2 on the weights."""

    rule: ClassVar[str] = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def __post_init__(self):
        self._check_lr()
        check.real(self.momentum, "momentum", low=0, high=1, high_open=True)
        if self.nesterov and self.momentum == 0:
            raise ValueRangeError("nesterov=True needs momentum > 0")


@dataclass(frozen=True, repr=False)
class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight_decay is L2 added to the gradient.
    eps is added to the bias-corrected sqrt(v), as PyTorch does; with ``eps_hat=True``
    (keyword-only) to sqrt(v) before the correction, as Keras, TensorFlow and
    scikit-learn do (the paper's epsilon-hat)."""

    rule: ClassVar[str] = "adam"
    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    eps_hat: bool = field(default=False, kw_only=True)

    def __post_init__(self):
        self._check_lr()
        check.real(self.beta1, "beta1", low=0, high=1, high_open=True)
        check.real(self.beta2, "beta2", low=0, high=1, high_open=True)
        check.real(self.eps, "eps", low=0, low_open=True)
        if not isinstance(self.eps_hat, (bool, np.bool_)):
            raise ConfigError(f"eps_hat must be True or False, got {self.eps_hat!r}")


@dataclass(frozen=True, repr=False)
class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch ``AdamW``): each step first multiplies the
    weights (not the biases) by ``1 - lr * weight_decay``; no L2 term in the gradient."""

    rule: ClassVar[str] = "adamw"
    weight_decay: float = 0.01


@dataclass(frozen=True, repr=False)
class RMSprop(Optimizer):
    """RMSprop (PyTorch ``RMSprop``): steps scaled by a running root mean square of the
    gradients; ``centered`` subtracts the squared running mean of the gradients,
    ``momentum`` > 0 keeps a momentum buffer; weight_decay is L2 on the weights."""

    rule: ClassVar[str] = "rmsprop"
    lr: float = 0.01
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False

    def __post_init__(self):
        self._check_lr()
        check.real(self.alpha, "alpha", low=0, high=1, high_open=True)
        check.real(self.eps, "eps", low=0, low_open=True)
        check.real(self.momentum, "momentum", low=0, high=1, high_open=True)
        if not isinstance(self.centered, (bool, np.bool_)):
            raise ConfigError(f"centered must be True or False, got {self.centered!r}")


OPTIMIZERS = {cls.rule: cls for cls in (SGD, Adam, AdamW, RMSprop)}


def get_optimizer(optimizer) -> Optimizer:
    """An optimizer object, or one made with defaults from its name (any case)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        return OPTIMIZERS[check.choice(optimizer.lower(), "optimizer", tuple(OPTIMIZERS))]()
    names = ", ".join(f"fastnn.{cls.__name__}(...)" for cls in OPTIMIZERS.values())
    raise ConfigError(f"optimizer must be one of {names}, or one of their names "
                      f"{', '.join(map(repr, OPTIMIZERS))}; got {optimizer!r}")


__all__ = ["Optimizer", *(cls.__name__ for cls in OPTIMIZERS.values())]
