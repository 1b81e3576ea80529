"""Compile, or load from numba's cache, every kernel of the backend, and time it.

A fresh process pays this once per kernel and signature; with a warm cache it is a
load from disk. ``fastnn info --compile`` prints the table, the benchmarks report it.
Because the driver (``driver.py``) takes any network as data, one small network per
layout, loss and rule covers every network the backend can train.
"""

from __future__ import annotations

import time

import numpy as np

from .. import loop
from ..net import Net
from ..optimizers import RULES, OptimizerState
from . import dense, driver, losses, optim
from .config import cache_dir

DISPATCHERS = {
    "driver": driver._train, "step": optim._step, "call_update": optim.call_update,
    "gather": driver._gather, "layer": driver._layer,
    "forward_rows": driver._forward_rows, "backward_rows": driver._backward_rows,
    "batch_loss_rows": driver._loss_rows, "forward_t": driver._forward_t,
    "backward_t": driver._backward_t, "batch_loss_t": driver._loss_t,
    "products_t": dense.products_t,
    "bias_activate": dense.bias_activate, "activation_grad_bias": dense.activation_grad_bias,
    "loss_rows": losses.loss_rows, "argmax_hits": losses.argmax_hits,
    "sign_hits": losses.sign_hits, "softmax": losses._softmax, "sigmoid": losses._sigmoid,
}
HYPER = {"sgd": dict(momentum=0.9, nesterov=False, weight_decay=0.0),
         "adam": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
         "adamw": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01),
         "rmsprop": dict(alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9, centered=True)}


def compile_stats() -> dict:
    """Totals over every kernel: cache hits and misses (numba's per-process statistics) and
    signatures compiled or loaded."""
    stats = [d.stats for d in DISPATCHERS.values()]
    return {"cache_hits": sum(sum(s.cache_hits.values()) for s in stats),
            "cache_misses": sum(sum(s.cache_misses.values()) for s in stats),
            "signatures": sum(len(d.signatures) for d in DISPATCHERS.values())}


def _state(rule, size, dtype, clipped=False):
    """A fresh state of ``rule``, its slots the rows of one matrix (as fastnn makes them);
    ``clipped``: with gradient clipping (the rule's clipping copy of its update)."""
    slots = np.zeros((len(RULES[rule].slot_names(**HYPER[rule])), size), dtype)
    hyper = dict(HYPER[rule], **({"clipnorm": 1.0, "clipvalue": 1.0} if clipped else {}))
    return OptimizerState(rule, 0.01, hyper, tuple(slots))


def _exercise(ops, dtype):
    """Call every op once on tiny arrays of ``dtype``: both layouts of the driver, every
    loss, every rule the backend compiles (with and without gradient clipping), float and
    uint8 inputs."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3)).astype(dtype)
    labels = np.arange(8) % 2
    for loss, targets in (("softmax_cross_entropy", labels),
                          ("sigmoid_bce", (labels[:, None] > 0).astype(dtype)),
                          ("mse", X[:, :1].copy())):
        k = 2 if loss == "softmax_cross_entropy" else 1
        for rule in optim.CODES:
            small = Net((3, 4, k), ("tanh", "identity"), loss, dtype)
            wide = Net((3, driver.SMALL_NET_WEIGHTS, k), ("relu", "identity"), loss, dtype)
            for net in (small, wide):
                for inputs in (X, (X > 0).astype(np.uint8)):  # images arrive as uint8
                    ops.train_epochs(net, _state(rule, net.n_params, dtype), inputs, targets,
                                     None, 1, 4)
            loop.train_epochs(ops, small, _state(rule, small.n_params, dtype), X, targets,
                              None, 1, 4)
            ops.train_epochs(small, _state(rule, small.n_params, dtype, clipped=True), X,
                             targets, None, 1, 4)
    out = np.empty((8, 2), dtype)
    ops.softmax(out, X[:, :2].copy())
    ops.sigmoid(out, X[:, :2].copy())


def warm_up(dtypes=(np.float32, np.float64)) -> dict:
    """Compile or load every kernel for ``dtypes``; returns seconds and cache statistics."""
    from .. import load_backend

    start = time.perf_counter()
    for dtype in dtypes:
        _exercise(load_backend("numba"), np.dtype(dtype))
    return {"seconds": time.perf_counter() - start, **compile_stats(),
            "cache": str(cache_dir())}
