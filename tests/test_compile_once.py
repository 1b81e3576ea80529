"""The numba backend compiles its driver once per layout and dtype for every network.

After one fit and its predictions have compiled (or loaded) the kernels, a network of
another depth, width, activation or loss, or with dropout, trains and predicts adding no
signature to any compiled function: it is new data for code already compiled, not a new
specialisation. (How long the first compile takes is a
benchmark, ``fastnn bench --cold-start``; this counts, it does not time.)
"""

import numpy as np
import pytest

import fastnn as fnn
from fastnn.kernels.numba_backend.warmup import DISPATCHERS

rng = np.random.default_rng(0)
X = rng.standard_normal((96, 20)).astype(np.float32)
LABELS = rng.integers(0, 3, 96)
TARGETS = rng.random((96, 3)).astype(np.float32)


def signatures():
    return {name: len(d.signatures) for name, d in DISPATCHERS.items()}


def fit(sizes, activation, loss, optimizer="sgd", dropout=0.0):
    model = fnn.MLP(sizes, activation=activation, loss=loss, seed=0, dropout=dropout)
    y = LABELS if loss == "softmax_cross_entropy" else TARGETS
    model.fit(X, y, epochs=2, batch_size=32, optimizer=optimizer, verbose=0)
    return model


def predict(model):
    """Every prediction path: logits of float rows, one row and many, uint8 rows, and the
    output transform."""
    model.logits(X[:1])
    model.logits(X)
    model.logits((X > 0).astype(np.uint8))
    if model.loss != "mse":
        model.predict_proba(X)


@pytest.mark.parametrize("hidden", [[300], [8]], ids=["row-major", "transposed"])
def test_new_depths_activations_losses_and_rules_compile_nothing_new(hidden):
    with fnn.use_backend("numba"):
        predict(fit([20, *hidden, 3], "relu", "softmax_cross_entropy"))
        predict(fit([20, *hidden, 3], "relu", "sigmoid_bce"))  # its transform, sigmoid
        before = signatures()
        width = hidden[0]
        for sizes, activation, loss, rule in (
                ([20, width, width // 2 + 1, 5, 3], "tanh", "softmax_cross_entropy", "sgd"),
                ([20, width, 3], "gelu", "mse", "sgd"),
                ([20, width, width, 3], "leaky_relu(0.2)", "sigmoid_bce", "adam"),
                ([20, width, 3], "gelu(tanh)", "mse", "rmsprop"),
                ([20, width, 3], "sigmoid", "softmax_cross_entropy", "adamw")):
            predict(fit(sizes, activation, loss, rule))
        predict(fit([20, width, width, 3], "relu", "softmax_cross_entropy", "sgd",
                    dropout=0.5))
        assert signatures() == before


def test_a_new_depth_predicts_with_nothing_compiled():
    """Predictions of a loaded-and-never-trained model of another depth, width, activation
    and dropout: the same compiled forward."""
    with fnn.use_backend("numba"):
        predict(fit([20, 30, 3], "relu", "softmax_cross_entropy"))
        before = signatures()
        for sizes, activation, dropout in (([20, 3], "relu", 0.0),
                                           ([20, 50, 40, 30, 3], "gelu", 0.0),
                                           ([20, 7, 7, 3], "tanh", 0.5)):
            model = fnn.MLP(sizes, activation=activation, seed=1, dropout=dropout)
            model.fitted = True
            predict(model)
        assert signatures() == before


def test_the_first_run_notice_shows_while_the_cache_is_empty(monkeypatch, tmp_path):
    ops = fnn.kernels.load_backend("numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert "compiling fastnn's kernels once" in ops.first_run_notice()
    (tmp_path / "driver-1.py311.nbi").write_bytes(b"")
    assert ops.first_run_notice() is None
    assert fnn.kernels.load_backend("numpy").first_run_notice() is None
