"""Optimizer updates over the flat parameter buffer (numba), all or nothing, in one pass.

Every rule of ``kernels/optimizers`` that defines the scalar functions ``coefficients``,
``entry`` and ``cannot_overflow`` (see ``Rule``) is compiled here from them: one checking
loop and one writing loop, written once as templates and specialised per rule
(``units.bound_copy``), with the weights' decay a select on the index rather than a second
copy of the loop; each rule's update is a C function of its own (a numba ``cfunc``, one
per dtype), compiled only when that rule is first used and passed to the compiled driver
as an argument, so the driver is compiled once for every rule. Any other rule runs its
reference update. The slots are the rows of one
(s, p) matrix (up to ``MAX_SLOTS``); :func:`guarded_update` is shared with the compiled
driver (``driver.py``).

A step must either apply completely or leave everything as it was and return False. The
safe way is two passes: compute every new value without writing and check it is finite,
then write. Here the first pass is replaced, in the usual case, by a proof: a pass over
the gradient gives a bound of max |g| (finite only if every value is), the previous step
left bounds of max |p| and of each slot (the sums of absolute values its write pass
accumulated), and the rule's ``cannot_overflow`` shows from them that no new value can
overflow or be NaN; then the step is one write pass. Otherwise (first step, a NaN
gradient, values near overflow, a rule that cannot prove it) the check pass runs first.
The slot bounds are this backend's own: kept per state object, valid only while
``state.step`` is the step that wrote them (any other backend's step advances it).

Gradient clipping (``optimizers/clipping.py``) happens inside the same call, on the fly:
the loops read each gradient entry as ``clamp(g * scale, v)`` and never write the
gradient. ``scale`` (the norm's factor, from one float64 pass of squares fused with the
proof's pass of |g|) and ``v`` come from the last two entries of the hyper-parameter
array, so a new value compiles nothing; a rule's clipping copy (``clipped`` below) is a
second C function of the same signature, compiled when a state first clips, so a state
that does not clip runs loops without it. The proof takes the clipped gradient's bound:
|g| times the factor, and at most v. A non-finite norm fails the step at once; a
non-finite entry is left as it is by the clamp, so the check pass refuses it.

Coefficients are formed in float64 and then cast to the buffers' dtype, so float32
arithmetic stays float32. Slots below the dtype's smallest normal value are written as
zero (the contract's flush rule), a select the write loop vectorises at no cost.
"""

import functools
import math
import weakref

import numba
import numpy as np
from numba import carray, cfunc, njit, types

from ..optimizers import RULES, reference_step
from ..optimizers.clipping import CLIP, encoded
from .config import JIT, inline
from .units import bound_copy, inline_copy

COMPILED = [rule for rule in RULES.values() if rule.entry is not None]
CODES = {rule.name: code for code, rule in enumerate(COMPILED)}
MAX_SLOTS = 3  # entry() carries three slot values
N_COEFFICIENTS = 10

_slot_bounds = weakref.WeakKeyDictionary()  # state -> (state.step, float64 (3,) bounds)


def compiles(state) -> bool:
    """Whether this backend compiles the state's rule (else: its reference update)."""
    return state.rule in CODES and len(state.slots) <= MAX_SLOTS


def optimizer_step(params, grads, state, n_decay, lr):
    """``Backend.optimizer_step``: the compiled update for the rules in CODES."""
    if not compiles(state):
        return reference_step(params, grads, state, n_decay, lr)
    bounds = np.empty(1 + MAX_SLOTS)
    bounds[1:] = slot_bounds(state)
    with slot_matrix(state) as slots:
        update = state_update(state, params.dtype)
        ok = bool(_step(update, params, slots, grads, hyper(state), float(lr), state.step + 1,
                        int(n_decay), bounds, limit_of(params)))
    if ok:
        state.step += 1
        keep_slot_bounds(state, bounds[1:])
    return ok


