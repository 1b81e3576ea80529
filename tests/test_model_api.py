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
