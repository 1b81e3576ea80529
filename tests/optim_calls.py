"""The contract's ``optimizer_step`` called with each rule's textbook arguments, for tests
that step one buffer by hand, and each rule's error propagation in the same form.

Steps given the same ``bounds`` array (any object kept between calls) share one
``OptimizerState``, so a backend's private data about a state (the numba backend's
overflow-proof bounds) carries from step to step as it does in training; steps given
``bounds=None`` each get a fresh state.
"""

import weakref

from fastnn.kernels.optimizers import RULES, OptimizerState

_shared: dict[int, tuple] = {}  # id(bounds) -> (weakref to bounds, state)


def _state(rule, slots, hyper, bounds):
    if bounds is None:
        return OptimizerState(rule, 0.0, hyper, slots)
    alive, state = _shared.get(id(bounds), (None, None))
    if alive is None or alive() is not bounds or state.slots[0] is not slots[0]:
        state = OptimizerState(rule, 0.0, hyper, slots)
        _shared[id(bounds)] = (weakref.ref(bounds), state)
    state.hyper = hyper
    return state


def sgd_step(ops, params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay,
             bounds=None, clip=None) -> bool:
    """clip: the gradient clipping's hyper-parameters ({"clipnorm": ...}), if any."""
    state = _state("sgd", (velocity,), dict(momentum=momentum, nesterov=nesterov,
                                             weight_decay=weight_decay, **(clip or {})), bounds)
    return ops.optimizer_step(params, grads, state, n_decay, lr)


def adam_step(ops, params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay,
              bounds=None, rule="adam", clip=None, eps_hat=False) -> bool:
    """Adam (or AdamW with rule="adamw") at 1-based ``step``; clip as for sgd_step."""
    state = _state(rule, (m, v), dict(beta1=beta1, beta2=beta2, eps=eps,
                                      weight_decay=weight_decay, eps_hat=eps_hat,
                                      **(clip or {})), bounds)
    state.step = step - 1
    return ops.optimizer_step(params, grads, state, n_decay, lr)


def sgd_error_step(err, p, v, g, lr, momentum, weight_decay, nesterov, n_decay, dtype,
                   clip=None):
    """``err`` {"p", "v"} through one SGD step (``kernels/optimizers/sgd.py``), the
    gradient clipped by ``clip`` (as for sgd_step) first."""
    out = RULES["sgd"].error_step({"p": err["p"], "velocity": err["v"]}, p, (v,), g, lr, 1,
                                  n_decay, dtype, momentum=momentum, nesterov=nesterov,
                                  weight_decay=weight_decay, **(clip or {}))
    return {"p": out["p"], "v": out["velocity"]}


def adam_error_step(err, p, m, v, g, step, lr, beta1, beta2, eps, weight_decay, n_decay,
                    dtype, rule="adam", clip=None, eps_hat=False):
    """``err`` {"p", "m", "v"} through one Adam (or AdamW) step; clip as for sgd_step."""
    return RULES[rule].error_step(err, p, (m, v), g, lr, step, n_decay, dtype, beta1=beta1,
                                  beta2=beta2, eps=eps, weight_decay=weight_decay,
                                  eps_hat=eps_hat, **(clip or {}))
