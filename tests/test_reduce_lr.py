"""``ReduceLROnPlateau``: Keras's rules on constructed sequences of the monitored value,
then through ``fit`` on every backend: the epoch a reduction takes effect, continuation
with the same callback, checkpoints that keep the reduced rate, schedules, and model files
from before the multiplier and clipping existed."""

import json

import numpy as np
import pytest

import fastnn as fnn
from fastnn.errors import ConfigError, ModelFileError, ValueRangeError
from fastnn.kernels.optimizers import OptimizerState


class Holder:
    """What the callback touches of a model: its optimizer state."""

    def __init__(self, lr=1.0):
        self.optimizer_state = OptimizerState("sgd", lr, {}, ())


def run(callback, values, monitor="val_loss", lr=1.0):
    """Feed ``values`` as epochs 1, 2, ... (logs as fit makes them: the monitored value
    and the epoch's rate); returns (epochs after which it reduced, the multiplier)."""
    model = Holder(lr)
    for epoch, value in enumerate(values, start=1):
        rate = float(model.optimizer_state.rates_at(np.array([0]))[0])
        assert callback.on_epoch_end(model, epoch, {monitor: value, "lr": rate}) is None
    return callback.reductions, model.optimizer_state.lr_scale


def test_reductions_follow_keras_rules_on_a_constructed_sequence():
    values = [1.0, 0.9, 0.95, 0.92, 0.91, 0.8, 0.85, 0.85, 0.85, 0.85]
    # improvements at 1, 2, 6; two epochs without one reduce (at 4, 8, 10), wait restarts
    epochs, scale = run(fnn.ReduceLROnPlateau(factor=0.5, patience=2), values)
    assert epochs == [4, 8, 10] and scale == 0.125


def test_min_delta_is_the_improvement_that_counts():
    values = [1.0, 0.95, 0.9, 0.85]  # steps of 0.05
    assert run(fnn.ReduceLROnPlateau(patience=1, min_delta=0.04), values)[0] == []
    # 0.95 is no improvement on 1.0, 0.9 is (best stays 1.0 until then), 0.85 is not
    assert run(fnn.ReduceLROnPlateau(patience=1, min_delta=0.06), values)[0] == [2, 4]


def test_cooldown_skips_counting_after_a_reduction():
    flat = [1.0] * 8
    assert run(fnn.ReduceLROnPlateau(patience=1, cooldown=0), flat)[0] == list(range(2, 9))
    assert run(fnn.ReduceLROnPlateau(patience=1, cooldown=2), flat)[0] == [2, 4, 6, 8]
    assert run(fnn.ReduceLROnPlateau(patience=2, cooldown=1), flat)[0] == [3, 5, 7]


def test_min_lr_floors_a_reduction_and_stops_further_ones():
    epochs, scale = run(fnn.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05), [1.0] * 6)
    assert epochs == [2, 3] and scale == 0.05  # 1 -> 0.1 -> 0.05 (not 0.01), then none


def test_mode_min_max_and_auto():
    rising = [0.5, 0.6, 0.7, 0.7, 0.7]
    # auto: max for accuracy, min for a loss
    assert run(fnn.ReduceLROnPlateau("val_accuracy", patience=2), rising,
               "val_accuracy")[0] == [5]
    assert run(fnn.ReduceLROnPlateau("val_loss", patience=2), rising)[0] == [3, 5]
    assert run(fnn.ReduceLROnPlateau("val_loss", patience=2, mode="max"), rising)[0] == [5]
    assert run(fnn.ReduceLROnPlateau("val_accuracy", patience=2, mode="min"), rising,
               "val_accuracy")[0] == [3, 5]


def test_a_nan_is_no_improvement():
    assert run(fnn.ReduceLROnPlateau(patience=1), [1.0, float("nan")])[0] == [2]


@pytest.mark.parametrize("kwargs,match", [
    (dict(factor=1.0), "factor"), (dict(factor=0.0), "factor"), (dict(patience=-1), "patience"),
    (dict(patience=1.5), "patience"), (dict(cooldown=True), "cooldown"),
    (dict(min_lr=-1e-3), "min_lr"), (dict(mode="up"), "mode"), (dict(verbose=2), "verbose"),
    (dict(min_delta=-1.0), "min_delta")])
