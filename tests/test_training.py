"""Model-level training behaviour on every backend: reproducibility, shuffling, batching,
history, progress output, optimizers, save/load, initialisation, divergence.

Where a result can be computed independently (one epoch of a linear model), it is, in
float64 numpy written out here, and compared to 1e-12; elsewhere the tests compare runs
of the library with each other (bit-identical where the contract promises it).
"""

import re
import tracemalloc
import warnings

import numpy as np
import pytest

import fastnn as fnn
import fastnn.training

LINEAR_RTOL = 1e-12  # float64 linear model, a handful of sums of <= 10 terms: ~1e-15 expected


def blobs(n=60, n_features=4, n_classes=3, seed=0):
    """Gaussian blobs: separable enough to learn in a few epochs, not trivially."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features)) * 2
    y = rng.integers(0, n_classes, n)
    return centres[y] + rng.standard_normal((n, n_features)), y


def spy_train_epochs(monkeypatch):
    """Record the ``orders`` and batch size of every ``train_epochs`` call of the backend."""
    ops = fnn.get_backend()
    calls = []
    real = ops.train_epochs

    def spy(net, opt, X, targets, orders, n_epochs, batch_size, weights=None):
        calls.append((None if orders is None else orders.copy(), n_epochs, batch_size))
        return real(net, opt, X, targets, orders, n_epochs, batch_size, weights)

    monkeypatch.setattr(ops, "train_epochs", spy)
    return calls


# -- reproducibility and shuffling --------------------------------------------------------------
@pytest.mark.parametrize("optimizer", [fnn.SGD(lr=0.05, momentum=0.9), fnn.Adam(lr=0.01)],
                         ids=["sgd", "adam"])
def test_same_seed_is_bit_identical_and_another_seed_is_not(backend, optimizer):
    X, y = blobs()
    runs = {}
    for key, seed in (("a", 1), ("b", 1), ("c", 2)):
        model = fnn.MLP([4, 16, 3], activation="tanh", seed=seed)
        init = model.params.copy()
        history = model.fit(X, y, epochs=4, batch_size=8, optimizer=optimizer, verbose=0)
        runs[key] = init, model.params.copy(), history["loss"]
    assert runs["a"][1].tobytes() == runs["b"][1].tobytes(), "same seed, different params"
    assert runs["a"][2] == runs["b"][2]
    assert not np.array_equal(runs["a"][0], runs["c"][0]), "seed does not change the init"
    assert not np.array_equal(runs["a"][1], runs["c"][1])


def test_shuffle_draws_a_new_permutation_every_epoch(backend, monkeypatch):
    X, y = blobs(n=30)
    calls = spy_train_epochs(monkeypatch)
    fnn.MLP([4, 8, 3], seed=5).fit(X, y, epochs=6, batch_size=7, verbose=0)
    orders = np.concatenate([c[0] for c in calls])
    assert orders.shape == (6, 30)
    assert all(np.array_equal(np.sort(o), np.arange(30)) for o in orders), "not permutations"
    assert len({o.tobytes() for o in orders}) == 6, "an epoch reused an earlier order"
    assert not any(np.array_equal(o, np.arange(30)) for o in orders)

    calls.clear()
    fnn.MLP([4, 8, 3], seed=5).fit(X, y, epochs=6, batch_size=7, verbose=0)
    assert np.array_equal(np.concatenate([c[0] for c in calls]), orders), \
        "the same seed gave different orders"

    calls.clear()
    fnn.MLP([4, 8, 3], seed=5).fit(X, y, epochs=2, batch_size=7, shuffle=False, verbose=0)
    assert all(c[0] is None for c in calls)


def test_shuffling_changes_the_trajectory(backend):
    X, y = blobs()
    losses = {}
    for shuffle in (True, False):
        model = fnn.MLP([4, 16, 3], activation="tanh", seed=0)
        losses[shuffle] = model.fit(X, y, epochs=3, batch_size=8, shuffle=shuffle,
                                    verbose=0)["loss"]
    assert losses[True][0] != losses[False][0]


# -- batching: the short last batch and full batch, against a hand-written loop -------------------
def linear_epoch(W, b, X, T, lr, batch_size):
    """One epoch of SGD on mean squared error for pred = X W + b, batches in natural order,
    each gradient averaged over the batch's TRUE length. float64. Returns W, b, mean loss."""
    W, b = W.copy(), b.copy()
    loss_sum = 0.0
    for start in range(0, len(X), batch_size):
        x, t = X[start:start + batch_size], T[start:start + batch_size]
        diff = x @ W + b - t
        loss_sum += np.mean(diff**2) * len(x)
        d = 2 * diff / diff.size
        W -= lr * x.T @ d
        b -= lr * d.sum(axis=0)
    return W, b, loss_sum / len(X)


