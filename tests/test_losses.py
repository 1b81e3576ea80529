"""Losses as units, sample and class weights, probability targets: through the model API
and the kernels, for every loss unit of the registry (a new unit is tested here without a
line of new test code).

Tolerances: loss and gradient comparisons between two computations of the same
quantity use ``tolerances.loss_tol`` (each unit's declared rounding, derived in
``kernels/tolerances.py``); "bit for bit" means equal arrays, where the arithmetic is
the same operations in the same order.
"""

import numpy as np
import pytest

import fastnn as fnn
from fastnn.errors import ConfigError, ShapeError, ValueRangeError
from fastnn.kernels import check_backend, load_backend, tolerances as T
from fastnn.kernels.compare import assert_close
from fastnn.kernels.losses import UNITS, resolve

SPECS = (*UNITS, "huber(0.5)")
N = 48


def data(spec, rng, k=None, n=N, dtype=np.float32):
    """(X (n, 6), y, k) for the loss ``spec``: labels of k = 3 classes, 0/1 targets, counts
    (poisson) or real values."""
    unit = resolve(spec)[0]
    X = rng.standard_normal((n, 6)).astype(dtype)
    k = k or (3 if unit.TARGETS == "labels" else 2)
    z = X[:, :k] - X[:, -k:]
    if unit.HITS == "argmax":
        return X, np.argmax(z, axis=1), k
    if unit.HITS == "sign":
        return X, (z > 0).astype(dtype), k
    if unit.PREDICT == "exp":
        return X, rng.poisson(np.exp(np.clip(z, -2, 2))).astype(dtype), k
    return X, z.astype(dtype), k


def model_for(spec, k, hidden, dtype="float32"):
    return fnn.MLP([6, hidden, k], activation="tanh", loss=spec, seed=3, dtype=dtype)


# -- the check backend replays every compiled step, weighted and not ---------------------------
@pytest.mark.parametrize("weighted", [None, "weighted", "signed"])
@pytest.mark.parametrize("hidden", [8, 700], ids=["transposed", "row-major"])
@pytest.mark.parametrize("spec", SPECS)
def test_check_backend_replays_every_loss(spec, hidden, weighted):
    """numba's compiled steps (small nets transposed, wide ones row-major) against the
    numpy reference op by op, every step of two epochs, within the derived tolerances
    (the check backend raises BackendMismatchError otherwise); weights of both signs
    include a batch of negative weight."""
    rng = np.random.default_rng(1)
    X, y, k = data(spec, rng)
    w = rng.uniform(0, 2, N) * (np.arange(N) % 5 != 0) if weighted else None
    if weighted == "signed":  # unshuffled: the first batch is rows 0..15
        w[:16] -= 1.5
        assert w[:16].sum() < 0 < w.sum()
    model = model_for(spec, k, hidden)
    state = fnn.SGD().state(model.net.n_params, model.dtype)
    assert check_backend.fast.compiled_step(model.net, state, X, np.zeros(1), w) is not None
    with fnn.use_backend("check"):
        history = model.fit(X, y, epochs=2, batch_size=16, sample_weight=w, verbose=0,
                            shuffle=weighted != "signed",
                            optimizer=fnn.SGD(lr=0.01, momentum=0.9))
    assert np.isfinite(history["loss"]).all()


def test_check_backend_replays_probability_targets():
    rng = np.random.default_rng(2)
    X, y, k = data("softmax_cross_entropy", rng)
    p = rng.dirichlet(np.ones(k), N).astype(np.float32)
    for hidden in (8, 700):
        with fnn.use_backend("check"):
            model_for("softmax_cross_entropy", k, hidden).fit(
                X, p, epochs=1, batch_size=16, sample_weight=rng.uniform(0, 1, N), verbose=0)


