"""Bad input at the API boundary: one clear fastnn error naming the problem, never a crash.

Each bad input below must raise the documented ``fastnn.FastnnError`` subclass (which also
derives from the matching built-in) with a one-line message naming the argument and what
was given. Inputs that look odd but are valid (integer or uint8 images, Fortran-ordered,
strided, read-only or big-endian arrays) must train and predict exactly as a C-contiguous
float array with the same values does.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnn as fnn
from fastnn import _validate
from fastnn.errors import (
    BackendError,
    ConfigError,
    DTypeError,
    FastnnError,
    NonFiniteError,
    NotFittedError,
    ShapeError,
    ValueRangeError,
)

N, D, K = 20, 3, 3


def expect(exc_type, words, fn, *args, **kwargs):
    """Call fn; it must raise exc_type with a one-line message containing every word."""
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, FastnnError)
    message = str(info.value)
    assert "\n" not in message, f"multi-line message: {message!r}"
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = np.arange(N) % K
    return X, y


def with_value(a, index, value, dtype=float):
    a = np.array(a, dtype=dtype)
    a[index] = value
    return a


def classifier(**kw):
    return fnn.MLP([D, 5, K], seed=0, **kw)


def fitted(model):
    """Mark a model fitted without training (set_params keeps its initial weights)."""
    model.set_params(model.params.copy())
    return model


X0, Y0 = data()

# (id, X, y, error, words the message must contain), for a 3-feature 3-class classifier.
BAD_CLASSIFICATION_DATA = [
    ("X-1d", X0[:, 0], Y0, ShapeError, ["X", "2-D", "(20,)"]),
    ("X-3d", X0[:, :, None], Y0, ShapeError, ["X", "2-D", "(20, 3, 1)"]),
    ("X-scalar", 5.0, Y0, ShapeError, ["X", "2-D", "()"]),
    ("X-too-many-features", np.ones((N, 4)), Y0, ShapeError, ["X", "4 features", "takes 3"]),
    ("X-too-few-features", np.ones((N, 1)), Y0, ShapeError, ["X", "1 features", "takes 3"]),
    ("X-ragged", [[1.0, 2.0, 3.0], [1.0, 2.0]], [0, 1], ShapeError, ["X", "rectangular"]),
    ("X-empty", np.empty((0, D)), Y0[:0], ShapeError, ["X", "empty", "(0, 3)"]),
    ("X-empty-list", [], [], ShapeError, ["X", "2-D", "(0,)"]),
    ("X-nan", with_value(X0, ([1, 5], [2, 0]), np.nan), Y0, NonFiniteError,
     ["X", "2 NaN or infinite", "index (1, 2)"]),
    ("X-inf", with_value(X0, (7, 1), -np.inf), Y0, NonFiniteError,
     ["X", "1 NaN or infinite", "index (7, 1)"]),
    ("X-object", X0.astype(object), Y0, DTypeError, ["X", "dtype object"]),
    ("X-object-with-None", with_value(X0, (0, 0), None, object), Y0, DTypeError,
     ["X", "dtype object"]),
    ("X-string", X0.astype(str), Y0, DTypeError, ["X", "dtype <U"]),
    ("X-bytes", X0.astype("S8"), Y0, DTypeError, ["X", "dtype |S8"]),
    ("X-complex", X0.astype(complex), Y0, DTypeError, ["X", "complex128", "(complex)"]),
    ("X-datetime", np.zeros((N, D), "datetime64[s]"), Y0, DTypeError, ["X", "datetime64"]),
    ("X-beyond-float32", with_value(X0, (2, 1), 1e39), Y0, ValueRangeError,
     ["X", "float32", "1e+39", "index (2, 1)", "float64"]),
    ("y-short", X0, Y0[:-1], ShapeError, ["y", "(19,)", "20"]),
    ("y-long", X0, np.r_[Y0, 0], ShapeError, ["y", "(21,)", "20"]),
    ("y-scalar", X0, 1, ShapeError, ["y", "()", "20"]),
    # (20, K) is taken as target probabilities (one-hot rows included); another width not
    ("y-one-hot-too-wide", X0, np.eye(K + 1)[Y0], ShapeError, ["y", "1-D", "(20, 4)"]),
    ("y-negative-probabilities", X0, -np.eye(K)[Y0], ValueRangeError,
     ["y", "probabilities", ">= 0"]),
    ("y-fractional", X0, with_value(Y0, 3, 0.5), ValueRangeError,
     ["y", "integer", "0.5", "index 3"]),
    ("y-negative", X0, with_value(Y0, 4, -1, np.int64), ValueRangeError,
     ["y", "0..2", "-1", "index 4"]),
    ("y-equals-n-classes", X0, with_value(Y0, 5, 3, np.int64), ValueRangeError,
     ["y", "0..2", "3", "index 5"]),
    ("y-huge-uint", X0, with_value(Y0, 6, 2**64 - 1, np.uint64), ValueRangeError,
     ["y", "0..2", "18446744073709551615", "index 6"]),
    ("y-nan", X0, with_value(Y0, 2, np.nan), NonFiniteError, ["y", "1 NaN", "index 2"]),
    ("y-inf", X0, with_value(Y0, 9, np.inf), NonFiniteError, ["y", "1 NaN", "index 9"]),
    ("y-object", X0, Y0.astype(object), DTypeError, ["y", "dtype object"]),
    ("y-string", X0, np.array(["a", "b"] * 10), DTypeError, ["y", "dtype <U1"]),
    ("y-complex", X0, Y0.astype(complex), DTypeError, ["y", "complex"]),
]


@pytest.mark.parametrize("X, y, error, words",
                         [case[1:] for case in BAD_CLASSIFICATION_DATA],
                         ids=[case[0] for case in BAD_CLASSIFICATION_DATA])
def test_fit_rejects_bad_classification_data(X, y, error, words):
    model = classifier()
    before = model.params.copy()
    expect(error, words, model.fit, X, y, epochs=1, verbose=0)
    assert not model.fitted
    np.testing.assert_array_equal(model.params, before)


# (id, number of outputs, loss, y, error, words) for X0 (20 samples).
BAD_TARGETS = [
    ("mse-3-columns-for-1-output", 1, "mse", np.ones((N, 3)), ShapeError,
     ["y", "(20, 1)", "(20, 3)"]),
    ("mse-1d-for-2-outputs", 2, "mse", np.ones(N), ShapeError, ["y", "(20, 2)", "(20,)"]),
    ("mse-3d", 2, "mse", np.ones((N, 2, 1)), ShapeError, ["y", "(20, 2)", "(20, 2, 1)"]),
    ("mse-wrong-rows", 1, "mse", np.ones(N + 3), ShapeError, ["y", "(23,)", "20"]),
    ("mse-nan", 1, "mse", with_value(np.ones(N), 11, np.nan), NonFiniteError,
     ["y", "1 NaN", "index 11"]),
    ("mse-beyond-float32", 1, "mse", with_value(np.ones(N), 4, -1e300), ValueRangeError,
     ["y", "float32", "-1e+300", "index 4;"]),
    ("mse-string", 1, "mse", np.array(["1.0"] * N), DTypeError, ["y", "dtype <U3"]),
    ("bce-above-1", 2, "sigmoid_bce", with_value(np.zeros((N, 2)), (3, 1), 2.0),
     ValueRangeError, ["y", "sigmoid_bce", "[0, 1]", "2.0"]),
    ("bce-negative", 1, "sigmoid_bce", with_value(np.zeros(N), 0, -0.5), ValueRangeError,
     ["y", "[0, 1]", "-0.5"]),
    ("bce-wrong-columns", 2, "sigmoid_bce", np.zeros((N, 3)), ShapeError,
     ["y", "(20, 2)", "(20, 3)"]),
]


@pytest.mark.parametrize("k, loss, y, error, words", [case[1:] for case in BAD_TARGETS],
                         ids=[case[0] for case in BAD_TARGETS])
def test_fit_rejects_bad_targets(k, loss, y, error, words):
    model = fnn.MLP([D, 4, k], loss=loss, seed=0)
    expect(error, words, model.fit, X0, y, epochs=1, verbose=0)


@pytest.mark.parametrize("name, values", [
    ("epochs", [0, -3, np.nan, 2.5, "10", True, None]),
    ("batch_size", [0, -32, np.nan, 1.5, "32", True]),
    ("verbose", [3, -1, "yes"]),
])
def test_fit_rejects_bad_settings(name, values):
    model = classifier()
    for value in values:
        expect(ValueRangeError, [name, repr(value)], model.fit, X0, Y0,
               **{"epochs": 1, "verbose": 0, name: value})


@pytest.mark.parametrize("make, name, value", [
    (fnn.SGD, "lr", 0), (fnn.SGD, "lr", -0.1), (fnn.SGD, "lr", float("nan")),
    (fnn.SGD, "lr", float("inf")), (fnn.SGD, "lr", "0.1"), (fnn.SGD, "lr", None),
    (fnn.SGD, "momentum", -0.1), (fnn.SGD, "momentum", 1.0), (fnn.SGD, "momentum", 1.5),
    (fnn.SGD, "momentum", float("nan")), (fnn.SGD, "weight_decay", -1e-4),
    (fnn.Adam, "lr", 0.0), (fnn.Adam, "lr", -1e-3), (fnn.Adam, "lr", float("nan")),
    (fnn.Adam, "beta1", 1.0), (fnn.Adam, "beta2", -0.1), (fnn.Adam, "eps", 0),
    (fnn.Adam, "weight_decay", float("inf")),
])
def test_optimizer_rejects_bad_hyperparameters(make, name, value):
    expect(ValueRangeError, [name, repr(value)], make, **{name: value})


def test_nesterov_needs_momentum():
    expect(ValueRangeError, ["nesterov", "momentum"], fnn.SGD, lr=0.1, nesterov=True)


@pytest.mark.parametrize("sizes, words", [
    ([3, 0, 2], ["sizes[1]", "positive integer", "0"]),
    ([3, -4, 2], ["sizes[1]", "-4"]),
    ([3, float("nan"), 2], ["sizes[1]", "nan"]),
    ([3, 2.5, 2], ["sizes[1]", "2.5"]),
    ([3, True, 2], ["sizes[1]", "True"]),
    ([0, 2], ["sizes[0]", "0"]),
    ([3, 4, "2"], ["sizes[2]", "'2'"]),
    ([3], ["sizes", "at least", "[3]"]),
    ([], ["sizes", "at least", "[]"]),
])
def test_mlp_rejects_bad_sizes(sizes, words):
    expect(ValueRangeError, words, fnn.MLP, sizes)


def test_mlp_rejects_an_unallocatable_size():
    expect(ValueRangeError, ["sizes", str(2**62)], fnn.MLP, [3, 2**62, 2])


def test_mlp_accepts_sizes_as_a_numpy_array():
    assert fnn.MLP(np.array([3, 4, 2])).sizes == (3, 4, 2)


def test_dense_rejects_bad_sizes():
    expect(ValueRangeError, ["Dense out_features", "0"], fnn.Dense, 3, 0)
    expect(ValueRangeError, ["Dense in_features", "-1"], fnn.Dense, -1, 3)


ACTIVATION_NAMES = ["identity", "relu", "tanh", "sigmoid"]


@pytest.mark.parametrize("kwargs, words", [
    ({"activation": "rleu"}, ["activation", "'rleu'", *ACTIVATION_NAMES]),
    ({"activation": None}, ["activation", "None", *ACTIVATION_NAMES]),
    ({"output_activation": "softmax"}, ["activation", "'softmax'", *ACTIVATION_NAMES]),
    ({"loss": "cross_entropy"}, ["loss", "'cross_entropy'", "softmax_cross_entropy",
                                 "sigmoid_bce", "mse"]),
])
def test_unknown_names_list_the_valid_ones(kwargs, words):
    expect(ConfigError, words, fnn.MLP, [D, 4, K], **kwargs)


@pytest.mark.parametrize("optimizer, words", [
    ("adamax", ["optimizer", "'adamax'", "sgd", "adam"]),
    ("", ["optimizer", "''", "sgd", "adam"]),
    (0.1, ["optimizer", "0.1", "SGD", "Adam"]),
    ([1, 2], ["optimizer", "[1, 2]"]),
])
def test_unknown_optimizer_lists_the_valid_ones(optimizer, words):
    expect(ConfigError, words, classifier().fit, X0, Y0, epochs=1, optimizer=optimizer,
           verbose=0)


@pytest.mark.parametrize("dtype", ["float16", "int32", np.complex64, "nope"])
def test_model_dtype_must_be_float32_or_float64(dtype):
    expect(DTypeError, ["dtype", "float32 or float64", repr(dtype)], fnn.MLP, [D, K],
           dtype=dtype)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_seed_must_be_a_non_negative_integer(seed):
    expect(ValueRangeError, ["seed", repr(seed)], fnn.MLP, [D, K], seed=seed)


def test_sequential_structure_errors():
    expect(ShapeError, ["layer 0 gives 4", "layer 1 takes 5"], fnn.Sequential,
           [fnn.Dense(3, 4), fnn.Dense(5, 2)])
    expect(ConfigError, ["Sequential", "Dense"], fnn.Sequential, [])
    expect(ConfigError, ["Sequential", "Dense"], fnn.Sequential, [fnn.Dense(3, 2), "relu"])
    expect(ValueRangeError, ["softmax_cross_entropy", "2 outputs", "sigmoid_bce"], fnn.MLP,
           [3, 1])


def test_validation_data_is_checked_by_name():
    model = classifier()
    expect(ConfigError, ["validation_data", "pair"], model.fit, X0, Y0, epochs=1, verbose=0,
           validation_data=X0)
    expect(ShapeError, ["validation X", "4 features", "takes 3"], model.fit, X0, Y0, epochs=1,
           verbose=0, validation_data=(np.ones((5, 4)), Y0[:5]))
    expect(ValueRangeError, ["validation y", "0..2", "7"], model.fit, X0, Y0, epochs=1,
           verbose=0, validation_data=(X0[:5], [0, 1, 2, 7, 0]))
    expect(ShapeError, ["validation y", "(4,)", "5"], model.fit, X0, Y0, epochs=1,
           verbose=0, validation_data=(X0[:5], Y0[:4]))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "logits"])
def test_unfitted_model_refuses_to_predict(method):
    expect(NotFittedError, ["not been fitted", "fit()", "fastnn.load"],
           getattr(classifier(), method), X0)


def test_unfitted_model_refuses_to_evaluate():
    expect(NotFittedError, ["not been fitted"], classifier().evaluate, X0, Y0)


# (id, X, error, words) for predict on a fitted 3-feature model.
BAD_PREDICT_INPUT = [
    ("too-few-features", np.ones((4, 2)), ShapeError, ["X", "2 features", "takes 3"]),
    ("too-many-features", np.ones((4, 30)), ShapeError, ["X", "30 features", "takes 3"]),
    ("one-sample-as-1d", np.ones(3), ShapeError, ["X", "2-D", "(3,)"]),
    ("empty", np.ones((0, 3)), ShapeError, ["X", "empty"]),
    ("nan", with_value(np.ones((4, 3)), (3, 2), np.nan), NonFiniteError,
     ["X", "1 NaN", "(3, 2)"]),
    ("object", np.ones((4, 3), object), DTypeError, ["X", "object"]),
    ("beyond-float32", with_value(np.ones((4, 3)), (1, 0), -4e38), ValueRangeError,
     ["X", "float32", "-4e+38", "(1, 0)"]),
]


@pytest.mark.parametrize("method", ["predict", "predict_proba", "logits"])
@pytest.mark.parametrize("X, error, words", [case[1:] for case in BAD_PREDICT_INPUT],
                         ids=[case[0] for case in BAD_PREDICT_INPUT])
def test_predict_rejects_mismatched_input(method, X, error, words):
    expect(error, words, getattr(fitted(classifier()), method), X)


def test_evaluate_checks_x_and_y():
    model = fitted(classifier())
    expect(ShapeError, ["X", "2 features", "takes 3"], model.evaluate, np.ones((4, 2)), Y0[:4])
    expect(ValueRangeError, ["y", "0..2", "9"], model.evaluate, X0[:3], [0, 9, 1])


def test_predict_proba_needs_a_classification_loss():
    model = fitted(fnn.MLP([D, 1], loss="mse"))
    expect(ConfigError, ["predict_proba", "mse"], model.predict_proba, X0)


def test_set_params_checks_shape_and_values():
    model = classifier()
    p = model.params.size
    expect(ShapeError, ["params", f"({p},)", f"({p + 1},)"], model.set_params, np.ones(p + 1))
    expect(NonFiniteError, ["params", "1 NaN"], model.set_params,
           with_value(np.ones(p), 0, np.nan))
    expect(DTypeError, ["params", "object"], model.set_params, np.ones(p, object))
    assert not model.fitted


@pytest.mark.parametrize("name", ["nope", "", "NUMPIE", None])
def test_unknown_backend_lists_the_valid_ones(name):
    expect(BackendError, ["unknown backend", repr(name), "check", "numba", "numpy"],
           fnn.set_backend, name)
    with pytest.raises(BackendError):
        with fnn.use_backend(name):
            pass


@pytest.mark.parametrize("n", [0, -2, 2.5, "4", True])
def test_set_num_threads_rejects_non_positive_integers(n):
    expect(ConfigError, ["threads", "positive integer", repr(n)], fnn.set_num_threads, n)


def test_errors_derive_from_the_matching_builtins():
    pairs = [(fnn.ShapeError, ValueError), (fnn.DTypeError, TypeError),
             (fnn.ValueRangeError, ValueError), (fnn.NonFiniteError, ValueError),
             (fnn.ConfigError, ValueError), (fnn.BackendError, ValueError),
             (fnn.NotFittedError, RuntimeError), (fnn.DataFileError, ValueError),
             (fnn.ChecksumError, fnn.DataFileError), (fnn.ModelFileError, ValueError),
             (fnn.TrainingDivergedError, FloatingPointError)]
    for error, builtin in pairs:
        assert issubclass(error, fnn.FastnnError) and issubclass(error, builtin), error
    with pytest.raises(ValueError):  # callers may catch the built-in
        classifier().fit(np.ones((4, 2)), [0, 1, 0, 1], verbose=0)


# -- environment variables: checked in a fresh interpreter ---------------------------------

FIT_SCRIPT = ("import numpy as np, fastnn as f; "
              "f.MLP([2, 2]).fit(np.zeros((4, 2)), [0, 1, 0, 1], epochs=1, verbose=0)")


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter with this environment minus fastnn's settings
    (and the wait policy a user may have set) plus env."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("FASTNN_BACKEND", "FASTNN_NUM_THREADS", "OMP_WAIT_POLICY")}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                          text=True, timeout=120)


def assert_one_error_line(proc, error_name, *words):
    """A failed run whose traceback ends in one fastnn error line and shows no numba frames."""
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    last = lines[-1]
    assert last.startswith(f"fastnn.errors.{error_name}: "), proc.stderr
    for word in words:
        assert word in last, last
    assert sum(line.startswith("fastnn.errors.") for line in lines) == 1, proc.stderr
    frames = [line for line in lines if line.lstrip().startswith("File ")]
    assert not any("numba" in frame for frame in frames), proc.stderr
    assert "TypingError" not in proc.stderr


def test_backend_names_are_case_insensitive(monkeypatch):
    monkeypatch.setattr(fnn.backend, "_default", fnn.backend._default)
    fnn.set_backend("NumPy")
    assert fnn.backend_name() == "numpy"
    with fnn.use_backend("NUMPY") as ops:
        assert fnn.backend_name() == "numpy" and ops is fnn.get_backend()


def test_fastnn_backend_env_is_case_insensitive():
    proc = run_python(FIT_SCRIPT + "; print(f.backend_name())", FASTNN_BACKEND="NumPy")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["numpy"]


def test_more_threads_than_cores_are_capped_with_a_warning():
    cores = os.cpu_count()
    code = ("import warnings; warnings.simplefilter('always'); " + FIT_SCRIPT +
            "; print(f.thread_info()['requested'])")
    proc = run_python(code, FASTNN_BACKEND="numpy", FASTNN_NUM_THREADS=str(cores + 997))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(cores)]
    assert "RuntimeWarning" in proc.stderr
    assert f"{cores + 997} threads requested but this machine has {cores} CPU(s)" in proc.stderr


@pytest.mark.parametrize("value", ["nope", "num py", "numba,numpy"])
def test_unknown_fastnn_backend_env(value):
    proc = run_python(FIT_SCRIPT, FASTNN_BACKEND=value)
    assert_one_error_line(proc, "BackendError", "unknown backend", repr(value), "check",
                          "numba", "numpy")


@pytest.mark.parametrize("value", ["0", "-2", "abc", "1.5", "4 threads"])
def test_bad_fastnn_num_threads_env(value):
    proc = run_python(FIT_SCRIPT, FASTNN_BACKEND="numpy", FASTNN_NUM_THREADS=value)
    assert_one_error_line(proc, "ConfigError", "FASTNN_NUM_THREADS", "positive integer",
                          repr(value))


def test_good_fastnn_num_threads_env_is_applied():
    code = FIT_SCRIPT + "; print(f.thread_info()['requested'])"
    proc = run_python(code, FASTNN_BACKEND="numpy", FASTNN_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1"]


def test_bad_fastnn_num_threads_env_keeps_failing():
    code = textwrap.dedent("""
        import numpy as np, fastnn as f
        for attempt in range(2):
            try:
                f.MLP([2, 2]).fit(np.zeros((4, 2)), [0, 1, 0, 1], epochs=1, verbose=0)
                print("attempt", attempt, "ran")
            except f.ConfigError:
                print("attempt", attempt, "refused")
    """)
    proc = run_python(code, FASTNN_BACKEND="numpy", FASTNN_NUM_THREADS="0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["attempt 0 refused", "attempt 1 refused"], proc.stdout


def test_set_num_threads_leaves_openmp_settings_alone():
    """OpenMP's runtime is shared (PyTorch uses the libgomp numba loads): fastnn sets no
    wait policy, in the environment or otherwise, and keeps the user's."""
    code = ("import os, numba, fastnn as f; f.set_num_threads(1); f.set_backend('numba'); "
            "print(numba.threading_layer(), os.environ.get('OMP_WAIT_POLICY'))")
    proc = run_python(code, NUMBA_THREADING_LAYER="omp")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == ["omp", "None"]
    kept = run_python(code, NUMBA_THREADING_LAYER="omp", OMP_WAIT_POLICY="ACTIVE")
    assert kept.stdout.split()[-2:] == ["omp", "ACTIVE"], kept.stderr


