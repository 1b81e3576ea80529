"""The kernel contract: the ops every fastnn backend implements.

The numpy backend (``fastnn.kernels.numpy_backend``) is the living definition of each op;
the numba backend must agree with it within the tolerances in ``kernels/tolerances.py``.
``fastnn`` (the model API) is the only caller.

A backend module names the ops it implements in ``OPS``; :func:`assemble` gives it the
reference's for the rest (a partial backend), and fails at load naming any op it lists but
does not define. ``train_epochs`` and ``network_forward`` default to the generic versions
of ``loop.py`` over the assembled ops; a backend that overrides one defines it with the
assembled ops as its first argument (``train_epochs(ops, net, ...)``). A backend whose
``train_epochs`` runs steps inside one compiled call also defines the hook
``compiled_step(net, state, X, targets, weights)``: None when that call would take the
generic loop, else ``(run, intermediates)``, its one-call
``train_epochs`` and ``intermediates(net, m)``, the gathered input, layer outputs,
pre-activation gradients and kept z of a one-batch call of m rows (see the numba
backend). The check backend replays a compiled step op by op from those. A backend
that compiles may define ``warm_up()``: compile (or load from its cache) everything it
can run, returning ``{"seconds", "signatures", "cache_hits", "cache_misses", "cache"}``
(``fastnn info --compile``), and ``first_run_notice()``: a one-line message while its
compile cache is empty (the command line prints it before a first run), else None.

Conventions, for every op:

- shapes: ``n`` rows in the batch, ``i`` input features, ``o`` output units, ``k`` outputs
  of the network (classes for softmax cross-entropy); ``p`` entries of a flat parameter buffer;
- dtypes: float arrays are all float32 or all float64, never mixed; outputs keep the input
  dtype; integer labels are int64. Scalars (learning rates, losses) are Python floats;
- arguments: outputs first, then inputs, then scalars (as in llm.c). Ops never allocate
  their outputs: the caller passes buffers (views are fine, any memory order for inputs,
  C-contiguous for outputs). Reductions of losses are accumulated in float64;
- activations are units (``kernels/activations``), given as spec strings (``"relu"``,
  ``"leaky_relu(0.2)"``); the backward of an activation is taken from the layer's output
  y, or for a unit whose ``USES`` is ``"z"`` (gelu) from the pre-activation z, which the
  forward keeps in a buffer the caller passes;
- losses are units too (``kernels/losses``), given as spec strings (``"mse"``,
  ``"huber(0.5)"``); sample weights are float64 (n,), or None for all ones.
"""

from __future__ import annotations

import functools
from typing import Protocol

import numpy as np

from . import loop
from .activations import UNITS
from .losses import UNITS as LOSS_UNITS
from .net import EpochStats, Net
from .optimizers import OptimizerState

ACTIVATIONS = tuple(UNITS)  # every activation unit (``kernels/activations``), by name
LOSSES = tuple(LOSS_UNITS)  # every loss unit (``kernels/losses``), by name
OPS = (
    "dense_forward",
    "dense_backward",
    "dropout_forward",
    "dropout_backward",
    "loss",
    "metric_sum",
    "softmax",
    "sigmoid",
    "optimizer_step",
    "train_epochs",
    "network_forward",
)
GENERIC = {"train_epochs": loop.train_epochs, "network_forward": loop.network_forward}
NONFINITE_INPUT = loop.NONFINITE_INPUT


