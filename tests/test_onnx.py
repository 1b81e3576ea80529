"""fastnn.onnx: exported graphs run in ONNX Runtime and agree with predict / predict_proba.

How far ONNX Runtime may differ from fastnn is derived, not tuned (Higham, *Accuracy and
Stability of Numerical Algorithms*, ch. 2-3; units from fastnn.kernels.rounding and
.tolerances). Both evaluate the same arithmetic on the same weights in the model's dtype,
each in its own summation order and with its own exp/tanh, so bound each one's error
against the exact result and allow the sum of the two bounds, times SAFETY (4, the
project's single margin for what first-order analysis leaves out):

- input: x is given in the model's dtype (exact); ``x * input_scale`` rounds the scale to
  the dtype and then the product: e_0 = 2u |x s| (0 when s = 1).
- layer l, fan-in K: z = a @ W + b is a (K+1)-term sum, error <= gamma_{K+1} M_l with
  M_l = |a| @ |W| + |b| in any order (BLAS blocking, FMA), plus the propagated input
  error e_{l-1} @ |W|, both times the activation unit's LIPSCHITZ bound (1, gelu 1.13);
  the unit adds its own rounding, VALUE_ROUNDINGS u (tanh 8u, sigmoid 14u, leaky relu u,
  relu and identity 0) relative to its output plus INPUT_ROUNDINGS u |z| (gelu's 6u,
  whose 1 + erf cancels). ONNX Runtime's sigmoid is another kind: a rational approximation
  around 1/2
  (clamped at |z| = 18 in float32), so its error is absolute, SIGMOID_ABS_ULPS u
  (measured over [-40, 40]: 2.8u in float32, 2u in float64; tiny outputs come out as 0 or
  1.5e-8, not exp(z)); its tanh and softmax stay within the relative bounds used here.
  So e_l = L (e_{l-1} @ |W| + gamma_{K+1} M_l) + r_act u |a_l| + r_in u |z_l|
  (+ SIGMOID_ABS_ULPS u for a sigmoid). E = e_L bounds the logits; magnitudes come from a
  float64 evaluation.
- logits and the predictions of mse, huber and mae: |onnx - fastnn| <= 2 SAFETY E;
  poisson's exp(z): exp(z) (E + 8u) each side (the logit error through exp, whose slope is
  exp(z), and exp's own 4 ulps), so 2 SAFETY exp(z) (E + 8u).
- softmax: a logit error d changes log p_j by d_j - sum_i p_i d_i, so
  |dp_j| <= p_j (E_j + sum_i p_i E_i), twice (both sides) times SAFETY, plus softmax's own
  rounding from ``softmax_tol`` (exp at 4 ulps, the sum, the divide; already 2 SAFETY).
- sigmoid: |d sigmoid(z)| <= sigmoid(z)(1 - sigmoid(z)) |d|, plus ``sigmoid_tol``'s 14u
  relative and ONNX Runtime's SIGMOID_ABS_ULPS u absolute.
- labels: a label may differ only where rounding can reorder the logits that decide it:
  softmax rows whose two chosen classes' float64 logits lie within 2 SAFETY (E_i + E_j) of
  each other, sigmoid entries with |z| <= 2 SAFETY E. Everywhere else they must be equal.

For the float32 nets below (K <= 17, gamma_17 = 1.0e-6) a layer adds 2 SAFETY gamma_17 =
8e-6 of its magnitudes M to the allowance; measured differences use at most ~6% of it
(the bound is the worst case K u, typical errors grow like sqrt(K) u).
"""

import importlib
import importlib.util
import subprocess
import sys
import types

import numpy as np
import pytest

import fastnn as fnn
from fastnn import cli
from fastnn.kernels.activations import UNITS, resolve
from fastnn.kernels.losses import UNITS as LOSS_UNITS, resolve as resolve_loss
from fastnn.kernels.rounding import SAFETY, gamma, unit_roundoff
from fastnn.kernels.tolerances import sigmoid_tol, softmax_tol

