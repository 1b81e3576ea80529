"""Adam with bias correction and L2 weight decay added to the gradient (PyTorch ``Adam``).

    g' = g + wd p                         (weights only)
    m  = b1 m + (1 - b1) g'
    v  = b2 v + (1 - b2) g'^2
    p  = p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)

Coefficients such as 1 - b2 are formed in float64 and then rounded to the dtype.
"""

import numpy as np

from ..rounding import gamma, unit_roundoff
from ._common import decay_mask, f64, write_flushed

NAME = "adam"
SLOTS = ("m", "v")
HYPER = ("beta1", "beta2", "eps", "weight_decay")


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def step(params, slots, grads, lr, t, n_decay, beta1, beta2, eps, weight_decay) -> bool:
    """The reference update at 1-based step t."""
    g = grads
    if weight_decay:
        g[:n_decay] += weight_decay * params[:n_decay]
    return moments_step(params, slots, g, lr, t, beta1, beta2, eps, 1.0)


def moments_step(params, slots, g, lr, t, beta1, beta2, eps, decay) -> bool:
    """Adam's update from the gradient g, shared with AdamW: the parameters are first
    multiplied by ``decay`` (1 for Adam; AdamW's decoupled weight decay)."""
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
               weight_decay) -> dict:
    """First-order error bounds through one step (see :func:`moments_error`); the L2 term
    adds e_g = wd e_p + gamma_3 (|g| + wd |p|) to the gradient's error."""
    p, g = f64(params), f64(grads)
    wd = decay_mask(p.size, n_decay, weight_decay)
    e_g = wd * err["p"] + gamma(3, dtype) * (np.abs(g) + wd * np.abs(p))
    return moments_error(err, p, slots, g + wd * p, e_g, lr, t, dtype, beta1, beta2, eps,
                         np.ones_like(p), err["p"])


def moments_error(err, p, slots, g1, e_g, lr, t, dtype, beta1, beta2, eps, decay, e_dp):
    """Bounds through Adam's moment update from gradient g1 (error e_g) and the decayed
    parameters ``decay * p`` (error e_dp). Coefficients (1 - beta, the bias corrections,
    lr / (1 - b1^t)) are formed in float64 and rounded once to the dtype; forming 1 - b2
    in float32 instead would lose ~10 bits and is not covered.

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