class slot_matrix:
    """``with slot_matrix(state) as slots:`` the state's slots as one (s, p) matrix: the
    matrix they are rows of (as fastnn allocates them), or a copy written back after."""

    def __init__(self, state):
        self.slots = state.slots
        base = self.slots[0].base
        shared = (base is not None and base.ndim == 2 and base.shape[0] == len(self.slots)
                  and base.flags.c_contiguous
                  and all(s.__array_interface__["data"][0] == base[k].__array_interface__[
                      "data"][0] and s.shape == base[k].shape for k, s in enumerate(self.slots)))
        self.matrix = base if shared else np.stack(self.slots)
        self.copied = not shared

    def __enter__(self):
        return self.matrix

    def __exit__(self, *exc):
        if self.copied:
            for slot, row in zip(self.slots, self.matrix):
                slot[...] = row


def slot_bounds(state) -> np.ndarray:
    """float64 (MAX_SLOTS,): the slot bounds this backend left for ``state``, inf if
    unknown (none kept, or another backend or path has stepped it since)."""
    step, bounds = _slot_bounds.get(state, (-1, None))
    return bounds.copy() if step == state.step else np.full(MAX_SLOTS, np.inf)


def keep_slot_bounds(state, bounds) -> None:
    """Remember ``bounds`` (MAX_SLOTS,) for ``state`` as it is now (its current step)."""
    _slot_bounds[state] = (state.step, np.asarray(bounds, np.float64).copy())


def hyper(state) -> np.ndarray:
    """float64: the hyper-parameters of the state's next step in its rule's HYPER order
    (booleans as 0 or 1), the clipping's last (0 where off, or left out of ``hyper``)."""
    values = state.hyper_at(state.step)
    return np.array([encoded(values.get(name)) if name in CLIP else float(values[name])
                     for name in RULES[state.rule].hyper])


def decay_index(state) -> int:
    """The position of ``weight_decay`` in :func:`hyper`'s array (-1: the rule has none),
    where a compiled loop writes each step's value of a weight-decay schedule."""
    names = RULES[state.rule].hyper
    return names.index("weight_decay") if "weight_decay" in names else -1


def clips(state) -> bool:
    """Whether ``state`` clips its gradients (and so takes a rule's clipping copy)."""
    return any(state.hyper.get(name) is not None for name in CLIP)


def state_update(state, dtype):
    """The :func:`update_function` that steps ``state`` on buffers of ``dtype``."""
    return update_function(state.rule, dtype, len(state.slots), clips(state))


def limit_of(params):
    """A quarter of the dtype's largest value: the bound no proven quantity may pass."""
    # every bounded quantity is at most a few roundings (each a factor 1 + 2^-24 or less)
    # above its bound
    return float(np.finfo(params.dtype).max) / 4


@inline
def _flushed(x, tiny, zero):
    """x, or zero below the smallest normal magnitude; zero typed as x (an untyped 0 would
    make the select float64 and the loop scalar: 250 instead of 88 us per SGD step)."""
    return x if abs(x) >= tiny else zero


@inline
def abs_sum(a, lo, hi):
    """float64 sum of |a[lo:hi]| (accumulated in the dtype): a bound of its max, finite
    only if every entry is."""
    part = a[lo:hi]
    acc = a.dtype.type(0)
    for j in range(part.size):
        acc += abs(part[j])
    return np.float64(acc)


@inline
def _abs_and_square_sums(a):
    """(:func:`abs_sum` of a, sum of a^2 accumulated in float64) in one pass."""
    acc = a.dtype.type(0)
    squares = 0.0
    for j in range(a.size):
        acc += abs(a[j])
        x = np.float64(a[j])
        squares += x * x
    return np.float64(acc), squares


@inline
def _clipped(x, scale, v, inf):
    """x * scale clamped to [-v, v]; a NaN or infinite x as it is (the step refuses it)."""
    return min(max(x * scale, -v), v) if abs(x) < inf else x


