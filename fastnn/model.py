"""Models: ``Sequential`` (a stack of Dense and Dropout layers and a loss) and ``MLP``
(its shorthand)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from . import _model_file, _validate as check, _weights
from .activations import canonical
from .backend import get_backend
from .errors import (
    ConfigError,
    DTypeError,
    NonFiniteError,
    NotFittedError,
    ShapeError,
    ValueRangeError,
)
from .kernels import loop
from .kernels.net import Net, count_params
from .layers import Dense, Dropout
from .losses import canonical as canonical_loss, unit_of

PREDICT_ROWS = 8192  # rows per forward pass in predict/evaluate: bounds their memory
MAX_PARAMS = 2**31 - 1  # flat buffers are indexed with int64, but 8 GiB of float32 is plenty


class Sequential:
    """Layers applied in order, trained on one loss.

    layers: Dense layers whose sizes chain, with a Dropout before any of them (not after
    the last, nor two in a row); ``model.layers[i].W`` and ``.b`` of a Dense layer are
    views into the model's parameters. loss: a name, spec or object (``fastnn.losses``):
    ``softmax_cross_entropy`` (integer labels, or (n, k) target probabilities),
    ``sigmoid_bce`` (targets in [0, 1]), ``mse``, ``huber`` (``"huber(0.5)"`` or
    ``fnn.losses.Huber(delta=0.5)``), ``mae`` or ``poisson`` (targets >= 0; the network
    outputs log mu). The last layer's output is the logits (or the prediction, for mse,
    huber and mae). seed fixes initialisation and shuffling; dtype is float32 (default)
    or float64.

    The input map ``x' = (x - input_shift) * input_scale`` (in dtype) is applied to every
    input before the first layer, in ``fit``, ``predict``, ``evaluate``, a saved file and
    an ONNX export, so the model takes raw rows. Each of the two is a number or one per
    feature (i,): with per-feature statistics (``input_shift=mean``,
    ``input_scale=1/std``) the model standardises its inputs itself. A scalar
    ``input_scale`` alone (like a rescaling layer; ``1/255`` for raw uint8 images) is
    applied batch by batch as the batches are gathered, a quarter of float32's memory;
    any other map converts the training rows once.

    ``classes`` (k,) names the classes (strings or numbers): with them ``predict`` returns
    ``classes[label]`` and ``fit`` and ``evaluate`` take those names as y. k is the number
    of outputs for softmax_cross_entropy, 2 (negative, positive) for sigmoid_bce with one
    output.
    """

    def __init__(self, layers: Sequence[Dense | Dropout], loss="softmax_cross_entropy",
                 seed: int = 0, dtype="float32", input_scale=1.0, input_shift=0.0,
                 classes=None):
        given = tuple(layers)
        rates = _dropout_rates(given)
        layers = tuple(layer for layer in given if isinstance(layer, Dense))
        _refuse_subclasses(layers)
        for l, (a, b) in enumerate(zip(layers[:-1], layers[1:])):
            if a.out_features != b.in_features:
                raise ShapeError(f"Dense layer {l} gives {a.out_features} features but Dense "
                                 f"layer {l + 1} takes {b.in_features}")
        self.loss = canonical_loss(loss)
        self._unit, self._loss_param = unit_of(self.loss)
        if self._unit.HITS == "argmax" and layers[-1].out_features < 2:
            raise ValueRangeError("softmax_cross_entropy needs at least 2 outputs (classes); "
                                  "use loss='sigmoid_bce' for one output")
        self.seed = check.seed(seed)
        self.dtype = check.float_dtype(dtype)
        init_seed, shuffle_seed, dropout_seed = np.random.SeedSequence(self.seed).spawn(3)
        self.shuffle_rng = np.random.default_rng(shuffle_seed)
        sizes = [layers[0].in_features] + [layer.out_features for layer in layers]
        n_params = count_params(sizes)
        if n_params > MAX_PARAMS:
            raise ValueRangeError(f"layer sizes {sizes} need {n_params:,} parameters; fastnn "
                                  f"allows at most {MAX_PARAMS:,}")
        self._input_scale = _per_feature(input_scale, "input_scale", sizes[0], positive=True)
        self._input_shift = _per_feature(input_shift, "input_shift", sizes[0], positive=False)
        # a scalar scale alone is the kernels' own (batch by batch); any other map is numpy's
        self._numpy_map = np.ndim(self._input_scale) > 0 or np.any(self._input_shift != 0)
        self._classes = _class_names(classes, self.loss, sizes[-1])
        self.net = Net(sizes, [layer.activation for layer in layers], self.loss, self.dtype,
                       input_scale=1.0 if self._numpy_map else self._input_scale,
                       dropout=rates,
                       dropout_seed=int(dropout_seed.generate_state(1, np.uint64)[0]))
        init_rng = np.random.default_rng(init_seed)
        for layer, W in zip(layers, self.net.W):
            layer.init_weights(W, init_rng)
        views = iter(zip(self.net.W, self.net.b))
        self.layers = tuple(layer.bound(*next(views)) if isinstance(layer, Dense) else layer
                            for layer in given)
        self.fitted = False
        self.history = None
        self.optimizer = None  # the last fit's optimizer, and the state it left:
        self.optimizer_state = None  # a later fit continues it (see fastnn.training)

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.net.sizes

    @property
    def input_scale(self) -> float | np.ndarray:
        """The input map's scale: a float, or float64 (i,) per feature (read-only)."""
        return self._input_scale

    @property
    def input_shift(self) -> float | np.ndarray:
        """The input map's shift: a float, or float64 (i,) per feature (read-only)."""
        return self._input_shift

    @property
    def classes(self) -> np.ndarray | None:
        """The class names (k,) that ``predict`` returns (read-only), or None."""
        return self._classes

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
            verbose: int = 1, sample_weight=None, class_weight=None):
        """Train in place and return a :class:`fastnn.History` (see ``fastnn.training.fit``);
        a later call continues this one (optimizer state and history). Inside
        ``with fastnn.mpi.DataParallel(comm):`` it trains data-parallel over comm's ranks."""
        from .mpi import active
        from .training import fit
        parallel = active()
        run = fit if parallel is None else parallel.fit
        return run(self, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   validation_data=validation_data, validation_split=validation_split,
                   callbacks=callbacks, shuffle=shuffle, verbose=verbose,
                   sample_weight=sample_weight, class_weight=class_weight)

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
        sigmoid_bce; the predictions (n,) or (n, k) for the regression losses (a single
        output is flattened): the outputs for mse, huber and mae, exp of them (the mean)
        for poisson. With ``classes``, the class names ``classes[label]`` (n,) instead of
        the labels."""
        logits = self._logits(X, stacklevel=3)
        if self._unit.HITS == "argmax":
            labels = np.argmax(logits, axis=1)
            return labels if self._classes is None else self._classes[labels]
        if self._unit.HITS == "sign":
            logits = (logits > 0).astype(np.int64)
            if self._classes is not None:
                return self._classes[logits[:, 0]]
        else:
            self._unit.predict(logits, logits, self._loss_param)
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (n, k): softmax rows (softmax_cross_entropy), columns in the order
        of ``classes`` if the model has them; or sigmoids (sigmoid_bce)."""
        if self._unit.PREDICT not in ("softmax", "sigmoid"):
            raise ConfigError(f"predict_proba needs a classification loss; this model uses "
                              f"{self.loss}")
        logits = self._logits(X, stacklevel=3)
        ops = get_backend()
        (ops.softmax if self._unit.PREDICT == "softmax" else ops.sigmoid)(logits, logits)
        return logits

    def evaluate(self, X, y, sample_weight=None) -> dict[str, float]:
        """``{'loss', 'accuracy'}`` (classification) or ``{'loss', 'r2'}`` (regression) on
        (X, y); with ``sample_weight`` (n,) the loss is the weighted mean and the metric
        weighted as scikit-learn's ``accuracy_score`` and ``r2_score``."""
        self._require_fitted()
        X = self._inputs(X, stacklevel=3)
        t = check.targets(self._labels(y), len(X), self.loss, self.sizes[-1], self.dtype)
        return self._scores(X, t, _weights.sample_weights(sample_weight, len(X)))

    def _scores(self, X: np.ndarray, t: np.ndarray, w=None) -> dict[str, float]:
        """``evaluate`` on validated rows X (n, i), the loss's targets t and weights w (n,)
        float64 or None."""
        loss_sum, metric_sum = self._sums(X, t, w)
        weight = len(X) if w is None else float(np.sum(w))
        return {"loss": loss_sum / weight,
                self.metric: float(self._metric(metric_sum, t, w))}

    def _sums(self, X: np.ndarray, t: np.ndarray, w=None) -> tuple[float, float]:
        """(sum over row chunks of chunk loss * chunk weight, metric sum) on validated
        rows."""
        ops = get_backend()
        loss_sum, metric_sum = 0.0, 0.0
        for start, stop, logits in self._forward_chunks(X, ops):
            wc = None if w is None else w[start:stop]
            weight = stop - start if wc is None else float(np.sum(wc))
            if weight:
                loss_sum += ops.loss(None, logits, t[start:stop], self.loss, wc) * weight
            metric_sum += ops.metric_sum(logits, t[start:stop], self.loss, wc)
        return loss_sum, metric_sum

    @property
    def metric(self) -> str:
        """``accuracy`` for classification losses, ``r2`` for regression losses."""
        return self._unit.METRIC

    def save(self, path, include_optimizer: bool = False) -> None:
        """Write the model to ``path`` atomically (see ``fastnn.save``); with
        ``include_optimizer`` a checkpoint that resumes training exactly."""
        _model_file.save(self, path, include_optimizer)

    def summary(self) -> str:
        """A table of the layers: in -> out features, activation, parameter count, total."""
        rows = [("layer", "in -> out", "activation", "parameters")]
        for i, l in enumerate(self.layers):
            if isinstance(l, Dense):
                rows.append((f"{i} Dense", f"{l.in_features} -> {l.out_features}",
                             l.activation, f"{(l.in_features + 1) * l.out_features:,}"))
            else:
                rows.append((f"{i} Dropout", f"rate {l.rate:g}", "", "0"))
        widths = [max(len(row[c]) for row in rows) for c in range(4)]
        lines = ["  ".join(f"{cell:<{w}}" if c < 3 else f"{cell:>{w}}"
                           for c, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in rows]
        rule = "-" * len(max(lines, key=len))
        extras = "".join(f", {key} {value}" for key, value in self._described().items())
        return "\n".join([lines[0], rule, *lines[1:], rule,
                          f"total {self.net.n_params:,} parameters ({self.dtype.name}); "
                          f"loss {self.loss}{extras}"])

    def _described(self) -> dict[str, str]:
        """The input map and the classes, where they are not the defaults, for summary and
        repr: ``{"input_scale": "0.00392157", "classes": "['a', 'b']"}``."""
        shown = {"input_shift": self._input_shift, "input_scale": self._input_scale,
                 "classes": self._classes}
        defaults = {"input_shift": 0.0, "input_scale": 1.0, "classes": None}
        return {key: _shown(value) for key, value in shown.items()
                if value is not None and (np.ndim(value) > 0 or value != defaults[key])}

    def _labels(self, y, name: str = "y"):
        """y as the loss takes it: for a model with ``classes``, each class name's index
        int64 (n,) (ValueRangeError naming the first unknown one); else y unchanged."""
        if self._classes is None:
            return y
        y = np.asarray(y)
        y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
        names = self._classes
        if y.ndim != 1 or (y.dtype.kind == "U") != (names.dtype.kind == "U") or (
                y.dtype.kind not in "biufU"):
            raise ShapeError(f"{name} must be a 1-D array of this model's class names "
                             f"({_shown(names)}), got {y.dtype} of shape {y.shape}")
        order = np.argsort(names)
        index = order[np.minimum(np.searchsorted(names[order], y), len(names) - 1)]
        check.refuse(names[index] != y, y, name, f"must hold this model's class names "
                                                  f"({_shown(names)})")
        return index

    def _mapped(self, X: np.ndarray) -> np.ndarray:
        """Validated rows X (n, i) through the input map, as a new (n, i) array of the
        model's dtype; X itself when the kernels apply the map (a scalar scale alone)."""
        if not self._numpy_map:
            return X
        with np.errstate(over="ignore", invalid="ignore"):  # checked below
            out = X.astype(self.dtype)
            out -= np.asarray(self._input_shift, self.dtype)
            out *= np.asarray(self._input_scale, self.dtype)
        return check.real_array(out, "X through the model's input map (input_shift, "
                                     "input_scale)")

    def _inputs(self, X, stacklevel: int) -> np.ndarray:
        """X validated for prediction; a UserWarning (pointing ``stacklevel`` frames up) if
        this model scales its inputs down but X looks scaled already (float, |X| <= 1)."""
        X = check.features(X, self.sizes[0], self.dtype, keep_integers=True)
        if (not self._numpy_map and self.input_scale < 1 and X.dtype.kind == "f"
                and max(X.max(), -X.min()) <= 1):
            warnings.warn(
                f"this model multiplies its inputs by input_scale={self.input_scale:.6g} "
                f"itself, so it expects raw values (e.g. 0-255 pixels: "
                f"load_mnist(dtype=np.uint8)), but every value of X lies in [-1, 1]: X looks "
                f"scaled already; pass the unscaled values (X / {self.input_scale:.6g})",
                UserWarning, stacklevel=stacklevel)
        return X

    def _metric(self, metric_sum, t: np.ndarray, w=None):
        """Accuracy from (weighted) correct counts, or R² = 1 - SSE/SST from (weighted)
        sums of squared errors (``metric_sum``; a float or an array of epochs); t: the
        validated targets, w their weights (float64 (n,)) or None. Weighted as
        scikit-learn's ``accuracy_score`` and ``r2_score`` (SST about the weighted mean,
        summed over the outputs)."""
        weight = len(t) if w is None else float(np.sum(w))
        if self.metric == "r2":
            tf = np.asarray(t, np.float64)
            rows = np.ones(len(t)) if w is None else w
            mean = rows @ tf / weight
            sst = float(rows @ ((tf - mean) ** 2).sum(axis=1))
            return 1.0 - np.asarray(metric_sum) / sst if sst > 0 else np.nan * metric_sum
        per_row = 1 if self._unit.HITS == "argmax" else self.sizes[-1]
        return metric_sum / (weight * per_row)

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
                inputs = (self._mapped(X[start:stop]) if self._numpy_map else
                          loop.input_batch(x[:stop - start], X, slice(start, stop),
                                           self.net.input_scale))
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
                           if isinstance(l, Dense) else f"Dropout({l.rate:g})"
                           for l in self.layers)
        extras = "".join(f", {key}={value}" for key, value in self._described().items())
        return f"Sequential([{layers}], loss={self.loss!r}, dtype={self.dtype.name}{extras})"