def test_numpy_integers_set_the_thread_count():
    proc = run_python("import numpy as np, fastnn as f; f.set_num_threads(np.int64(1)); "
                      "print(f.thread_info()['requested'])")
    assert proc.returncode == 0 and proc.stdout.split() == ["1"], proc.stderr


def test_more_threads_than_numbas_pool_holds_warns_and_reaches_blas():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 CPUs")
    code = ("import fastnn as f; f.set_num_threads(1); f.set_backend('numba'); "
            "f.set_num_threads(2); i = f.thread_info(); "
            "print(i['numba_threads'], i['blas'][0]['num_threads'])")
    proc = run_python(code, NUMBA_NUM_THREADS="1")  # the user's: fastnn sets no env vars
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "2"]
    assert "RuntimeWarning" in proc.stderr and "numba keeps 1, BLAS gets 2" in proc.stderr


# -- valid but unusual arrays: accepted, converted once, same results ------------------

def blobs(n=64, d=4, k=3, seed=1):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(size=(n, d)) + 3 * np.eye(k, d)[y]
    return X, y


def train(X, y, sizes=(4, 8, 3), **kw):
    model = fnn.MLP(list(sizes), seed=3)
    model.fit(X, y, epochs=3, batch_size=16, optimizer=fnn.SGD(lr=0.05, momentum=0.9),
              verbose=0, **kw)
    return model