# -- templates, specialised per rule by update_function: ENTRY, CANNOT_OVERFLOW and
# -- COEFFICIENTS are bound to the rule's scalar functions in each copy --------------------
def ENTRY(p, s0, s1, s2, g, c, decayed, f):
    """Placeholder: the rule's ``entry``, bound per rule by :func:`update_function`."""
    raise NotImplementedError("runs only in a per-rule copy")


def CANNOT_OVERFLOW(p_sum, g_sum, slot_sums, c, limit):
    """Placeholder: the rule's ``cannot_overflow``, bound per rule by :func:`update_function`."""
    raise NotImplementedError("runs only in a per-rule copy")


def COEFFICIENTS(hp, lr, t, c):
    """Placeholder: the rule's ``coefficients``, bound per rule by :func:`update_function`."""
    raise NotImplementedError("runs only in a per-rule copy")


@inline
def _rows(slots):
    """The slot matrix's rows 0, 1 and 2 (the last row again where it has fewer)."""
    last = slots.shape[0] - 1
    return slots[0], slots[min(1, last)], slots[min(2, last)]


N_SLOTS = 1  # placeholder: the number of slots, a constant in each compiled copy
CLIPPED = False  # placeholder: whether the copy clips the gradient, a constant in each


@inline
def _values(c):
    """The coefficients as a tuple of scalars: values in registers for the loops, where
    an array's entries would be reloaded on every iteration (it might alias the buffers
    being written) and keep the loop from vectorising."""
    return (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9])


def _finite_segment_template(p, s0, s1, s2, g, c, decayed, scale, v):
    """(sums of ``x * 0`` over the new p and each slot) for one segment (all weights or all
    biases, ``decayed`` a constant in each call): NaN exactly where some value is not
    finite, each kind summed on its own (adding p and a slot first would refuse finite
    values whose sum overflows). Writes nothing. With CLIPPED each gradient entry is read
    as ``_clipped(g, scale, v)``."""
    f = p.dtype.type
    zero, inf = f(0), f(np.inf)
    k = _values(c)
    acc_p, acc_0, acc_1, acc_2 = zero, zero, zero, zero
    for j in range(p.size):
        gj = _clipped(g[j], scale, v, inf) if CLIPPED else g[j]
        pj, v0, v1, v2 = ENTRY(p[j], s0[j], s1[j], s2[j], gj, k, decayed, f)
        acc_p += pj * zero
        acc_0 += v0 * zero
        if N_SLOTS > 1:
            acc_1 += v1 * zero
        if N_SLOTS > 2:
            acc_2 += v2 * zero
    return acc_p + acc_0 + acc_1 + acc_2  # 0, or NaN


def _commit_segment_template(p, s0, s1, s2, g, c, decayed, sums, scale, v):
    """One segment written in place (``decayed`` a constant in each call), the slots
    flushed below the smallest normal magnitude; adds sum |new p| and sum |new slot| to
    sums (float64 (1 + MAX_SLOTS,)). Only the rule's N_SLOTS slots are written: the
    flags and the slot count are constants here, so the loop vectorises. The gradient is
    read as in :func:`_finite_segment_template`."""
    f = p.dtype.type
    zero, inf = f(0), f(np.inf)
    tiny = f(np.finfo(p.dtype).tiny)
    k = _values(c)
    acc_p, acc_0, acc_1, acc_2 = zero, zero, zero, zero
    for j in range(p.size):
        gj = _clipped(g[j], scale, v, inf) if CLIPPED else g[j]
        pj, v0, v1, v2 = ENTRY(p[j], s0[j], s1[j], s2[j], gj, k, decayed, f)
        p[j] = pj
        acc_p += abs(pj)
        v0 = _flushed(v0, tiny, zero)
        s0[j] = v0
        acc_0 += abs(v0)
        if N_SLOTS > 1:
            v1 = _flushed(v1, tiny, zero)
            s1[j] = v1
            acc_1 += abs(v1)
        if N_SLOTS > 2:
            v2 = _flushed(v2, tiny, zero)
            s2[j] = v2
            acc_2 += abs(v2)
    sums[0] += acc_p
    sums[1] += acc_0
    sums[2] += acc_1
    sums[3] += acc_2