def _dropout_rates(layers) -> list[float]:
    """The dropout rate on each Dense layer's input (0.0: none); ConfigError for anything
    but Dense and Dropout layers, no Dense at all, a Dropout last or two in a row."""
    if not layers or not all(isinstance(layer, (Dense, Dropout)) for layer in layers):
        raise ConfigError("Sequential needs a non-empty list of fastnn.Dense layers (and "
                          "fastnn.Dropout between them)")
    rates, pending = [], None
    for l, layer in enumerate(layers):
        if isinstance(layer, Dropout):
            if pending is not None:
                raise ConfigError(f"layers {l - 1} and {l} are both Dropout: use one, of rate "
                                  f"1 - (1 - a)(1 - b) for rates a and b")
            pending = layer.rate
        else:
            rates.append(pending or 0.0)
            pending = None
    if pending is not None:
        raise ConfigError("a Dropout layer must come before a Dense layer, not last: "
                          "dropping the model's outputs would drop its predictions")
    return rates


def _refuse_subclasses(layers) -> None:
    """ConfigError for a subclass of Dense: the backends run a layer from its sizes and
    activation alone, so a subclass's own code (a forward, say) would be silently ignored."""
    for l, layer in enumerate(layers):
        if type(layer) is not Dense:
            name = f"{type(layer).__module__}.{type(layer).__qualname__}"
            raise ConfigError(
                f"layer {l} is a {name}, a subclass of fastnn.Dense; fastnn cannot run it: "
                f"its kernels compute every layer as act(x @ W + b) from the sizes and the "
                f"activation alone and would never call the subclass's methods. Use "
                f"fastnn.Dense (set other initial weights with model.set_params)")


