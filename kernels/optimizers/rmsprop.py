"""RMSprop with PyTorch's semantics (``torch.optim.RMSprop``): a running mean of squared
gradients, optionally centered (minus the square of a running mean of gradients), and
optional momentum; L2 weight decay on the weights, as fastnn's other rules.

    g' = g + wd p                           (weights only)
    v  = alpha v + (1 - alpha) g'^2         (square_avg)
    a  = alpha a + (1 - alpha) g'           (grad_avg, centered only)
    D  = sqrt(v - a^2 if centered else v) + eps
    b  = mu b + g' / D                      (momentum_buffer, momentum > 0 only)
    p  = p - lr * (b if momentum > 0 else g' / D)

Slots: ``square_avg``, then ``momentum_buffer`` if momentum > 0, then ``grad_avg`` if
centered (see :func:`slot_names`). Coefficients such as 1 - alpha are formed in float64
and then rounded to the dtype.
"""

import numpy as np

from ..rounding import gamma, unit_roundoff
from ._common import decay_mask, f64, write_flushed

NAME = "rmsprop"
SLOTS = ("square_avg", "momentum_buffer", "grad_avg")
HYPER = ("alpha", "eps", "weight_decay", "momentum", "centered")


def slot_names(alpha, eps, weight_decay, momentum, centered) -> tuple:
    """The slots these hyper-parameters use, in the order the state holds them."""
    return ("square_avg",) + ("momentum_buffer",) * (momentum > 0) + ("grad_avg",) * bool(
        centered)


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def step(params, slots, grads, lr, t, n_decay, alpha, eps, weight_decay, momentum,
         centered) -> bool:
    """The reference update; all or nothing (see ``optimizers/__init__.py``)."""
    named = dict(zip(slot_names(alpha, eps, weight_decay, momentum, centered), slots))
    g = grads
    if weight_decay:
        g[:n_decay] += weight_decay * params[:n_decay]
    dtype = params.dtype.type
    keep, new = dtype(alpha), dtype(1 - alpha)
    new_v = keep * named["square_avg"] + new * (g * g)
    new = {"square_avg": new_v}
    if centered:
        new["grad_avg"] = keep * named["grad_avg"] + dtype(1 - alpha) * g
        denominator = np.sqrt(new_v - new["grad_avg"] * new["grad_avg"]) + dtype(eps)
    else:
        denominator = np.sqrt(new_v) + dtype(eps)
    update = g / denominator
    if momentum > 0:
        new["momentum_buffer"] = dtype(momentum) * named["momentum_buffer"] + update
        update = new["momentum_buffer"]
    new_p = params - dtype(lr) * update
    if not all(np.isfinite(a).all() for a in (new_p, *new.values())):
        return False
    params[...] = new_p
    for name, value in new.items():
        write_flushed(named[name], value)
    return True


