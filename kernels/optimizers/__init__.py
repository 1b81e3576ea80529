"""Optimizers as units: one module per update rule.

Each rule module (``sgd.py``, ``adam.py``, ``adamw.py``, ``rmsprop.py``) holds everything
that defines its rule: the names of its hyper-parameters and slots, the reference update
over the flat parameter buffer (numpy, the semantics every backend must match) and the
propagation of rounding-error bounds through one step (the tolerance of the contract's
``optimizer_step``). A backend speeds up the rules it knows, keyed by ``Rule.name``; any
other rule runs its reference update here, so a new rule works on every backend at once.

Semantics shared by every rule, on a flat buffer of p entries whose first ``n_decay``
are weights (weight decay applies to them only) and the rest biases:

- gradient clipping (``clipping.py``): every rule also takes ``clipnorm`` and
  ``clipvalue`` (``CLIP``, after its own hyper-parameters), applied to the gradient
  before the rule's update, in the same step;
- all or nothing: every new value is computed first; if any new parameter or slot value
  would be NaN or inf, nothing is written and the step returns False;
- ``grads`` is scratch: a step may overwrite it;
- subnormal slots are flushed: after a step, every slot entry of magnitude below the
  dtype's smallest normal number (``np.finfo(dtype).tiny``) is exactly zero. A slot that
  decays geometrically (a velocity or moment whose gradient stays zero, e.g. a dead ReLU
  unit or an always-blank pixel) would otherwise sink into the subnormal range and stick
  there, and arithmetic on subnormals takes a slow microcode assist on many x86 CPUs.
  Parameters and gradients are never flushed. The caller's floating-point mode is never
  touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import adam, adamw, rmsprop, sgd
from .clipping import CLIP, clip, clipped_error


@dataclass(frozen=True)
class Rule:
    """An update rule.

    name: its key; slots: names of every (p,) state buffer it may use; hyper: names of
    its hyper-parameters besides the learning rate, the module's HYPER then CLIP;
    slot_names: ``slot_names(**hyper)``, the slots a state with these hyper-parameters
    holds, in order (a rule whose slots do not depend on them returns ``slots``); step:
    the reference update ``step(params, slots, grads, lr, t, n_decay, **hyper) -> bool``
    at 1-based step t, the gradient clipped first; error_step: ``error_step(err, params,
    slots, grads, lr, t, n_decay, dtype, **hyper)``, first-order bounds of a backend's
    error after the step from bounds ``err`` (a dict ``{"p": ..., slot name: ...}`` of
    float64 (p,) arrays, and optionally ``"g"``, the gradient's) and the reference state
    before it (float64), the clipping's rounding included (``clipped_error``). CLIP
    missing from a hyper dict, or None, means no clipping. The module's own ``step`` and
    ``error_step`` take its HYPER only: ``_rule`` wraps them with the clipping. A compiled
    backend builds its update loops from three scalar functions (None where the rule has
    none; such a rule runs its reference update everywhere): ``coefficients(hp, lr, t,
    c)`` fills the float64 array c from the hyper-parameters hp (float64, HYPER's order:
    the rule's own first, so CLIP's come after the indices it reads), the learning rate
    and the 1-based step;
    ``entry(p, s0, s1, s2, g, c, decayed, f)`` returns one entry's new parameter and slots
    (in the state's slot order; positions beyond its slots returned unchanged), c cast
    to the buffers' dtype, ``decayed`` whether the entry is a weight, f the dtype's
    scalar type (constants as ``f(0)``: ``c[0] * 0`` would be float64 in numba); and
    ``cannot_overflow(p_sum, g_sum, slot_sums, c, limit)``, a proof from bounds of |p|,
    |g| and each slot that no new value or intermediate exceeds limit (False when it
    cannot prove it: the backend then checks every new value first).
    """

    name: str
    slots: tuple[str, ...]
    hyper: tuple[str, ...]
    step: Callable[..., bool]
    error_step: Callable[..., dict]
    slot_names: Callable[..., tuple]
    coefficients: Callable | None = None
    entry: Callable | None = None
    cannot_overflow: Callable | None = None


def _rule(module) -> Rule:
    names = getattr(module, "slot_names", lambda **hyper: module.SLOTS)
    return Rule(module.NAME, module.SLOTS, module.HYPER + CLIP, _clipped_step(module.step),
                _clipped_error_step(module.error_step), _without_clip(names),
                *(getattr(module, name, None) for name in ("coefficients", "entry",
                                                           "cannot_overflow")))


def _clipped_step(step):
    """A module's ``step`` that first clips the gradient (``clipping.clip``)."""
    def clipped_step(params, slots, grads, lr, t, n_decay, clipnorm=None, clipvalue=None,
                     **hyper) -> bool:
        return (clip(grads, clipnorm, clipvalue)
                and step(params, slots, grads, lr, t, n_decay, **hyper))
    return clipped_step


def _clipped_error_step(error_step):
    """A module's ``error_step`` from the clipped gradient, its error in ``err["g"]``."""
    def clipped_error_step(err, params, slots, grads, lr, t, n_decay, dtype, clipnorm=None,
                           clipvalue=None, **hyper) -> dict:
        if clipnorm is not None or clipvalue is not None:
            grads, e_g = clipped_error(grads, dtype, clipnorm, clipvalue)
            err = {**err, "g": err.get("g", 0) + e_g}
        return error_step(err, params, slots, grads, lr, t, n_decay, dtype, **hyper)
    return clipped_error_step


def _without_clip(slot_names):
    def rule_slot_names(clipnorm=None, clipvalue=None, **hyper) -> tuple:
        return slot_names(**hyper)
    return rule_slot_names


RULES = {module.NAME: _rule(module) for module in (sgd, adam, adamw, rmsprop)}


@dataclass(eq=False)  # compared by identity: a backend may key private data by the state
class OptimizerState:
    """One rule's hyper-parameters and slots for one flat parameter buffer.

    rule: a key of RULES; hyper: ``{name: value}`` for each of the rule's hyper-parameters
    (clipping's may be left out: no clipping); slots: one (p,) buffer of the parameters'
    dtype per slot of the rule; step: updates applied so far (the next one is step + 1);
    lr: the learning rate, a positive float or a schedule: a callable mapping an int64
    array of 0-based step indices to an array of learning rates; lr_scale: a multiplier
    on every rate lr gives (what ``ReduceLROnPlateau`` lowers; 1 leaves the rates' bits
    as lr gives them). ``hyper["weight_decay"]`` may be a schedule too (a callable as lr,
    giving the weight decay of each step, any finite value: a negative one is an L2 term
    of negative weight, which scikit-learn's batches of negative sample weight take);
    :meth:`hyper_at` is a step's hyper-parameters with it evaluated.
    """

    rule: str
    lr: float | Callable[[np.ndarray], np.ndarray]
    hyper: dict
    slots: tuple[np.ndarray, ...]
    step: int = 0
    lr_scale: float = 1.0

    def rates_at(self, steps) -> np.ndarray:
        """float64: the learning rates of the 0-based steps ``steps`` (an int64 array)."""
        steps = np.asarray(steps, np.int64)
        rates = _scheduled(self.lr, steps, "learning-rate schedule", "learning rates",
                           non_negative=True)
        return rates * self.lr_scale if self.lr_scale != 1 else rates

    def learning_rates(self, count: int) -> np.ndarray:
        """float64 (count,): the learning rates of the next ``count`` steps."""
        return self.rates_at(self._next(count))

    def weight_decays(self, count: int) -> np.ndarray | None:
        """float64 (count,): the weight decays of the next ``count`` steps, or None when
        the weight decay is not a schedule (``hyper`` holds its one value, if any)."""
        decay = self.hyper.get("weight_decay")
        if not callable(decay):
            return None
        return _scheduled(decay, self._next(count), "weight-decay schedule", "weight decays")

    def hyper_at(self, step: int) -> dict:
        """The hyper-parameters of the 0-based step ``step``: ``hyper``, with a weight-decay
        schedule evaluated there."""
        decay = self.hyper.get("weight_decay")
        if not callable(decay):
            return self.hyper
        value = _scheduled(decay, np.array([step], np.int64), "weight-decay schedule",
                           "weight decays")
        return {**self.hyper, "weight_decay": float(value[0])}

    def _next(self, count: int) -> np.ndarray:
        return np.arange(self.step, self.step + count, dtype=np.int64)


def _scheduled(value, steps: np.ndarray, what: str, values: str,
               non_negative: bool = False) -> np.ndarray:
    """float64, steps' shape: a number repeated, or a schedule's values at ``steps``
    (checked finite, and non-negative if asked)."""
    if not callable(value):
        return np.full(steps.shape, float(value))
    out = np.asarray(value(steps), np.float64)
    if out.shape != steps.shape or not (np.isfinite(out).all()
                                        and (not non_negative or (out >= 0).all())):
        kind = "finite, non-negative" if non_negative else "finite"
        raise ValueError(f"the {what} {value!r} must give {steps.size} {kind} {values}")
    return out


def reference_step(params, grads, state: OptimizerState, n_decay: int, lr: float) -> bool:
    """One step of ``state``'s rule by its reference update; advances ``state.step``."""
    ok = RULES[state.rule].step(params, state.slots, grads, lr, state.step + 1, n_decay,
                                **state.hyper_at(state.step))
    if ok:
        state.step += 1
    return ok
