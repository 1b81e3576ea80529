"""Compile, or load from numba's cache, every kernel of the backend, and time it.

A fresh process pays this once per kernel and signature; with a warm cache it is a
load from disk. ``fastnn info --compile`` prints the table, the benchmarks report it.
"""

from __future__ import annotations

import time

import numpy as np

from .. import loop
from ..net import Net
from . import fused, small
from .config import CHUNK
from .dense import _activation_grad_bias, _bias_activate
from .losses import _bce, _mse, _sigmoid, _softmax, _softmax_ce, argmax_hits, sign_hits
from .optim import CODES, _step, _step_chunked

DISPATCHERS = {
    "bias_activate": _bias_activate, "activation_grad_bias": _activation_grad_bias,
    "softmax_cross_entropy": _softmax_ce, "sigmoid_bce": _bce, "mse": _mse,
    "softmax": _softmax, "sigmoid": _sigmoid, "argmax_hits": argmax_hits,
    "sign_hits": sign_hits, "optimizer_step": _step, "optimizer_step_chunked": _step_chunked,
    "small_net_train": small._train, "fused_train": fused._train,
}


def _exercise(ops, dtype):
    """Call every op once on tiny arrays of ``dtype`` (every training path, every loss,
    every rule the backend compiles, float and uint8 inputs), and each rule once on more
    than one parallel chunk."""
    from ...optimizers import OPTIMIZERS  # the optimizer states, as fastnn builds them

    optimizers = [OPTIMIZERS[rule]() for rule in CODES]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3)).astype(dtype)
    labels = np.arange(8) % 2
    for loss, targets in (("softmax_cross_entropy", labels),
                          ("sigmoid_bce", (labels[:, None] > 0).astype(dtype)),
                          ("mse", X[:, :1].copy())):
        k = 2 if loss == "softmax_cross_entropy" else 1
        for opt in optimizers:
            net = Net((3, 4, k), ("tanh", "identity"), loss, dtype)
            ops.train_epochs(net, opt.state(net.n_params, dtype), X, targets, None, 1, 4)
            loop.train_epochs(ops, net, opt.state(net.n_params, dtype), X, targets, None, 1, 4)
            wide = Net((3, small.SMALL_NET_WEIGHTS, k), ("relu", "identity"), loss, dtype)
            for inputs in (X, (X > 0).astype(np.uint8)):  # images arrive as uint8
                ops.train_epochs(wide, opt.state(wide.n_params, dtype), inputs, targets,
                                 None, 1, 4)
    out = np.empty((8, 2), dtype)
    ops.softmax(out, X[:, :2].copy())
    ops.sigmoid(out, X[:, :2].copy())
    ops.dense_forward(out, X, np.ones((3, 2), dtype), np.zeros(2, dtype), "relu")
    ops.dense_forward(out, X, np.ones((3, 2), dtype), np.zeros(2, dtype), "sigmoid")
    p, g = np.zeros((2, CHUNK + 1), dtype)
    for opt in optimizers:
        ops.optimizer_step(p, g, opt.state(p.size, dtype), CHUNK, 0.1)


def warm_up(dtypes=(np.float32, np.float64)) -> dict:
    """Compile or load every kernel for ``dtypes``; returns seconds and cache statistics."""
    from .. import load_backend

    start = time.perf_counter()
    for dtype in dtypes:
        _exercise(load_backend("numba"), np.dtype(dtype))
    seconds = time.perf_counter() - start
    hits = sum(sum(d.stats.cache_hits.values()) for d in DISPATCHERS.values())
    misses = sum(sum(d.stats.cache_misses.values()) for d in DISPATCHERS.values())
    return {"seconds": seconds, "cache_hits": hits, "cache_misses": misses,
            "signatures": sum(len(d.signatures) for d in DISPATCHERS.values())}