def MLP(sizes: Sequence[int], activation: str = "relu", loss="softmax_cross_entropy",
        seed: int = 0, dtype="float32", output_activation: str = "identity",
        input_scale=1.0, input_shift=0.0, classes=None, dropout: float = 0.0) -> Sequential:
    """A Sequential of Dense layers ``sizes[0] -> ... -> sizes[-1]``.

    Hidden layers use ``activation``; the last uses ``output_activation`` (identity: the
    loss applies softmax or sigmoid itself). ``MLP([784, 10])`` is softmax regression.
    ``dropout``: a Dropout of this rate after every hidden layer (0: none).
    ``input_scale``, ``input_shift`` and ``classes``: see :class:`Sequential`.
    """
    if isinstance(sizes, (Sequence, np.ndarray)) and not isinstance(sizes, str):
        sizes = [s.item() if isinstance(s, np.generic) else s for s in sizes]
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueRangeError(f"sizes must list at least an input and an output size, got "
                              f"{sizes!r}")
    sizes = [check.positive_int(s, f"sizes[{i}]") for i, s in enumerate(sizes)]
    activation = canonical(activation)
    acts = [activation] * (len(sizes) - 2) + [output_activation]
    check.real(dropout, "dropout", low=0, high=1, high_open=True)
    layers = []
    for l, (i, o, a) in enumerate(zip(sizes[:-1], sizes[1:], acts)):
        layers += [Dropout(dropout)] if dropout and l > 0 else []
        layers.append(Dense(i, o, a))
    return Sequential(layers, loss=loss, seed=seed, dtype=dtype, input_scale=input_scale,
                      input_shift=input_shift, classes=classes)