def test_arguments_are_validated(kwargs, match):
    with pytest.raises((ConfigError, ValueRangeError), match=match):
        fnn.ReduceLROnPlateau(**kwargs)


# -- through fit -------------------------------------------------------------------------
NETS = {"small-net": [6, 8, 3], "generic": [6, 96, 64, 3]}


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y


def once_at_epoch_2():
    """Reduces after epoch 2 and never again: no epoch improves by 1e9, patience 1, a
    cooldown longer than any run here."""
    return fnn.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9,
                                 cooldown=100)


@pytest.mark.parametrize("net", NETS)
def test_a_reduction_applies_from_the_next_epoch(backend, net):
    """Reduced after epoch 2: epochs 3 and 4 train at half the rate, exactly as a second
    fit at lr / 2 does (0.1 * 0.5 is 0.05 in binary floating point)."""
    X, y = data()
    model = fnn.MLP(NETS[net], seed=1)
    cb = once_at_epoch_2()
    h = model.fit(X, y, epochs=4, batch_size=16, optimizer=fnn.SGD(0.1, momentum=0.9),
                  callbacks=[cb], verbose=0)
    assert cb.reductions == [2] and h["lr"] == [0.1, 0.1, 0.05, 0.05]
    twice = fnn.MLP(NETS[net], seed=1)
    twice.fit(X, y, epochs=2, batch_size=16, optimizer=fnn.SGD(0.1, momentum=0.9), verbose=0)
    twice.fit(X, y, epochs=2, batch_size=16, optimizer=fnn.SGD(0.05, momentum=0.9), verbose=0)
    assert model.params.tobytes() == twice.params.tobytes()


@pytest.mark.parametrize("net", NETS)
def test_two_fits_with_the_same_callback_equal_one(backend, net):
    """The callback's counters and the state's multiplier carry into the second fit: with
    patience 2 it reduces after epochs 3 and 5 either way (a callback that started
    counting afresh would reduce after epoch 4 of the split run)."""
    X, y = data()

    def plateau():
        return fnn.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                     min_delta=1e9)

    kwargs = dict(batch_size=16, validation_data=data(60, seed=1), verbose=0)
    once, cb_once = fnn.MLP(NETS[net], seed=2), plateau()
    once.fit(X, y, epochs=5, optimizer=fnn.Adam(0.01), callbacks=[cb_once], **kwargs)
    split, cb_split = fnn.MLP(NETS[net], seed=2), plateau()
    split.fit(X, y, epochs=2, optimizer=fnn.Adam(0.01), callbacks=[cb_split], **kwargs)
    split.fit(X, y, epochs=3, optimizer=fnn.Adam(0.01), callbacks=[cb_split], **kwargs)
    assert cb_once.reductions == cb_split.reductions == [3, 5]
    assert split.history["lr"] == once.history["lr"] == [0.01] * 3 + [0.005] * 2
    assert split.params.tobytes() == once.params.tobytes()
    split.fit(X, y, epochs=1, optimizer=fnn.Adam(0.01), **kwargs)  # no callback now
    assert split.history["lr"][-1] == 0.0025  # the state keeps its multiplier
    split.reset_optimizer()
    split.fit(X, y, epochs=1, optimizer=fnn.Adam(0.01), **kwargs)
    assert split.history["lr"][-1] == 0.01