def error_step(err, params, slots, grads, lr, t, n_decay, dtype, alpha, eps, weight_decay,
               momentum, centered) -> dict:
    """First-order error bounds through one step; each line's roundings (gamma_k over its
    operations, coefficients rounded once from float64 included) plus the incoming
    errors times the line's coefficients:

      g' = g + wd p         e_g = e_g0 + |wd| e_p + gamma_3 (|g| + |wd p|)   (weights)
      v' = al v + (1-al) g'^2   e_v = al e_v + 2 (1-al) |g'| e_g + gamma_5 (al v + (1-al) g'^2)
      a' = al a + (1-al) g'     e_a = al e_a + (1-al) e_g + gamma_4 (al |a| + (1-al) |g'|)
      w = v' - a'^2 (or v')     e_w = e_v + 2 |a'| e_a + gamma_3 (v' + a'^2)
      D = sqrt(w) + eps     e_D = min(sqrt(e_w), e_w / (2 sqrt w)) + gamma_3 D
      U = g' / D            e_U = e_g / D + |U| e_D / D + u |U|
      b' = mu b + U         e_b = mu e_b + e_U + gamma_3 (mu |b| + |U|)
      p' = p - lr s         e_p = e_p + lr e_s + gamma_3 (|p| + lr |s|), s = b' or U

    e_g0 is the incoming gradient's error (``err["g"]``, 0 if absent: the clipping's).
    """
    names = slot_names(alpha, eps, weight_decay, momentum, centered)
    named = {name: f64(slot) for name, slot in zip(names, slots)}
    u = unit_roundoff(dtype)
    p, g = f64(params), f64(grads)
    wd = decay_mask(p.size, n_decay, weight_decay)
    g1 = g + wd * p
    e_g = err.get("g", 0) + np.abs(wd) * err["p"] + gamma(3, dtype) * (np.abs(g)
                                                                      + np.abs(wd * p))
    v = named["square_avg"]
    v1 = alpha * v + (1 - alpha) * g1 * g1
    out = {"square_avg": alpha * err["square_avg"] + 2 * (1 - alpha) * np.abs(g1) * e_g
           + gamma(5, dtype) * (alpha * v + (1 - alpha) * g1 * g1)}
    w, e_w = v1, out["square_avg"]
    if centered:
        a = named["grad_avg"]
        a1 = alpha * a + (1 - alpha) * g1
        out["grad_avg"] = (alpha * err["grad_avg"] + (1 - alpha) * e_g
                           + gamma(4, dtype) * (alpha * np.abs(a) + (1 - alpha) * np.abs(g1)))
        w = np.maximum(v1 - a1 * a1, 0)
        e_w = e_w + 2 * np.abs(a1) * out["grad_avg"] + gamma(3, dtype) * (v1 + a1 * a1)
    root = np.sqrt(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_root = np.where(root > 0, np.minimum(np.sqrt(e_w), e_w / (2 * root)), np.sqrt(e_w))
    D = root + eps
    e_D = e_root + gamma(3, dtype) * D
    U = g1 / D
    e_s = e_g / D + np.abs(U) * e_D / D + u * np.abs(U)
    s = U
    if momentum > 0:
        b = named["momentum_buffer"]
        s = momentum * b + U
        e_s = out["momentum_buffer"] = (momentum * err["momentum_buffer"] + e_s
                                        + gamma(3, dtype) * (momentum * np.abs(b) + np.abs(U)))
    out["p"] = err["p"] + lr * e_s + gamma(3, dtype) * (np.abs(p) + lr * np.abs(s))
    return out


# -- the scalar rule a compiled backend builds its update loops from ----------------------
def coefficients(hp, lr, t, c):
    """c[:7] = lr, alpha, 1 - alpha, eps, weight decay, momentum, centered (0 or 1)."""
    c[0], c[1], c[2], c[3], c[4], c[5], c[6] = lr, hp[0], 1.0 - hp[0], hp[1], hp[2], hp[3], \
        hp[4]


def entry(p, s0, s1, s2, g, c, decayed, f):
    """One entry: (new p, new s0, s1, s2) with the slots in the state's order (square_avg,
    then momentum_buffer if momentum > 0, then grad_avg if centered)."""
    has_momentum, centered = c[5] != 0, c[6] != 0
    wd = c[4] if decayed else f(0)
    g = g + wd * p
    v = c[1] * s0 + c[2] * (g * g)
    a = c[1] * (s2 if has_momentum else s1) + c[2] * g
    update = g / (np.sqrt(v - a * a if centered else v) + c[3])
    b = c[5] * s1 + update
    new_p = p - c[0] * (b if has_momentum else update)
    if has_momentum:
        return new_p, v, b, a if centered else s2
    return new_p, v, a if centered else s1, s2


def cannot_overflow(p_sum, g_sum, slot_sums, c, limit):
    """With |p| <= p_sum, |g| <= g_sum and the slots below slot_sums: is every new value
    and intermediate <= limit? Not provable when centered (v - a^2 may round below zero),
    nor without 0 <= alpha <= 1 and eps > 0."""
    lr, alpha, rest, eps, wd, mu = c[0], c[1], c[2], c[3], c[4], c[5]
    if c[6] != 0 or not (alpha >= 0 and rest >= 0 and eps > 0):
        return False
    g_hat = g_sum + abs(wd) * p_sum
    g2 = g_hat * g_hat
    v_new = alpha * slot_sums[0] + rest * g2
    update = g_hat / eps
    b_new = abs(mu) * slot_sums[1] + update if mu != 0 else update
    p_new = p_sum + abs(lr) * b_new
    return (g2 <= limit and v_new <= limit and update <= limit and b_new <= limit
            and p_new <= limit)