# -- weights in the loss op ------------------------------------------------------------------
def op_case(spec, rng, n=7, k=3, dtype=np.float64):
    unit = resolve(spec)[0]
    z = rng.standard_normal((n, k)).astype(dtype)
    if unit.TARGETS == "labels":
        return z, rng.integers(0, k, n)
    t = rng.uniform(0, 1, (n, k)) * (3 if unit.PREDICT == "exp" else 1)
    return z, t.astype(dtype)


@pytest.mark.parametrize("spec", SPECS)
def test_integer_weights_equal_repeated_rows(backend, spec):
    """Weight 3 on a row is that row three times: the same loss, and the repeated rows'
    gradients sum to the weighted row's (to the loss tolerance of the repeated batch)."""
    ops = fnn.get_backend()
    rng = np.random.default_rng(4)
    z, t = op_case(spec, rng)
    w = np.array([3, 0, 1, 2, 1, 4, 1], np.float64)
    rows = np.repeat(np.arange(len(z)), w.astype(int))
    d, d_rep = np.empty_like(z), np.empty((len(rows), z.shape[1]))
    loss = ops.loss(d, z, t, spec, w)
    loss_rep = ops.loss(d_rep, z[rows], t[rows], spec)
    loss_atol, (grad_atol, _) = T.loss_tol(spec, z[rows], t[rows])
    assert_close(f"{spec} loss", loss, loss_rep, 2 * loss_atol)
    summed = np.zeros_like(z)
    np.add.at(summed, rows, d_rep)
    summed_atol = np.zeros_like(z)
    np.add.at(summed_atol, rows, grad_atol)
    assert_close(f"{spec} gradient", d, summed, 2 * summed_atol)


@pytest.mark.parametrize("spec", SPECS)
def test_a_zero_weight_row_has_no_influence(backend, spec):
    """Exactly: its gradient row is 0 and changing its target changes nothing."""
    ops = fnn.get_backend()
    z, t = op_case(spec, np.random.default_rng(5))
    w = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 0.0, 3.0])
    d1, d2 = np.empty_like(z), np.empty_like(z)
    other = t.copy()
    other[[1, 5]] = other[[0, 0]]
    assert ops.loss(d1, z, t, spec, w) == ops.loss(d2, z, other, spec, w)
    np.testing.assert_array_equal(d1, d2)
    assert not d1[[1, 5]].any()


def test_one_hot_probabilities_equal_labels(backend):
    """-sum_j t_j log softmax_j with one-hot t is the label's loss; argmax(t) its label."""
    ops = fnn.get_backend()
    rng = np.random.default_rng(6)
    for dtype in (np.float32, np.float64):
        z = (rng.standard_normal((40, 5)) * 3).astype(dtype)
        labels = rng.integers(0, 5, 40)
        onehot = np.eye(5, dtype=dtype)[labels]
        w = rng.uniform(0, 1, 40)
        for weights in (None, w):
            d1, d2 = np.empty_like(z), np.empty_like(z)
            a = ops.loss(d1, z, labels, "softmax_cross_entropy", weights)
            b = ops.loss(d2, z, onehot, "softmax_cross_entropy", weights)
            loss_atol, (grad_atol, _) = T.loss_tol("softmax_cross_entropy", z, onehot, weights)
            assert_close("loss", a, b, 2 * loss_atol)
            assert_close("gradient", d1, d2, 2 * grad_atol)
            assert (ops.metric_sum(z, labels, "softmax_cross_entropy", weights)
                    == ops.metric_sum(z, onehot, "softmax_cross_entropy", weights))


# -- weights in fit ------------------------------------------------------------------------
@pytest.mark.parametrize("hidden", [8, 700], ids=["transposed", "row-major"])
@pytest.mark.parametrize("spec", ["softmax_cross_entropy", "huber(0.5)", "poisson"])
def test_two_fits_of_one_epoch_equal_one_fit_of_two_with_weights(backend, spec, hidden):
    rng = np.random.default_rng(7)
    X, y, k = data(spec, rng)
    w = rng.uniform(0, 2, N)
    once, twice = model_for(spec, k, hidden), model_for(spec, k, hidden)
    once.fit(X, y, epochs=2, batch_size=10, sample_weight=w, verbose=0)
    twice.fit(X, y, epochs=1, batch_size=10, sample_weight=w, verbose=0)
    twice.fit(X, y, epochs=1, batch_size=10, sample_weight=w, verbose=0)
    np.testing.assert_array_equal(once.params, twice.params)
    np.testing.assert_array_equal(once.history["loss"], twice.history["loss"])


