"""Dropout: the ops on every backend, its masks, training with it on every path (the
generic loop and the compiled driver's two layouts, replayed by the check backend),
bit-identical continuation and resumption, and that inference ignores it."""

import numpy as np
import pytest

import fastnn as fnn
import fastnn.onnx
from fastnn.errors import ConfigError, ValueRangeError
from fastnn.kernels import dropout, load_backend, loop

BACKENDS = ("numpy", "numba")
rng = np.random.default_rng(3)
X = rng.standard_normal((160, 12)).astype(np.float32)
Y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_ops_are_bit_identical_on_every_backend(dtype, rate):
    """One product by the same factor under the same mask: no rounding to differ by."""
    x = rng.standard_normal((33, 70)).astype(dtype)
    key = dropout.step_key(11, 5, 2)
    outs, grads = [], []
    for name in BACKENDS:
        ops = load_backend(name)
        out, d = np.empty_like(x), x.copy()
        ops.dropout_forward(out, x, rate, key)
        ops.dropout_backward(d, rate, key)
        outs.append(out)
        grads.append(d)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(outs[0], grads[0])  # backward scales as the forward
    kept = outs[0] != 0
    np.testing.assert_array_equal(outs[0][kept], x[kept] * dropout.scale(rate, dtype))
    if rate == 0.0:
        np.testing.assert_array_equal(outs[0], x)


def test_masks_drop_at_the_rate_and_differ_by_step_layer_and_seed():
    n, rate = 1 << 20, 0.3
    positions = np.arange(n, dtype=np.uint64)
    cut = dropout.threshold(rate)
    masks = {args: dropout.keeps(dropout.step_key(*args), positions, cut)
             for args in [(0, 1, 0), (0, 2, 0), (0, 1, 1), (1, 1, 0)]}
    sigma = np.sqrt(rate * (1 - rate) / n)
    for mask in masks.values():
        assert abs((1 - mask.mean()) - rate) < 5 * sigma  # binomial: 5 standard deviations
    first = masks[(0, 1, 0)].astype(float)
    for args, mask in masks.items():
        if args != (0, 1, 0):  # independent masks agree on rate^2 + (1-rate)^2 of entries
            agree = np.mean(first == mask)
            assert abs(agree - (rate**2 + (1 - rate) ** 2)) < 5 * np.sqrt(0.25 / n)


def test_the_key_is_the_same_on_python_ints_and_uint64_arrays():
    seeds = np.array([0, 1, 2**63 + 5, 2**64 - 1], np.uint64)
    steps = np.array([1, 2, 3, 2**40], np.uint64)
    keys = dropout.key_of(seeds, steps, np.uint64(3))
    assert [dropout.step_key(int(s), int(t), 3) for s, t in zip(seeds, steps)] == list(keys)


def model(hidden, rate=0.3, seed=0, dtype="float32"):
    return fnn.MLP([12, *hidden, 2], activation="tanh", dropout=rate, seed=seed, dtype=dtype)