@pytest.mark.parametrize("batch_size", [4, None], ids=["10-rows-by-4", "full-batch"])
def test_one_epoch_matches_a_hand_written_loop(backend, batch_size):
    """n = 10, batch_size 4: batches of 4, 4 and 2, the last averaged over 2 rows (averaging
    over 4 would halve its step); batch_size None: one step on the full-batch gradient."""
    rng = np.random.default_rng(3)
    X, T = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))
    model = fnn.MLP([3, 2], loss="mse", seed=0, dtype="float64")
    W0, b0 = model.net.W[0].copy(), rng.standard_normal(2)
    model.net.b[0][...] = b0
    history = model.fit(X, T, epochs=1, batch_size=batch_size, shuffle=False,
                        optimizer=fnn.SGD(lr=0.1), verbose=0)
    W, b, loss = linear_epoch(W0, b0, X, T, 0.1, batch_size or 10)
    np.testing.assert_allclose(model.net.W[0], W, rtol=LINEAR_RTOL)
    np.testing.assert_allclose(model.net.b[0], b, rtol=LINEAR_RTOL)
    assert history["loss"][0] == pytest.approx(loss, rel=LINEAR_RTOL)


def test_full_batch_is_the_same_as_batch_size_n(backend):
    X, y = blobs(n=25)
    params = []
    for batch_size in (None, 25, 1000):
        model = fnn.MLP([4, 8, 3], activation="tanh", seed=2)
        model.fit(X, y, epochs=5, batch_size=batch_size, optimizer=fnn.SGD(lr=0.3),
                  verbose=0)
        params.append(model.params.tobytes())
    assert params[0] == params[1] == params[2]


def test_full_batch_loss_is_that_of_the_initial_params(backend):
    """One full-batch epoch: its running loss is the loss before the only update."""
    X, y = blobs(n=25)
    model = fnn.MLP([4, 8, 3], activation="tanh", seed=2, dtype="float64")
    model.fitted = True
    before = model.evaluate(X, y)["loss"]
    history = model.fit(X, y, epochs=1, batch_size=None, verbose=0)
    assert history["loss"][0] == pytest.approx(before, rel=LINEAR_RTOL)
    assert model.evaluate(X, y)["loss"] < before


# -- history ------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss,metric", [("softmax_cross_entropy", "accuracy"), ("mse", "r2")])
@pytest.mark.parametrize("validation", [True, False], ids=["val", "no-val"])
def test_history_keys_and_lengths(backend, loss, metric, validation):
    X, y = blobs(n=40)
    if loss == "mse":
        y = X @ np.array([[1.0], [-2.0], [0.5], [0.0]])
    model = fnn.MLP([4, 8, 3 if loss != "mse" else 1], loss=loss, seed=0)
    val = (X[:10], y[:10]) if validation else None
    history = model.fit(X, y, epochs=3, batch_size=8, validation_data=val, verbose=0)
    assert history is model.history
    expected = {"loss", metric, "lr", "samples_per_s"}
    if validation:
        expected |= {"val_loss", f"val_{metric}"}
    assert set(history.history) == expected
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epochs == 3
    assert all(np.isfinite(history.history[key]).all() for key in expected)
    assert all(s > 0 for s in history["samples_per_s"])
    if metric == "accuracy":
        assert all(0 <= a <= 1 for a in history["accuracy"])
    if validation:
        final = model.evaluate(*val)
        assert history["val_loss"][-1] == final["loss"]
        assert history[f"val_{metric}"][-1] == final[metric]


