"""The backend contract: a backend implements the ops it speeds up, the reference gives it
the rest, and one that lists an op it does not define fails at load, naming it."""

import types

import numpy as np
import pytest

import fastnn as fnn
from fastnn import kernels
from fastnn.errors import BackendError
from fastnn.kernels import loop
from fastnn.kernels.contract import OPS, Ops


def module(**ops):
    return types.SimpleNamespace(name="partial", OPS=tuple(ops), **ops)


def test_a_partial_backend_takes_the_reference_for_the_rest():
    ref = kernels.load_backend("numpy")
    calls = []

    def softmax(out, logits):
        calls.append(logits.shape)
        ref.softmax(out, logits)

    ops = Ops(module(softmax=softmax), ref)
    assert ops.own == ("softmax",)
    assert ops.dense_forward is ref.dense_forward and ops.optimizer_step is ref.optimizer_step
    assert ops.train_epochs.func is loop.train_epochs and ops.train_epochs.args == (ops,)
    out = np.empty((2, 3))
    ops.softmax(out, np.zeros((2, 3)))
    assert calls == [(2, 3)]


def test_every_contract_op_is_there_on_every_backend():
    for name in kernels.BACKENDS:
        ops = kernels.load_backend(name)
        assert all(callable(getattr(ops, op)) for op in OPS), name


@pytest.mark.parametrize("listed, defined, words", [
    (("softmax",), {}, ["'partial'", "does not define: softmax"]),
    (("softmax", "fused_magic"), {"softmax": print}, ["fused_magic", "contract does not have"]),
])
def test_a_backend_that_lists_what_it_lacks_fails_at_load(listed, defined, words):
    bad = types.SimpleNamespace(name="partial", OPS=listed, **defined)
    with pytest.raises(LookupError) as info:
        Ops(bad, kernels.load_backend("numpy"))
    assert all(word in str(info.value) for word in words), str(info.value)


def test_the_reference_must_define_every_op():
    incomplete = module(softmax=print)
    with pytest.raises(LookupError, match="does not define: dense_forward"):
        Ops(incomplete)


def test_load_backend_reports_an_incomplete_backend_as_a_backend_error(monkeypatch):
    monkeypatch.setitem(kernels.BACKENDS, "partial", "fastnn.kernels.partial_for_test")
    monkeypatch.setitem(__import__("sys").modules, "fastnn.kernels.partial_for_test",
                        module(softmax=None))
    with pytest.raises(BackendError, match="'partial' is incomplete.*softmax"):
        kernels.load_backend("partial")
    assert "partial" not in kernels._loaded


def test_an_unknown_rule_runs_its_reference_update_on_numba(monkeypatch):
    """A rule the numba backend does not compile (here: AdamW hidden from it) still
    trains there: the generic loop, each step through the rule's reference update."""
    from fastnn.kernels.numba_backend import optim

    monkeypatch.delitem(optim.CODES, "adamw")
    steps = []
    real = optim.reference_step
    monkeypatch.setattr(optim, "reference_step",
                        lambda *args: steps.append(args[2].rule) or real(*args))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    with fnn.use_backend("numba"):
        model = fnn.MLP([3, 4, 2], seed=0)
        model.fit(X, y, epochs=2, batch_size=8, verbose=0, optimizer=fnn.AdamW())
    assert steps == ["adamw"] * 10 and model.optimizer_state.step == 10
