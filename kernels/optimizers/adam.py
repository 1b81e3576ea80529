"""Adam with bias correction and L2 weight decay added to the gradient (PyTorch ``Adam``).

    g' = g + wd p                         (weights only)
    m  = b1 m + (1 - b1) g'
    v  = b2 v + (1 - b2) g'^2
    p  = p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps')

eps' is eps (PyTorch), or with ``eps_hat`` eps / sqrt(1 - b2^t): Kingma & Ba's epsilon-hat,
added to sqrt(v) before the bias correction, as Keras, TensorFlow and scikit-learn do
(``lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` is the same step). Coefficients
such as 1 - b2 are formed in float64 and then rounded to the dtype.
"""

import math

import numpy as np

from ..rounding import gamma, unit_roundoff
from ._common import decay_mask, f64, write_flushed

NAME = "adam"
SLOTS = ("m", "v")
HYPER = ("beta1", "beta2", "eps", "weight_decay", "eps_hat")


def step_eps(eps, eps_hat, beta2, t) -> float:
    """The eps added to the bias-corrected sqrt(v) at 1-based step t (see the module)."""
    return eps * math.sqrt(1.0 / (1.0 - beta2**t)) if eps_hat else eps


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def step(params, slots, grads, lr, t, n_decay, beta1, beta2, eps, weight_decay,
         eps_hat) -> bool:
    """The reference update at 1-based step t."""
    g = grads
    if weight_decay:
        g[:n_decay] += weight_decay * params[:n_decay]
    return moments_step(params, slots, g, lr, t, beta1, beta2, step_eps(eps, eps_hat, beta2, t),
                        1.0)


def moments_step(params, slots, g, lr, t, beta1, beta2, eps, decay) -> bool:
    """Adam's update from the gradient g, shared with AdamW, eps the step's (``step_eps``):
    the parameters are first multiplied by ``decay`` (1 for Adam; AdamW's decoupled weight
    decay)."""
    m, v = slots
    new_m = beta1 * m + (1 - beta1) * g
    new_v = beta2 * v + (1 - beta2) * (g * g)
    lr_hat = lr / (1 - beta1**t)
    v_scale = 1 / (1 - beta2**t)
    decayed = params * decay if isinstance(decay, np.ndarray) or decay != 1 else params
    new_p = decayed - lr_hat * new_m / (np.sqrt(new_v * v_scale) + eps)
    if not all(np.isfinite(a).all() for a in (new_p, new_m, new_v)):
        return False
    params[...] = new_p
    write_flushed(m, new_m)
    write_flushed(v, new_v)
    return True


def error_step(err, params, slots, grads, lr, t, n_decay, dtype, beta1, beta2, eps,
               weight_decay, eps_hat) -> dict:
    """First-order error bounds through one step (see :func:`moments_error`); the L2 term
    adds e_g = |wd| e_p + gamma_3 (|g| + |wd p|) to the gradient's own (``err["g"]``, 0 if
    absent)."""
    p, g = f64(params), f64(grads)
    wd = decay_mask(p.size, n_decay, weight_decay)
    e_g = err.get("g", 0) + np.abs(wd) * err["p"] + gamma(3, dtype) * (np.abs(g)
                                                                      + np.abs(wd * p))
    return moments_error(err, p, slots, g + wd * p, e_g, lr, t, dtype, beta1, beta2,
                         step_eps(eps, eps_hat, beta2, t), np.ones_like(p), err["p"])


