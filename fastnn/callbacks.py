"""Callbacks: code that ``fit`` runs at the end of every epoch.

The protocol is one method: ``on_epoch_end(model, epoch, logs) -> bool | None``, called
after each epoch with its 1-based number in the model's life (counting earlier ``fit``
calls) and ``logs``, that epoch's metrics (``loss``, ``accuracy`` or ``r2``, ``lr``,
``samples_per_s`` and the ``val_`` ones when there is validation data). Returning True
stops training after that epoch. Two optional methods, ``on_train_begin(model)`` and
``on_train_end(model)``, run at the start and end of each ``fit`` (the end also after
an error or an interrupt). Any object with these methods works; subclassing
:class:`Callback` gives do-nothing defaults.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from tqdm.auto import tqdm

from . import _validate as check
from ._model_file import save
from .errors import ConfigError, ValueRangeError


class Callback:
    """Do-nothing defaults of the callback protocol."""

    def on_train_begin(self, model) -> None:
        pass

    def on_epoch_end(self, model, epoch: int, logs: dict) -> bool | None:
        return None

    def on_train_end(self, model) -> None:
        pass


class _Monitor(Callback):
    """Tracks the best value of one history key."""

    def __init__(self, monitor: str, mode: str, min_delta: float):
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = check.real(min_delta, "min_delta", low=0)
        self.best = None

    def _greater_is_better(self) -> bool:
        if self.mode != "auto":
            return self.mode == "max"
        return self.monitor.removeprefix("val_") in ("accuracy", "r2")

    def _value(self, logs: dict) -> float:
        if self.monitor not in logs:
            raise ConfigError(f"{type(self).__name__} monitors {self.monitor!r}, which this "
                              f"fit does not record; it records {', '.join(sorted(logs))} "
                              f"(val_ keys need validation_data or validation_split)")
        return float(logs[self.monitor])

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self._greater_is_better():
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best`` the model ends with the parameters of its best epoch.
    mode: "min", "max", or "auto" (max for accuracy and r2, min otherwise)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True):
        super().__init__(monitor, mode, min_delta)
        self.patience = check.positive_int(patience, "patience")
        self.restore_best = bool(restore_best)
        self.best_epoch = None
        self.stopped_epoch = None

    def on_train_begin(self, model):
        self.best, self.best_epoch, self.stopped_epoch, self._wait = None, None, None, 0
        self._best_params = None

    def on_epoch_end(self, model, epoch, logs):
        value = self._value(logs)
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best:
                self._best_params = model.params.copy()
            return None
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return None

    def on_train_end(self, model):
        if self.restore_best and self._best_params is not None:
            model.params[...] = self._best_params


class ModelCheckpoint(_Monitor):
    """Save the model to ``path`` (which may contain ``{epoch}``) after each epoch, or only
    when ``monitor`` improves (``save_best_only``); atomically, as ``fastnn.save`` does.
    ``include_optimizer`` also saves the optimizer state, so a stopped run resumes exactly."""

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = True,
                 mode: str = "auto", min_delta: float = 0.0, include_optimizer: bool = False):
        super().__init__(monitor, mode, min_delta)
        self.path = str(path)
        self.save_best_only = bool(save_best_only)
        self.include_optimizer = bool(include_optimizer)
        self.saved: list[str] = []

    def on_train_begin(self, model):
        self.best = None

    def on_epoch_end(self, model, epoch, logs):
        if self.save_best_only:
            value = self._value(logs)
            if not self._improved(value):
                return None
            self.best = value
        path = self.path.format(epoch=epoch)
        save(model, path, include_optimizer=self.include_optimizer)
        self.saved.append(path)
        return None


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by more
    than ``min_delta`` for ``patience`` epochs (Keras's ``ReduceLROnPlateau``, its
    arguments and defaults). After a reduction, ``cooldown`` epochs pass before counting
    starts again; a reduction never takes the rate below ``min_lr``, and none happens
    once the rate is at or below it. mode: "min", "max", or "auto" (max for accuracy and
    r2, min otherwise); verbose=1 prints a line per reduction.

    The reduction is a multiplier on the optimizer state's rates (``lr_scale``): a
    number lr trains at lr * multiplier, a schedule at its rate of each step times the
    multiplier (so the schedule keeps its shape, lowered). The rate compared with
    ``min_lr`` is that of the epoch's last step (``logs["lr"]``): a reduction makes it
    max(rate * factor, min_lr); a schedule may later go below min_lr on its own. A
    reduction applies from the next epoch on. The multiplier stays with the optimizer
    state: a later ``fit`` (even with a new lr) keeps it, checkpoints
    (``include_optimizer=True``) save it; ``model.reset_optimizer()`` or another rule
    starts at 1. This object's counters (best value, wait, cooldown) continue into the
    next ``fit`` it is passed to, so two fits with the same callback equal one; a fresh
    object (e.g. after resuming from a checkpoint) starts counting afresh. To checkpoint
    the reduced rate of an epoch, put ModelCheckpoint after this callback in the list.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        self.factor = check.real(factor, "factor", low=0, low_open=True, high=1,
                                 high_open=True)
        self.patience = _count(patience, "patience")
        self.cooldown = _count(cooldown, "cooldown")
        self.min_lr = check.real(min_lr, "min_lr", low=0)
        if verbose not in (0, 1):
            raise ConfigError(f"verbose must be 0 or 1, got {verbose!r}")
        self.verbose = verbose
        self.wait, self.cooldown_counter = 0, 0
        self.reductions: list[int] = []  # the epochs after which the rate was reduced

    def on_epoch_end(self, model, epoch, logs):
        value = self._value(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(model, epoch, float(logs["lr"]))
        return None

    def _reduce(self, model, epoch, rate):
        """Lower the state's multiplier so that ``rate`` becomes max(rate * factor, min_lr)."""
        if not rate > self.min_lr:
            return
        state = model.optimizer_state
        state.lr_scale *= max(self.factor, self.min_lr / rate)
        new = rate * max(self.factor, self.min_lr / rate)
        self.cooldown_counter, self.wait = self.cooldown, 0
        self.reductions.append(epoch)
        if self.verbose:
            tqdm.write(f"epoch {epoch}: ReduceLROnPlateau reducing the learning rate to "
                       f"{new:.4g} (multiplier {state.lr_scale:.4g})")


def _count(value, name: str) -> int:
    """A non-negative int (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueRangeError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def validation_rows(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of range(n): (training rows, held-out rows), the held-out ones
    ``ceil(fraction * n)`` of them, both sorted."""
    fraction = check.real(fraction, "validation_split", low=0, low_open=True, high=1,
                          high_open=True)
    n_val = math.ceil(fraction * n)
    if n_val >= n:
        raise ConfigError(f"validation_split={fraction:g} leaves no training rows of {n}")
    order = np.random.default_rng([seed, 0x5EED]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau"]
