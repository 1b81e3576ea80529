"""Training as it continues: optimizer state kept between fits, checkpoints, schedules,
callbacks, a held-out split and an exploding loss; on every backend."""

import math
import warnings

import numpy as np
import pytest

import fastnn as fnn
from fastnn.errors import ConfigError, ModelFileError, TrainingDivergenceWarning

NETS = {"small-net": [6, 8, 3], "generic": [6, 96, 64, 3]}
OPTIMIZERS = {
    "sgd-nesterov": lambda: fnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: fnn.Adam(lr=0.01),
    "adamw": lambda: fnn.AdamW(lr=0.01),
    "rmsprop": lambda: fnn.RMSprop(lr=1e-3, momentum=0.5, centered=True),  # 3 slots
    "onecycle": lambda: fnn.SGD(lr=fnn.schedules.OneCycle(max_lr=0.1, epochs=4),
                                momentum=0.9),
    "adam-clipnorm": lambda: fnn.Adam(lr=0.01, clipnorm=0.3),
    "sgd-clipped": lambda: fnn.SGD(lr=0.05, momentum=0.9, clipnorm=0.5, clipvalue=0.02),
    "adam-eps-hat": lambda: fnn.Adam(lr=0.01, eps=0.1, eps_hat=True),  # Keras's eps
    "adamw-decay-schedule": lambda: fnn.AdamW(  # DINO's rising cosine
        lr=0.01, weight_decay=fnn.schedules.CosineDecay(0.04, epochs=4, final_lr=0.4)),
}


def test_every_rule_is_covered():
    assert ({opt().rule for opt in OPTIMIZERS.values()} == set(fnn.optimizers.OPTIMIZERS))


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_two_fits_equal_one_fit_bit_for_bit(backend, net, optimizer):
    X, y = data()
    once = fnn.MLP(NETS[net], seed=3)
    once.fit(X, y, epochs=4, batch_size=16, optimizer=OPTIMIZERS[optimizer](), verbose=0)
    twice = fnn.MLP(NETS[net], seed=3)
    twice.fit(X, y, epochs=1, batch_size=16, optimizer=OPTIMIZERS[optimizer](), verbose=0)
    twice.fit(X, y, epochs=3, batch_size=16, optimizer=OPTIMIZERS[optimizer](), verbose=0)
    assert twice.params.tobytes() == once.params.tobytes()
    for a, b in zip(twice.optimizer_state.slots, once.optimizer_state.slots):
        assert a.tobytes() == b.tobytes()
    assert twice.optimizer_state.step == once.optimizer_state.step == 4 * 8
    assert twice.history.epochs == 4 and twice.history["loss"] == once.history["loss"]
    assert twice.history["lr"] == once.history["lr"]


def test_another_rule_or_a_reset_starts_fresh(backend):
    X, y = data()
    model = fnn.MLP(NETS["small-net"], seed=0)
    model.fit(X, y, epochs=2, batch_size=16, optimizer=fnn.SGD(0.05, momentum=0.9), verbose=0)
    kept = model.optimizer_state
    model.fit(X, y, epochs=1, batch_size=16, optimizer=fnn.SGD(0.01, momentum=0.9), verbose=0)
    assert model.optimizer_state is kept and kept.step == 24 and kept.lr == 0.01
    model.fit(X, y, epochs=1, batch_size=16, optimizer=fnn.Adam(), verbose=0)
    assert model.optimizer_state is not kept and model.optimizer_state.step == 8
    model.reset_optimizer()
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)  # None: SGD() afresh
    assert model.optimizer == fnn.SGD() and model.optimizer_state.step == 8
    assert model.history.epochs == 5


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_checkpoint_resumes_exactly(backend, optimizer, tmp_path):
    X, y = data()
    path = tmp_path / "run.npz"
    straight = fnn.MLP(NETS["generic"], seed=5)
    straight.fit(X, y, epochs=3, batch_size=16, optimizer=OPTIMIZERS[optimizer](), verbose=0)
    stopped = fnn.MLP(NETS["generic"], seed=5)
    stopped.fit(X, y, epochs=1, batch_size=16, optimizer=OPTIMIZERS[optimizer](), verbose=0)
    stopped.save(path, include_optimizer=True)
    resumed = fnn.load(path)
    assert resumed.optimizer == stopped.optimizer
    resumed.fit(X, y, epochs=2, batch_size=16, verbose=0)
    assert resumed.params.tobytes() == straight.params.tobytes()


