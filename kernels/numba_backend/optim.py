"""Optimizer updates over the flat parameter buffer (numba), all or nothing, in one pass.

Every rule this backend knows (``CODES``) runs through one serial kernel; other rules
fall back to their reference update. The per-entry arithmetic of each rule sits in
``_sgd_entry`` and ``_adam_entry`` (Adam and AdamW differ only in where the weight decay
enters), used by one checking loop and one writing loop per rule (each loop compiled
once: the weights' decay is a select on the index, not a second copy of the loop), and
:func:`guarded_update` is shared with the compiled driver (``driver.py``).

A step must either apply completely or leave everything as it was and return False. The
safe way is two passes: compute every new value without writing and check it is finite,
then write. Here the first pass is replaced, in the usual case, by a proof: a pass over
the parameters and the gradient gives bounds of max |p| and max |g| (finite only if every
value is), and the previous step of the same state left bounds of max |slot| (the sums
of absolute values its write pass accumulated). If the update formula applied to those
bounds stays below a quarter of the dtype's largest value, no new value can overflow or
be NaN, and the step is one write pass. Otherwise (first step, a NaN gradient, values
near overflow) the check pass runs first. The slot bounds are this backend's own: kept
per state object, valid only while ``state.step`` is the step that wrote them (any other
backend's step advances it).

Scalars are formed in float64 and then cast to the buffers' dtype, so float32
arithmetic stays float32. Slots below the dtype's smallest normal value are written as
zero (the contract's flush rule), a select the write loop vectorises at no cost.
"""

import weakref

import numpy as np
from numba import njit

from ..optimizers import reference_step
from .config import JIT, inline

SGD, ADAM, ADAMW = 0, 1, 2
CODES = {"sgd": SGD, "adam": ADAM, "adamw": ADAMW}

_slot_bounds = weakref.WeakKeyDictionary()  # state -> (state.step, float64 (2,) bounds)


def optimizer_step(params, grads, state, n_decay, lr):
    """``Backend.optimizer_step``: this backend's kernel for the rules in CODES."""
    code = CODES.get(state.rule)
    if code is None:
        return reference_step(params, grads, state, n_decay, lr)
    bounds = slot_bounds(state)
    s1, s2 = slot_pair(state)
    ok = bool(_step(code, params, s1, s2, grads, hyper(state), float(lr), state.step + 1,
                     int(n_decay), bounds, limit_of(params)))
    if ok:
        state.step += 1
        keep_slot_bounds(state, bounds)
    return ok


def slot_pair(state):
    """The state's two slot buffers as the kernels take them (SGD's velocity twice)."""
    return (state.slots * 2)[:2]


def slot_bounds(state) -> np.ndarray:
    """float64 (2,): the slot bounds this backend left for ``state``, inf if unknown (none
    kept, or another backend or path has stepped it since)."""
    step, bounds = _slot_bounds.get(state, (-1, None))
    return bounds.copy() if step == state.step else np.full(2, np.inf)


def keep_slot_bounds(state, bounds) -> None:
    """Remember ``bounds`` (2,) for ``state`` as it is now (its current step)."""
    _slot_bounds[state] = (state.step, np.asarray(bounds, np.float64).copy())


def hyper(state) -> np.ndarray:
    """float64 (4,): the rule's hyper-parameters in the order its kernels read them."""
    h = state.hyper
    if state.rule == "sgd":
        return np.array([h["momentum"], float(h["nesterov"]), h["weight_decay"], 0.0])
    return np.array([h["beta1"], h["beta2"], h["eps"], h["weight_decay"]])


def limit_of(params):
    """A quarter of the dtype's largest value: the bound no proven quantity may pass."""
    # A quarter of the largest value: every bounded quantity is at most a few roundings
    # (each a factor 1 + 2^-24 or less) above its bound.
    return float(np.finfo(params.dtype).max) / 4