def test_unit_weights_train_exactly_as_no_weights(backend):
    """All-ones weights: the same arithmetic as the unweighted mean (w / W rounds to
    exactly 1 / n), so the same parameters bit for bit."""
    rng = np.random.default_rng(8)
    for spec in ("softmax_cross_entropy", "sigmoid_bce", "mse"):
        X, y, k = data(spec, rng)
        for hidden in (8, 700):
            plain, ones = model_for(spec, k, hidden), model_for(spec, k, hidden)
            plain.fit(X, y, epochs=2, batch_size=16, verbose=0)
            ones.fit(X, y, epochs=2, batch_size=16, sample_weight=np.ones(N), verbose=0)
            np.testing.assert_array_equal(plain.params, ones.params)


def test_balanced_class_weight_is_n_over_k_bincount(backend):
    rng = np.random.default_rng(9)
    X = rng.standard_normal((N, 6)).astype(np.float32)
    y = np.r_[np.zeros(30, int), np.ones(12, int), np.full(6, 2)]
    w = rng.uniform(0.5, 1.5, N)
    balanced = N / (3 * np.bincount(y))
    a, b = model_for("softmax_cross_entropy", 3, 8), model_for("softmax_cross_entropy", 3, 8)
    a.fit(X, y, epochs=2, verbose=0, sample_weight=w, class_weight="balanced")
    b.fit(X, y, epochs=2, verbose=0, sample_weight=w * balanced[y])
    np.testing.assert_array_equal(a.params, b.params)
    c, d = model_for("softmax_cross_entropy", 3, 8), model_for("softmax_cross_entropy", 3, 8)
    c.fit(X, y, epochs=2, verbose=0, class_weight={0: 1.0, 2: 5.0})
    d.fit(X, y, epochs=2, verbose=0, sample_weight=np.where(y == 2, 5.0, 1.0))
    np.testing.assert_array_equal(c.params, d.params)