def _per_feature(value, name: str, n_features: int, positive: bool) -> float | np.ndarray:
    """A finite number (float), or one per feature: float64 (n_features,), read-only;
    all > 0 if ``positive``."""
    if np.ndim(value) == 0:
        value = value.item() if isinstance(value, np.ndarray) else value
        return check.real(value, name, low=0 if positive else -math.inf, low_open=positive)
    arr = check.real_array(value, name)
    if arr.shape != (n_features,):
        raise ShapeError(f"{name} must be a number or one per input feature ({n_features},), "
                         f"got shape {arr.shape}")
    check.refuse(arr <= 0 if positive else False, arr, name, "must be positive")
    arr = np.array(arr, np.float64)
    arr.flags.writeable = False
    return arr


def _class_names(classes, loss: str, n_outputs: int) -> np.ndarray | None:
    """``classes`` as a read-only (k,) array of str, int64 or float64, distinct; None
    stays None."""
    if classes is None:
        return None
    hits = unit_of(loss)[0].HITS
    k = n_outputs if hits == "argmax" else 2 if hits == "sign" and n_outputs == 1 else None
    if k is None:
        raise ConfigError(f"classes need loss softmax_cross_entropy, or sigmoid_bce with one "
                          f"output; this model has {loss} with {n_outputs} output(s)")
    arr = np.array(classes)
    if arr.dtype.kind in "biu":
        arr = check.integer_valued(arr, "classes")
    elif arr.dtype.kind == "f":
        arr = check.real_array(arr, "classes").astype(np.float64)
    elif arr.dtype.kind != "U":
        raise DTypeError(f"classes must be strings or numbers, got dtype {arr.dtype}")
    if arr.shape != (k,):
        raise ShapeError(f"classes must name {k} classes for {loss} with {n_outputs} "
                         f"output(s), got shape {arr.shape}")
    if len(np.unique(arr)) != k:
        raise ValueRangeError(f"classes must be distinct, got {_shown(arr)}")
    arr.flags.writeable = False
    return arr


def _shown(value) -> str:
    """A number as ``0.5``; an array as a list of its first few values."""
    if np.ndim(value) == 0:
        return f"{value:.6g}"
    items = [f"{v:.4g}" if isinstance(v, float) else repr(v) for v in value[:6].tolist()]
    return f"[{', '.join(items)}{', ...' if len(value) > 6 else ''}]"