def test_a_checkpoint_is_validated(tmp_path):
    X, y = data()
    model = fnn.MLP(NETS["small-net"], seed=0)
    model.fit(X, y, epochs=1, batch_size=16, optimizer=fnn.Adam(), verbose=0)
    model.save(tmp_path / "plain.npz")
    assert fnn.load(tmp_path / "plain.npz").optimizer_state is None
    model.save(tmp_path / "ckpt.npz", include_optimizer=True)
    entries = dict(np.load(tmp_path / "ckpt.npz"))
    for broken, why in ((dict(optimizer_slots=entries["optimizer_slots"][:1]), "shape"),
                        (dict(optimizer_step=np.array(-1)), "non-negative"),
                        (dict(optimizer=np.array('{"class": "Evil", "fields": {}}')), "Evil")):
        np.savez(tmp_path / "bad.npz", **{**entries, **broken})
        with pytest.raises(ModelFileError, match=why):
            fnn.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "partial.npz", **{k: v for k, v in entries.items()
                                         if k != "shuffle_state"})
    with pytest.raises(ModelFileError, match="missing shuffle_state"):
        fnn.load(tmp_path / "partial.npz")


def test_onecycle_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch's OneCycleLR is the oracle")
    total, max_lr = 37, 0.1
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total,
                                                cycle_momentum=False)
    want = []
    for _ in range(total):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ours = fnn.schedules.OneCycle(max_lr=max_lr).bind(steps_per_epoch=total, epochs=1)
    np.testing.assert_allclose(ours(np.arange(total)), want, rtol=1e-12)


def test_schedules_by_their_definition():
    step = fnn.schedules.StepDecay(1.0, every=2, gamma=0.5).bind(10, 6)
    assert step(np.array([0, 19, 20, 59])).tolist() == [1.0, 1.0, 0.5, 0.25]
    cos = fnn.schedules.CosineDecay(1.0, warmup_epochs=1, final_lr=0.0).bind(10, 3)
    rates = cos(np.arange(30))
    assert rates[0] == pytest.approx(1 / 25) and rates[10] == pytest.approx(1.0)
    assert rates[20] == pytest.approx(0.5) and np.all(np.diff(rates[10:]) <= 0)


def test_a_schedule_runs_per_step_on_every_path():
    """On the check backend every step's update is replayed on the reference with the
    learning rate and weight decay of that step (a path that used another would raise)."""
    X, y = data()
    for sizes in NETS.values():
        with fnn.use_backend("check"):
            model = fnn.MLP(sizes, seed=0)
            h = model.fit(X, y, epochs=2, batch_size=32, verbose=0, optimizer=fnn.SGD(
                lr=fnn.schedules.OneCycle(max_lr=0.2), momentum=0.9,
                weight_decay=fnn.schedules.CosineDecay(0.5, final_lr=0.01)))
        assert h["lr"][0] > h["lr"][1] > 0  # the peak is in epoch 1 of 2 (pct_start 0.3)


@pytest.mark.parametrize("net", NETS)
def test_a_weight_decay_schedule_gives_each_step_its_decay(backend, net):
    """Halving the weight decay after one epoch by a schedule equals two fits with the
    two decays (0.5 * 0.5 is exact), bit for bit."""
    X, y = data()
    scheduled = fnn.MLP(NETS[net], seed=1)
    scheduled.fit(X, y, epochs=2, batch_size=16, verbose=0, optimizer=fnn.SGD(
        lr=0.05, momentum=0.9, weight_decay=fnn.schedules.StepDecay(0.5, every=1, gamma=0.5)))
    by_hand = fnn.MLP(NETS[net], seed=1)
    for decay in (0.5, 0.25):
        by_hand.fit(X, y, epochs=1, batch_size=16, verbose=0,
                    optimizer=fnn.SGD(lr=0.05, momentum=0.9, weight_decay=decay))
    assert scheduled.params.tobytes() == by_hand.params.tobytes()
    constant = fnn.MLP(NETS[net], seed=1)
    constant.fit(X, y, epochs=2, batch_size=16, verbose=0,
                 optimizer=fnn.SGD(lr=0.05, momentum=0.9, weight_decay=0.5))
    assert constant.params.tobytes() != scheduled.params.tobytes()


def test_a_bad_weight_decay_schedule_is_named():
    X, y = data()
    model = fnn.MLP(NETS["small-net"], seed=0)
    with pytest.raises(ValueError, match="weight-decay schedule .* finite weight decays"):
        model.fit(X, y, epochs=1, verbose=0,
                  optimizer=fnn.Adam(weight_decay=lambda steps: np.full(len(steps), np.nan)))


def test_early_stopping_restores_the_best_epoch(backend):
    X, y = data(200)
    model = fnn.MLP(NETS["small-net"], seed=0)
    stop = fnn.EarlyStopping(monitor="val_loss", patience=2)
    h = model.fit(X, y, epochs=200, batch_size=16, optimizer=fnn.SGD(0.3, momentum=0.9),
                  validation_split=0.3, callbacks=[stop], verbose=0)
    assert h.epochs == stop.stopped_epoch < 200
    best = h["val_loss"][stop.best_epoch - 1]
    assert best == min(h["val_loss"])
    X_val, y_val = X[fnn.callbacks.validation_rows(200, 0.3, model.seed)[1]], \
        y[fnn.callbacks.validation_rows(200, 0.3, model.seed)[1]]
    assert model.evaluate(X_val, y_val)["loss"] == pytest.approx(best, rel=1e-6)