def test_class_weight_names_a_models_classes(backend):
    rng = np.random.default_rng(10)
    X = rng.standard_normal((N, 6))
    y = np.array(["cat", "dog"] * (N // 2))
    model = fnn.MLP([6, 4, 2], classes=["cat", "dog"], seed=0)
    model.fit(X, y, epochs=1, verbose=0, class_weight={"dog": 2.0})
    with pytest.raises(ValueRangeError, match="emu"):
        model.fit(X, y, epochs=1, verbose=0, class_weight={"emu": 2.0})
    with pytest.raises(ConfigError, match="class targets"):
        fnn.MLP([6, 4, 1], loss="mse").fit(X, X[:, 0], verbose=0, class_weight="balanced")


def test_weighted_scores_are_scikit_learns(backend):
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the oracle")
    rng = np.random.default_rng(11)
    w = rng.uniform(0, 2, N)
    for spec in SPECS:
        X, y, k = data(spec, rng)
        model = model_for(spec, k, 8, dtype="float64")
        model.fit(X, y, epochs=3, verbose=0)
        scores = model.evaluate(X, y, sample_weight=w)
        pred = model.predict(X)
        if model.metric == "accuracy" and y.ndim == 1:
            want = metrics.accuracy_score(y, pred, sample_weight=w)
        elif model.metric == "accuracy":  # per output (fastnn's), rows weighted
            want = np.average((pred == y).mean(axis=1), weights=w)
        else:  # fastnn's R² over all outputs: 1 - SSE / SST summed over them
            sse = np.sum(w[:, None] * (pred.reshape(y.shape) - y) ** 2)
            sst = np.sum(w[:, None] * (y - np.average(y, axis=0, weights=w)) ** 2)
            want = 1 - sse / sst
            if k == 1:
                want = metrics.r2_score(y, pred, sample_weight=w)
        assert scores[model.metric] == pytest.approx(want, rel=1e-9, abs=1e-12), spec
        logits = model.logits(X)
        want_loss = load_backend("numpy").loss(None, logits, y, model.loss, w)
        assert scores["loss"] == pytest.approx(want_loss, rel=1e-12), spec


def test_validation_data_carries_weights(backend):
    rng = np.random.default_rng(12)
    X, y, k = data("mse", rng)
    w = rng.uniform(0, 2, N)
    model = model_for("mse", k, 8)
    history = model.fit(X, y, epochs=2, verbose=0, validation_data=(X, y, w))
    assert history["val_loss"][-1] == pytest.approx(
        model.evaluate(X, y, sample_weight=w)["loss"], rel=1e-12)
    assert history["val_loss"][-1] != pytest.approx(model.evaluate(X, y)["loss"], rel=1e-6)


@pytest.mark.parametrize("weights, error, words", [
    (np.ones((N, 1)), ShapeError, ["sample_weight", "1-D", f"({N},)"]),
    (np.ones(N - 1), ShapeError, ["sample_weight", f"({N - 1},)"]),
    (np.r_[np.nan, np.ones(N - 1)], Exception, ["sample_weight"]),
    (np.r_[-float(N), np.ones(N - 1)], ValueRangeError, ["sample_weight", "sums to -1",
                                                         "positive total"]),
    (np.zeros(N), ValueRangeError, ["sample_weight", "zero for every sample"]),
])
def test_bad_weights_are_refused_by_name(weights, error, words):
    X, y, k = data("mse", np.random.default_rng(13))
    model = model_for("mse", k, 4)
    for call in (lambda: model.fit(X, y, sample_weight=weights, verbose=0),
                 lambda: model.evaluate(X, y, sample_weight=weights)):
        model.fitted = True
        with pytest.raises(error) as info:
            call()
        assert isinstance(info.value, fnn.errors.FastnnError)
        for word in words:
            assert word in str(info.value)


# -- specs, objects, files, predictions ------------------------------------------------------
def test_loss_specs_and_objects():
    assert fnn.MLP([2, 1], loss=fnn.losses.Huber(0.5)).loss == "huber(0.5)"
    assert fnn.MLP([2, 1], loss="huber(1.0)").loss == "huber"
    assert fnn.MLP([2, 1], loss=fnn.losses.Huber()).loss == "huber"
    for bad in ("huber(0)", "huber(-1)", "huber(x)", "mae(2)", "hubber", 3):
        with pytest.raises(ConfigError):
            fnn.MLP([2, 1], loss=bad)
    assert set(fnn.losses.NAMES) == set(UNITS)


@pytest.mark.parametrize("spec", SPECS)
def test_every_loss_saves_loads_and_predicts_its_transform(backend, tmp_path, spec):
    rng = np.random.default_rng(14)
    X, y, k = data(spec, rng)
    model = model_for(spec, k, 8)
    model.fit(X, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = fnn.load(tmp_path / "m.npz")
    assert loaded.loss == model.loss
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if spec == "poisson":
        np.testing.assert_allclose(model.predict(X), np.exp(model.logits(X)), rtol=1e-6)


def test_targets_out_of_a_units_range_are_refused():
    X = np.zeros((3, 2))
    with pytest.raises(ValueRangeError, match="poisson targets must be >= 0"):
        fnn.MLP([2, 1], loss="poisson").fit(X, [1.0, -1.0, 0.0], verbose=0)
    with pytest.raises(ValueRangeError, match=r"sigmoid_bce targets must lie in \[0, 1\]"):
        fnn.MLP([2, 1], loss="sigmoid_bce").fit(X, [1.0, 2.0, 0.0], verbose=0)
