"""The kernel contract: the ops every fastnn backend implements.

The numpy backend (``fastnn.kernels.numpy_backend``) is the living definition of each op;
the numba backend must agree with it within the tolerances in ``kernels/tolerances.py``.
``fastnn`` (the model API) is the only caller.

Conventions, for every op:

- shapes: ``n`` rows in the batch, ``i`` input features, ``o`` output units, ``k`` outputs
  of the network (classes for softmax cross-entropy); ``p`` entries of a flat parameter buffer;
- dtypes: float arrays are all float32 or all float64, never mixed; outputs keep the input
  dtype; integer labels are int64. Scalars (learning rates, losses) are Python floats;
- arguments: outputs first, then inputs, then scalars (as in llm.c). Ops never allocate
  their outputs: the caller passes buffers (views are fine, any memory order for inputs,
  C-contiguous for outputs). Reductions of losses are accumulated in float64;
- activations are named ``identity``, ``relu``, ``tanh``, ``sigmoid``; the backward of an
  activation is taken from the layer's *output* y: relu' = [y > 0], tanh' = 1 - y^2,
  sigmoid' = y (1 - y).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .net import EpochStats, Net, OptimizerState

ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid")
LOSSES = ("softmax_cross_entropy", "sigmoid_bce", "mse")
OPS = (
    "dense_forward",
    "dense_backward",
    "softmax_cross_entropy",
    "sigmoid_bce",
    "mse",
    "count_correct",
    "softmax",
    "sigmoid",
    "sgd_step",
    "adam_step",
    "train_epochs",
)


class Backend(Protocol):
    """What a backend module provides. Each op is documented here once."""

    name: str

    # -- dense layer ------------------------------------------------------------------
    def dense_forward(self, out: np.ndarray, x: np.ndarray, W: np.ndarray, b: np.ndarray,
                      activation: str) -> None:
        """``out = act(x @ W + b)``.

        out (n, o) is overwritten and is also what :meth:`dense_backward` needs;
        x (n, i), W (i, o), b (o,).
        """

    def dense_backward(self, dW: np.ndarray, db: np.ndarray, dx: np.ndarray | None,
                       dout: np.ndarray, x: np.ndarray, W: np.ndarray, out: np.ndarray,
                       activation: str) -> None:
        """Gradients of a dense layer from the gradient of its output.

        dout (n, o) is overwritten with the gradient of the pre-activation
        ``dz = dout * act'(out)``; then ``dW (i, o) = x.T @ dz``, ``db (o,) = dz.sum(0)``
        and, unless ``dx`` is None (the first layer), ``dx (n, i) = dz @ W.T``.
        """

    # -- losses: mean loss and, unless the gradient buffer is None, its gradient ---------
    def softmax_cross_entropy(self, dlogits: np.ndarray | None, logits: np.ndarray,
                              labels: np.ndarray) -> float:
        """Mean over rows of ``-log softmax(logits)[label]``.

        logits (n, k), labels int64 (n,) in 0..k-1; dlogits (n, k) receives
        ``(softmax(logits) - onehot(labels)) / n``.
        """

    def sigmoid_bce(self, dlogits: np.ndarray | None, logits: np.ndarray,
                    targets: np.ndarray) -> float:
        """Mean over all n*k entries of binary cross-entropy of ``sigmoid(logits)``.

        logits, targets (n, k), targets in [0, 1]; dlogits (n, k) receives
        ``(sigmoid(logits) - targets) / (n*k)``. Stable for logits of any size.
        """

    def mse(self, dpred: np.ndarray | None, pred: np.ndarray, targets: np.ndarray) -> float:
        """Mean over all n*k entries of ``(pred - targets)**2``.

        pred, targets (n, k); dpred (n, k) receives ``2 (pred - targets) / (n*k)``.
        """

    def count_correct(self, logits: np.ndarray, targets: np.ndarray, loss: str) -> int:
        """Number of correct predictions for a classification loss.

        softmax_cross_entropy: rows whose argmax (first maximum) equals the int64 label;
        sigmoid_bce: entries where ``logits > 0`` agrees with ``targets >= 0.5``.
        """

    # -- output transforms (prediction) -------------------------------------------------
    def softmax(self, out: np.ndarray, logits: np.ndarray) -> None:
        """Row-wise softmax, max-shifted. out, logits (n, k)."""

    def sigmoid(self, out: np.ndarray, x: np.ndarray) -> None:
        """Elementwise logistic function, stable for any x. out, x (n, k)."""

    # -- optimizers: one pass over a flat parameter buffer ------------------------------
    def sgd_step(self, params: np.ndarray, velocity: np.ndarray, grads: np.ndarray,
                 lr: float, momentum: float, weight_decay: float, nesterov: bool,
                 n_decay: int, bounds: np.ndarray | None = None) -> bool:
        """SGD with momentum and L2 weight decay (PyTorch semantics), in place.

        params, velocity, grads (p,); the first ``n_decay`` entries (the weights) get
        ``g += weight_decay * param``; with momentum, ``v = momentum*v + g`` and the step
        is ``v`` (or ``g + momentum*v`` with Nesterov); without, the step is g and the
        velocity is not touched; ``param -= lr * step``. grads is scratch (may be
        overwritten). All or nothing: if any new parameter or velocity would be NaN or
        inf (a bad gradient, or an overflow), nothing is written and it returns False.
        bounds: None, or the float64 (3,) ``OptimizerState.bounds`` of the state being
        stepped: upper bounds of max |param| and max |slot| as the previous step left
        them (inf: unknown). A backend may use them to prove that no value can overflow
        and skip a check pass; after a step it must leave valid bounds (or inf).
        """

    def adam_step(self, params: np.ndarray, m: np.ndarray, v: np.ndarray, grads: np.ndarray,
                  step: int, lr: float, beta1: float, beta2: float, eps: float,
                  weight_decay: float, n_decay: int, bounds: np.ndarray | None = None
                  ) -> bool:
        """Adam with L2 weight decay added to the gradient (PyTorch ``Adam``), in place.

        params, m, v, grads (p,); ``step`` is the 1-based step number used for bias
        correction; coefficients such as ``1 - beta2`` are formed in float64 and then
        rounded to the dtype. All or nothing, and bounds (of params, m, v), as for sgd_step.
        """

    # -- a whole training run -----------------------------------------------------------
    def train_epochs(self, net: Net, opt: OptimizerState, X: np.ndarray, targets: np.ndarray,
                     orders: np.ndarray | None, n_epochs: int, batch_size: int) -> EpochStats:
        """Minibatch training for ``n_epochs`` epochs, updating ``net`` and ``opt`` in place.

        X (N, i) of net.dtype, or an integer or bool dtype (converted batch by batch);
        every batch is multiplied by ``net.input_scale`` as it is gathered; targets int64
        (N,) for softmax cross-entropy, else (N, k) of net.dtype; orders int64 (n_epochs,
        N), each row the sample order of one epoch, or None for the natural order. Batches
        are consecutive slices of the order of ``batch_size`` rows, the last one possibly
        shorter. Stops before the update of the first batch whose loss or gradient is not
        finite (see :class:`EpochStats`). The generic version (``kernels/loop.py``) is
        built from the ops above; a backend may override it, e.g. with one compiled call
        for small networks.
        """