@inline
def scalars(code, hp, lr, t, dtype_of):
    """The typed coefficients of one step at 1-based t, as (c0..c8), and Nesterov.

    SGD: (lr, momentum, weight decay, 0, ...); Adam and AdamW: (lr / (1 - b1^t), b1,
    1 - b1, b2, 1 - b2, 1 / (1 - b2^t), eps, L2 weight decay, decoupled decay factor),
    with AdamW's L2 term 0 and its factor 1 - lr wd (Adam's: wd and 1).
    """
    f = dtype_of.dtype.type
    if code == SGD:
        return (f(lr), f(hp[0]), f(hp[2]), f(0), f(0), f(0), f(0), f(0), f(1)), hp[1] != 0
    beta1, beta2, eps, wd = hp[0], hp[1], hp[2], hp[3]
    l2, decay = (wd, 1.0) if code == ADAM else (0.0, 1.0 - lr * wd)
    return (f(lr / (1.0 - beta1**t)), f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2),
            f(1.0 / (1.0 - beta2**t)), f(eps), f(l2), f(decay)), False


@inline
def _flushed(x, tiny, zero):
    """x, or zero below the smallest normal magnitude; zero typed as x (an untyped 0 would
    make the select float64 and the loop scalar: 250 instead of 88 us per SGD step)."""
    return x if abs(x) >= tiny else zero


@inline
def _sgd_entry(p, v, g, lr, mu, wd, nesterov):
    """g' = g + wd p; v' = mu v + g'; p' = p - lr (v', or g' + mu v' with Nesterov, or g'
    without momentum). Returns (p', v')."""
    gj = g + wd * p
    vj = mu * v + gj
    step = gj + mu * vj if nesterov else vj
    return p - lr * (gj if mu == 0 else step), vj


@inline
def _adam_entry(p, m, v, g, c, l2, decay):
    """One entry of Adam (l2 = wd, decay = 1) or AdamW (l2 = 0, decay = 1 - lr wd):
    returns (new p, new m, new v)."""
    g = g + l2 * p
    m = c[1] * m + c[2] * g
    v = c[3] * v + c[4] * (g * g)
    return decay * p - c[0] * m / (np.sqrt(v * c[5]) + c[6]), m, v


@inline
def would_be_finite(code, p, s1, s2, g, c, nesterov, n_decay):
    """Whether every new parameter and slot value of one step would be finite; writes
    nothing. Each kind of value is summed as ``x * 0`` on its own (NaN exactly when some x
    is not finite; adding p and v first would refuse finite values whose sum overflows).
    Weight decay applies to entries below n_decay only; one loop per rule."""
    zero, one = p.dtype.type(0), p.dtype.type(1)
    acc_p, acc_1, acc_2 = zero, zero, zero
    if code == SGD:
        mu = c[1]
        for j in range(p.size):
            pj, vj = _sgd_entry(p[j], s1[j], g[j], c[0], mu, c[2] if j < n_decay else zero,
                                nesterov)
            acc_p += pj * zero
            acc_1 += vj * zero
        return acc_p == zero and (mu == zero or acc_1 == zero)
    for j in range(p.size):
        decayed = j < n_decay
        pj, mj, vj = _adam_entry(p[j], s1[j], s2[j], g[j], c, c[7] if decayed else zero,
                                 c[8] if decayed else one)
        acc_p += pj * zero
        acc_1 += mj * zero
        acc_2 += vj * zero
    return acc_p == zero and acc_1 == zero and acc_2 == zero