class Backend(Protocol):
    """What a backend module provides. Each op is documented here once."""

    name: str

    # -- dense layer ------------------------------------------------------------------
    def dense_forward(self, out: np.ndarray, x: np.ndarray, W: np.ndarray, b: np.ndarray,
                      activation: str, z: np.ndarray | None = None) -> None:
        """``out = act(x @ W + b)``.

        out (n, o) is overwritten and is also what :meth:`dense_backward` needs;
        x (n, i), W (i, o), b (o,); z (n, o), if given, receives ``x @ W + b`` (pass it for
        an activation whose backward uses z).
        """

    def dense_backward(self, dW: np.ndarray, db: np.ndarray, dx: np.ndarray | None,
                       dout: np.ndarray, x: np.ndarray, W: np.ndarray, out: np.ndarray,
                       activation: str, z: np.ndarray | None = None) -> None:
        """Gradients of a dense layer from the gradient of its output.

        dout (n, o) is overwritten with the gradient of the pre-activation
        ``dz = dout * act'``, act' from out or, for a unit that uses z, from z (n, o) as
        the forward kept it; then ``dW (i, o) = x.T @ dz``, ``db (o,) = dz.sum(0)`` and,
        unless ``dx`` is None (the first layer), ``dx (n, i) = dz @ W.T``.
        """

    # -- dropout (training only; ``kernels/dropout.py`` defines the masks) ---------------
    def dropout_forward(self, out: np.ndarray, x: np.ndarray, rate: float, key) -> None:
        """``out = x * keep / (1 - rate)``: out, x (n, u); keep of entry (r, c) is
        ``dropout.keeps(key, r * u + c, dropout.threshold(rate))``, key uint64; the factor
        ``dropout.scale(rate, dtype)``. Exact: every backend gives the same bits."""

    def dropout_backward(self, d: np.ndarray, rate: float, key) -> None:
        """d (n, u), the gradient of a dropout's output, becomes its input's, in place:
        multiplied by the forward's factors (same rate and key)."""

    # -- losses: one op for every loss unit (``kernels/losses``) -------------------------
    def loss(self, grad: np.ndarray | None, z: np.ndarray, targets: np.ndarray, spec: str,
             weights: np.ndarray | None = None) -> float:
        """The batch's loss for the loss unit ``spec`` (``"mse"``, ``"huber(0.5)"``) and,
        unless grad is None, its gradient: the weighted mean of the rows' losses,
        ``sum_r w_r l_r / sum_r w_r``, where a pointwise unit's row loss is the mean over its
        k entries (without weights: the mean over all n k entries).

        z (n, k) the network's output; targets int64 labels (n,) in 0..k-1, or (n, k) of
        z's dtype (values, or target probabilities for softmax cross-entropy); weights
        float64 (n,) finite, of either sign (a negative weight counts against the mean, as
        in scikit-learn), or None (all ones); grad (n, k) receives d loss / d z. Weights
        whose float64 sum is zero give loss 0 and a zero gradient.
        """

    def metric_sum(self, z: np.ndarray, targets: np.ndarray, spec: str,
                   weights: np.ndarray | None = None) -> float:
        """What the unit's metric sums over the batch, each row weighted (float64): for an
        accuracy unit the correct predictions (``HITS`` argmax: rows whose first maximum is
        the label, or the argmax of the target probabilities; sign: entries where z > 0
        agrees with t >= 0.5), for an r2 unit the squared errors of its prediction
        (``PREDICT`` of z) against the targets.
        """

    # -- output transforms (prediction) -------------------------------------------------
    def softmax(self, out: np.ndarray, logits: np.ndarray) -> None:
        """Row-wise softmax, max-shifted. out, logits (n, k)."""

    def sigmoid(self, out: np.ndarray, x: np.ndarray) -> None:
        """Elementwise logistic function, stable for any x. out, x (n, k)."""

    # -- optimizers: one update rule over the flat parameter buffer -----------------------
    def optimizer_step(self, params: np.ndarray, grads: np.ndarray, state: OptimizerState,
                       n_decay: int, lr: float) -> bool:
        """One step of ``state.rule`` (``kernels/optimizers/<rule>.py`` defines it) at
        learning rate ``lr``, in place; on success ``state.step`` advances by one.

        params, grads (p,) and every buffer of ``state.slots`` (p,); the first ``n_decay``
        entries are weights, the rest biases. grads is scratch. The gradient is first
        clipped by ``state.hyper``'s ``clipnorm`` and ``clipvalue`` where set
        (``kernels/optimizers/clipping.py``); a non-finite gradient fails the step. All
        or nothing: if any new parameter or slot value would be NaN or inf, nothing is
        written and it returns False. After the step no slot holds a subnormal value
        (flushed to zero; the parameters are never flushed). A backend may keep private
        data about a state between steps (keyed by the state object, valid while
        ``state.step`` is what it left), never inside it.
        """

    # -- a whole training run -----------------------------------------------------------
    def train_epochs(self, net: Net, state: OptimizerState, X: np.ndarray,
                     targets: np.ndarray, orders: np.ndarray | None, n_epochs: int,
                     batch_size: int, weights: np.ndarray | None = None) -> EpochStats:
        """Minibatch training for ``n_epochs`` epochs, updating ``net`` and ``state`` in place.

        X (N, i) of net.dtype, or an integer or bool dtype (converted batch by batch);
        every batch is multiplied by ``net.input_scale`` as it is gathered; targets int64
        labels (N,) or (N, k) of net.dtype, as the loss ``net.loss`` takes them; weights
        float64 (N,) or None, gathered with the rows; orders int64 (n_epochs,
        N), each row the sample order of one epoch, or None for the natural order. Batches
        are consecutive slices of the order of ``batch_size`` rows, the last one possibly
        shorter. Stops before the update of the first batch whose loss or gradient is not
        finite (see :class:`EpochStats`). Step s of the call (0-based) uses the learning
        rate ``state.learning_rates(total steps)[s]``. The generic version
        (``kernels/loop.py``) is built from the ops above; a backend may override it, e.g.
        with one compiled call for small networks.
        """

    # -- a whole network's forward pass (prediction) --------------------------------------
    def network_forward(self, out: np.ndarray, x: np.ndarray, net: Net) -> int:
        """The logits out (n, k) of every row of x through every layer of ``net``, as in
        inference (no dropout); the count of rows of out holding a NaN or an infinity
        (finite inputs too large for the weights), or ``NONFINITE_INPUT`` (-1, out then
        undefined) if x holds a NaN or an infinity.

        x (n, i) of net.dtype, or an integer or bool dtype, times ``net.input_scale`` as
        ``loop.input_batch`` computes it (``dtype(x) * dtype(scale)``); out (n, k) of
        net.dtype. The finiteness checks are the op's so that a compiled backend reads x
        once and reports the outputs in the same call. Several threads may call it at once
        on one net (no buffer is shared between calls). The generic version
        (``kernels/loop.py``) runs :meth:`dense_forward` layer by layer over chunks of rows;
        a backend may override it, e.g. with one compiled call.
        """


