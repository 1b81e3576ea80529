"""Sequential.summary and the warning for inputs a model scales a second time."""

import warnings

import numpy as np
import pytest

import fastnn as fnn


def test_summary_is_a_table_and_repr_is_unchanged():
    model = fnn.MLP([784, 256, 10], input_scale=1 / 255)
    lines = model.summary().splitlines()
    assert lines[0].split() == ["layer", "in", "->", "out", "activation", "parameters"]
    assert lines[2].split() == ["0", "Dense", "784", "->", "256", "relu", "200,960"]
    assert lines[3].split() == ["1", "Dense", "256", "->", "10", "identity", "2,570"]
    assert lines[-1].startswith(f"total {model.params.size:,} parameters (float32); loss "
                                "softmax_cross_entropy, input_scale 0.00392157")
    assert str(model) == repr(model) and repr(model).startswith("Sequential([Dense(784, 256")


def pixel_model():
    model = fnn.MLP([6, 3], seed=0, input_scale=1 / 255)
    model.set_params(np.random.default_rng(0).normal(size=model.params.size))
    return model


@pytest.mark.parametrize("method", ["predict", "predict_proba", "logits", "evaluate"])
def test_already_scaled_inputs_warn_once_per_call(method):
    model = pixel_model()
    X = np.random.default_rng(1).random((5, 6), dtype=np.float32)  # in [0, 1)
    args = (X, np.zeros(5, np.int64)) if method == "evaluate" else (X,)
    with pytest.warns(UserWarning, match=r"input_scale=0\.00392157.*load_mnist\(dtype=np\.uint8"
                      ) as record:
        getattr(model, method)(*args)
    assert len(record) == 1
    assert record[0].filename == __file__  # points at the caller


@pytest.mark.parametrize("X", [np.full((2, 6), 200.0), np.full((2, 6), 200, np.uint8)])
def test_raw_inputs_do_not_warn(X):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixel_model().predict(X)


def test_a_model_without_input_scale_does_not_warn():
    model = fnn.MLP([6, 3])
    model.set_params(np.zeros(model.params.size))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(np.full((2, 6), 0.5))


def test_a_subclass_of_dense_is_refused_naming_it():
    """A Dense subclass's own code would never run (the kernels compute act(x @ W + b)
    from the sizes and activation): refused, not trained as a plain Dense."""

    class LoudDense(fnn.Dense):
        def forward(self, x):
            raise RuntimeError("forward was called")

    with pytest.raises(fnn.ConfigError, match=r"layer 1 is a .*LoudDense, a subclass of "
                                              r"fastnn.Dense"):
        fnn.Sequential([fnn.Dense(4, 8, "relu"), LoudDense(8, 3)])
    fnn.Sequential([fnn.Dense(4, 8, "relu"), fnn.Dense(8, 3)])  # plain Dense layers are fine


# -- the input map and class names ---------------------------------------------------------
def test_a_per_feature_input_map_is_training_on_the_mapped_rows(backend):
    """fit, predict and evaluate on raw rows with input_shift/input_scale per feature are
    bit for bit what the same model without the map gives on (x - shift) * scale, in the
    model's dtype (validation included)."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 3)) * [1, 50, 0.02] + [5, -300, 1]
    y = rng.integers(0, 3, 80)
    shift, scale = X.mean(axis=0), 1 / X.std(axis=0)
    mapped = (X.astype(np.float32) - shift.astype(np.float32)) * scale.astype(np.float32)
    raw = fnn.MLP([3, 8, 3], seed=0, input_shift=shift, input_scale=scale)
    plain = fnn.MLP([3, 8, 3], seed=0)
    for model, rows in ((raw, X), (plain, mapped)):
        model.fit(rows, y, epochs=4, batch_size=16, validation_split=0.25, verbose=0)
    assert np.array_equal(raw.params, plain.params)
    assert raw.history["val_loss"] == plain.history["val_loss"]
    assert np.array_equal(raw.predict_proba(X), plain.predict_proba(mapped))
    assert raw.evaluate(X, y) == plain.evaluate(mapped, y)


def test_class_names_in_fit_predict_and_evaluate(backend):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 2))
    names = np.array(["left", "right"])
    y = names[(X[:, 0] > 0).astype(int)]
    for loss, k in (("softmax_cross_entropy", 2), ("sigmoid_bce", 1)):
        model = fnn.MLP([2, k], loss=loss, seed=0, classes=names)
        model.fit(X, y, epochs=30, batch_size=None, optimizer=fnn.SGD(lr=0.5), verbose=0,
                  validation_data=(X[:10], y[:10]))
        predicted = model.predict(X)
        assert predicted.dtype.kind == "U" and set(predicted) == {"left", "right"}, loss
        assert model.evaluate(X, y)["accuracy"] == np.mean(predicted == y) > 0.9, loss
    with pytest.raises(fnn.ValueRangeError, match=r"y must hold this model's class names "
                                                  r"\(\['left', 'right'\]\), got 'up' at index 1"):
        model.evaluate(X[:3], ["left", "up", "right"])
    with pytest.raises(fnn.ShapeError, match="class names"):
        model.fit(X, (X[:, 0] > 0).astype(int), verbose=0)  # labels where names are due


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(classes=["a", "b"]), fnn.ShapeError, "3 classes"),
    (dict(classes=["a", "b", "a"]), fnn.ValueRangeError, "distinct"),
    (dict(classes=["a", "b", "c"], loss="mse"), fnn.ConfigError, "classes need loss"),
    (dict(input_scale=[1.0, 0.0, 1.0, 1.0]), fnn.ValueRangeError, "must be positive"),
    (dict(input_shift=[0.0, 1.0]), fnn.ShapeError, "one per input feature (4,)"),
    (dict(input_shift=[0.0, np.nan, 0.0, 0.0]), fnn.NonFiniteError, "input_shift"),
])
def test_bad_input_maps_and_classes_are_refused(kwargs, error, words):
    with pytest.raises(error) as info:
        fnn.MLP([4, 3], **kwargs)
    assert words in str(info.value)
