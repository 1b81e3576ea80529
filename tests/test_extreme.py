"""Numerically extreme but valid input trains normally; real divergence stops cleanly.

Valid extremes (logits of ±1e4, inputs scaled by 1e3, a batch of one sample, classes
absent from a batch) must give finite losses and gradients, and where a closed form
exists, the right numbers: a hand-written float64 reference trainer for linear softmax
models checks every update. A non-finite loss or gradient must raise
TrainingDivergedError naming the epoch and batch and suggesting a lower learning rate,
and leave the model with the last finite parameters, i.e. exactly those of a run that
stopped one epoch earlier.
"""

import warnings

import numpy as np
import pytest

import fastnn as fnn
from fastnn.backend import get_backend

TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def reference_logsumexp_loss(logits, labels):
    """Mean softmax cross-entropy in float64, max-shifted (the textbook stable form)."""
    z = np.asarray(logits, np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(z)), labels]))


def huge_logit_model(dtype, loss="softmax_cross_entropy", scale=1e4):
    """A 2-input linear model whose logits for X_HUGE are ±scale."""
    k = 3 if loss == "softmax_cross_entropy" else 1
    model = fnn.MLP([2, k], loss=loss, dtype=dtype)
    W = np.zeros((2, k))
    W[0, 0] = scale
    if k == 3:
        W[0, 1] = -scale
    model.set_params(np.concatenate([W.ravel(), np.zeros(k)]))
    return model


X_HUGE = np.array([[1.0, 0.0], [-1.0, 0.0], [0.5, 0.3], [1.0, 1.0]])
LABELS_HUGE = np.array([1, 0, 2, 0])  # the first two rows are confidently wrong


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_with_logits_of_1e4(backend, dtype):
    model = huge_logit_model(dtype)
    logits = model.logits(X_HUGE)
    assert np.abs(logits).max() == 1e4
    ops = get_backend()
    dlogits = np.full_like(logits, np.nan)
    loss = ops.loss(dlogits, logits, LABELS_HUGE, "softmax_cross_entropy")
    assert np.isfinite(loss) and np.isfinite(dlogits).all()
    np.testing.assert_allclose(loss, reference_logsumexp_loss(logits, LABELS_HUGE), rtol=1e-6)
    p = np.exp(logits - logits.max(1, keepdims=True).astype(np.float64))
    expected = (p / p.sum(1, keepdims=True) - np.eye(3)[LABELS_HUGE]) / len(logits)
    np.testing.assert_allclose(dlogits, expected, atol=1e-6)

    proba = model.predict_proba(X_HUGE)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    scores = model.evaluate(X_HUGE, LABELS_HUGE)
    np.testing.assert_allclose(scores["loss"], reference_logsumexp_loss(logits, LABELS_HUGE),
                               rtol=1e-6)

    model.fit(X_HUGE, LABELS_HUGE, epochs=2, batch_size=2, optimizer=fnn.SGD(lr=1e-6),
              verbose=0)
    assert np.isfinite(model.params).all() and np.isfinite(model.history["loss"]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_bce_with_logits_of_1e4(backend, dtype):
    model = huge_logit_model(dtype, loss="sigmoid_bce")
    logits = model.logits(X_HUGE)
    targets = np.array([[0.0], [1.0], [1.0], [0.0]])  # rows 0, 1 and 3 confidently wrong
    ops = get_backend()
    dlogits = np.full_like(logits, np.nan)
    loss = ops.loss(dlogits, logits, targets.astype(dtype), "sigmoid_bce")
    z = logits.astype(np.float64)
    expected = np.mean(np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z))))
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    assert np.isfinite(dlogits).all() and np.abs(dlogits).max() <= 1 / len(z)
    proba = model.predict_proba(X_HUGE)
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    model.fit(X_HUGE, targets, epochs=2, optimizer=fnn.SGD(lr=1e-6), verbose=0)
    assert np.isfinite(model.params).all() and np.isfinite(model.history["loss"]).all()


def separable(n=200, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 1, [2.0, 0.0], [-2.0, 0.0])
    return X * scale, y