def test_history_accuracy_counts_the_training_predictions(backend):
    """Full batch, lr tiny: the epoch's running accuracy is the accuracy of the initial
    params on the training set (the update after it changes almost nothing)."""
    X, y = blobs(n=50)
    model = fnn.MLP([4, 8, 3], seed=4, dtype="float64")
    model.fitted = True
    before = model.evaluate(X, y)["accuracy"]
    history = model.fit(X, y, epochs=1, batch_size=None, optimizer=fnn.SGD(lr=1e-12),
                        verbose=0)
    assert history["accuracy"][0] == before


# -- progress output ------------------------------------------------------------------------------
def test_verbose_0_prints_nothing(backend, capsys):
    X, y = blobs(n=20)
    fnn.MLP([4, 8, 3], seed=0).fit(X, y, epochs=3, batch_size=8, validation_data=(X, y),
                                   verbose=0)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_2_prints_one_line_per_epoch(backend, capsys):
    X, y = blobs(n=20)
    fnn.MLP([4, 8, 3], seed=0).fit(X, y, epochs=3, batch_size=8, verbose=2)
    out, err = capsys.readouterr()
    lines = [line for line in (out + err).splitlines() if re.match(r"^epoch\s+\d+/3\s", line)]
    assert [int(re.match(r"^epoch\s+(\d+)", line).group(1)) for line in lines] == [1, 2, 3]
    assert all("loss" in line and "accuracy" in line for line in lines)


# -- optimizers -----------------------------------------------------------------------------------
def test_the_progress_bar_shows_the_numbers_of_the_epochs_it_counts(backend, monkeypatch):
    """Each update of the bar carries the metrics of the epochs it adds, so the bar's last
    state shows the last epoch's loss."""
    shown = []

    class Recording(fnn.training.tqdm):
        def update(self, n=1):
            shown.append((self.n + n, self.postfix))
            return super().update(n)

    monkeypatch.setattr(fnn.training, "tqdm", Recording)
    X, y = blobs()
    history = fnn.MLP([4, 3], seed=0).fit(X, y, epochs=3, batch_size=16,
                                          validation_split=0.2, verbose=1)
    assert [n for n, _ in shown] == [1, 2, 3]
    for epoch, (_, postfix) in enumerate(shown):
        loss = history["loss"][epoch]
        assert f"loss={Recording.format_num(loss)}" in postfix, (epoch, postfix)


def test_adam_learns_two_moons(backend):
    """Two moons (noise 0.1) need a curved boundary: a linear model gets ~88%, chance 50%.
    A 16-16 tanh net trained with Adam must pass 95% and cut its loss fivefold."""
    X, y = fnn.datasets.make_moons(200, noise=0.1, seed=0)
    model = fnn.MLP([2, 16, 16, 2], activation="tanh", seed=0)
    history = model.fit(X, y, epochs=150, batch_size=32, optimizer=fnn.Adam(lr=0.01),
                        verbose=0)
    assert model.evaluate(X, y)["accuracy"] >= 0.95
    assert history["loss"][-1] < history["loss"][0] / 5


# -- save / load ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip_is_bit_identical(backend, tmp_path, dtype):
    X, y = blobs(n=30)
    model = fnn.MLP([4, 8, 3], activation="sigmoid", seed=3, dtype=dtype)
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fnn.load(path)
    assert loaded.params.tobytes() == model.params.tobytes()
    assert (loaded.sizes, loaded.loss, loaded.dtype, loaded.seed) == \
        (model.sizes, model.loss, model.dtype, model.seed)
    assert [layer.activation for layer in loaded.layers] == ["sigmoid", "identity"]
    assert loaded.logits(X).tobytes() == model.logits(X).tobytes()
    assert loaded.predict_proba(X).tobytes() == model.predict_proba(X).tobytes()
    assert np.array_equal(loaded.predict(X), model.predict(X))


