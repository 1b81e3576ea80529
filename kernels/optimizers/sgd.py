"""SGD with momentum, optional Nesterov, and L2 weight decay (PyTorch ``SGD`` semantics).

    g' = g + wd p              (weights only)
    v  = mu v + g'             (with momentum; the velocity is untouched when mu = 0)
    p  = p - lr * (v, or g' + mu v with Nesterov, or g' without momentum)
"""

import numpy as np

from ..rounding import gamma
from ._common import decay_mask, f64, write_flushed

NAME = "sgd"
SLOTS = ("velocity",)
HYPER = ("momentum", "nesterov", "weight_decay")


@np.errstate(over="ignore", invalid="ignore")
def step(params, slots, grads, lr, t, n_decay, momentum, nesterov, weight_decay) -> bool:
    """The reference update; grads becomes the step and then the new parameters.

    Checking the new parameters alone suffices: with lr > 0 a NaN or inf in the new
    velocity reaches them.
    """
    (velocity,) = slots
    g = grads
    if weight_decay:
        g[:n_decay] += weight_decay * params[:n_decay]
    update = g
    if momentum:
        new_v = momentum * velocity
        new_v += g
        if nesterov:
            g += momentum * new_v
        else:
            update = new_v
    new_p = np.multiply(update, -lr, out=g)
    new_p += params
    if not np.isfinite(new_p).all():
        return False
    params[...] = new_p
    if momentum:
        write_flushed(velocity, new_v)
    return True


def error_step(err, params, slots, grads, lr, t, n_decay, dtype, momentum, nesterov,
               weight_decay) -> dict:
    """First-order error bounds through one step. Each update line is one product of a
    coefficient cast to the dtype and one addition: three roundings (gamma_3) of its
    absolute-value evaluation, plus the incoming errors times the line's coefficients:

      g' = g + wd p           e_g = e_g0 + |wd| e_p + gamma_3 (|g| + |wd p|)   (weights)
      v' = mu v + g'          e_v = mu e_v + e_g + gamma_3 (mu |v| + |g'|)
      s  = v' | g' + mu v'    e_s = e_v | e_g + mu e_v + gamma_3 (|g'| + mu |v'|)
      p' = p - lr s           e_p = e_p + lr e_s + gamma_3 (|p| + lr |s|)

    e_g0 is the incoming gradient's error (``err["g"]``, 0 if absent: the clipping's).
    With momentum 0 the step is g' and the velocity is not used. A flushed velocity
    entry differs from the unflushed one by less than the dtype's tiny, which every
    tolerance's absolute floor covers.
    """
    g3 = gamma(3, dtype)
    p, v, g = f64(params), f64(slots[0]), f64(grads)
    wd = decay_mask(p.size, n_decay, weight_decay)
    g1 = g + wd * p
    e_g = err.get("g", 0) + np.abs(wd) * err["p"] + g3 * (np.abs(g) + np.abs(wd * p))
    if momentum:
        v1 = momentum * v + g1
        e_v = momentum * err["velocity"] + e_g + g3 * (momentum * np.abs(v) + np.abs(g1))
        if nesterov:
            update = g1 + momentum * v1
            e_s = e_g + momentum * e_v + g3 * (np.abs(g1) + momentum * np.abs(v1))
        else:
            update, e_s = v1, e_v
    else:
        update, e_s, e_v = g1, e_g, err["velocity"]
    e_p = err["p"] + lr * e_s + g3 * (np.abs(p) + lr * np.abs(update))
    return {"p": e_p, "velocity": e_v}


# -- the scalar rule a compiled backend builds its update loops from ----------------------
# (see ``optimizers/__init__.py``: coefficients in float64, entry in the buffers' dtype)
def coefficients(hp, lr, t, c):
    """c[:4] = lr, momentum, weight decay, Nesterov (0 or 1); hp in HYPER's order."""
    c[0], c[1], c[2], c[3] = lr, hp[0], hp[2], hp[1]


def entry(p, v, s1, s2, g, c, decayed, f):
    """One entry: (new p, new velocity, s1, s2); without momentum v is returned as it was
    (then mu v + g' is g' itself, so the step is g')."""
    wd = c[2] if decayed else f(0)
    gj = g + wd * p
    vj = c[1] * v + gj
    step = gj + c[1] * vj if c[3] != 0 else vj
    return p - c[0] * step, vj if c[1] != 0 else v, s1, s2


def cannot_overflow(p_sum, g_sum, slot_sums, c, limit):
    """With |p| <= p_sum, |g| <= g_sum, |v| <= slot_sums[0]: is every new value and every
    intermediate (g + wd p, the new velocity, the step, the new parameter) <= limit?"""
    lr, mu, wd = abs(c[0]), abs(c[1]), abs(c[2])
    g_hat = g_sum + wd * p_sum
    v_new = mu * slot_sums[0] + g_hat if mu != 0 else 0.0
    if mu == 0:
        step = g_hat
    else:
        step = g_hat + mu * v_new if c[3] != 0 else v_new
    p_new = p_sum + lr * step
    return g_hat <= limit and v_new <= limit and step <= limit and p_new <= limit