def test_inputs_scaled_by_1e3_train(backend):
    X, y = separable(scale=1e3)
    model = fnn.MLP([2, 16, 2], seed=0)
    history = model.fit(X, y, epochs=20, batch_size=32, optimizer=fnn.Adam(lr=1e-3),
                        verbose=0)
    losses = np.array(history["loss"])
    assert np.isfinite(losses).all() and np.isfinite(model.params).all()
    assert losses[-1] < losses[0] / 10
    assert model.evaluate(X, y)["accuracy"] >= 0.95


# -- a float64 reference trainer for linear softmax models (sizes [d, k]) ----------------

def reference_sgd(params, X, y, k, lr, batch_size, epochs):
    """Plain SGD on ``softmax(x W + b)`` in float64, natural order; returns params, losses."""
    d = X.shape[1]
    W = params[:d * k].reshape(d, k).astype(np.float64)
    b = params[d * k:].astype(np.float64)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(X), batch_size):
            x, t = X[start:start + batch_size].astype(np.float64), y[start:start + batch_size]
            z = x @ W + b
            total += reference_logsumexp_loss(z, t) * len(x)
            p = np.exp(z - z.max(1, keepdims=True))
            g = (p / p.sum(1, keepdims=True) - np.eye(k)[t]) / len(x)
            W -= lr * (x.T @ g)
            b -= lr * g.sum(0)
        losses.append(total / len(X))
    return np.concatenate([W.ravel(), b]), losses


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, batch_size", [(1, 32), (1, 1), (9, 1), (33, 32), (10, 3)],
                         ids=["one-sample", "one-sample-batch-1", "batches-of-one",
                              "last-batch-of-one", "uneven"])
def test_small_batches_match_the_reference(backend, dtype, n, batch_size):
    rng = np.random.default_rng(n)
    X, y, k = rng.normal(size=(n, 3)), rng.integers(0, 4, n), 4
    model = fnn.MLP([3, k], seed=1, dtype=dtype)
    start = model.params.astype(np.float64)
    history = model.fit(X, y, epochs=3, batch_size=batch_size, optimizer=fnn.SGD(lr=0.5),
                        shuffle=False, verbose=0)
    expected, losses = reference_sgd(start, X.astype(dtype), y, k, 0.5, batch_size, 3)
    np.testing.assert_allclose(model.params, expected, **TOL[dtype])
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-5)
    assert model.predict(X[:1]).shape == (1,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classes_absent_from_batches_match_the_reference(backend, dtype):
    # classes 2 and 3 never occur; each batch of 3 holds a single class
    y = np.array([0, 0, 0, 1, 1, 1, 0, 0])
    X = np.random.default_rng(4).normal(size=(len(y), 3))
    model = fnn.MLP([3, 4], seed=2, dtype=dtype)
    start = model.params.astype(np.float64)
    model.fit(X, y, epochs=4, batch_size=3, optimizer=fnn.SGD(lr=0.3), shuffle=False, verbose=0)
    expected, _ = reference_sgd(start, X.astype(dtype), y, 4, 0.3, 3, 4)
    np.testing.assert_allclose(model.params, expected, **TOL[dtype])
    scores = model.evaluate(X[:3], np.array([3, 3, 3]))  # a class the model never saw
    assert np.isfinite(scores["loss"]) and scores["accuracy"] == 0.0


def test_absent_classes_with_shuffling_and_a_hidden_layer(backend):
    y = np.array([0, 1] * 10)
    X = np.random.default_rng(5).normal(size=(len(y), 3)) + y[:, None]
    model = fnn.MLP([3, 8, 5], seed=0)
    model.fit(X, y, epochs=20, batch_size=1, optimizer=fnn.SGD(lr=0.05, momentum=0.9),
              verbose=0)
    assert np.isfinite(model.params).all() and np.isfinite(model.history["loss"]).all()
    assert set(model.predict(X)) <= {0, 1}


# -- divergence -------------------------------------------------------------------------

def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, X @ np.array([1.0, -2.0, 3.0, 0.5]) + 1.0


def assert_diverged_message(err, lr):
    message = str(err)
    for word in (f"epoch {err.epoch}", f"batch {err.batch}", "NaN or infinite",
                 "lower learning rate", f"lr is {lr:g}"):
        assert word in message, message


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fit_kwargs", [{}, {"verbose": 2}],
                         ids=["epochs-in-one-call", "one-epoch-per-call"])