# -- initialisation (backend-independent) ---------------------------------------------------
def test_he_initialisation_for_relu():
    """std sqrt(2 / fan_in) within 5% on a 784x256 layer (200,704 draws: the sample std's
    own relative error is ~1/sqrt(2N) = 0.16%), mean 0 within 5 standard errors."""
    model = fnn.MLP([784, 256, 10], activation="relu", seed=0)
    W = model.net.W[0].astype(np.float64)
    assert W.std() == pytest.approx(np.sqrt(2 / 784), rel=0.05)
    assert abs(W.mean()) < 5 * W.std() / np.sqrt(W.size)
    assert not model.params[model.net.n_weights:].any(), "biases must start at zero"


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "identity"])
def test_glorot_uniform_initialisation_otherwise(activation):
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): inside the bounds, reaching them
    (the max of 200,704 uniform draws is within 0.01% of the bound), std a / sqrt(3)."""
    model = fnn.MLP([784, 256, 10], activation=activation, seed=0)
    for W, (fan_in, fan_out) in zip(model.net.W, [(784, 256), (256, 10)]):
        limit = np.sqrt(6 / (fan_in + fan_out))
        W = W.astype(np.float64)
        assert np.abs(W).max() <= limit
        assert np.abs(W).max() >= 0.99 * limit
        assert W.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)


def test_relu_output_layer_uses_glorot():
    """Only relu layers get He init; the identity output layer of a relu MLP is Glorot."""
    model = fnn.MLP([784, 256, 10], activation="relu", seed=0)
    assert np.abs(model.net.W[1]).max() <= np.sqrt(6 / 266)


# -- interrupts ------------------------------------------------------------------------------------
def interrupt_call(monkeypatch, call: int):
    """Make the backend's ``call``-th train_epochs (1-based) run, then raise
    KeyboardInterrupt, as Ctrl-C during a compiled call of several epochs does."""
    ops = fnn.get_backend()
    real, calls = ops.train_epochs, []

    def interrupted(net, state, X, targets, orders, n_epochs, batch_size, weights=None):
        calls.append(n_epochs)
        stats = real(net, state, X, targets, orders, n_epochs, batch_size, weights)
        if len(calls) == call:
            raise KeyboardInterrupt
        return stats

    monkeypatch.setattr(ops, "train_epochs", interrupted)
    return calls


def test_an_interrupt_leaves_model_optimizer_and_history_at_the_last_recorded_epoch(
        backend, monkeypatch):
    """Ctrl-C in the second backend call (several epochs in one call): the parameters, the
    optimizer's slots and step and the shuffling are those of the last recorded epoch, so
    a further fit of the remaining epochs equals an uninterrupted run bit for bit."""
    X, y = blobs()
    optimizer = fnn.SGD(lr=0.05, momentum=0.9)
    model = fnn.MLP([4, 8, 3], seed=0)
    calls = interrupt_call(monkeypatch, call=2)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, epochs=1000, batch_size=16, optimizer=optimizer, verbose=0)
    recorded = calls[0]
    assert len(calls) == 2 and recorded < 1000 and model.history.epochs == recorded
    assert model.optimizer_state.step == recorded * 4  # 60 rows, batch 16: 4 steps an epoch
    monkeypatch.undo()
    reference = fnn.MLP([4, 8, 3], seed=0)
    reference.fit(X, y, epochs=recorded, batch_size=16, optimizer=optimizer, verbose=0)
    assert np.array_equal(model.params, reference.params)
    assert np.array_equal(model.optimizer_state.slots[0], reference.optimizer_state.slots[0])
    model.fit(X, y, epochs=1000 - recorded, batch_size=16, optimizer=optimizer, verbose=0)
    uninterrupted = fnn.MLP([4, 8, 3], seed=0)
    uninterrupted.fit(X, y, epochs=1000, batch_size=16, optimizer=optimizer, verbose=0)
    assert np.array_equal(model.params, uninterrupted.params)
    assert model.history["loss"] == uninterrupted.history["loss"]
    assert model.optimizer_state.step == uninterrupted.optimizer_state.step


def test_an_interrupt_before_the_first_epoch_leaves_the_model_unfitted(backend, monkeypatch):
    X, y = blobs()
    model = fnn.MLP([4, 3], seed=0)
    initial = model.params.copy()
    interrupt_call(monkeypatch, call=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, epochs=5, verbose=0)
    assert not model.fitted and model.history.epochs == 0
    assert np.array_equal(model.params, initial) and model.optimizer_state.step == 0
    with pytest.raises(fnn.NotFittedError):
        model.save("never-written.npz")


# -- divergence ------------------------------------------------------------------------------------
def test_divergence_raises_with_the_epoch_and_history(backend):
    """lr 3 on linear regression overflows within tens of epochs: TrainingDivergedError
    names the epoch and batch, and its history holds exactly the finished epochs."""
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((64, 3)), rng.standard_normal((64, 2))
    model = fnn.MLP([3, 2], loss="mse", seed=0)
    with np.errstate(all="ignore"), pytest.raises(fnn.TrainingDivergedError) as info, \
            pytest.warns(fnn.TrainingDivergenceWarning):  # the loss exploded first
        model.fit(X, y, epochs=400, batch_size=16, optimizer=fnn.SGD(lr=3.0), verbose=0)
    err = info.value
    assert 2 <= err.epoch <= 400 and 1 <= err.batch <= 4
    assert err.history.epochs == err.epoch - 1 == len(model.history["loss"])
    assert f"epoch {err.epoch}" in str(err)


def test_divergence_keeps_the_last_finite_params(backend):
    """Inputs ~1e18: the first batch's gradient ~1e36 is finite (float32 max 3.4e38) but
    lr * g ~ 1e40 is not: a decisive overflow in the update, on any backend."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 3)) * 1e18, rng.standard_normal((32, 2))
    model = fnn.MLP([3, 2], loss="mse", seed=0)
    with np.errstate(all="ignore"), pytest.raises(fnn.TrainingDivergedError):
        model.fit(X, y, epochs=2, batch_size=16, shuffle=False, optimizer=fnn.SGD(lr=1e4),
                  verbose=0)
    assert np.isfinite(model.params).all(), model.params