def FINITE_SEGMENT(p, s0, s1, s2, g, c, decayed, scale, v):
    """Placeholder: the rule's copy of the checking loop over one segment."""
    raise NotImplementedError("runs only in a per-rule copy")


def COMMIT_SEGMENT(p, s0, s1, s2, g, c, decayed, sums, scale, v):
    """Placeholder: the rule's copy of the writing loop over one segment."""
    raise NotImplementedError("runs only in a per-rule copy")


def _would_be_finite_template(p, slots, g, c, n_decay, scale, v):
    """Whether every new parameter and slot value would be finite; writes nothing. The
    weights (entries below n_decay) and the biases are two loops, each with its decay as
    a constant."""
    s0, s1, s2 = _rows(slots)
    k = n_decay
    weights = FINITE_SEGMENT(p[:k], s0[:k], s1[:k], s2[:k], g[:k], c, True, scale, v)
    biases = FINITE_SEGMENT(p[k:], s0[k:], s1[k:], s2[k:], g[k:], c, False, scale, v)
    return weights + biases == 0


def _commit_template(p, slots, g, c, n_decay, bounds, scale, v):
    """One step written in place; bounds float64 (1 + MAX_SLOTS,) receives sum |new p| and
    sum |new slot| per slot, bounds of their maxima (rounding is monotonic; finite only if
    every term is; a slot the rule does not have gets 0)."""
    s0, s1, s2 = _rows(slots)
    k = n_decay
    bounds[:] = 0.0
    COMMIT_SEGMENT(p[:k], s0[:k], s1[:k], s2[:k], g[:k], c, True, bounds, scale, v)
    COMMIT_SEGMENT(p[k:], s0[k:], s1[k:], s2[k:], g[k:], c, False, bounds, scale, v)


def WOULD_BE_FINITE(p, slots, g, c, n_decay, scale, v):
    """Placeholder: the rule's copy of the checking loop."""
    raise NotImplementedError("runs only in a per-rule copy")


def COMMIT(p, slots, g, c, n_decay, bounds, scale, v):
    """Placeholder: the rule's copy of the writing loop."""
    raise NotImplementedError("runs only in a per-rule copy")


def _guarded_update_template(p, slots, g, hp, lr, t, n_decay, bounds, limit):
    """One all-or-nothing step at 1-based step t over the whole buffer, serially. bounds
    float64 (1 + MAX_SLOTS,): upper bounds of max |p| and of each slot (inf where
    unknown), replaced by the new ones after a step that applied; False (nothing
    written) if some new value would not be finite. With CLIPPED, hp's last two entries
    are clipnorm and clipvalue (0: off), and False also if the gradient's norm is not
    finite (only computed with clipnorm)."""
    c64 = np.zeros(N_COEFFICIENTS)
    COEFFICIENTS(hp, lr, t, c64)
    c = c64.astype(p.dtype)
    f = p.dtype.type
    scale, v = f(1), f(np.inf)
    if CLIPPED:
        clipnorm, clipvalue = hp[hp.size - 2], hp[hp.size - 1]
        if clipnorm > 0:
            g_bound, squares = _abs_and_square_sums(g)
            norm = math.sqrt(squares)
            if not math.isfinite(norm):
                return False
            factor = clipnorm / max(norm, clipnorm)
            scale = f(factor)
            g_bound *= factor
        else:
            g_bound = abs_sum(g, 0, p.size)
        if clipvalue > 0:
            v = f(clipvalue)
            if math.isfinite(g_bound):  # else a NaN or inf entry, or |g| summed past max
                g_bound = min(g_bound, clipvalue)
    else:
        g_bound = abs_sum(g, 0, p.size)
    if not (CANNOT_OVERFLOW(bounds[0], g_bound, bounds[1:], c64, limit)
            or WOULD_BE_FINITE(p, slots, g, c, n_decay, scale, v)):
        return False
    COMMIT(p, slots, g, c, n_decay, bounds, scale, v)
    return True