@pytest.mark.parametrize("hidden", [[8, 6], [80, 40]], ids=["transposed", "row-major"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_training_matches_the_reference_op_by_op(hidden, dtype):
    """The check backend runs numba's compiled step one batch at a time and replays each
    of its ops, dropout included, on the reference within the derived tolerances."""
    m = model(hidden, dtype=dtype)
    with fnn.use_backend("check"):
        m.fit(X, Y, epochs=2, batch_size=32, optimizer=fnn.SGD(0.1, momentum=0.9), verbose=0)
    assert np.isfinite(m.params).all()


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("hidden", [[8, 6], [80, 40]], ids=["transposed", "row-major"])
def test_continued_and_resumed_training_draw_the_same_masks(name, hidden, tmp_path):
    opt = fnn.Adam(0.01)
    with fnn.use_backend(name):
        whole = model(hidden)
        whole.fit(X, Y, epochs=3, batch_size=32, optimizer=opt, verbose=0)
        parts = model(hidden)
        parts.fit(X, Y, epochs=1, batch_size=32, optimizer=opt, verbose=0)
        parts.fit(X, Y, epochs=1, batch_size=32, verbose=0)
        parts.save(tmp_path / "checkpoint.npz", include_optimizer=True)
        resumed = fnn.load(tmp_path / "checkpoint.npz")
        resumed.fit(X, Y, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert resumed.net.dropout == whole.net.dropout == (0.0, 0.3, 0.3)


def test_dropout_changes_training_but_not_inference():
    with_dropout, without = model([16], rate=0.5), model([16], rate=0.0)
    np.testing.assert_array_equal(with_dropout.params, without.params)  # same initial weights
    for m in (with_dropout, without):
        m.fit(X, Y, epochs=1, batch_size=32, optimizer=fnn.SGD(0.1), verbose=0)
    assert not np.array_equal(with_dropout.params, without.params)
    without.set_params(with_dropout.params)
    np.testing.assert_array_equal(with_dropout.predict_proba(X), without.predict_proba(X))
    assert with_dropout.evaluate(X, Y) == without.evaluate(X, Y)


def test_inverted_scaling_keeps_the_mean_of_the_input():
    """E[out] = x: kept entries are scaled by 1 / (1 - rate), as PyTorch's Dropout."""
    x = np.ones((512, 512))
    out = np.empty_like(x)
    load_backend("numpy").dropout_forward(out, x, 0.25, dropout.step_key(0, 1, 0))
    assert abs(out.mean() - 1.0) < 5 * np.sqrt(0.25 / 0.75 / x.size)


def test_the_gradient_through_dropout_matches_finite_differences():
    """float64, masks fixed by the step: central differences of the batch loss."""
    m = model([7, 5], rate=0.4, dtype="float64")
    net, ops = m.net, load_backend("numpy")
    x, t = X[:10].astype(np.float64), Y[:10]
    ws = net.workspace(10)
    step = 9

    def loss(grad=None):
        logits = loop.forward(ops, net, x, ws.out, ws.z, ws.dropped, step)
        return ops.loss(grad, logits, t, "softmax_cross_entropy")

    loss(ws.dout[-1])
    loop.backward(ops, net, x, ws.out, ws.dout, ws.z, ws.dropped, step)
    analytic = net.grads.copy()
    h = 1e-6  # truncation ~h^2 |f'''| ~ 1e-12; rounding ~u |f| / h ~ 1e-10
    numeric = np.empty_like(analytic)
    for p in range(net.n_params):
        saved = net.params[p]
        net.params[p] = saved + h
        up = loss()
        net.params[p] = saved - h
        down = loss()
        net.params[p] = saved
        numeric[p] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    assert np.count_nonzero(ws.dropped[1] == 0) > 0  # some inputs of layer 1 were dropped


def test_layers_give_writable_views_of_the_parameters():
    m = fnn.Sequential([fnn.Dense(12, 4, "relu"), fnn.Dropout(0.2), fnn.Dense(4, 2)])
    assert m.layers[2].W.shape == (4, 2) and m.layers[0].b.shape == (4,)
    m.layers[2].b[:] = [1.0, -1.0]
    np.testing.assert_array_equal(m.params[-2:], [1.0, -1.0])
    m.layers[0].W[...] = 0
    m.fitted = True
    np.testing.assert_array_equal(m.logits(X[:3]), np.tile([1.0, -1.0], (3, 1)))
    with pytest.raises(AttributeError, match="model.layers"):
        getattr(fnn.Dense(3, 2), "W")  # noqa: B009 (the property under test)


@pytest.mark.parametrize("layers,match", [
    ([fnn.Dense(12, 2), fnn.Dropout(0.1)], "not last"),
    ([fnn.Dropout(0.1), fnn.Dropout(0.1), fnn.Dense(12, 2)], "both Dropout"),
    ([fnn.Dropout(0.1)], "not last"),
])
def test_misplaced_dropout_is_refused(layers, match):
    with pytest.raises(ConfigError, match=match):
        fnn.Sequential(layers)


@pytest.mark.parametrize("rate", [-0.1, 1.0, float("nan"), "0.5"])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueRangeError, match="rate|dropout"):
        fnn.Dropout(rate)
    with pytest.raises(ValueRangeError, match="dropout"):
        fnn.MLP([4, 3, 2], dropout=rate)


def test_model_files_keep_the_dropout_and_onnx_leaves_it_out(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="ONNX Runtime is optional")
    m = model([16], rate=0.5)
    m.fit(X, Y, epochs=1, verbose=0)
    m.save(tmp_path / "m.npz")
    loaded = fnn.load(tmp_path / "m.npz")
    assert repr(loaded) == repr(m) and "Dropout(0.5)" in repr(m)
    fnn.onnx.export(m, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    probabilities = session.run(["probabilities"], {"X": X})[0]
    np.testing.assert_allclose(probabilities, m.predict_proba(X), rtol=1e-5, atol=1e-6)
