"""Predictions through the contract's ``network_forward``: what they report, what they take,
the buffers they reuse. (Equivalence of the op between backends: test_equivalence_ops.py;
threads: test_concurrency.py.)"""

import warnings

import numpy as np
import pytest

import fastnn as fnn
from fastnn import _validate
from fastnn.kernels.net import KEPT_WORKSPACES, Net
from fastnn.kernels.numba_backend import network

N = 5000  # rows: more than one chunk of network_forward (numba 3 x 1667, numpy 4096 + 904)


def fitted(sizes=(6, 16, 3), **kwargs):
    model = fnn.MLP(list(sizes), seed=0, **kwargs)
    model.fitted = True
    return model


def rows(n=N, features=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, features)).astype(np.float32)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "logits"])
def test_a_nan_or_overflow_past_the_first_chunk_is_named(backend, method):
    model = fitted()
    for W in model.net.W:  # all weights positive: a row of 3e38 overflows to inf
        np.abs(W, out=W)
    X = rows()
    X[4321, 2] = np.nan
    with pytest.raises(fnn.NonFiniteError, match=r"X holds 1 NaN .*index \(4321, 2\)"):
        getattr(model, method)(X)
    X[4321, 2] = 0.0
    X[[4400, 4321]] = 3e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning on the way
        with pytest.raises(fnn.NonFiniteError,
                           match=r"for 2 of rows 0..4999 \(first: row 4321\)"):
            getattr(model, method)(X)


def test_uint8_rows_predict_as_their_scaled_floats(backend):
    """uint8 rows, scaled in the kernels as ``dtype(x) * dtype(scale)``, give exactly the
    logits of those floats given to the same net without a scale."""
    pixels = np.random.default_rng(1).integers(0, 256, (N, 6)).astype(np.uint8)
    scaled = fitted(input_scale=1 / 255)
    plain = fitted()
    plain.set_params(scaled.params)
    floats = pixels.astype(np.float32) * np.float32(1 / 255)
    np.testing.assert_array_equal(scaled.logits(pixels), plain.logits(floats))
    np.testing.assert_array_equal(scaled.logits(pixels[:1]), plain.logits(floats[:1]))


def test_dropout_layers_do_not_change_predictions(backend):
    with_dropout, without = fitted((6, 16, 16, 3), dropout=0.5), fitted((6, 16, 16, 3))
    without.set_params(with_dropout.params)
    X = rows()
    np.testing.assert_array_equal(with_dropout.predict_proba(X), without.predict_proba(X))


def test_one_row_agrees_with_the_same_row_in_a_batch(backend):
    """One row takes a matrix-vector product (numba: ?gemv), a batch a matrix product:
    the same values within float32 rounding of the 16- and 7-term sums."""
    model = fitted((6, 16, 7, 3))
    X = rows(64)
    batch = model.logits(X)
    for r in (0, 31, 63):
        np.testing.assert_allclose(model.logits(X[r:r + 1])[0], batch[r], rtol=0, atol=1e-5)


def test_conforming_rows_skip_the_separate_finiteness_pass():
    """``finite=False`` leaves a conforming X's NaN to network_forward (which reads X
    anyway); an X that needs converting is still checked before its conversion."""
    X = np.ones((5, 3), np.float32)
    X[1, 2] = np.nan
    assert _validate.features(X, 3, np.float32, finite=False) is X
    with pytest.raises(fnn.NonFiniteError, match=r"index \(1, 2\)"):
        _validate.features(X, 3, np.float32)
    with pytest.raises(fnn.NonFiniteError, match=r"index \(1, 2\)"):
        _validate.features(X.astype(np.float64), 3, np.float32, finite=False)


def test_borrowed_buffers_are_lent_to_one_caller_at_a_time():
    net = Net((3, 4, 2), ("relu", "identity"), "mse")
    assert net.borrow("k") is None
    kept = [object() for _ in range(KEPT_WORKSPACES + 1)]
    for scratch in kept:
        net.give_back("k", scratch)
    lent = [net.borrow("k") for _ in range(KEPT_WORKSPACES)]
    assert len({id(s) for s in lent}) == KEPT_WORKSPACES and set(map(id, lent)) <= set(
        map(id, kept))
    assert net.borrow("k") is None  # all lent: the next caller makes its own


def test_numba_predictions_reuse_one_workspace():
    model = fitted()
    with fnn.use_backend("numba"):
        model.logits(rows())
        scratch = model.net.borrow(network._KEY)
        model.net.give_back(network._KEY, scratch)
        model.logits(rows(1))
        model.logits(rows(300))
        assert model.net.borrow(network._KEY) is scratch