HAVE_ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="needs the 'onnx' extra (onnx and "
                                "onnxruntime): pip install 'fastnn[onnx]'")

if HAVE_ONNX:
    import onnx
    import onnxruntime as ort

    import fastnn.onnx

ACTIVATIONS = (*UNITS, "leaky_relu(0.2)", "gelu(tanh)")  # every unit, and parameter forms
# the last layer's activation: each in turn, so every activation is both hidden and last
OUTPUT_ACTIVATION = dict(zip(ACTIVATIONS, ACTIVATIONS[1:] + ACTIVATIONS[:1]))
HEADS = [(spec, k) for spec in (*LOSS_UNITS, "huber(0.5)")  # every loss unit's output
         for k in ((3,) if resolve_loss(spec)[0].HITS == "argmax" else
                   (1, 3) if resolve_loss(spec)[0].HITS == "sign" else (1, 2))]
BATCHES = (1, 7, 300)
SIGMOID_ABS_ULPS = 4  # ONNX Runtime's absolute sigmoid error, in u (module docstring)


def net(act, loss, k, dtype, input_scale=1.0, n_in=5):
    layers = [fnn.Dense(n_in, 16, act), fnn.Dense(16, 8, act),
              fnn.Dense(8, k, OUTPUT_ACTIVATION[act])]
    return fnn.Sequential(layers, loss=loss, dtype=dtype, seed=1, input_scale=input_scale)


def targets(loss, k, X, rng):
    """Learnable targets for ``loss`` and k outputs from X (n, 5)."""
    z = X[:, :k] - X[:, -k:]
    unit = resolve_loss(loss)[0]
    if unit.HITS == "argmax":
        return np.argmax(z, axis=1)
    if unit.HITS == "sign":
        return (z > 0).astype(float)
    if unit.PREDICT == "exp":
        return rng.poisson(np.exp(np.clip(z, -3, 3))).astype(float)
    return z + 0.1 * rng.normal(size=z.shape)


def session(model, tmp_path, **kwargs):
    path = tmp_path / "model.onnx"
    fastnn.onnx.export(model, path, **kwargs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # shared CI cores
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(sess, X):
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"X": X})))


def logits_bound(model, X):
    """(float64 logits (n, k), E (n, k)): one side's forward error bound (module docstring)."""
    u = unit_roundoff(model.dtype)
    shift, scale = model.input_shift, model.input_scale
    a = (X.astype(np.float64) - shift) * scale
    mapped = np.any(np.asarray(shift) != 0) or np.any(np.asarray(scale) != 1)
    # fl(fl(x - fl(s)) * fl(c)): four roundings, that of s carried by |c s|
    e = 4 * u * (np.abs(a) + np.abs(scale * shift)) if mapped else np.zeros_like(a)
    for W, b, act in zip(model.net.W, model.net.b, model.net.activations):
        W, b = W.astype(np.float64), b.astype(np.float64)
        magnitude = np.abs(a) @ np.abs(W) + np.abs(b)
        z = a @ W + b
        unit, param = resolve(act)
        a = np.empty_like(z)
        unit.forward(a, z, param)  # the unit's reference, in float64
        own = ((unit.VALUE_ROUNDINGS * np.abs(a) + unit.INPUT_ROUNDINGS * np.abs(z)) * u
               + (unit.NAME == "sigmoid") * SIGMOID_ABS_ULPS * u)
        if unit.NAME == "gelu" and not param and model.dtype == np.float64:
            # the exported graph takes erf in float32 (ONNX Runtime has no float64 Erf):
            # the float32 argument (u32) and erf (8 u32), halved, times |z|
            own = own + 4.5 * unit_roundoff(np.float32) * np.abs(z)
        e = (unit.LIPSCHITZ * (e @ np.abs(W) + gamma(W.shape[0] + 1, model.dtype) * magnitude)
             + own)
    return a, e


