"""The state a backend trains: flat parameter and gradient buffers with named views.

All weights of a network live in one flat buffer, weights of every layer first and then
all biases, so an optimizer step is one pass over one buffer and L2 weight decay applies
to the prefix ``[:n_weights]``. Gradients and optimizer slots share the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .activations import resolve
from .dropout import step_key
from .losses import resolve as resolve_loss

KEPT_WORKSPACES = 2  # a backend may use two at once (e.g. a layout of its own beside these)


class Net:
    """A multi-layer perceptron's parameters, gradients and reusable batch workspaces.

    sizes: (i, h1, ..., k), one more than the number of layers; activations: one spec
    per layer (``kernels/activations``: a unit's name, with its parameter if not the
    default, e.g. ``"leaky_relu(0.2)"``); loss: a loss unit's spec (``kernels/losses``,
    e.g. ``"huber(0.5)"``); dtype:
    float32 or float64; input_scale: every input batch is multiplied by it (in dtype) as
    it is gathered; dropout: one rate in [0, 1) per layer, that of the dropout applied to
    the layer's input in training (0: none; ``kernels/dropout.py``), drawn from
    ``dropout_seed``.
    ``params`` and ``grads`` are flat (p,) buffers; ``W[l]`` (sizes[l], sizes[l+1]),
    ``b[l]`` (sizes[l+1],), ``dW[l]`` and ``db[l]`` are views into them.
    """

    def __init__(self, sizes, activations, loss, dtype=np.float32, params=None,
                 input_scale: float = 1.0, dropout=None, dropout_seed: int = 0):
        self.sizes = tuple(int(s) for s in sizes)
        self.input_scale = float(input_scale)
        self.activations = tuple(activations)
        for spec in self.activations:
            resolve(spec)  # ValueError naming a bad spec
        self.dropout = tuple(float(r) for r in dropout or (0.0,) * len(self.activations))
        if len(self.dropout) != len(self.activations) or not all(
                0.0 <= r < 1.0 for r in self.dropout):
            raise ValueError(f"dropout must be one rate in [0, 1) per layer, got {dropout!r}")
        self.dropout_seed = int(dropout_seed)
        resolve_loss(loss)  # ValueError naming a bad spec
        self.loss = loss
        self.dtype = np.dtype(dtype)
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.n_weights = sum(i * o for i, o in pairs)
        self.n_params = count_params(self.sizes)
        if params is None:
            params = np.zeros(self.n_params, dtype=self.dtype)
        self.params = params
        self.grads = np.zeros(self.n_params, dtype=self.dtype)
        self.W, self.b = _views(self.params, pairs, self.n_weights)
        self.dW, self.db = _views(self.grads, pairs, self.n_weights)
        self._workspaces: dict[tuple[int, bool], Workspace] = {}

    @property
    def n_layers(self) -> int:
        return len(self.activations)

    def dropout_key(self, step: int, layer: int):
        """The uint64 key of the mask on ``layer``'s input at 1-based optimizer ``step``."""
        return step_key(self.dropout_seed, step, layer)

    def workspace(self, batch_size: int, transposed: bool = False) -> Workspace:
        """Buffers for batches of up to ``batch_size`` rows, made once per size and layout;
        only the KEPT_WORKSPACES most recently asked for are kept, so training with ever
        new batch sizes (full batches of data of varying length) does not grow memory."""
        key = (batch_size, transposed)
        return self.cached(key) or self.keep(key, Workspace(self, batch_size, transposed))

    def cached(self, key):
        """What :meth:`keep` kept under ``key`` (a backend's buffers for this net), or None."""
        kept = self._workspaces.pop(key, None)
        if kept is not None:
            self._workspaces[key] = kept  # the most recent last
        return kept

    def keep(self, key, buffers):
        """Keep ``buffers`` under ``key``: only the KEPT_WORKSPACES most recently asked for
        are kept, so training with ever new batch sizes does not grow memory."""
        self._workspaces[key] = buffers
        for old in list(self._workspaces)[:-KEPT_WORKSPACES]:
            del self._workspaces[old]
        return buffers


def count_params(sizes) -> int:
    """Entries of the flat parameter buffer of an MLP with layer sizes (i, h1, ..., k)."""
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))


def _views(flat, pairs, n_weights):
    weights, biases = [], []
    w_at, b_at = 0, n_weights
    for i, o in pairs:
        weights.append(flat[w_at:w_at + i * o].reshape(i, o))
        biases.append(flat[b_at:b_at + o])
        w_at += i * o
        b_at += o
    return weights, biases


class Workspace:
    """Per-batch-size buffers: gathered inputs and targets, layer outputs and their grads.

    x (n, i); targets (n,) int64 or (n, k); out[l] and dout[l] (n, sizes[l+1]); z[l]
    (n, sizes[l+1]) the pre-activation of a layer whose activation needs it, else None;
    dropped[l] (n, sizes[l]) layer l's input after dropout, where it has a dropout, else None.
    Use ``[:m]`` row slices for a last, shorter batch. ``transposed`` workspaces (for
    kernels that vectorise over the batch) hold x (i, n), out[l], dout[l] (sizes[l+1], n)
    and targets (k, n).
    """

    def __init__(self, net: Net, n: int, transposed: bool = False):
        def shape(units):
            return (units, n) if transposed else (n, units)

        self.x = np.empty(shape(net.sizes[0]), dtype=net.dtype)
        self.dropped = [np.empty(shape(i), dtype=net.dtype) if rate else None
                        for i, rate in zip(net.sizes[:-1], net.dropout)]
        if resolve_loss(net.loss)[0].TARGETS == "labels":
            self.targets = np.empty(n, dtype=np.int64)
        else:
            self.targets = np.empty(shape(net.sizes[-1]), dtype=net.dtype)
        self.out = [np.empty(shape(o), dtype=net.dtype) for o in net.sizes[1:]]
        self.dout = [np.empty(shape(o), dtype=net.dtype) for o in net.sizes[1:]]
        self.z = [np.empty(shape(o), dtype=net.dtype) if resolve(spec)[0].USES == "z" else None
                  for o, spec in zip(net.sizes[1:], net.activations)]
        self._rows, self._inputs, self._stages = n, net.sizes[0], {}

    def stage(self, dtype) -> np.ndarray:
        """An (n, i) buffer of ``dtype`` for gathering inputs stored in another dtype."""
        dtype = np.dtype(dtype)
        if dtype not in self._stages:
            self._stages[dtype] = np.empty((self._rows, self._inputs), dtype)
        return self._stages[dtype]


@dataclass
class EpochStats:
    """What ``train_epochs`` reports, one entry per epoch run.

    loss_sum: float64 (E,), sum over batches of ``batch loss * batch weight`` (the sum of
    its sample weights; its rows without weights);
    correct: float64 (E,), the sum of the batches' ``metric_sum``: (weighted) correct
    predictions for an accuracy loss, (weighted) squared errors for an r2 loss;
    failed_epoch, failed_batch: where a non-finite loss or gradient stopped training
    (both -1 if none); the parameters are those before that batch's update, and the
    entries of that epoch and later ones are incomplete.
    """

    loss_sum: np.ndarray
    correct: np.ndarray
    failed_epoch: int = -1
    failed_batch: int = -1
    failed_what: str = field(default="")

    @classmethod
    def empty(cls, n_epochs: int) -> EpochStats:
        return cls(np.zeros(n_epochs, np.float64), np.zeros(n_epochs, np.float64))