def moments_error(err, p, slots, g1, e_g, lr, t, dtype, beta1, beta2, eps, decay, e_dp):
    """Bounds through Adam's moment update from gradient g1 (error e_g) and the decayed
    parameters ``decay * p`` (error e_dp), eps the step's (``step_eps``). Coefficients (1 -
    beta, the bias corrections, lr / (1 - b1^t), the step's eps) are formed in float64 and
    rounded once to the dtype; forming 1 - b2 in float32 instead would lose ~10 bits and
    is not covered.

      m' = b1 m + (1-b1) g'       e_m = b1 e_m + (1-b1) e_g + gamma_5 (b1 |m| + (1-b1) |g'|)
      v' = b2 v + (1-b2) g'^2     e_v = b2 e_v + 2 (1-b2) |g'| e_g + gamma_6 (b2 v + (1-b2) g'^2)
      a = v' c2 (c2 = 1/(1-b2^t)) e_a = c2 e_v + gamma_2 a
      D = sqrt(a) + eps           e_D = min(sqrt(e_a), e_a / (2 sqrt(a))) + gamma_3 D
      U = (lr c1) m' / D          e_U = (lr c1) e_m / D + |U| e_D / D + gamma_3 |U|
      p' = decay p - U            e_p = e_dp + e_U + u (|decay p| + |U|)

    (|sqrt(a + d) - sqrt(a)| <= min(sqrt|d|, |d| / (2 sqrt a)).)
    """
    u = unit_roundoff(dtype)
    m, v = f64(slots[0]), f64(slots[1])
    c1, c2 = 1 / (1 - beta1**t), 1 / (1 - beta2**t)
    m1 = beta1 * m + (1 - beta1) * g1
    e_m = (beta1 * err["m"] + (1 - beta1) * e_g
           + gamma(5, dtype) * (beta1 * np.abs(m) + (1 - beta1) * np.abs(g1)))
    v1 = beta2 * v + (1 - beta2) * g1 * g1
    e_v = (beta2 * err["v"] + 2 * (1 - beta2) * np.abs(g1) * e_g
           + gamma(6, dtype) * (beta2 * v + (1 - beta2) * g1 * g1))
    a = v1 * c2
    e_a = c2 * e_v + gamma(2, dtype) * a
    root = np.sqrt(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_root = np.where(root > 0, np.minimum(np.sqrt(e_a), e_a / (2 * root)), np.sqrt(e_a))
    D = root + eps
    e_D = e_root + gamma(3, dtype) * D
    U = lr * c1 * m1 / D
    e_U = lr * c1 * e_m / D + np.abs(U) * e_D / D + gamma(3, dtype) * np.abs(U)
    e_p = e_dp + e_U + u * (np.abs(decay * p) + np.abs(U))
    return {"p": e_p, "m": e_m, "v": e_v}


# -- the scalar rule a compiled backend builds its update loops from (shared with AdamW) -----
def coefficients(hp, lr, t, c):
    """c[:9] = lr / (1 - b1^t), b1, 1 - b1, b2, 1 - b2, 1 / (1 - b2^t), the step's eps
    (``step_eps``), the L2 weight decay, the decoupled decay factor (1 for Adam)."""
    beta1, beta2 = hp[0], hp[1]
    c[0], c[1], c[2], c[3], c[4] = lr / (1.0 - beta1**t), beta1, 1.0 - beta1, beta2, 1.0 - beta2
    c[5], c[7], c[8] = 1.0 / (1.0 - beta2**t), hp[3], 1.0
    c[6] = hp[2] * math.sqrt(c[5]) if hp[4] != 0 else hp[2]


def entry(p, m, v, s2, g, c, decayed, f):
    """One entry of Adam (L2 c[7], decay c[8] = 1) or AdamW (c[7] = 0, c[8] = 1 - lr wd),
    the decay terms on weights only: (new p, new m, new v, s2)."""
    l2 = c[7] if decayed else f(0)
    decay = c[8] if decayed else f(1)
    g = g + l2 * p
    m = c[1] * m + c[2] * g
    v = c[3] * v + c[4] * (g * g)
    return decay * p - c[0] * m / (np.sqrt(v * c[5]) + c[6]), m, v, s2


def cannot_overflow(p_sum, g_sum, slot_sums, c, limit):
    """With |p| <= p_sum, |g| <= g_sum, |m|, v <= slot_sums[:2]: is every new value and
    intermediate (g + l2 p, g'^2, the new moments, v * v_scale, lr_hat * m, eps, the new
    parameter, whose denominator is at least eps) <= limit? Needs non-negative betas and
    1 - betas (so v >= 0 and its square root is never NaN) and eps > 0."""
    lr_hat, beta1, c1, beta2, c2, v_scale, eps = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    if not (beta1 >= 0 and c1 >= 0 and beta2 >= 0 and c2 >= 0 and v_scale >= 0 and eps > 0):
        return False
    g_hat = g_sum + abs(c[7]) * p_sum
    g2 = g_hat * g_hat
    m_new = beta1 * slot_sums[0] + c1 * g_hat
    v_new = beta2 * slot_sums[1] + c2 * g2
    lr_m = abs(lr_hat) * m_new
    p_new = abs(c[8]) * p_sum + lr_m / eps
    return (g_hat <= limit and g2 <= limit and m_new <= limit and v_new * v_scale <= limit
            and lr_m <= limit and eps <= limit and p_new <= limit)