def test_huge_lr_on_mse_diverges_keeping_the_last_finite_params(backend, dtype, fit_kwargs,
                                                                 capsys):
    X, y = regression()
    model = fnn.MLP([4, 8, 1], loss="mse", seed=0, dtype=dtype)
    with pytest.raises(fnn.TrainingDivergedError) as info, \
            pytest.warns(fnn.TrainingDivergenceWarning):  # the loss exploded first
        model.fit(X, y, epochs=500, batch_size=None, optimizer=fnn.SGD(lr=1.0),
                  **{"verbose": 0, **fit_kwargs})
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert err.epoch > 1 and err.batch == 1, (err.epoch, err.batch)
    assert_diverged_message(err, 1.0)
    assert np.isfinite(model.params).all()
    assert err.history.epochs == err.epoch - 1
    assert np.isfinite(err.history["loss"]).all()

    # the kept parameters are exactly those after the last finished epoch
    again = fnn.MLP([4, 8, 1], loss="mse", seed=0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fnn.TrainingDivergenceWarning)
        again.fit(X, y, epochs=err.epoch - 1, batch_size=None, optimizer=fnn.SGD(lr=1.0),
                  verbose=0)
    np.testing.assert_array_equal(model.params, again.params)
    # The last finite float32 parameters are large enough to overflow a prediction: both
    # models refuse to predict, naming it (no NaN or inf returned, no numpy warning).
    if dtype == np.float32:
        for m in (model, again):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with pytest.raises(fnn.NonFiniteError, match="overflows float32 for"):
                    m.predict(X)
    else:
        np.testing.assert_array_equal(model.predict(X), again.predict(X))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "evaluate"])
def test_finite_inputs_that_overflow_inside_the_network_are_refused(backend, method):
    model = fnn.MLP([4, 8, 3], seed=0)
    model.fitted = True
    X = np.full((5, 4), 1.0, np.float32)
    X[3] = 3e38  # finite, but the first layer's product overflows
    args = (X, np.zeros(5, np.int64)) if method == "evaluate" else (X,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(fnn.NonFiniteError, match=r"for 1 of rows 0..4 \(first: row 3\)"):
            getattr(model, method)(*args)


def test_divergence_is_reported_at_the_same_step_however_epochs_are_chunked(backend, capsys):
    X, y = regression()
    found = []
    for kwargs in ({"verbose": 0}, {"verbose": 2}, {"verbose": 0, "validation_data": (X, y)}):
        model = fnn.MLP([4, 8, 1], loss="mse", seed=0)
        with pytest.raises(fnn.TrainingDivergedError) as info:
            model.fit(X, y, epochs=500, batch_size=16, optimizer=fnn.SGD(lr=0.5), **kwargs)
        found.append((info.value.epoch, info.value.batch, model.params.tobytes()))
    assert found[0] == found[1] == found[2], [f[:2] for f in found]


@pytest.mark.parametrize("dtype, x", [(np.float32, 1.5e19), (np.float64, 1e154)])
def test_infinite_gradient_with_finite_loss_stops_before_the_update(backend, dtype, x):
    # pred = x, loss = x**2 is finite; dW = x * 2x overflows: nothing may be updated
    model = fnn.MLP([1, 1], loss="mse", dtype=dtype)
    model.set_params([1.0, 0.0])
    with pytest.raises(fnn.TrainingDivergedError) as info:
        model.fit([[x]], [0.0], epochs=3, optimizer=fnn.SGD(lr=1e-3), verbose=0)
    err = info.value
    assert (err.epoch, err.batch) == (1, 1)
    assert "gradient" in str(err)
    assert_diverged_message(err, 1e-3)
    np.testing.assert_array_equal(model.params, np.array([1.0, 0.0], dtype))


def test_adam_with_absurd_lr_diverges_with_finite_params(backend):
    X, y = separable(n=64)
    model = fnn.MLP([2, 16, 16, 2], seed=0)
    with pytest.raises(fnn.TrainingDivergedError) as info:
        model.fit(X, y, epochs=50, batch_size=8, optimizer=fnn.Adam(lr=1e30), verbose=0)
    assert_diverged_message(info.value, 1e30)
    assert np.isfinite(model.params).all()
