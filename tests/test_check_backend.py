"""The check backend and ``fastnn check``: they pass on a correct numba backend and catch
a wrong one, whichever op is wrong and however it is called."""

import numpy as np
import pytest

import fastnn as fnn
from fastnn import cli
from fastnn.errors import BackendMismatchError
from fastnn.kernels import check_backend
from fastnn.kernels.numba_backend import driver, optim


@pytest.mark.slow
def test_fastnn_check_passes_every_case(capsys):
    status = cli.main(["check"])
    out, err = capsys.readouterr()
    assert status == 0, err
    summary = out.strip().splitlines()[-1]
    passed, failed = summary.split(" passed, ")
    assert int(passed) > 500 and failed == "0 failed", summary


def off_by(op, index, value):
    """``op`` with one output entry overwritten: a fast op wrong in one place."""
    def wrong(out, *args):
        op(out, *args)
        out[index] = value
    return wrong


@pytest.mark.parametrize("in_place", [False, True])
def test_a_softmax_wrong_on_a_tiny_probability_is_caught(monkeypatch, in_place):
    # softmax(z)[0, 1] is about 1e-20; 1e-7 there is far outside the derived tolerance.
    # In place (out is logits, as predict_proba calls it) the tolerance must still come
    # from the logits, not from the probabilities written over them.
    monkeypatch.setattr(check_backend.fast, "softmax",
                        off_by(check_backend.fast.softmax, (0, 1), 1e-7))
    z = np.array([[0.0, -46.0, -1.0]], np.float32)
    out = z if in_place else np.empty_like(z)
    with pytest.raises(BackendMismatchError, match="softmax"):
        check_backend.softmax(out, z)


def test_a_correct_softmax_in_place_passes():
    z = np.array([[0.0, -46.0, -1.0]], np.float32)
    check_backend.softmax(z, z)
    np.testing.assert_allclose(z.sum(), 1.0, rtol=1e-6)


def test_training_on_the_check_backend_stops_at_a_wrong_dense_forward(monkeypatch):
    monkeypatch.setattr(check_backend.fast, "dense_forward",
                        off_by(check_backend.fast.dense_forward, (0, 0), 1e3))
    # a rule numba does not compile sends training through the generic, checked loop
    monkeypatch.delitem(optim.CODES, "sgd")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 30)), rng.integers(0, 3, 64)
    model = fnn.MLP([30, 200, 3], seed=0)
    with fnn.use_backend("check"), pytest.raises(BackendMismatchError, match="dense_forward"):
        model.fit(X, y, epochs=1, batch_size=16, verbose=0)


@pytest.mark.parametrize("sizes", [[30, 20, 3], [30, 200, 3]], ids=["transposed", "rows"])
@pytest.mark.parametrize("which", ["output", "gradient", "dropped"])
def test_a_wrong_value_in_a_compiled_path_is_caught(monkeypatch, sizes, which):
    """One wrong entry in what a compiled step computed (a layer output, the gradient of
    a pre-activation, or a layer's input after dropout), in either layout of the driver,
    fails the op-by-op replay on the reference."""
    real = driver.intermediates

    def wrong(net, m):
        x, outs, dz, zs, dropped = real(net, m)
        {"output": outs[0], "gradient": dz[0], "dropped": dropped[1]}[which][0, 0] += 1.0
        return x, outs, dz, zs, dropped

    monkeypatch.setattr(driver, "intermediates", wrong)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 30)), rng.integers(0, 3, 64)
    match = {"output": "dense_forward.*layer 0", "gradient": "dense_backward.*layer 0",
             "dropped": "dropout_forward.*layer 1"}[which]
    with fnn.use_backend("check"), pytest.raises(BackendMismatchError, match=match):
        fnn.MLP(sizes, seed=0, dropout=0.5).fit(X, y, epochs=1, batch_size=16, verbose=0)
