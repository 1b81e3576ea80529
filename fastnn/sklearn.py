"""scikit-learn estimators trained by fastnn: ``MLPClassifier`` and ``MLPRegressor``.

Changing ``from sklearn.neural_network import MLPClassifier`` to ``from fastnn.sklearn
import MLPClassifier`` keeps a user's code working: the constructor takes scikit-learn's
parameters with its defaults, the fitted attributes have its names and shapes, and the
training follows its rules, so the same ``random_state`` gives the same initial weights
(Glorot uniform, drawn in sklearn's order) and the same minibatch order. Two extras:
``backend`` (None: the fastnn backend in force where fit/predict run) and ``dtype``
(None: sklearn's rule, the input's float dtype; lbfgs ends in scipy's, float64).

How sklearn's hyper-parameters map onto fastnn's optimizers. sklearn's gradient of a
batch of B rows is ``(dL/dW + alpha * W) / B`` with its loss L summed over the rows;
fastnn's is ``c * dL/dW / B + weight_decay * W`` (PyTorch L2, weights only, no biases),
where c is the ratio of fastnn's loss to sklearn's: 1 for softmax cross-entropy, 1/k for
k logistic outputs (fastnn averages over the k outputs, sklearn sums them), 2/k for
squared error (fastnn's mse is mean((p - y)**2); sklearn's gradient is that of
sum((p - y)**2) / 2). Hence each step's ``weight_decay = c * alpha / B`` (a weight-decay
schedule over the epoch's steps: the last batch may be shorter), the SGD learning rate is
``learning_rate / c`` and Adam's is unchanged with ``eps = c * epsilon`` added where
sklearn adds it, to the uncorrected sqrt(v) (``Adam(eps_hat=True)``): every update is
then sklearn's. sklearn's velocity is in units of parameter change, fastnn's in units of
gradient: when 'invscaling' or 'adaptive' change the learning rate, fastnn's velocity is
rescaled by the old rate over the new, which keeps the two one. One known difference,
small: ``loss_`` and ``loss_curve_`` add sklearn's L2 term ``alpha/2 * ||W||^2 / B`` per
batch with the weights at the end of the epoch (sklearn uses each batch's weights).

``solver='lbfgs'`` is scipy's L-BFGS-B called exactly as sklearn calls it, over fastnn's
flat parameter buffer (sklearn's packing order: every layer's weights, then every
layer's biases), with sklearn's loss and gradient: fastnn's full-batch loss and gradient
(``kernels.loop.loss_and_gradient``) scaled to sklearn's conventions plus its L2 term.

Sparse input (CSR, CSC) is densified CHUNK_ROWS rows at a time, never whole: an epoch
trains chunk by chunk (each a whole number of batches, gathered in the epoch's order),
lbfgs sums the loss and gradient over chunks, prediction runs chunk by chunk. A dense
copy of MNIST would be 188 MB (float32); a chunk is 25 MB.

``sample_weight`` (fit, partial_fit) follows sklearn: each batch's loss is its rows'
weighted mean (fastnn's weighted losses), ``loss_`` the batches' losses averaged by
their rows (fastnn's epoch loss once each batch's weights are rescaled to sum to its
rows, which changes no batch's loss or gradient), early stopping's split and scores
weighted, and B above is the batch's weight (sklearn divides alpha's term by it). A
batch whose weights sum to zero (sklearn: a ZeroDivisionError) steps with a zero
gradient and no weight decay. Weights may be negative, as sklearn's: a batch of negative
weight has its weights rescaled by a negative factor (to sum to its rows, as above).

Not supported (refused with a message): ``momentum=1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from numbers import Integral, Real

import numpy as np

try:
    import scipy.optimize
    import scipy.sparse as sp
    from scipy.special import expit, softmax, xlogy
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d, shuffle as sk_shuffle
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.optimize import _check_optimize_result
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted
except ImportError:  # pragma: no cover - exercised in an environment without the extra
    raise ImportError("fastnn.sklearn needs the 'sklearn' extra: pip install "
                      "'fastnn[sklearn]'") from None

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6
    def validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

try:
    from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
except ImportError:  # scikit-learn < 1.7 passes iprint as it is
    def _get_additional_lbfgs_options_dict(key, value):
        return {key: value}

from . import training
from .backend import get_backend, use_backend
from .errors import NonFiniteError, TrainingDivergedError, TrainingDivergenceWarning
from .kernels import loop
from .kernels.contract import LOSSES
from .layers import Dense
from .model import Sequential
from .optimizers import SGD, Adam

__all__ = ["MLPClassifier", "MLPRegressor"]

ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
SOLVERS = ("lbfgs", "sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
FLOAT_DTYPES = (np.float64, np.float32)
SPARSE_FORMATS = ["csr", "csc"]
CHUNK_ROWS = 8192  # rows densified at a time from sparse input, and per lbfgs pass
NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain "
              "large values and need to be preprocessed.")


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


class _PickledModel:
    """A fitted fastnn model reduced to what rebuilds it: layers, loss, dtype, the flat
    parameters, and the optimizer with its state (so partial_fit continues after a pickle
    round trip, as sklearn's does); no workspaces or gradient buffers."""

    def __init__(self, model: Sequential):
        self.layers = tuple(model.layers)
        self.loss = model.loss
        self.seed = model.seed
        self.dtype = model.dtype.name
        self.input_scale = model.input_scale
        self.params = np.array(model.params, copy=True)
        self.optimizer = getattr(model, "optimizer", None)
        self.optimizer_state = getattr(model, "optimizer_state", None)

    def restore(self) -> Sequential:
        model = Sequential(list(self.layers), loss=self.loss, seed=self.seed,
                           dtype=self.dtype, input_scale=self.input_scale)
        model.set_params(self.params)
        if self.optimizer_state is not None:
            model.optimizer, model.optimizer_state = self.optimizer, self.optimizer_state
        return model


def _training_rows(X, dtype):
    """Validated training rows as the epochs take them: dense X C-contiguous in the
    network's dtype (no copy if it is already); sparse X as CSR (a copy only for CSC),
    densified chunk by chunk later."""
    if sp.issparse(X):
        return X.tocsr()
    return np.ascontiguousarray(X, dtype=dtype)


def _dense(rows, dtype):
    """Rows of X, dense and C-contiguous in ``dtype``: a view of dense rows already so,
    else a copy (sparse rows densified)."""
    if sp.issparse(rows):
        rows = rows.toarray()
    return np.ascontiguousarray(rows, dtype=dtype)


class _SklearnObjective:
    """sklearn's lbfgs objective at flat parameters x: (loss, gradient (p,) float64).
    fastnn computes the (weighted) mean loss and its gradient over the rows, CHUNK_ROWS
    at a time (``kernels.loop.loss_and_gradient``; one chunk, the full batch, up to
    CHUNK_ROWS rows), scaled to sklearn's conventions (loss times ``_loss_scale()`` plus
    ``_loss_offsets``' mean, gradient over ``_grad_scale()``), plus sklearn's L2 term
    ``alpha/2 ||W||^2 / s`` and its gradient ``alpha W / s`` on the weights, s the weight
    sum (n without weights). With ``follow``, the network computes in x's dtype, as
    sklearn's coefficients do once it unpacks x into them (``model`` is then the current
    one). Overflow gives inf or NaN silently, as sklearn's does; the line search steps
    back."""

    def __init__(self, estimator, model, X, y, weights, follow):
        self.estimator, self.model, self.X, self.y = estimator, model, X, y
        self.weights, self.follow = weights, follow
        self.targets = estimator._fastnn_targets(y, model.dtype)
        self.alpha = float(estimator.alpha)
        self.loss_scale = estimator._loss_scale()
        self.grad_scale = 1.0 / estimator._grad_scale()
        self.offset = _mean_offset(estimator._loss_offsets(y), weights)
        self.total = X.shape[0] if weights is None else float(weights.sum())
        self.ops = get_backend()
        self.chunks = []  # (rows, their share of the weight)
        for start in range(0, X.shape[0], CHUNK_ROWS):
            rows = slice(start, min(start + CHUNK_ROWS, X.shape[0]))
            pieces = ([(rows, rows.stop - rows.start)] if weights is None
                      else _weighted_pieces(rows, weights))
            self.chunks += [(piece, weight / self.total) for piece, weight in pieces]

    def in_dtype(self, dtype) -> Sequential:
        """The model, computing in ``dtype`` if following x's dtype (a new one when
        ``dtype`` is another than its own), else as it is."""
        if self.follow and np.dtype(dtype) != self.model.dtype:
            self.model = _widened(self.model, dtype)
            self.targets = self.estimator._fastnn_targets(self.y, self.model.dtype)
        return self.model

    def __call__(self, x):
        net, w = self.in_dtype(x.dtype).net, self.weights
        net.params[...] = x
        loss, grad = 0.0, np.zeros(net.n_params)
        with np.errstate(over="ignore", invalid="ignore"):
            for rows, share in self.chunks:
                loss += share * loop.loss_and_gradient(
                    self.ops, net, _dense(self.X[rows], net.dtype), self.targets[rows],
                    None if w is None else w[rows])
                grad += share * net.grads.astype(np.float64)
            W = x[:net.n_weights].astype(np.float64)
            loss = (self.loss_scale * loss + self.offset
                    + 0.5 * self.alpha * float(np.dot(W, W)) / self.total)
            grad *= self.grad_scale
            grad[:net.n_weights] += (self.alpha / self.total) * W
        return loss, grad


def _weighted_pieces(rows: slice, weights: np.ndarray) -> list[tuple[slice, float]]:
    """``rows`` as pieces of non-zero weight, each with its weight: fastnn's loss of a piece
    is its weighted mean, which a piece whose weights of both signs sum to zero has not;
    such a piece is halved until each part has (a part of zero weights only is left out:
    it adds nothing to the loss)."""
    weight = float(weights[rows].sum())
    if weight != 0:
        return [(rows, weight)]
    if not weights[rows].any():
        return []
    mid = (rows.start + rows.stop) // 2
    return (_weighted_pieces(slice(rows.start, mid), weights)
            + _weighted_pieces(slice(mid, rows.stop), weights))


def _step_decays(c_alpha: float, batch_weights: np.ndarray) -> np.ndarray:
    """float64 (batches,): each step's fastnn weight decay, ``c * alpha / s_b`` with s_b
    the batch's weight (see the module docstring; negative for a batch of negative
    weight, as sklearn divides by it); 0 for a batch of zero weight."""
    return np.divide(c_alpha, batch_weights, out=np.zeros(len(batch_weights)),
                     where=batch_weights != 0)


class _StepValues:
    """A weight-decay schedule for one fastnn fit: its 0-based step ``first + b`` takes
    ``values[b]``."""

    def __init__(self, first: int, values: np.ndarray):
        self.first, self.values = first, values

    def __call__(self, steps: np.ndarray) -> np.ndarray:
        return self.values[np.asarray(steps) - self.first]

    def __repr__(self):
        return f"per-step weight decays of steps {self.first}..{self.first + len(self.values) - 1}"


def _epoch_weights(weights, order, n, batch):
    """(the weights fastnn trains an epoch with, the factor of sklearn's L2 term in
    ``loss_``, each batch's weight s_b float64 (batches,)), the rows in ``order`` (None:
    as they are). sklearn's loss of a batch is its rows' weighted mean and its epoch loss
    the mean of the batches' losses weighted by their rows; fastnn's epoch loss weighs
    each batch by its weight. Rescaling each batch's weights to sum to its row count
    leaves every batch's loss and gradient as they were and makes the two epoch losses
    one. The L2 term ``alpha/2 ||W||^2 / s_b`` of each batch enters ``loss_`` as
    ``sum_b rows_b / s_b / n``. None: (None, batches / n, each batch's rows)."""
    starts = np.arange(0, n, batch)
    counts = np.diff(np.append(starts, n))
    if weights is None:
        return None, len(starts) / n, counts.astype(np.float64)
    rows = np.arange(n) if order is None else order
    in_order = weights[rows]
    sums = np.add.reduceat(in_order, starts)
    scale = np.divide(counts, sums, out=np.zeros(len(sums)), where=sums != 0)
    epoch = np.empty(n)
    epoch[rows] = in_order * np.repeat(scale, counts)
    return epoch, float(scale.sum()) / n, sums


def _mean_offset(offsets, weights) -> float:
    """The (weighted) mean of per-row loss offsets (n,), 0 for None."""
    if offsets is None:
        return 0.0
    if weights is None:
        return float(np.mean(offsets))
    return float(np.dot(weights, offsets) / weights.sum())


def _widened(model: Sequential, dtype) -> Sequential:
    """A copy of ``model`` computing in ``dtype``."""
    wide = Sequential(list(model.layers), loss=model.loss, seed=model.seed,
                      dtype=np.dtype(dtype).name)
    wide.set_params(model.params)
    return wide


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: parameters, the epoch loop, stopping."""

    # -- hyper-parameters ----------------------------------------------------------------
    def _check_params(self):
        """ValueError naming the first bad hyper-parameter (sklearn's ranges, fastnn's
        limits where they are narrower)."""
        name = type(self).__name__

        def bad(param, must):
            raise ValueError(f"The {param!r} parameter of {name} must be {must}. Got "
                             f"{getattr(self, param)!r} instead.")

        if self.solver not in SOLVERS:
            bad("solver", f"one of {list(SOLVERS)}")
        if self.activation not in ACTIVATIONS:
            bad("activation", f"one of {sorted(ACTIVATIONS)}")
        if self.learning_rate not in LEARNING_RATES:
            bad("learning_rate", f"one of {list(LEARNING_RATES)}")
        if not (self.batch_size == "auto" or (_is_int(self.batch_size) and self.batch_size >= 1)):
            bad("batch_size", "'auto' or an int >= 1")
        for param, low, high, closed in (
                ("alpha", 0, math.inf, "[)"), ("learning_rate_init", 0, math.inf, "()"),
                ("power_t", 0, math.inf, "[)"), ("tol", 0, math.inf, "[)"),
                ("momentum", 0, 1, "[)"), ("validation_fraction", 0, 1, "[)"),
                ("beta_1", 0, 1, "[)"), ("beta_2", 0, 1, "[)"), ("epsilon", 0, math.inf, "()")):
            value = getattr(self, param)
            ok = _is_real(value) and math.isfinite(value) and (
                (low <= value if closed[0] == "[" else low < value) and
                (value <= high if closed[1] == "]" else value < high))
            if not ok:
                extra = " (fastnn's SGD needs momentum < 1)" if param == "momentum" else ""
                bad(param, f"a float in the range {closed[0]}{low}, {high}{closed[1]}{extra}")
        for param in ("max_iter", "max_fun"):
            if not (_is_int(getattr(self, param)) and getattr(self, param) >= 1):
                bad(param, "an int >= 1")
        n = self.n_iter_no_change
        if not ((_is_int(n) and n >= 1) or (_is_real(n) and n == math.inf)):
            bad("n_iter_no_change", "an int >= 1 or numpy.inf")
        for param in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, param), (bool, np.bool_)):
                bad(param, "a bool")
        if self.dtype not in (None, "float32", "float64", np.float32, np.float64):
            bad("dtype", "None, 'float32' or 'float64'")
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if not all(_is_int(s) or isinstance(s, np.integer) for s in sizes):
            bad("hidden_layer_sizes", "an int or a sequence of ints")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _check_solver(self):
        """True for the minibatch solvers; sklearn's AttributeError for lbfgs (through
        ``available_if``, ``hasattr(est, "partial_fit")`` is False)."""
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _backend(self):
        """A context running the block on ``self.backend`` (None: leave it as it is)."""
        return contextlib.nullcontext() if self.backend is None else use_backend(self.backend)

    # -- fitting -------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train on X (n_samples, n_features), dense or sparse (CSR, CSC), and y: up to
        max_iter epochs (sgd, adam) or L-BFGS iterations (lbfgs); return self.
        sample_weight (n_samples,): each row's weight in the loss, as sklearn's (each
        batch's loss is its rows' weighted mean; alpha's term is divided by the weight
        sum instead of the row count); None weighs every row 1."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental):
        hidden = self._check_params()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = np.asarray(_check_sample_weight(sample_weight, X), np.float64)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        layer_units = [X.shape[1], *hidden, y.shape[1]]
        random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, random_state, X.dtype)
        elif list(self.fastnn_model_.sizes) != layer_units:
            raise ValueError(f"the network has layer sizes {list(self.fastnn_model_.sizes)} "
                             f"but this call needs {layer_units} (hidden_layer_sizes or the "
                             f"number of outputs changed): fit from scratch with "
                             f"warm_start=False")
        X = _training_rows(X, self.fastnn_model_.dtype)
        with self._backend():
            if self.solver == "lbfgs":
                self._fit_lbfgs(X, y, sample_weight)
            else:
                self._fit_stochastic(X, y, sample_weight, random_state, incremental)
        self._sync_params()
        return self

    def _train_dtype(self, input_dtype) -> np.dtype:
        """The network's dtype: ``dtype`` if given, else sklearn's, the input's (lbfgs
        may then move to scipy's dtype, see ``_fit_lbfgs``)."""
        return np.dtype(input_dtype if self.dtype is None else self.dtype)

    def _initialize(self, y, layer_units, random_state, input_dtype):
        """A fresh fastnn model with sklearn's initial weights (drawn in float64, rounded
        to the input's dtype, as sklearn's), and the fitted attributes sklearn sets before
        the first epoch (the stopping state only for sgd and adam, as sklearn)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        act = ACTIVATIONS[self.activation]
        acts = [act] * (len(layer_units) - 2) + ["identity"]
        model = Sequential([Dense(i, o, a) for i, o, a in
                            zip(layer_units[:-1], layer_units[1:], acts)],
                           loss=self._fastnn_loss(), seed=0,
                           dtype=self._train_dtype(input_dtype).name)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for W, b in zip(model.net.W, model.net.b):  # sklearn's _init_coef, in its order
            bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
            W[...] = random_state.uniform(-bound, bound, W.shape).astype(input_dtype)
            b[...] = random_state.uniform(-bound, bound, b.shape).astype(input_dtype)
        model.fitted = True
        self.fastnn_model_ = model
        self._best_params = model.params.copy()
        self._learning_rate = float(self.learning_rate_init)
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None
        self._sync_params()

    def _fit_lbfgs(self, X, y, sample_weight):
        """sklearn's ``_fit_lbfgs``: ``scipy.optimize.minimize(method="L-BFGS-B")`` with its
        options over the flat parameters, fastnn computing the loss and gradient. The
        start is the parameters in the network's dtype, as sklearn packs its
        coefficients; sklearn's coefficients then take the dtype of the parameters scipy
        hands back (SciPy >= 1.15 evaluates float32 starts in float32 and returns
        float64), and so does the network, unless ``dtype`` pins it."""
        if self.verbose is True or self.verbose >= 1:
            iprint = 1
        else:
            iprint = -1
        objective = _SklearnObjective(self, self.fastnn_model_, X, y, sample_weight,
                                      follow=self.dtype is None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a trial step
            result = scipy.optimize.minimize(
                objective, self.fastnn_model_.params.copy(), method="L-BFGS-B", jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol,
                         **_get_additional_lbfgs_options_dict("iprint", iprint)})
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = result.fun
        if not np.isfinite(result.x).all():
            raise ValueError(NON_FINITE)
        self.fastnn_model_ = objective.in_dtype(result.x.dtype)
        self.fastnn_model_.net.params[...] = result.x

    def _fit_stochastic(self, X, y, sample_weight, random_state, incremental):
        """sklearn's ``_fit_stochastic``: each epoch is one fastnn ``fit(epochs=1)`` call on
        the rows in sklearn's shuffled order; stopping, learning-rate schedules, early
        stopping and the ConvergenceWarning as sklearn does them."""
        model = self.fastnn_model_
        if not incremental:  # sklearn makes a new optimizer on every fit, warm or not
            self._learning_rate = float(self.learning_rate_init)
            reset = getattr(model, "reset_optimizer", None)
            if reset is not None:
                reset()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        X_val = y_val = w_val = None
        if self.early_stopping:
            stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None
            arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
            X, X_val, y, y_val, *weights = train_test_split(
                *arrays, random_state=random_state, test_size=self.validation_fraction,
                stratify=stratify)
            if weights:
                sample_weight, w_val = weights
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It "
                              "is going to be clipped", stacklevel=4)
            batch = int(np.clip(self.batch_size, 1, n))
        targets = self._fastnn_targets(y, model.dtype)
        offsets = self._loss_offsets(y)
        sample_idx = np.arange(n)
        loss_scale = self._loss_scale()
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:  # the rows in sklearn's order, gathered batch by batch
                    sample_idx = sk_shuffle(sample_idx, random_state=random_state)
                order = sample_idx if self.shuffle else None
                weights, per_batch, sums = _epoch_weights(sample_weight, order, n, batch)
                loss = self._fit_epoch(model, X, targets, weights, batch, order,
                                       _step_decays(self._grad_scale() * self.alpha, sums))
                with np.errstate(over="ignore"):  # a diverging run fails in the next epoch
                    penalty = sum(float(np.dot(W.ravel(), W.ravel())) for W in model.net.W)
                self.n_iter_ += 1
                self.loss_ = (loss * loss_scale + 0.5 * self.alpha * penalty * per_batch
                              + _mean_offset(offsets, weights))
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._update_no_improvement_count(X_val, y_val, w_val)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._set_learning_rate(self.learning_rate_init
                                            / (self.t_ + 1) ** self.power_t)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = ("Validation score" if self.early_stopping else "Training loss")
                    msg = (f"{what} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                    if not self._lower_learning_rate(msg):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations "
                                  f"({self.max_iter}) reached and the optimization hasn't "
                                  f"converged yet.", ConvergenceWarning, stacklevel=4)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        if self.early_stopping:
            model.set_params(self._best_params)

    def _fit_epoch(self, model, X, targets, weights, batch, order, decays) -> float:
        """One epoch over the rows in ``order`` (None: as they are); returns its mean
        fastnn loss (``weights``: the epoch's, see :func:`_epoch_weights`, or None;
        ``decays`` (batches,) each step's weight decay, see :func:`_step_decays`). Dense
        X trains in one fastnn call that gathers each batch itself (X is never copied
        into the order); sparse X chunk by chunk, each a whole number of batches
        densified in the epoch's order."""
        if not sp.issparse(X):
            return self._fit_rows(model, X, targets, weights, batch, order, decays)
        n = X.shape[0]
        rows = batch * max(1, CHUNK_ROWS // batch)
        loss_sum = 0.0
        for start in range(0, n, rows):
            take = (np.arange(start, min(start + rows, n)) if order is None
                    else order[start:start + rows])
            w = None if weights is None else weights[take]
            share = len(take) if w is None else float(w.sum())
            if share > 0:  # a chunk of zero weights only (sklearn: 0/0) is skipped
                steps = slice(start // batch, -(-(start + len(take)) // batch))
                loss_sum += share * self._fit_rows(model, _dense(X[take], model.dtype),
                                                   targets[take], w, batch, None,
                                                   decays[steps])
        return loss_sum / (n if weights is None else float(weights.sum()))

    def _fit_rows(self, model, X, targets, weights, batch, order, decays) -> float:
        """One fastnn epoch over dense X (rows in ``order``, None: as they are), step b
        with weight decay ``decays[b]``; its mean loss (weighted by ``weights``, or
        None). ValueError, as sklearn's, if the weights stop being finite. fastnn's
        warning of a finite explosion is left out: sklearn's estimators only fail on
        non-finite weights, and one clear error is enough."""
        weighted = {} if weights is None else {"sample_weight": weights}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TrainingDivergenceWarning)
                history = training.fit(model, X, targets, epochs=1, batch_size=batch,
                                       optimizer=self._optimizer(model, decays),
                                       shuffle=False,
                                       verbose=0, order=order, **weighted)
        except TrainingDivergedError:
            raise ValueError(NON_FINITE) from None
        return float(history["loss"][-1])

    def _optimizer(self, model, decays):
        """The fastnn optimizer whose updates are sklearn's (see the module docstring) for
        the next ``len(decays)`` steps of ``model``, step b with weight decay decays[b]."""
        c = self._grad_scale()
        if self.solver == "sgd":
            momentum = float(self.momentum)
            rule, hyper = SGD, {"lr": self._learning_rate / c, "momentum": momentum,
                                "nesterov": bool(self.nesterovs_momentum) and momentum > 0}
        else:
            rule, hyper = Adam, {"lr": float(self.learning_rate_init), "eps": c * self.epsilon,
                                 "beta1": float(self.beta_1), "beta2": float(self.beta_2),
                                 "eps_hat": True}
        if not self.alpha:
            return rule(weight_decay=0.0, **hyper)
        state = model.optimizer_state  # continued by fit if it is of this rule
        first = state.step if state is not None and state.rule == rule.rule else 0
        return rule(weight_decay=_StepValues(first, decays), **hyper)

    def _set_learning_rate(self, rate: float) -> None:
        """SGD's new learning rate, the velocity rescaled to stay sklearn's: sklearn's is
        in units of parameter change (v = mu v - lr g, a step of v), fastnn's in units of
        gradient (b = mu b + g, a step of -lr b), so v = -lr b holds across a change of
        the rate only if b is multiplied by old / new (Nesterov's step too)."""
        old, self._learning_rate = self._learning_rate, rate
        state = self.fastnn_model_.optimizer_state
        if state is None or state.rule != "sgd" or not state.hyper["momentum"] or rate == old:
            return
        slots = np.stack(state.slots) * state.slots[0].dtype.type(old / rate)
        # a new state object: what a backend keeps of the old one's slots holds not for these
        self.fastnn_model_.optimizer_state = dataclasses.replace(state, slots=tuple(slots))

    def _lower_learning_rate(self, msg) -> bool:
        """sklearn's ``trigger_stopping``: False to stop; True after dividing the rate by 5
        ('adaptive' sgd, while it is above 1e-6)."""
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return False
        if self._learning_rate <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return False
        self._set_learning_rate(self._learning_rate / 5.0)
        if self.verbose:
            print(f"{msg} Setting learning rate to {self._learning_rate:f}")
        return True

    def _update_no_improvement_count(self, X_val, y_val, w_val):
        if self.early_stopping:
            score = self._validation_score(X_val, y_val, w_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.fastnn_model_.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _validation_score(self, X_val, y_val, w_val) -> float:
        """sklearn's ``_score_with_function``: the score of the validation rows (weighted
        by w_val, or None), NaN if a prediction is not finite."""
        try:
            y_pred = self._predict_validated(X_val)
        except NonFiniteError:
            return np.nan
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return float(self._score_function(y_val, y_pred, sample_weight=w_val))

    def _loss_offsets(self, y):
        """Per row, what sklearn's loss adds to fastnn's scaled one (n,) float64, or None
        (the Poisson deviance's ``sum_k xlogy(y, y) - y``)."""
        return None

    def _sync_params(self):
        """coefs_ and intercepts_ as copies of the fastnn model's parameters."""
        net = self.fastnn_model_.net
        self.coefs_ = [W.copy() for W in net.W]
        self.intercepts_ = [b.copy() for b in net.b]

    # -- prediction ----------------------------------------------------------------------
    def _logits(self, X, validate=True):
        """The network's last-layer output (n, n_outputs_), before the output activation,
        in sklearn's dtype: the wider of X's and the coefficients' (float32 when both
        are; float64 rows through float32 coefficients compute in float64). Sparse X is
        densified CHUNK_ROWS rows at a time."""
        check_is_fitted(self)
        if validate:
            X = validate_data(self, X, accept_sparse=SPARSE_FORMATS, reset=False)
        model = self.fastnn_model_
        dtype = np.result_type(X.dtype, model.dtype)
        if dtype != model.dtype:
            model = _widened(model, dtype)
        with self._backend():
            if not sp.issparse(X):
                return model.logits(X)
            X = X.tocsr()
            out = np.empty((X.shape[0], model.sizes[-1]), model.dtype)
            for start in range(0, X.shape[0], CHUNK_ROWS):
                out[start:start + CHUNK_ROWS] = model.logits(
                    X[start:start + CHUNK_ROWS].toarray())
            return out

    # -- pickling: the fastnn model goes as its layers and flat parameters ---------------
    def __getstate__(self):
        state = super().__getstate__()
        if isinstance(state.get("fastnn_model_"), Sequential):
            state = dict(state, fastnn_model_=_PickledModel(state["fastnn_model_"]))
        return state

    def __setstate__(self, state):
        if isinstance(state.get("fastnn_model_"), _PickledModel):
            state = dict(state, fastnn_model_=state["fastnn_model_"].restore())
        super().__setstate__(state)


_PARAMS_DOC = """
    Parameters are scikit-learn's (see ``sklearn.neural_network.{name}``), with the same
    defaults. fastnn's own:

    backend : None, 'numpy', 'numba' or 'check', default=None
        The fastnn backend to train and predict on; None uses the one in force where
        fit and predict run (``fastnn.set_backend`` / ``FASTNN_BACKEND``; in a joblib or
        dask worker process that is the worker's default, so pass it to pin it).
    dtype : None, 'float32' or 'float64', default=None
        The dtype of the network's parameters and of the computation; None is
        sklearn's: the input's float dtype (float32 rows train in float32); lbfgs then
        takes the dtype of scipy's result for the fitted coefficients (float64), as
        sklearn's. Predictions come in the wider of the input's dtype and the
        coefficients', as sklearn's.

    Fitted attributes are sklearn's (coefs_ and intercepts_ are copies: editing them
    does not change the model), plus ``fastnn_model_``, the trained fastnn model.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, scikit-learn's API, trained by fastnn.

    Binary targets train one logistic output (fastnn's sigmoid_bce), multiclass a softmax
    (softmax_cross_entropy), multilabel indicator matrices k logistic outputs.
    """
    __doc__ += _PARAMS_DOC.format(name="MLPClassifier")

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 backend=None, dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.dtype = dtype

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=SPARSE_FORMATS, multi_output=True,
                             dtype=FLOAT_DTYPES, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same "
                                     f"classes as in the previous call to fit. Previously "
                                     f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing the optimizer; ``classes`` (every label of
        the whole data) is required on the first call, as in sklearn."""
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel")
                                      else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                             f"partial_fit, was: {self.classes_!r}")
        return self._fit(X, y, sample_weight, incremental=True)

    def _fastnn_loss(self):
        return "softmax_cross_entropy" if self.out_activation_ == "softmax" else "sigmoid_bce"

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _fastnn_targets(self, y, dtype):
        if self.out_activation_ == "softmax":
            return np.argmax(y, axis=1).astype(np.int64)
        return np.ascontiguousarray(y, dtype=dtype)

    def _grad_scale(self):
        return 1.0 if self.out_activation_ == "softmax" else 1.0 / self.n_outputs_

    def _loss_scale(self):
        return 1.0 if self.out_activation_ == "softmax" else float(self.n_outputs_)

    def _score_function(self, y_true, y_pred, sample_weight=None):
        return accuracy_score(y_true, y_pred, sample_weight=sample_weight)

    def _proba(self, logits):
        if self.out_activation_ == "softmax":
            return softmax(logits, axis=1)
        return expit(logits)

    def _predict_validated(self, X):
        proba = self._proba(self._logits(X, validate=False))
        return self._label_binarizer.inverse_transform(
            proba.ravel() if self.n_outputs_ == 1 else proba)

    def predict(self, X):
        """Class labels (n,), or the indicator matrix (n, k) for multilabel targets."""
        proba = self._proba(self._logits(X))
        return self._label_binarizer.inverse_transform(
            proba.ravel() if self.n_outputs_ == 1 else proba)

    def predict_proba(self, X):
        """(n, n_classes), columns in the order of ``classes_``; dtype as ``predict``'s
        computation (see ``dtype``)."""
        proba = self._proba(self._logits(X))
        if self.n_outputs_ == 1:
            return np.hstack([1 - proba, proba])
        return proba

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multilabel": True}


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, scikit-learn's API, trained by fastnn.

    ``loss`` is sklearn's first parameter since 1.7: 'squared_error' trains fastnn's mse,
    'poisson' its poisson loss (log link: the network's output is log mu, predictions
    are exp of it; targets >= 0).
    """
    __doc__ += _PARAMS_DOC.format(name="MLPRegressor")

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 backend=None, dtype=None):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.dtype = dtype

    def _check_params(self):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"The 'loss' parameter of MLPRegressor must be a str among "
                             f"{{'poisson', 'squared_error'}}. Got {self.loss!r} instead.")
        if self.loss == "poisson" and "poisson" not in LOSSES:
            raise ValueError("MLPRegressor(loss='poisson') needs fastnn's poisson loss, "
                             "which this fastnn does not have: use loss='squared_error'")
        return super()._check_params()

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=SPARSE_FORMATS, multi_output=True,
                             y_numeric=True, dtype=FLOAT_DTYPES, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the optimizer; sample_weight: see ``fit``.
        Available for lbfgs too, as sklearn's MLPRegressor.partial_fit is (there it runs
        an lbfgs fit from the current weights); MLPClassifier refuses it, as sklearn's."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _fastnn_loss(self):
        return "poisson" if self.loss == "poisson" else "mse"

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _fastnn_targets(self, y, dtype):
        return np.ascontiguousarray(y, dtype=dtype)

    def _grad_scale(self):  # poisson: fastnn averages the k outputs, sklearn sums them
        return (1.0 if self.loss == "poisson" else 2.0) / self.n_outputs_

    def _loss_scale(self):  # sklearn's half squared error, its Poisson summed over outputs
        return float(self.n_outputs_) if self.loss == "poisson" else 0.5

    def _loss_offsets(self, y):
        """sklearn's half Poisson deviance ``xlogy(y, y / mu) - y + mu`` is fastnn's
        ``mu - y log mu`` plus ``xlogy(y, y) - y``, summed over the outputs."""
        if self.loss != "poisson":
            return None
        y = np.asarray(y, np.float64).reshape(len(y), -1)
        return (xlogy(y, y) - y).sum(axis=1)

    def _outputs(self, z):
        """Predictions from the network's output: exp for poisson (in place)."""
        return np.exp(z, out=z) if self.loss == "poisson" else z

    def _score_function(self, y_true, y_pred, sample_weight=None):
        return r2_score(y_true, y_pred, sample_weight=sample_weight)

    def _predict_validated(self, X):
        out = self._outputs(self._logits(X, validate=False))
        return out.ravel() if out.shape[1] == 1 else out

    def predict(self, X):
        """Predictions (n,) for one target, (n, n_outputs) for several; float32 only when
        both X and the coefficients are."""
        out = self._outputs(self._logits(X))
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}