class Ops:
    """A loaded backend: its own ops where it has them, the reference's elsewhere.

    ``name`` is the backend's; ``own`` lists the ops it implements itself.
    """

    def __init__(self, module, reference=None):
        self.name = module.name
        self.own = tuple(getattr(module, "OPS", ()))
        unknown = [op for op in self.own if op not in OPS]
        missing = [op for op in self.own if not callable(getattr(module, op, None))]
        if reference is None:  # the reference itself must define every op but the generic
            missing += [op for op in OPS if op not in GENERIC and op not in self.own]
        if unknown or missing:
            raise LookupError(
                f"backend {self.name!r} is incomplete: "
                + "; ".join(part for part in (
                    f"it lists op(s) the contract does not have: {', '.join(unknown)}"
                    if unknown else "",
                    f"it does not define: {', '.join(missing)}" if missing else "") if part))
        for op in OPS:
            if op in GENERIC:
                run = getattr(module, op) if op in self.own else GENERIC[op]
                setattr(self, op, functools.partial(run, self))
            else:
                setattr(self, op, getattr(module if op in self.own else reference, op))
        self.compiled_step = getattr(module, "compiled_step", _no_compiled_step)
        self.warm_up = getattr(module, "warm_up", _nothing_to_compile)
        self.first_run_notice = getattr(module, "first_run_notice", _no_notice)

    def __repr__(self):
        return f"<fastnn backend {self.name!r}: own ops {', '.join(self.own)}>"


def _no_compiled_step(net, state, X, targets, weights=None):
    """A backend without compiled steps trains everything with the generic loop."""
    return None


def _nothing_to_compile():
    return {"seconds": 0.0, "signatures": 0, "cache_hits": 0, "cache_misses": 0,
            "cache": "(none)"}


def _no_notice():
    return None