def assert_matches(model, sess, X):
    """ONNX Runtime's outputs on X against predict / predict_proba, within the bound."""
    got = run(sess, X)
    z, E = logits_bound(model, X)
    atol = 2 * SAFETY * E
    predicted = model.predict(X)
    unit = resolve_loss(model.loss)[0]
    if unit.HITS == "none":
        pred = got["predictions"]
        assert pred.dtype == model.dtype and pred.shape == predicted.shape
        if unit.PREDICT == "exp":
            atol = 2 * SAFETY * np.exp(z) * (E + 8 * unit_roundoff(model.dtype))
        excess = np.abs(pred.reshape(z.shape) - predicted.reshape(z.shape)) - atol
        assert excess.max() <= 0, f"predictions off by up to {excess.max():.3g} beyond the bound"
        return
    proba = model.predict_proba(X)
    p, label = got["probabilities"], got["label"]
    assert p.dtype == model.dtype and p.shape == proba.shape
    assert label.dtype == np.int64 and label.shape == predicted.shape
    if unit.HITS == "argmax":
        ez = np.exp(z - z.max(axis=1, keepdims=True))
        q = ez / ez.sum(axis=1, keepdims=True)
        p_atol = (2 * SAFETY * q * (E + np.sum(q * E, axis=1, keepdims=True))
                  + softmax_tol(model.logits(X))[0])
        p_rtol = 0.0
        rows = np.arange(len(z))
        gap = np.abs(z[rows, label] - z[rows, predicted])
        near_tie = gap <= atol[rows, label] + atol[rows, predicted]
    else:
        q = 0.5 * (1 + np.tanh(z / 2))
        floor, p_rtol = sigmoid_tol(p)
        p_atol = 2 * SAFETY * (q * (1 - q) * E + SIGMOID_ABS_ULPS * unit_roundoff(p.dtype)) + floor
        near_tie = (np.abs(z) <= atol).reshape(label.shape)
    excess = np.abs(p - proba) - (p_atol + p_rtol * np.abs(proba))
    assert excess.max() <= 0, f"probabilities off by up to {excess.max():.3g} beyond the bound"
    differs = label != predicted
    assert not (differs & ~near_tie).any(), (
        f"labels differ away from ties at {np.argwhere(differs & ~near_tie)[:5].tolist()}")


def fitted(act, loss, k, dtype, how, rng):
    model = net(act, loss, k, dtype)
    if how == "random":
        model.set_params(rng.normal(0, 0.7, model.params.shape))
    else:
        X = rng.normal(0, 1.5, (64, 5))
        # exp(z)'s gradient grows with z: a log-link net trains at a smaller rate
        lr = 1e-3 if resolve_loss(loss)[0].PREDICT == "exp" else 0.01
        model.fit(X, targets(loss, k, X, rng), epochs=3, batch_size=16, verbose=0,
                  optimizer=fnn.SGD(lr=lr))
    return model


@needs_onnx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,k", HEADS)
def test_onnx_runtime_matches_predict(backend, tmp_path, rng, loss, k, dtype):
    X = rng.normal(0, 2, (max(BATCHES), 5)).astype(dtype)
    for act in ACTIVATIONS:
        for how in ("random", "trained"):
            model = fitted(act, loss, k, dtype, how, rng)
            sess = session(model, tmp_path)
            for n in BATCHES:
                assert_matches(model, sess, X[:n])