def GUARDED_UPDATE(p, slots, g, hp, lr, t, n_decay, bounds, limit):
    """Placeholder: a rule's guarded update, bound in its compiled copy."""
    raise NotImplementedError("runs only in a per-rule copy")


def _update_template(p_at, slots_at, n_slots, g_at, hp_at, n_hp, lr, t, n, n_decay,
                     bounds_at, limit):
    """The C-callable update of one rule: the arrays arrive as pointers (see UPDATE_TYPES)."""
    p, g = carray(p_at, (n,)), carray(g_at, (n,))
    slots = carray(slots_at, (n_slots, n))
    hp, bounds = carray(hp_at, (n_hp,)), carray(bounds_at, (1 + MAX_SLOTS,))
    return 1 if GUARDED_UPDATE(p, slots, g, hp, lr, t, n_decay, bounds, limit) else 0


def _update_signature(dtype):
    real = types.CPointer(numba.from_dtype(np.dtype(dtype)))
    f64, i64 = types.CPointer(types.float64), types.int64
    # an int64 result, 1 if the step applied: a C bool crossing the call was misread
    return types.int64(real, real, i64, real, f64, i64, types.float64, i64, i64, i64, f64,
                       types.float64)


@functools.cache
def update_function(rule: str, dtype, n_slots: int, clipped: bool = False):
    """The compiled update of ``rule`` with ``n_slots`` slots for buffers of ``dtype``, a
    C function (numba ``cfunc``, cached on disk) that the driver and :func:`_step` take as
    an argument, so they are compiled once for every rule, and a rule is compiled when
    first used; ``clipped``: the copy that clips the gradient (values from hp)."""
    rule_ = RULES[rule]
    name = f"{rule}_{np.dtype(dtype).name}_{n_slots}{'_clipped' if clipped else ''}"
    names = dict(ENTRY=inline_copy(rule_.entry),
                 CANNOT_OVERFLOW=inline_copy(rule_.cannot_overflow),
                 COEFFICIENTS=inline_copy(rule_.coefficients), N_SLOTS=n_slots,
                 CLIPPED=bool(clipped))
    names.update(
        FINITE_SEGMENT=inline_copy(bound_copy(_finite_segment_template, names,
                                              f"finite_segment_{name}")),
        COMMIT_SEGMENT=inline_copy(bound_copy(_commit_segment_template, names,
                                              f"commit_segment_{name}")))
    names.update(
        WOULD_BE_FINITE=inline_copy(bound_copy(_would_be_finite_template, names,
                                               f"would_be_finite_{name}")),
        COMMIT=inline_copy(bound_copy(_commit_template, names, f"commit_{name}")))
    update = inline_copy(bound_copy(_guarded_update_template, names,
                                    f"guarded_update_{name}"))
    name = f"update_{name}"
    return cfunc(_update_signature(dtype), **JIT)(
        bound_copy(_update_template, {"GUARDED_UPDATE": update}, name))


@njit(**JIT)
def call_update(update, p, slots, g, hp, lr, t, n_decay, bounds, limit):
    """``update`` (an :func:`update_function`) on the arrays: True if the step applied."""
    return update(p.ctypes, slots.ctypes, slots.shape[0], g.ctypes, hp.ctypes, hp.size, lr,
                  t, p.size, n_decay, bounds.ctypes, limit) == 1


@njit(**JIT)
def _step(update, p, slots, g, hp, lr, t, n_decay, bounds, limit):
    bounds[0] = abs_sum(p, 0, p.size)  # the parameters may have changed since
    return call_update(update, p, slots, g, hp, lr, t, n_decay, bounds, limit)
