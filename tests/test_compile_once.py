"""The numba backend compiles its driver once per layout and dtype for every network.

After one fit has compiled (or loaded) the kernels, a network of another depth, width,
activation, loss, sample weights or target form, or with dropout, adds no signature to
any compiled function: it is new data for code already compiled, not a new
specialisation. Each loss unit's own compiled function (a ``cfunc`` per unit, layout and
target form, compiled at its first use and passed to the driver as an argument) is not a
dispatcher; with a warm cache it is loaded, not compiled: ``warm_up`` compiles every one,
and a fresh process then loads them all from the cache. (How long the first compile takes
is a benchmark, ``fastnn bench --cold-start``; this counts, it does not time.)
"""

import subprocess
import sys

import numpy as np
import pytest

import fastnn as fnn
from fastnn.kernels.losses import UNITS as LOSS_UNITS
from fastnn.kernels.numba_backend.warmup import DISPATCHERS

rng = np.random.default_rng(0)
X = rng.standard_normal((96, 20)).astype(np.float32)
LABELS = rng.integers(0, 3, 96)
TARGETS = rng.random((96, 3)).astype(np.float32)


def signatures():
    return {name: len(d.signatures) for name, d in DISPATCHERS.items()}


WEIGHTS = rng.random(96)


def fit(sizes, activation, loss, optimizer="sgd", dropout=0.0, weighted=False,
        probabilities=False):
    model = fnn.MLP(sizes, activation=activation, loss=loss, seed=0, dropout=dropout)
    y = ((np.eye(3, dtype=np.float32)[LABELS] if probabilities else LABELS)
         if loss == "softmax_cross_entropy" else TARGETS)
    model.fit(X, y, epochs=2, batch_size=32, optimizer=optimizer, verbose=0,
              sample_weight=WEIGHTS if weighted else None)


@pytest.mark.parametrize("hidden", [[300], [8]], ids=["row-major", "transposed"])
def test_new_depths_activations_losses_and_rules_compile_nothing_new(hidden):
    with fnn.use_backend("numba"):
        fit([20, *hidden, 3], "relu", "softmax_cross_entropy")
        before = signatures()
        width = hidden[0]
        for sizes, activation, loss, rule in (
                ([20, width, width // 2 + 1, 5, 3], "tanh", "softmax_cross_entropy", "sgd"),
                ([20, width, 3], "gelu", "mse", "sgd"),
                ([20, width, width, 3], "leaky_relu(0.2)", "sigmoid_bce", "adam"),
                ([20, width, 3], "gelu(tanh)", "mse", "rmsprop"),
                ([20, width, 3], "sigmoid", "softmax_cross_entropy", "adamw")):
            fit(sizes, activation, loss, rule)
        fit([20, width, width, 3], "relu", "softmax_cross_entropy", "sgd", dropout=0.5)
        # gradient clipping: values in the hyper array, a rule's clipping copy is a C
        # function of the same signature
        for optimizer in (fnn.Adam(clipnorm=1.0), fnn.SGD(clipnorm=0.5, clipvalue=0.1)):
            fit([20, width, 3], "tanh", "softmax_cross_entropy", optimizer)
        for loss in LOSS_UNITS:  # every loss unit, weighted and not
            for weighted in (False, True):
                fit([20, width, 3], "tanh", loss, weighted=weighted)
        fit([20, width, 3], "tanh", "huber(0.25)", weighted=True)
        fit([20, width, 3], "relu", "softmax_cross_entropy", probabilities=True)
        assert signatures() == before


WARM_PROCESS = """
import numpy as np
from fastnn.kernels import load_backend
from fastnn.kernels.losses import UNITS
from fastnn.kernels.numba_backend.losses import loss_function, variants
load_backend("numba")
compiled = [(name, *variant) for name in UNITS for variant in variants(name)
            if loss_function(name, np.float32, *variant).cache_hits == 0]
print(compiled)
"""


def test_after_warm_up_a_new_process_compiles_no_loss_function():
    """``warm_up`` compiles (or loads) every loss unit's function; then a fresh process
    loads each from the cache: a first run of any loss compiles none of it."""
    ops = fnn.kernels.load_backend("numba")
    ops.warm_up(dtypes=(np.float32,))
    out = subprocess.run([sys.executable, "-c", WARM_PROCESS], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]", f"compiled in a warm process: {out}"


def test_the_first_run_notice_shows_while_the_cache_is_empty(monkeypatch, tmp_path):
    ops = fnn.kernels.load_backend("numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert "compiling fastnn's kernels once" in ops.first_run_notice()
    (tmp_path / "driver-1.py311.nbi").write_bytes(b"")
    assert ops.first_run_notice() is None
    assert fnn.kernels.load_backend("numpy").first_run_notice() is None