def test_a_checkpoint_restores_the_reduced_rate(backend, tmp_path):
    """A checkpoint written after the reduction (ModelCheckpoint after the plateau
    callback) resumes at the reduced rate, bit for bit as the straight run; one written
    before it has no multiplier entry and loads at 1."""
    X, y = data()
    opt = fnn.SGD(0.1, momentum=0.9, clipnorm=0.5)
    straight = fnn.MLP(NETS["generic"], seed=4)
    every = fnn.ModelCheckpoint(tmp_path / "e{epoch}.npz", save_best_only=False,
                                include_optimizer=True)
    straight.fit(X, y, epochs=4, batch_size=16, optimizer=opt,
                 callbacks=[once_at_epoch_2(), every], verbose=0)
    assert "optimizer_lr_scale" not in np.load(tmp_path / "e1.npz")
    assert fnn.load(tmp_path / "e1.npz").optimizer_state.lr_scale == 1
    resumed = fnn.load(tmp_path / "e2.npz")
    assert resumed.optimizer_state.lr_scale == 0.5 and resumed.optimizer == opt
    h = resumed.fit(X, y, epochs=2, batch_size=16, verbose=0)
    assert h["lr"] == [0.05, 0.05]
    assert resumed.params.tobytes() == straight.params.tobytes()


def test_a_schedule_is_multiplied(backend):
    """StepDecay halves the rate every epoch; the reduction after epoch 2 multiplies what
    the schedule gives from epoch 3 on by 0.1. min_lr limits the reduction relative to the
    rate of the epoch it happens in, not the schedule's later decay."""
    X, y = data()
    schedule = fnn.schedules.StepDecay(0.1, every=1, gamma=0.5)
    cb = fnn.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_delta=1e9,
                               cooldown=100)
    h = fnn.MLP(NETS["small-net"], seed=0).fit(
        X, y, epochs=4, batch_size=16, optimizer=fnn.SGD(lr=schedule), callbacks=[cb],
        verbose=0)
    np.testing.assert_allclose(h["lr"], [0.1, 0.05, 0.0025, 0.00125], rtol=1e-15)
    cb = fnn.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_delta=1e9,
                               cooldown=100, min_lr=0.01)
    h = fnn.MLP(NETS["small-net"], seed=0).fit(
        X, y, epochs=4, batch_size=16, optimizer=fnn.SGD(lr=schedule), callbacks=[cb],
        verbose=0)
    np.testing.assert_allclose(h["lr"], [0.1, 0.05, 0.005, 0.0025], rtol=1e-15)


def test_checkpoints_from_before_clipping_and_the_multiplier_load(tmp_path):
    """An older checkpoint: no clipping fields in the optimizer's description, no
    multiplier entry. A multiplier entry is checked like every other entry."""
    X, y = data()
    model = fnn.MLP(NETS["small-net"], seed=0)
    model.fit(X, y, epochs=2, batch_size=16, optimizer=fnn.Adam(clipnorm=0.5, clipvalue=0.1),
              callbacks=[once_at_epoch_2()], verbose=0)
    model.save(tmp_path / "new.npz", include_optimizer=True)
    entries = dict(np.load(tmp_path / "new.npz"))
    described = json.loads(entries["optimizer"].item())
    assert described["fields"]["clipnorm"] == 0.5 and entries["optimizer_lr_scale"] == 0.5
    for key in ("clipnorm", "clipvalue"):
        del described["fields"][key]
    old = {key: value for key, value in entries.items() if key != "optimizer_lr_scale"}
    np.savez(tmp_path / "old.npz", **{**old, "optimizer": np.array(json.dumps(described))})
    loaded = fnn.load(tmp_path / "old.npz")
    assert loaded.optimizer == fnn.Adam() and loaded.optimizer_state.lr_scale == 1
    assert "clipnorm" not in json.loads(np.load(tmp_path / "old.npz")["optimizer"].item())
    for bad in (np.array(0.0), np.array(np.inf), np.array([0.5]), np.array(1)):
        np.savez(tmp_path / "bad.npz", **{**entries, "optimizer_lr_scale": bad})
        with pytest.raises(ModelFileError, match="optimizer_lr_scale"):
            fnn.load(tmp_path / "bad.npz")
    plain = {key: value for key, value in entries.items()
             if key not in ("optimizer", "optimizer_step", "optimizer_slots", "shuffle_state")}
    np.savez(tmp_path / "plain.npz", **plain)
    with pytest.raises(ModelFileError, match="no optimizer state"):
        fnn.load(tmp_path / "plain.npz")
