"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter; PyTorch ``AdamW``).

    p  = p (1 - lr wd)                    (weights only; before the moment update)
    then Adam's update from the plain gradient g, without any L2 term.
"""

import math

import numpy as np

from ..rounding import gamma
from . import adam
from ._common import decay_mask, f64

NAME = "adamw"
SLOTS = adam.SLOTS
HYPER = adam.HYPER


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def step(params, slots, grads, lr, t, n_decay, beta1, beta2, eps, weight_decay,
         eps_hat) -> bool:
    """The reference update at 1-based step t (eps_hat: see ``adam``)."""
    decay = 1 - decay_mask(params.size, n_decay, lr * weight_decay).astype(params.dtype)
    return adam.moments_step(params, slots, grads, lr, t, beta1, beta2,
                             adam.step_eps(eps, eps_hat, beta2, t), decay)


def error_step(err, params, slots, grads, lr, t, n_decay, dtype, beta1, beta2, eps,
               weight_decay, eps_hat) -> dict:
    """Adam's moment bounds from the plain gradient (its error ``err["g"]``, 0 if absent:
    the gradient itself is an exact input), and the decayed parameters d p with d = 1 - lr wd formed
    in float64 and rounded (u) and the product rounded (u): e_dp = d e_p + 2u |d p|."""
    p, g = f64(params), f64(grads)
    d = 1 - decay_mask(p.size, n_decay, lr * weight_decay)
    e_dp = d * err["p"] + gamma(2, dtype) * np.abs(d * p)
    e_g = err.get("g", 0) + np.zeros_like(p)
    return adam.moments_error(err, p, slots, g, e_g, lr, t, dtype, beta1, beta2,
                              adam.step_eps(eps, eps_hat, beta2, t), d, e_dp)


# -- the scalar rule: Adam's, with the decay moved from the gradient to the parameters ------
def coefficients(hp, lr, t, c):
    """Adam's coefficients (``adam.coefficients``) with no L2 term and the decay factor
    1 - lr wd."""
    beta1, beta2 = hp[0], hp[1]
    c[0], c[1], c[2], c[3], c[4] = lr / (1.0 - beta1**t), beta1, 1.0 - beta1, beta2, 1.0 - beta2
    c[5], c[7], c[8] = 1.0 / (1.0 - beta2**t), 0.0, 1.0 - lr * hp[3]
    c[6] = hp[2] * math.sqrt(c[5]) if hp[4] != 0 else hp[2]


entry, cannot_overflow = adam.entry, adam.cannot_overflow