def strided(a):
    """A view of ``a``'s values that is neither C- nor Fortran-contiguous."""
    big = np.zeros((a.shape[0] * 2,) + tuple(s * 3 for s in a.shape[1:]), a.dtype)
    view = big[::2, ::3] if a.ndim == 2 else big[::2]
    view[...] = a
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("variant", ["fortran", "strided", "read-only", "big-endian",
                                     "reversed-rows", "list"])
def test_memory_layout_does_not_change_results(backend, variant):
    X, y = blobs()
    X = X.astype(np.float32)
    make = {"fortran": np.asfortranarray, "strided": strided, "read-only": read_only,
            "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
            "reversed-rows": lambda a: a[::-1].copy()[::-1], "list": lambda a: a.tolist()}[variant]
    Xv, yv = make(X), make(y)
    np.testing.assert_array_equal(np.asarray(Xv), X)
    reference, other = train(X, y), train(Xv, yv)
    np.testing.assert_array_equal(other.params, reference.params)
    np.testing.assert_array_equal(reference.logits(Xv), reference.logits(X))
    np.testing.assert_array_equal(reference.predict(Xv), reference.predict(X))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64, np.uint32, bool])
def test_integer_and_uint8_images_are_accepted(backend, dtype):
    rng = np.random.default_rng(2)
    y = np.arange(60) % 3
    pixels = (rng.integers(0, 2 if dtype is bool else 256, size=(60, 16))
              + (40 * np.eye(3, 16)[y] if dtype is not bool else 0)).clip(0, 255)
    X = pixels.astype(dtype)
    as_float = X.astype(np.float32)
    reference, model = train(as_float, y, sizes=(16, 8, 3)), train(X, y, sizes=(16, 8, 3))
    np.testing.assert_array_equal(model.params, reference.params)
    np.testing.assert_array_equal(model.predict(X), reference.predict(as_float))
    assert np.isfinite(model.history["loss"]).all()