@needs_onnx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_input_scale_takes_raw_uint8(backend, tmp_path, rng, dtype):
    model = net("relu", "softmax_cross_entropy", 4, dtype, input_scale=1 / 255, n_in=12)
    images = rng.integers(0, 256, (200, 12), dtype=np.uint8)
    model.fit(images, rng.integers(0, 4, 200), epochs=2, verbose=0)
    sess = session(model, tmp_path)
    assert_matches(model, sess, images.astype(dtype))
    # ... which is what fastnn computes from the raw images, bit for bit:
    np.testing.assert_array_equal(model.predict_proba(images),
                                  model.predict_proba(images.astype(dtype)))
    unscaled = net("relu", "softmax_cross_entropy", 4, dtype, n_in=12)
    unscaled.set_params(model.params)
    assert not np.allclose(run(sess, images.astype(dtype))["probabilities"],
                           unscaled.predict_proba(images))  # the scale is really in the graph


@needs_onnx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,k", HEADS)
def test_a_per_feature_input_map_is_in_the_graph(backend, tmp_path, rng, loss, k, dtype):
    """input_shift and input_scale per feature (a standardising model): ONNX Runtime on the
    raw rows matches predict on them, and differs from the same weights without the map."""
    X = rng.normal(0, 2, (300, 5)) * [1, 10, 100, 0.1, 1] + [0, 50, -300, 1, 7]
    shift, scale = X.mean(axis=0), 1 / X.std(axis=0)
    layers = [fnn.Dense(5, 16, "tanh"), fnn.Dense(16, k)]
    model = fnn.Sequential(layers, loss=loss, dtype=dtype, seed=1, input_shift=shift,
                           input_scale=scale)
    model.fit(X, targets(loss, k, (X - shift) * scale, rng), epochs=3, verbose=0)
    X = X.astype(dtype)
    sess = session(model, tmp_path)
    assert_matches(model, sess, X)
    unmapped = fnn.Sequential(layers, loss=loss, dtype=dtype)
    unmapped.set_params(model.params)
    regression = resolve_loss(loss)[0].HITS == "none"
    output = "predictions" if regression else "probabilities"
    assert not np.allclose(run(sess, X)[output].reshape(len(X), -1),
                           unmapped.predict(X).reshape(len(X), -1) if regression else
                           unmapped.predict_proba(X))


@needs_onnx
@pytest.mark.parametrize("names", [["cat", "dog", "émeu"], [3, 10, 42], [0.5, 1.5, 2.5]],
                         ids=["str", "int", "float"])
def test_class_names_are_the_label_output(backend, tmp_path, rng, names):
    """A model with classes: ``label`` holds the names predict returns, ``label_index``
    the index; float64, so no two logits tie within rounding on random rows."""
    model = fnn.MLP([5, 16, 3], seed=1, dtype="float64", classes=names)
    X = rng.normal(0, 2, (300, 5))
    model.fit(X, np.asarray(names)[targets("softmax_cross_entropy", 3, X, rng)], epochs=3,
              verbose=0)
    got = run(session(model, tmp_path), X)
    predicted = model.predict(X)
    assert got["label_index"].dtype == np.int64
    assert np.array_equal(np.asarray(names)[got["label_index"]], predicted)
    assert got["label"].tolist() == predicted.tolist()
    assert len(set(predicted.tolist())) > 1


@needs_onnx
def test_float32_export_of_a_float64_model(backend, tmp_path, rng):
    model = fitted("tanh", "softmax_cross_entropy", 3, "float64", "random", rng)
    sess = session(model, tmp_path, dtype="float32")
    assert sess.get_inputs()[0].type == "tensor(float)"
    as_float32 = net("tanh", "softmax_cross_entropy", 3, "float32")
    as_float32.set_params(model.params.astype(np.float32))
    assert_matches(as_float32, sess, rng.normal(0, 2, (50, 5)).astype(np.float32))