@pytest.mark.parametrize("schedule", [fnn.schedules.OneCycle(max_lr=1e30),
                                      fnn.schedules.Constant(1e30),
                                      fnn.schedules.CosineDecay(1e30),
                                      fnn.schedules.OneCycle(max_lr=1e4)], ids=repr)
def test_divergence_under_a_schedule_names_it_and_the_failing_steps_lr(backend, schedule):
    """A schedule is no number: the error (and the explosion warning, if any) names the
    schedule and the learning rate it gave at the step that failed."""
    X, y = blobs()
    model = fnn.MLP([4, 8, 3], seed=0)
    with np.errstate(all="ignore"), pytest.raises(fnn.TrainingDivergedError) as info, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", fnn.TrainingDivergenceWarning)
        model.fit(X, y, epochs=5, batch_size=16, optimizer=fnn.SGD(lr=schedule), verbose=0)
    bound = schedule.bind(4, 5)  # 60 rows in batches of 16: 4 steps per epoch
    steps = []
    for message in [str(info.value), *(str(w.message) for w in caught)]:
        found = re.search(r"lr (\S+) at step (\d+) of the schedule (.*)\) or", message)
        assert found and found.group(3) == repr(schedule), message
        rate, step = float(found.group(1)), int(found.group(2))
        assert rate == pytest.approx(bound(np.array([step - 1]))[0], rel=1e-2), message
        steps.append(step)
    err = info.value
    assert (err.epoch - 1) * 4 + err.batch == steps[0]  # the failing batch's step
    assert model.history.epochs == err.epoch - 1