def test_model_checkpoint_keeps_the_best(backend, tmp_path):
    X, y = data(200)
    model = fnn.MLP(NETS["small-net"], seed=0)
    ckpt = fnn.ModelCheckpoint(tmp_path / "best.npz", monitor="val_accuracy")
    every = fnn.ModelCheckpoint(tmp_path / "e{epoch}.npz", save_best_only=False)
    model.fit(X, y, epochs=6, batch_size=16, validation_split=0.25, callbacks=[ckpt, every],
              optimizer=fnn.SGD(0.1, momentum=0.9), verbose=0)
    assert sorted(p.name for p in tmp_path.glob("e*.npz")) == [f"e{i}.npz" for i in range(1, 7)]
    assert ckpt.best == max(model.history["val_accuracy"])


def test_callbacks_protocol_and_bad_monitor(backend):
    X, y = data()

    class StopAt3(fnn.Callback):
        def on_epoch_end(self, model, epoch, logs):
            assert set(logs) >= {"loss", "accuracy", "lr", "samples_per_s"}
            return epoch == 3

    model = fnn.MLP(NETS["small-net"], seed=0)
    assert model.fit(X, y, epochs=10, callbacks=[StopAt3()], verbose=0).epochs == 3
    with pytest.raises(ConfigError, match="val_loss.*validation_split"):
        model.fit(X, y, epochs=2, callbacks=[fnn.EarlyStopping()], verbose=0)
    with pytest.raises(ConfigError, match="not both"):
        model.fit(X, y, validation_data=(X, y), validation_split=0.2, verbose=0)


def test_an_interrupt_keeps_every_finished_epoch(backend):
    X, y = data()

    class Interrupt(fnn.Callback):
        ended = False

        def on_epoch_end(self, model, epoch, logs):
            if epoch == 3:
                raise KeyboardInterrupt

        def on_train_end(self, model):
            self.ended = True

    model, cb = fnn.MLP(NETS["generic"], seed=0), Interrupt()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, epochs=10, callbacks=[cb], verbose=0)
    assert model.history.epochs == 3 and cb.ended


def test_a_finite_but_exploding_loss_is_reported(backend):
    """XOR at lr 1e6, full batch: epoch 2's loss is finite but ~1e10 (see EXPLOSION): a
    warning, once, and the run goes on holding what its epochs made."""
    X, y = fnn.datasets.logic_gate("xor")
    model = fnn.MLP([2, 16, 2], seed=0)
    with pytest.warns(TrainingDivergenceWarning, match="epoch 2's .* more than 1000 times") \
            as caught:
        model.fit(X, y, epochs=3, batch_size=None, optimizer=fnn.SGD(lr=1e6), verbose=0)
    assert len(caught) == 1 and model.history.epochs == 3
    assert np.isfinite(model.params).all() and math.isfinite(model.history["loss"][-1])
    with pytest.warns(TrainingDivergenceWarning, match="epoch 1's .* 1e\\+06 times"):
        fnn.MLP([2, 16, 2], seed=0).fit(X, y, epochs=1, batch_size=2, verbose=0,
                                        optimizer=fnn.SGD(lr=1e6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sane run is not reported
        fnn.MLP([2, 16, 2], seed=0).fit(X, y, epochs=50, batch_size=None, verbose=0,
                                        optimizer=fnn.SGD(lr=0.5))


def test_large_data_reports_every_epoch(backend, monkeypatch):
    """An epoch of at least EPOCH_CALL_SAMPLES rows is one backend call: the history and
    the progress bar follow each epoch."""
    from fastnn import training
    monkeypatch.setattr(training, "EPOCH_CALL_SAMPLES", 100)
    X, y = data(120)
    calls = []
    ops = fnn.get_backend()
    real = ops.train_epochs
    monkeypatch.setattr(ops, "train_epochs", lambda *a: calls.append(a[5]) or real(*a))
    fnn.MLP(NETS["small-net"], seed=0).fit(X, y, epochs=3, verbose=0)
    assert calls == [1, 1, 1]
    calls.clear()
    monkeypatch.setattr(training, "EPOCH_CALL_SAMPLES", 121)
    monkeypatch.setattr(training, "FIRST_CALL_SAMPLES", 120)
    monkeypatch.setattr(training, "CHUNK_SAMPLES", 120 * 5)
    fnn.MLP(NETS["small-net"], seed=0).fit(X, y, epochs=12, verbose=0)
    assert calls == [1, 2, 4, 5]  # ramping up to CHUNK_SAMPLES // 120 epochs per call
    calls.clear()
    monkeypatch.setattr(training, "FIRST_CALL_SAMPLES", 120 * 3)
    fnn.MLP(NETS["small-net"], seed=0).fit(X, y, epochs=12, verbose=0)
    assert calls == [3, 5, 4]  # from FIRST_CALL_SAMPLES // 120 epochs