@needs_onnx
def test_file_is_checked_records_opset_and_has_a_symbolic_batch(tmp_path, rng):
    model = fitted("relu", "mse", 1, "float32", "random", rng)
    path = tmp_path / "model.onnx"
    fastnn.onnx.export(model, path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", fastnn.onnx.DEFAULT_OPSET)]
    assert proto.producer_name == "fastnn"
    (x,) = proto.graph.input
    assert [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim] == ["N", 5]
    fastnn.onnx.export(model, path, opset=fastnn.onnx.MIN_OPSET)
    assert onnx.load(path).opset_import[0].version == fastnn.onnx.MIN_OPSET
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert_matches(model, sess, rng.normal(size=(7, 5)).astype(np.float32))


@needs_onnx
@pytest.mark.parametrize("opset", [12, 10**4, "20", True, 20.0])  # MIN_OPSET is 13
def test_bad_opset_is_refused(tmp_path, rng, opset):
    model = fitted("relu", "mse", 1, "float32", "random", rng)
    with pytest.raises(fnn.ValueRangeError, match="opset must be an integer from"):
        fastnn.onnx.export(model, tmp_path / "model.onnx", opset=opset)
    assert not list(tmp_path.iterdir())


@needs_onnx
def test_unwritable_paths_and_unfitted_models_are_refused(tmp_path, rng):
    model = fitted("relu", "mse", 1, "float32", "random", rng)
    with pytest.raises(FileNotFoundError, match="missing"):
        fastnn.onnx.export(model, tmp_path / "missing" / "model.onnx")
    with pytest.raises(IsADirectoryError):
        fastnn.onnx.export(model, tmp_path)
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")
    with pytest.raises(fnn.NotFittedError, match="not been fitted"):
        fastnn.onnx.export(net("relu", "mse", 1, "float32"), path)
    assert path.read_bytes() == b"old"
    with pytest.raises(fnn.DTypeError, match="float32 or float64"):
        fastnn.onnx.export(model, path, dtype="float16")
    with pytest.raises(fnn.ConfigError, match="fastnn.Sequential"):
        fastnn.onnx.export(model.params, path)
    assert path.read_bytes() == b"old"


@needs_onnx
def test_estimator_holding_a_model_exports_it(tmp_path, rng):
    model = fitted("tanh", "sigmoid_bce", 2, "float64", "random", rng)
    estimator = types.SimpleNamespace(fastnn_model_=model)
    path = tmp_path / "estimator.onnx"
    fastnn.onnx.export(estimator, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert_matches(model, sess, rng.normal(size=(7, 5)))


@needs_onnx
def test_cli_export_round_trip(tmp_path, rng):
    model = fitted("relu", "softmax_cross_entropy", 3, "float64", "trained", rng)
    model.save(tmp_path / "model.npz")
    done = subprocess.run([sys.executable, "-m", "fastnn", "export", tmp_path / "model.npz",
                           tmp_path / "model.onnx", "--float32"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"opset {fastnn.onnx.DEFAULT_OPSET}, float32" in done.stdout
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    as_float32 = net("relu", "softmax_cross_entropy", 3, "float32")
    as_float32.set_params(model.params.astype(np.float32))
    assert_matches(as_float32, sess, rng.normal(0, 2, (300, 5)).astype(np.float32))


@needs_onnx
@pytest.mark.parametrize("argv,message", [
    (["absent.npz", "out.onnx"], "absent.npz"),
    (["model.npz", "nowhere/out.onnx"], "nowhere"),
    (["model.npz", "out.onnx", "--opset", "12"], "opset must be an integer from 13"),
])
def test_cli_export_errors_are_one_line(capsys, tmp_path, monkeypatch, rng, argv, message):
    fitted("relu", "mse", 2, "float32", "random", rng).save(tmp_path / "model.npz")
    monkeypatch.chdir(tmp_path)
    status = cli.main(["export", *argv])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.startswith("fastnn: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out.onnx").exists()


def test_import_without_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    monkeypatch.delitem(sys.modules, "fastnn.onnx", raising=False)
    with pytest.raises(ImportError) as info:
        importlib.import_module("fastnn.onnx")
    assert str(info.value) == "fastnn.onnx needs the 'onnx' extra: pip install 'fastnn[onnx]'"