def test_inputs_are_validated_and_converted_once(backend, monkeypatch):
    X, y = blobs()
    X = (X * 20 + 100).clip(0, 255).astype(np.uint8)
    calls = []
    original = _validate.features

    def counting(arr, *args, **kwargs):
        calls.append(arr)
        return original(arr, *args, **kwargs)

    monkeypatch.setattr(_validate, "features", counting)
    train(X, y)
    assert len(calls) == 1 and calls[0] is X


def test_conforming_input_is_not_copied():
    X = np.ones((5, 3), np.float32)
    assert _validate.features(X, 3, np.float32) is X
    assert _validate.features(X, 3, np.float64).dtype == np.float64


def test_finite_values_whose_sum_overflows_are_accepted():
    # The finiteness check sums first; an overflowing sum must fall back to the entrywise
    # check, not reject finite data.
    big = np.finfo(np.float32).max
    X = np.full((4, 3), big, np.float32)
    assert _validate.features(X, 3, np.float32) is X
    with pytest.raises(NonFiniteError, match="index \\(1, 2\\)"):
        _validate.features(with_value(X, (1, 2), np.nan), 3, np.float32)


@pytest.mark.parametrize("loss, hint", [
    ("softmax_cross_entropy", "np.unique(y, return_inverse=True)"),
    ("mse", "np.asarray(y, dtype=float)"),
])
def test_string_targets_say_how_to_encode_them(loss, hint):
    model = fnn.MLP([2, 2 if loss != "mse" else 1], loss=loss)
    expect(DTypeError, ["y", "dtype <U3", hint], model.fit, np.zeros((2, 2)), ["cat", "dog"])
    X_strings = np.array([["a", "b"], ["c", "d"]])
    with pytest.raises(DTypeError) as info:
        model.fit(X_strings, [0, 1])
    assert "np.unique" not in str(info.value)


