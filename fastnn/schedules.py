"""Learning-rate schedules, given to an optimizer in place of a number.

    fnn.SGD(lr=fnn.schedules.OneCycle(max_lr=0.1), momentum=0.9, nesterov=True)

A schedule is evaluated once per optimizer step, on every backend and path: ``fit``
computes the learning rates of the steps of each backend call in one vectorised call,
``schedule(steps)``, with ``steps`` the int64 array of 0-based step indices counted since
the optimizer's state began (so a second ``fit`` continues where the first stopped).
Lengths are given in epochs and bound to the data's steps per epoch when ``fit`` starts;
a length left as None takes the number of epochs of that ``fit`` call (give it
explicitly for a schedule that spans several calls). Any callable mapping step indices
to learning rates works too. An optimizer's ``weight_decay`` takes a schedule in the same
way (its values are then each step's weight decay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from . import _validate as check


class Schedule:
    """Base class: ``__call__(steps) -> float64 learning rates`` once bound by ``bind``."""

    steps_per_epoch: int | None = None

    def __repr__(self):
        """The class and the fields given (unset lengths and the binding left out)."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)
                 if f.name != "steps_per_epoch" and getattr(self, f.name) != f.default}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def bind(self, steps_per_epoch: int, epochs: int) -> Schedule:
        """This schedule with its lengths in steps, for a fit of ``epochs`` epochs."""
        return replace(self, steps_per_epoch=steps_per_epoch, **self._default_lengths(epochs))

    def _default_lengths(self, epochs: int) -> dict:
        return {}

    def __call__(self, steps: np.ndarray) -> np.ndarray:
        if self.steps_per_epoch is None:
            raise RuntimeError(f"{self!r} is not bound to a run yet: fit binds it")
        return self._rates(np.asarray(steps, np.float64) / self.steps_per_epoch)

    def _rates(self, epoch: np.ndarray) -> np.ndarray:
        """Learning rates at fractional epochs (step / steps per epoch)."""
        raise NotImplementedError


@dataclass(frozen=True, repr=False)
class Constant(Schedule):
    """The same learning rate at every step."""

    lr: float
    steps_per_epoch: int | None = None

    def __post_init__(self):
        check.real(self.lr, "lr", low=0, low_open=True)

    def _rates(self, epoch):
        return np.full(epoch.shape, float(self.lr))


@dataclass(frozen=True, repr=False)
class StepDecay(Schedule):
    """``lr * gamma ** floor(epoch / every)``: multiplied by gamma every ``every`` epochs."""

    lr: float
    every: int = 10
    gamma: float = 0.1
    steps_per_epoch: int | None = None

    def __post_init__(self):
        check.real(self.lr, "lr", low=0, low_open=True)
        check.positive_int(self.every, "every")
        check.real(self.gamma, "gamma", low=0, low_open=True, high=1)

    def _rates(self, epoch):
        return self.lr * self.gamma ** np.floor(epoch / self.every)


@dataclass(frozen=True, repr=False)
class CosineDecay(Schedule):
    """Linear warm-up from ``lr / warmup_div`` to ``lr`` over ``warmup_epochs``, then a
    cosine decay to ``final_lr`` at the end of ``epochs`` (after which it stays there)."""

    lr: float
    epochs: float | None = None
    warmup_epochs: float = 0.0
    final_lr: float = 0.0
    warmup_div: float = 25.0
    steps_per_epoch: int | None = None

    def __post_init__(self):
        check.real(self.lr, "lr", low=0, low_open=True)
        if self.epochs is not None:
            check.real(self.epochs, "epochs", low=0, low_open=True)
        check.real(self.warmup_epochs, "warmup_epochs", low=0)
        check.real(self.final_lr, "final_lr", low=0)
        check.real(self.warmup_div, "warmup_div", low=1)

    def _default_lengths(self, epochs):
        return {"epochs": epochs} if self.epochs is None else {}

    def _rates(self, epoch):
        warm = self.warmup_epochs
        start = self.lr / self.warmup_div
        up = start + (self.lr - start) * epoch / warm if warm else np.full(epoch.shape, 0.0)
        span = max(self.epochs - warm, 1e-12)
        done = np.clip((epoch - warm) / span, 0, 1)
        down = self.final_lr + (self.lr - self.final_lr) * (1 + np.cos(math.pi * done)) / 2
        return np.where(epoch < warm, up, down)


@dataclass(frozen=True, repr=False)
class OneCycle(Schedule):
    """One cycle (Smith & Topin; PyTorch's ``OneCycleLR`` with its defaults, cosine
    annealing, two phases, no momentum cycling): from ``max_lr / div_factor`` up to
    ``max_lr`` over the first ``pct_start`` of the run, then down to
    ``max_lr / div_factor / final_div_factor`` at its last step."""

    max_lr: float
    epochs: float | None = None
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    steps_per_epoch: int | None = None

    def __post_init__(self):
        check.real(self.max_lr, "max_lr", low=0, low_open=True)
        if self.epochs is not None:
            check.real(self.epochs, "epochs", low=0, low_open=True)
        check.real(self.pct_start, "pct_start", low=0, low_open=True, high=1, high_open=True)
        check.real(self.div_factor, "div_factor", low=0, low_open=True)
        check.real(self.final_div_factor, "final_div_factor", low=0, low_open=True)

    def _default_lengths(self, epochs):
        return {"epochs": epochs} if self.epochs is None else {}

    def __call__(self, steps):
        if self.steps_per_epoch is None:
            raise RuntimeError(f"{self!r} is not bound to a run yet: fit binds it")
        total = max(round(self.epochs * self.steps_per_epoch), 2)
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        peak = self.pct_start * total - 1  # PyTorch's phase boundaries, in steps
        step = np.minimum(np.asarray(steps, np.float64), total - 1)
        up = _cosine(initial, self.max_lr, step / max(peak, 1e-12))
        down = _cosine(self.max_lr, final, (step - peak) / max(total - 1 - peak, 1e-12))
        return np.where(step <= peak, up, down)


def _cosine(start, end, fraction):
    """Cosine annealing from start (fraction 0) to end (fraction 1)."""
    return end + (start - end) / 2 * (np.cos(math.pi * np.clip(fraction, 0, 1)) + 1)


def bound(lr, steps_per_epoch: int, epochs: int):
    """``lr`` ready for the kernels: a number as it is, a Schedule bound to this run."""
    return lr.bind(steps_per_epoch, epochs) if isinstance(lr, Schedule) else lr


__all__ = ["Schedule", "Constant", "StepDecay", "CosineDecay", "OneCycle"]
