"""Compile, or load from numba's cache, every kernel of the backend, and time it.

A fresh process pays this once per kernel and signature; with a warm cache it is a
load from disk. ``fastnn info --compile`` prints the table, the benchmarks report it.
Because the driver (``driver.py``) takes any network as data and each loss unit's and
update rule's compiled function as an argument, one small network per layout and rule
covers every network the backend can train, once every loss unit's function is compiled
(or loaded) too.
"""

from __future__ import annotations

import time

import numpy as np

from .. import loop
from ..losses import UNITS
from ..net import Net
from ..optimizers import RULES, OptimizerState
from . import dense, driver, losses, network, optim
from .config import cache_dir

DISPATCHERS = {
    "driver": driver._train, "step": optim._step, "call_update": optim.call_update,
    "gather": driver._gather, "layer": driver._layer,
    "forward_rows": driver._forward_rows, "backward_rows": driver._backward_rows,
    "batch_loss": driver._batch_loss, "forward_t": driver._forward_t,
    "backward_t": driver._backward_t,
    "products_t": dense.products_t,
    "bias_activate": dense.bias_activate, "activation_grad_bias": dense.activation_grad_bias,
    "call_loss": losses.call_loss, "softmax": losses._softmax, "sigmoid": losses._sigmoid,
    "network_forward": network._forward, "finite": network._finite,
    "converted": network._converted, "nonfinite_rows": network._nonfinite_rows,
}
HYPER = {"sgd": dict(momentum=0.9, nesterov=False, weight_decay=0.0),
         "adam": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, eps_hat=False),
         "adamw": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, eps_hat=False),
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
    """Call every op once on tiny arrays of ``dtype``: both layouts of the driver, with
    and without weights, every loss unit's compiled function, every rule the backend
    compiles (with and without gradient clipping), float and uint8 inputs; predictions of
    float rows, of uint8 rows and of float rows the net scales."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3)).astype(dtype)
    labels = np.arange(8) % 2
    weights = np.linspace(0.5, 1.5, 8)
    for name in UNITS:
        for variant in losses.variants(name):
            losses.loss_function(name, dtype, *variant)
    for loss, targets in (("softmax_cross_entropy", labels),
                          ("softmax_cross_entropy", np.eye(2, dtype=dtype)[labels]),
                          ("mse", X[:, :1].copy())):
        k = 2 if loss == "softmax_cross_entropy" else 1
        for rule in optim.CODES:
            small = Net((3, 4, k), ("tanh", "identity"), loss, dtype)
            wide = Net((3, driver.SMALL_NET_WEIGHTS, k), ("relu", "identity"), loss, dtype)
            for net in (small, wide):
                for inputs in (X, (X > 0).astype(np.uint8)):  # images arrive as uint8
                    for w in (None, weights):
                        ops.train_epochs(net, _state(rule, net.n_params, dtype), inputs,
                                         targets, None, 1, 4, w)
            loop.train_epochs(ops, small, _state(rule, small.n_params, dtype), X, targets,
                              None, 1, 4)
            ops.train_epochs(small, _state(rule, small.n_params, dtype, clipped=True), X,
                             targets, None, 1, 4)
    for name in UNITS:
        unit = UNITS[name]
        t = labels if unit.TARGETS == "labels" else (labels[:, None] > 0).astype(dtype)
        z = X[:, :2].copy() if unit.TARGETS == "labels" else X[:, :1].copy()
        ops.loss(np.empty_like(z), z, t, name)
    for scale in (1.0, 0.5):
        net = Net((3, 4, 2), ("relu", "identity"), "softmax_cross_entropy", dtype,
                  input_scale=scale)
        for inputs in (X, (X > 0).astype(np.uint8)):
            ops.network_forward(np.empty((8, 2), dtype), inputs, net)
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
