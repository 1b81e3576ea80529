"""Models: ``Sequential`` (a stack of Dense layers and a loss) and ``MLP`` (its shorthand)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from . import _model_file, _validate as check
from .backend import get_backend
from .errors import ConfigError, NonFiniteError, NotFittedError, ShapeError, ValueRangeError
from .kernels import loop
from .kernels.contract import ACTIVATIONS, LOSSES
from .kernels.net import Net, count_params
from .layers import Dense

PREDICT_ROWS = 8192  # rows per forward pass in predict/evaluate: bounds their memory
MAX_PARAMS = 2**31 - 1  # flat buffers are indexed with int64, but 8 GiB of float32 is plenty


class Sequential:
    """Dense layers applied in order, trained on one loss.

    layers: Dense layers whose sizes chain; loss: ``softmax_cross_entropy`` (integer
    labels), ``sigmoid_bce`` (targets in [0, 1]) or ``mse``; the last layer's output is
    the logits (or the prediction, for mse). seed fixes initialisation and shuffling;
    dtype is float32 (default) or float64. ``input_scale`` multiplies every input as it
    enters the first layer (like a rescaling layer): with ``input_scale=1/255`` raw uint8
    images train directly, converted batch by batch, a quarter of the float32 memory.
    """

    def __init__(self, layers: Sequence[Dense], loss: str = "softmax_cross_entropy",
                 seed: int = 0, dtype="float32", input_scale: float = 1.0):
        layers = tuple(layers)
        if not layers or not all(isinstance(layer, Dense) for layer in layers):
            raise ConfigError("Sequential needs a non-empty list of fastnn.Dense layers")
        for l, (a, b) in enumerate(zip(layers[:-1], layers[1:])):
            if a.out_features != b.in_features:
                raise ShapeError(f"layer {l} gives {a.out_features} features but layer {l + 1} "
                                 f"takes {b.in_features}")
        self.loss = check.choice(loss, "loss", LOSSES)
        if loss == "softmax_cross_entropy" and layers[-1].out_features < 2:
            raise ValueRangeError("softmax_cross_entropy needs at least 2 outputs (classes); "
                                  "use loss='sigmoid_bce' for one output")
        self.layers = layers
        self.seed = check.seed(seed)
        self.dtype = check.float_dtype(dtype)
        init_seed, shuffle_seed = np.random.SeedSequence(self.seed).spawn(2)
        self.shuffle_rng = np.random.default_rng(shuffle_seed)
        sizes = [layers[0].in_features] + [layer.out_features for layer in layers]
        n_params = count_params(sizes)
        if n_params > MAX_PARAMS:
            raise ValueRangeError(f"layer sizes {sizes} need {n_params:,} parameters; fastnn "
                                  f"allows at most {MAX_PARAMS:,}")
        input_scale = check.real(input_scale, "input_scale", low=0, low_open=True)
        self.net = Net(sizes, [layer.activation for layer in layers], self.loss, self.dtype,
                       input_scale=input_scale)
        init_rng = np.random.default_rng(init_seed)
        for layer, W in zip(layers, self.net.W):
            layer.init_weights(W, init_rng)
        self.fitted = False
        self.history = None
        self.optimizer = None  # the last fit's optimizer, and the state it left:
        self.optimizer_state = None  # a later fit continues it (see fastnn.training)

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.net.sizes

    @property
    def input_scale(self) -> float:
        return self.net.input_scale

    @property
    def params(self) -> np.ndarray:
        """The flat parameter buffer (p,): every layer's W, then every layer's b."""
        return self.net.params

    def set_params(self, params) -> None:
        """Replace all parameters from a flat (p,) array; the model counts as fitted."""
        params = check.real_array(params, "params")
        if params.shape != self.net.params.shape:
            raise ShapeError(f"params must have shape {self.net.params.shape}, got {params.shape}")
        self.net.params[...] = check.converted(params, self.dtype, "params")
        self.fitted = True

    def fit(self, X, y, epochs: int = 10, batch_size: int | None = 32, optimizer=None,
            validation_data=None, validation_split=None, callbacks=(), shuffle: bool = True,
            verbose: int = 1):
        """Train in place and return a :class:`fastnn.History` (see ``fastnn.training.fit``);
        a later call continues this one (optimizer state and history). Inside
        ``with fastnn.mpi.DataParallel(comm):`` it trains data-parallel over comm's ranks."""
        from .mpi import active
        from .training import fit
        parallel = active()
        run = fit if parallel is None else parallel.fit
        return run(self, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   validation_data=validation_data, validation_split=validation_split,
                   callbacks=callbacks, shuffle=shuffle, verbose=verbose)

    def reset_optimizer(self) -> None:
        """Forget the optimizer and its state (velocities, moments, step count): the next
        ``fit`` starts them afresh. The parameters and the history are kept."""
        self.optimizer = self.optimizer_state = None

    def logits(self, X) -> np.ndarray:
        """The last layer's output (n, k) of the model's dtype."""
        return self._logits(X, stacklevel=3)

    def _logits(self, X, stacklevel: int) -> np.ndarray:
        self._require_fitted()
        X = self._inputs(X, stacklevel + 1)
        logits = np.empty((len(X), self.sizes[-1]), self.dtype)
        for start, stop, chunk in self._forward_chunks(X):
            logits[start:stop] = chunk
        return logits

    def predict(self, X) -> np.ndarray:
        """Class labels int64 (n,) for softmax_cross_entropy; 0/1 int64 (n,) or (n, k) for
        sigmoid_bce; the outputs (n,) or (n, k) for mse (a single output is flattened)."""
        logits = self._logits(X, stacklevel=3)
        if self.loss == "softmax_cross_entropy":
            return np.argmax(logits, axis=1)
        if self.loss == "sigmoid_bce":
            logits = (logits > 0).astype(np.int64)
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (n, k): softmax rows (softmax_cross_entropy) or sigmoids (sigmoid_bce)."""
        if self.loss == "mse":
            raise ConfigError("predict_proba needs a classification loss; this model uses mse")
        logits = self._logits(X, stacklevel=3)
        ops = get_backend()
        (ops.softmax if self.loss == "softmax_cross_entropy" else ops.sigmoid)(logits, logits)
        return logits

    def evaluate(self, X, y) -> dict[str, float]:
        """``{'loss', 'accuracy'}`` (classification) or ``{'loss', 'r2'}`` (mse) on (X, y)."""
        self._require_fitted()
        X = self._inputs(X, stacklevel=3)
        t = check.targets(y, len(X), self.loss, self.sizes[-1], self.dtype)
        ops = get_backend()
        loss_op = getattr(ops, self.loss)
        loss_sum, correct = 0.0, 0
        for start, stop, logits in self._forward_chunks(X, ops):
            loss_sum += loss_op(None, logits, t[start:stop]) * (stop - start)
            if self.loss != "mse":
                correct += ops.count_correct(logits, t[start:stop], self.loss)
        return {"loss": loss_sum / len(X), self.metric: float(self._metric(loss_sum, correct, t))}

    @property
    def metric(self) -> str:
        """``accuracy`` for classification losses, ``r2`` for mse."""
        return "r2" if self.loss == "mse" else "accuracy"

    def save(self, path, include_optimizer: bool = False) -> None:
        """Write the model to ``path`` atomically (see ``fastnn.save``); with
        ``include_optimizer`` a checkpoint that resumes training exactly."""
        _model_file.save(self, path, include_optimizer)

    def summary(self) -> str:
        """A table of the layers: in -> out features, activation, parameter count, total."""
        rows = [("layer", "in -> out", "activation", "parameters")]
        rows += [(f"{i} Dense", f"{l.in_features} -> {l.out_features}", l.activation,
                  f"{(l.in_features + 1) * l.out_features:,}")
                 for i, l in enumerate(self.layers)]
        widths = [max(len(row[c]) for row in rows) for c in range(4)]
        lines = ["  ".join(f"{cell:<{w}}" if c < 3 else f"{cell:>{w}}"
                           for c, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in rows]
        rule = "-" * len(max(lines, key=len))
        scale = f", input_scale {self.input_scale:g}" if self.input_scale != 1 else ""
        return "\n".join([lines[0], rule, *lines[1:], rule,
                          f"total {self.net.n_params:,} parameters ({self.dtype.name}); "
                          f"loss {self.loss}{scale}"])

    def _inputs(self, X, stacklevel: int) -> np.ndarray:
        """X validated for prediction; a UserWarning (pointing ``stacklevel`` frames up) if
        this model scales its inputs down but X looks scaled already (float, |X| <= 1)."""
        X = check.features(X, self.sizes[0], self.dtype, keep_integers=True)
        if self.input_scale < 1 and X.dtype.kind == "f" and max(X.max(), -X.min()) <= 1:
            warnings.warn(
                f"this model multiplies its inputs by input_scale={self.input_scale:.6g} "
                f"itself, so it expects raw values (e.g. 0-255 pixels: "
                f"load_mnist(dtype=np.uint8)), but every value of X lies in [-1, 1]: X looks "
                f"scaled already; pass the unscaled values (X / {self.input_scale:.6g})",
                UserWarning, stacklevel=stacklevel)
        return X

    def _metric(self, loss_sum, correct, t: np.ndarray):
        """Accuracy from correct counts, or R² = 1 - SSE/SST from summed mse losses.

        loss_sum: sum over rows of the mean loss (float or array of epochs); correct: the
        matching count(s) of correct predictions; t: the validated targets.
        """
        if self.loss == "mse":
            sst = float(np.sum((t - t.mean(axis=0, dtype=np.float64)) ** 2))
            return 1.0 - np.asarray(loss_sum) * t.shape[1] / sst if sst > 0 else np.nan * loss_sum
        per_row = 1 if self.loss == "softmax_cross_entropy" else self.sizes[-1]
        return correct / (len(t) * per_row)

    def _forward_chunks(self, X, ops=None):
        """Yield (start, stop, logits) over row chunks of a validated X; fresh buffers per
        call, so concurrent calls from several threads never share memory. NonFiniteError
        if some logits are not finite (finite inputs too large for the model overflow)."""
        ops = ops or get_backend()
        rows = min(PREDICT_ROWS, len(X))
        x = np.empty((rows, self.sizes[0]), self.dtype)
        outs = [np.empty((rows, o), self.dtype) for o in self.sizes[1:]]
        for start in range(0, len(X), rows):
            stop = min(start + rows, len(X))
            with np.errstate(over="ignore", invalid="ignore"):  # reported below instead
                inputs = loop.input_batch(x[:stop - start], X, slice(start, stop),
                                          self.input_scale)
                logits = loop.forward(ops, self.net, inputs, [out[:stop - start] for out in outs])
            finite = np.isfinite(logits).all(axis=1)
            if not finite.all():
                raise NonFiniteError(
                    f"the model's output overflows {self.dtype.name} for "
                    f"{np.count_nonzero(~finite)} of rows {start}..{stop - 1} (first: row "
                    f"{start + np.argmin(finite)}): the inputs are finite but too large for "
                    f"this model's weights")
            yield start, stop, logits

    def _require_fitted(self):
        if not self.fitted:
            raise NotFittedError("this model has not been fitted: call fit() first, or load a "
                                 "saved model with fastnn.load(path)")

    def __repr__(self):
        layers = ", ".join(f"Dense({l.in_features}, {l.out_features}, {l.activation!r})"
                           for l in self.layers)
        scale = f", input_scale={self.input_scale:g}" if self.input_scale != 1 else ""
        return f"Sequential([{layers}], loss={self.loss!r}, dtype={self.dtype.name}{scale})"


def MLP(sizes: Sequence[int], activation: str = "relu", loss: str = "softmax_cross_entropy",
        seed: int = 0, dtype="float32", output_activation: str = "identity",
        input_scale: float = 1.0) -> Sequential:
    """A Sequential of Dense layers ``sizes[0] -> ... -> sizes[-1]``.

    Hidden layers use ``activation``; the last uses ``output_activation`` (identity: the
    loss applies softmax or sigmoid itself). ``MLP([784, 10])`` is softmax regression.
    """
    if isinstance(sizes, (Sequence, np.ndarray)) and not isinstance(sizes, str):
        sizes = [s.item() if isinstance(s, np.generic) else s for s in sizes]
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueRangeError(f"sizes must list at least an input and an output size, got "
                              f"{sizes!r}")
    sizes = [check.positive_int(s, f"sizes[{i}]") for i, s in enumerate(sizes)]
    check.choice(activation, "activation", ACTIVATIONS)
    acts = [activation] * (len(sizes) - 2) + [output_activation]
    return Sequential([Dense(i, o, a) for i, o, a in zip(sizes[:-1], sizes[1:], acts)],
                      loss=loss, seed=seed, dtype=dtype, input_scale=input_scale)