@inline
def commit(code, p, s1, s2, g, c, nesterov, n_decay, bounds):
    """One step written in place, slots flushed below the smallest normal magnitude;
    bounds float64 (3,) receives sum |new p|, |new s1|, |new s2| (bounds of their maxima:
    rounding is monotonic; for SGD the last two are the velocity's, inf without momentum,
    whose velocity is untouched). One loop per rule."""
    zero, one = p.dtype.type(0), p.dtype.type(1)
    tiny = p.dtype.type(np.finfo(p.dtype).tiny)
    acc_p, acc_1, acc_2 = zero, zero, zero
    if code == SGD:
        mu = c[1]
        keep_v = mu != zero
        for j in range(p.size):
            pj, vj = _sgd_entry(p[j], s1[j], g[j], c[0], mu, c[2] if j < n_decay else zero,
                                nesterov)
            vj = _flushed(vj, tiny, zero) if keep_v else s1[j]
            p[j], s1[j] = pj, vj
            acc_p += abs(pj)
            acc_1 += abs(vj)
        bounds[0] = acc_p
        bounds[1] = bounds[2] = acc_1 if keep_v else np.inf
        return
    for j in range(p.size):
        decayed = j < n_decay
        pj, mj, vj = _adam_entry(p[j], s1[j], s2[j], g[j], c, c[7] if decayed else zero,
                                 c[8] if decayed else one)
        mj, vj = _flushed(mj, tiny, zero), _flushed(vj, tiny, zero)
        p[j], s1[j], s2[j] = pj, mj, vj
        acc_p += abs(pj)
        acc_1 += abs(mj)
        acc_2 += vj
    bounds[0], bounds[1], bounds[2] = acc_p, acc_1, acc_2


@inline
def _cannot_overflow(code, p_sum, g_sum, slot_bounds, c, nesterov, limit):
    """With |p| <= p_sum, |g| <= g_sum and |slots| <= slot_bounds: are every new value
    and every intermediate <= limit? Coefficients enter by magnitude; NaN or inf anywhere
    gives False.

    SGD: g + wd p, the new velocity, the step before lr scales it, the new parameter.
    Adam/AdamW: g + l2 p, g'^2, the new moments, v * v_scale, lr_hat * m, eps and the new
    parameter (whose denominator is at least eps). Needs non-negative betas and 1 - betas
    (as Adam validates), so that v stays >= 0 and its square root is never NaN, and eps > 0.
    """
    if code == SGD:
        lr, mu, wd = abs(c[0]), abs(c[1]), abs(c[2])
        g_hat = g_sum + wd * p_sum
        v_new = mu * slot_bounds[0] + g_hat if mu != 0 else 0.0
        if mu == 0:
            step = g_hat
        else:
            step = g_hat + mu * v_new if nesterov else v_new
        p_new = p_sum + lr * step
        return g_hat <= limit and v_new <= limit and step <= limit and p_new <= limit
    lr_hat, beta1, c1, beta2, c2, v_scale, eps = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    if not (beta1 >= 0 and c1 >= 0 and beta2 >= 0 and c2 >= 0 and v_scale >= 0 and eps > 0):
        return False
    g_hat = g_sum + abs(c[7]) * p_sum
    g2 = g_hat * g_hat
    m_new = beta1 * slot_bounds[0] + c1 * g_hat
    v_new = beta2 * slot_bounds[1] + c2 * g2
    lr_m = abs(lr_hat) * m_new
    p_new = abs(c[8]) * p_sum + lr_m / eps
    return (g_hat <= limit and g2 <= limit and m_new <= limit and v_new * v_scale <= limit
            and lr_m <= limit and eps <= limit and p_new <= limit)


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
def guarded_update(code, p, s1, s2, g, c, nesterov, n_decay, bounds, limit):
    """One all-or-nothing step over the whole buffer, serially. bounds float64 (3,):
    upper bounds of max |p|, |s1|, |s2| (inf where unknown), replaced by the new ones
    after a step that applied; False (nothing written) if some new value would not be
    finite."""
    if not (_cannot_overflow(code, bounds[0], abs_sum(g, 0, p.size), bounds[1:], c,
                             nesterov, limit)
            or would_be_finite(code, p, s1, s2, g, c, nesterov, n_decay)):
        return False
    commit(code, p, s1, s2, g, c, nesterov, n_decay, bounds)
    return True


@njit(**JIT)
def _step(code, p, s1, s2, g, hp, lr, t, n_decay, bounds, limit):
    c, nesterov = scalars(code, hp, lr, t, p)
    all_bounds = np.empty(3)
    all_bounds[0] = abs_sum(p, 0, p.size)  # the parameters may have changed since
    all_bounds[1:] = bounds
    if not guarded_update(code, p, s1, s2, g, c, nesterov, n_decay, all_bounds, limit):
        return False
    bounds[:] = all_bounds[1:]
    return True