def test_float_labels_and_column_labels_are_accepted(backend):
    X, y = blobs()
    reference = train(X, y)
    for labels in (y.astype(np.float64), y.reshape(-1, 1), y.astype(np.uint8), y.tolist()):
        np.testing.assert_array_equal(train(X, labels).params, reference.params)


# -- the helpers around the model: datasets, preprocessing, parameters ------------------

def _set_nan_params():
    model = fnn.MLP([4, 3], seed=0)
    params = np.zeros(model.params.size)
    params[7] = np.nan
    model.set_params(params)


@pytest.mark.parametrize("call, error, words", [
    (_set_nan_params, NonFiniteError, ["params", "1 NaN", "index 7"]),
    (lambda: fnn.datasets.load_mnist(dtype="bogus"), DTypeError, ["load_mnist", "'bogus'"]),
    (lambda: fnn.set_backend(["numpy"]), BackendError, ["unknown backend", "['numpy']"]),
    (lambda: fnn.MLP([2, 2], dtype=None), DTypeError, ["float32 or float64", "None"]),
    (lambda: fnn.datasets.make_moons(seed=-1), ValueRangeError, ["seed", "-1"]),
    (lambda: fnn.datasets.make_moons(10.5), ValueRangeError, ["n_samples", "10.5"]),
    (lambda: fnn.datasets.make_moons(noise=float("inf")), ValueRangeError, ["noise", "inf"]),
    (lambda: fnn.datasets.train_test_split(np.zeros((10, 2)), np.zeros(10), seed=-1),
     ValueRangeError, ["train_test_split", "seed", "-1"]),
    (lambda: fnn.datasets.Standardizer().fit(np.array([[np.nan, 1.0], [1.0, 2.0]])),
     NonFiniteError, ["Standardizer.fit", "index (0, 0)"]),
])
def test_helpers_name_the_bad_argument(call, error, words):
    expect(error, words, call)