def test_uint8_inputs_with_input_scale_match_float_inputs(backend):
    """uint8 pixels with input_scale=1/255 are converted batch by batch with exactly the
    arithmetic load_mnist uses for float32, so training and predictions are bit-identical
    to training on the pre-scaled float32 array (shuffled, partial last batch, both
    loop paths: the small-net one and the generic one)."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (50, 12), dtype=np.uint8)
    scaled = np.multiply(pixels, np.float32(1 / 255), dtype=np.float32)
    y = rng.integers(0, 3, 50)
    for sizes in ([12, 5, 3], [12, 400, 3]):  # 4096 weights: either side of the small path
        on_floats = fnn.MLP(sizes, seed=1)
        on_pixels = fnn.MLP(sizes, seed=1, input_scale=1 / 255)
        for model, X in ((on_floats, scaled), (on_pixels, pixels)):
            model.fit(X, y, epochs=3, batch_size=16, optimizer=fnn.SGD(lr=0.1, momentum=0.9),
                      verbose=0)
        assert np.array_equal(on_pixels.params, on_floats.params), sizes
        assert np.array_equal(on_pixels.logits(pixels), on_floats.logits(scaled)), sizes
        assert on_pixels.evaluate(pixels, y) == on_floats.evaluate(scaled, y)


def test_input_scale_is_saved(tmp_path):
    model = fnn.MLP([4, 3], seed=0, input_scale=0.5)
    model.fitted = True
    model.save(tmp_path / "m.npz")
    assert fnn.load(tmp_path / "m.npz").input_scale == 0.5


def test_a_small_net_never_holds_uint8_images_in_float_in_full(backend, peak_bytes):
    """A net small enough for the numba backend's one-call path still converts uint8
    images batch by batch: training allocates less than X itself, let alone the float32
    copy (4x X)."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (5000, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 5000)
    model = fnn.MLP([784, 5, 10], seed=0, input_scale=1 / 255)  # 3,970 weights
    peak = peak_bytes(model.fit, X, y, epochs=1, batch_size=128, verbose=0)
    assert peak < X.nbytes, peak


def test_training_on_ever_new_batch_sizes_does_not_grow_memory(backend):
    """Batch buffers are kept for the latest batch sizes only: full-batch training on data
    of twenty different lengths holds about one batch's buffers afterwards, not twenty."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((700, 50)), rng.integers(0, 10, 700)
    model = fnn.MLP([50, 256, 10], seed=0)  # 15,360 weights: the generic loop
    one_batch = 700 * (50 + 2 * (256 + 10)) * 4  # x, every out and dout, float32
    model.fit(X[:500], y[:500], epochs=1, batch_size=None, verbose=0)
    tracemalloc.start()
    try:
        for n in range(510, 700, 10):
            model.fit(X[:n], y[:n], epochs=1, batch_size=None, verbose=0)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 3 * one_batch, (held, one_batch)


def test_an_order_trains_as_the_rows_copied_into_it(backend):
    """``order`` (as fastnn.sklearn passes scikit-learn's) gives, bit for bit, the model
    that training on the rows copied into that order gives; a non-permutation is refused."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((90, 6)).astype(np.float32), rng.integers(0, 3, 90)
    order = rng.permutation(90)
    by_order, by_copy = (fnn.MLP([6, 300, 3], seed=0) for _ in range(2))
    fnn.training.fit(by_order, X, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                     order=order)
    by_copy.fit(X[order], y[order], epochs=2, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_array_equal(by_order.params, by_copy.params)
    for bad in (order[:-1], np.r_[order[:-1], order[0]], np.r_[order[:-1], 90]):
        with pytest.raises(fnn.ConfigError, match="permutation"):
            fnn.training.fit(by_order, X, y, epochs=1, verbose=0, order=bad)
