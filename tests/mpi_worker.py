"""The program ``test_mpi.py`` starts under ``mpiexec -n K``: one scenario per run.

    mpiexec -n 2 python tests/mpi_worker.py SCENARIO OUT_DIR

Each rank writes what the test checks to ``OUT_DIR/SCENARIO-<rank>.npz`` (scenarios that
must fail write a timestamp just before the failure instead). The data and models are
built here from the definitions the test imports (``trajectory_problem``, ``CASES``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from mpi4py import MPI

import fastnn as fnn
from fastnn.mpi import DataParallel, RanksDisagreeError

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
ROWS, BATCH, EPOCHS = 501, 128, 3  # 4 steps per epoch, the last of 117 rows (58 + 59)
SHARD_BATCH, SHARD_0 = 167, 84  # sharded: 3 steps of 167 rows, 84 of rank 0 and 83 of rank 1
VAL_ROWS = 120


class Case(NamedTuple):
    optimizer: Callable
    weighted: str | None = None  # None, or weighted data "replicated" or "sharded"
    loss: str = "softmax_cross_entropy"  # or "mse"


CASES = {
    "sgd-momentum": Case(lambda: fnn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3)),
    "adam": Case(lambda: fnn.Adam(lr=0.01, weight_decay=1e-4)),
    "one-cycle": Case(lambda: fnn.SGD(lr=fnn.schedules.OneCycle(max_lr=0.2), momentum=0.9,
                                      nesterov=True)),
    "weighted-adam": Case(lambda: fnn.Adam(lr=0.01, weight_decay=1e-4), "replicated"),
    "weighted-sharded": Case(lambda: fnn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3),
                             "sharded"),
    "weighted-mse": Case(lambda: fnn.Adam(lr=0.01), "replicated", "mse"),
}


def trajectory_problem(dtype, loss="softmax_cross_entropy"):
    """(model, X, y): a tanh net (smooth: no ReLU kinks for rounding to flip) on a random
    teacher's labels (or, for loss mse, its noisy outputs (ROWS, 3)), ROWS rows."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((ROWS, 8))
    teacher = np.tanh(X @ rng.standard_normal((8, 8))) @ rng.standard_normal((8, 3))
    y = teacher + 0.3 * rng.standard_normal(teacher.shape)
    model = fnn.MLP([8, 24, 16, 3], activation="tanh", seed=3, dtype=dtype, loss=loss)
    return model, X.astype(dtype), np.argmax(y, axis=1) if loss != "mse" else y


def fit_arguments(case, X, y, rank=None):
    """(X, y, fit's keyword arguments) of ``case`` on trajectory_problem's X, y: one
    process's (rank None) or rank ``rank``'s. The weighted cases have zero weights; the
    replicated classifier class weights {0: 2, 2: 0.5}, shuffled; the sharded one
    "balanced" class weights, in natural order so that its global batches are one
    process's: rank r holds rows p of every SHARD_BATCH with (p >= SHARD_0) == r; its
    second step weighs nothing, rank 1's part of its third neither. The classifiers have
    weighted validation data (sharded: rank r holds rows r::2), the regression (R²)
    validation_split, which splits the weights."""
    weighted = CASES[case].weighted
    if weighted is None:
        return X, y, {"batch_size": BATCH}
    rng = np.random.default_rng(11)
    w = rng.uniform(0, 2, ROWS)
    w[::7] = 0
    X_val = rng.standard_normal((VAL_ROWS, X.shape[1])).astype(X.dtype)
    y_val, w_val = rng.integers(0, 3, VAL_ROWS), rng.uniform(0, 2, VAL_ROWS)
    w_val[::5] = 0
    if CASES[case].loss == "mse":
        return X, y, {"batch_size": BATCH, "sample_weight": w, "validation_split": 0.2}
    if weighted == "replicated":
        return X, y, {"batch_size": BATCH, "sample_weight": w,
                      "class_weight": {0: 2.0, 2: 0.5},
                      "validation_data": (X_val, y_val, w_val)}
    w[SHARD_BATCH:2 * SHARD_BATCH] = 0
    w[2 * SHARD_BATCH + SHARD_0:] = 0
    mine, val = slice(None), slice(None)
    if rank is not None:
        mine, val = shard(rank), slice(rank, None, 2)
    return X[mine], y[mine], {"batch_size": SHARD_BATCH, "shuffle": False,
                              "sample_weight": w[mine], "class_weight": "balanced",
                              "validation_data": (X_val[val], y_val[val], w_val[val])}


def shard(rank):
    """Rank ``rank``'s training rows in the sharded case: bool (ROWS,)."""
    return (np.arange(ROWS) % SHARD_BATCH >= SHARD_0) == rank


class Recording(DataParallel):
    """A DataParallel keeping this rank's parameters after every epoch (taken where the
    ranks compare their parameter digests) and its training rows' weights."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epochs, self.weights = [], None

    def _check_params(self, model, epoch):
        self.epochs.append(model.params.copy())
        super()._check_params(model, epoch)

    def _plan(self, model, rows, batch, shuffle, w):
        self.weights = w
        return super()._plan(model, rows, batch, shuffle, w)


def _save(out, name, **arrays):
    np.savez(Path(out) / f"{name}-{RANK}.npz", **arrays)


def _mark_failure(out, name):
    (Path(out) / f"{name}-failing-at").write_text(repr(time.time()))


def trajectories(out, dtype):
    import numba
    threads_before = numba.get_num_threads()
    saved = {}
    for case, (make, weighted, loss) in CASES.items():
        model, X, y = trajectory_problem(dtype, loss)
        X, y, arguments = fit_arguments(case, X, y, RANK)
        with Recording(COMM, sharded=weighted == "sharded") as parallel:
            history = model.fit(X, y, epochs=EPOCHS, optimizer=make(), verbose=0,
                                **arguments)
        saved[f"{case}-params"] = np.stack(parallel.epochs)
        for key in ("loss", "val_loss", model.metric, f"val_{model.metric}"):
            saved[f"{case}-{key}"] = np.array(history.get(key, []))
        if weighted:
            saved[f"{case}-weights"] = parallel.weights
    _save(out, f"trajectories-{np.dtype(dtype).name}", **saved,
          threads=[threads_before, numba.get_num_threads()])


def mnist(out):
    """The README's recipe on sharded data: rank r holds rows r::K only."""
    (X, y), (X_test, y_test) = fnn.datasets.load_mnist()
    model = fnn.MLP([784, 256, 128, 10], activation="relu", seed=0)
    optimizer = fnn.SGD(lr=fnn.schedules.OneCycle(max_lr=0.2), momentum=0.9, nesterov=True,
                        weight_decay=5e-4)
    with DataParallel(COMM, sharded=True):
        history = model.fit(X[RANK::SIZE], y[RANK::SIZE], epochs=4, batch_size=128,
                            optimizer=optimizer, verbose=0)
    _save(out, "mnist", accuracy=model.evaluate(X_test, y_test)["accuracy"],
          loss=history["loss"], params=model.params)


class _Stop(fnn.Callback):
    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, model, epoch, logs):
        return epoch == self.at


class _Raise(fnn.Callback):
    def __init__(self, out):
        self.out = out

    def on_epoch_end(self, model, epoch, logs):
        if epoch == 2:
            _mark_failure(self.out, "fail-callback")
            raise RuntimeError("boom in a callback")


class _Dying(DataParallel):
    def __init__(self, out, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.out = out

    def _check_params(self, model, epoch):
        if RANK == 1 and epoch == 2:
            _mark_failure(self.out, "killed")
            os.kill(os.getpid(), signal.SIGKILL)
        super()._check_params(model, epoch)


def failures(out, name):
    model, X, y = trajectory_problem(np.float32)
    if name == "fail-labels":  # rank 1's shard has a label out of range
        y = y[RANK::SIZE].copy()
        if RANK == 1:
            y[5] = 3
            _mark_failure(out, name)
        with DataParallel(COMM, sharded=True):
            model.fit(X[RANK::SIZE], y, epochs=50, verbose=0)
    elif name == "fail-negative-weights":  # rank 1's shard has a negative weight
        w = np.ones(len(y))[RANK::SIZE]
        if RANK == 1:
            w[5] = -1.0
            _mark_failure(out, name)
        with DataParallel(COMM, sharded=True):
            model.fit(X[RANK::SIZE], y[RANK::SIZE], epochs=50, verbose=0, sample_weight=w)
    elif name == "fail-callback":
        with DataParallel(COMM):
            model.fit(X, y, epochs=50, callbacks=[_Raise(out)], verbose=0)
    elif name == "killed":
        with _Dying(out, COMM):
            model.fit(X, y, epochs=50, verbose=0)
    elif name.startswith("diverge"):
        X = X.copy()
        if name == "diverge-rank-1":  # softmax regression: rank 1's last rows overflow
            model = fnn.MLP([8, 3], seed=3)
            if RANK == 1:
                X[RANK::SIZE][200:] = np.sign(X[RANK::SIZE][200:]) * 3e38
        try:
            with DataParallel(COMM, sharded=True):
                model.fit(X[RANK::SIZE], y[RANK::SIZE], epochs=50, batch_size=64, verbose=0,
                          shuffle=False, optimizer=fnn.SGD(lr=1e38 if name == "diverge-lr"
                                                           else 0.01))
        except fnn.TrainingDivergedError as err:
            _save(out, name, message=str(err), params=model.params)
    elif name.startswith("disagree"):  # on the parameters, or on the sample weights
        weights = None
        if name == "disagree":
            if RANK == 1:
                model = fnn.MLP([8, 24, 16, 3], activation="tanh", seed=4)
        else:
            weights = np.ones(len(y))
            weights[0] += RANK
        try:
            with DataParallel(COMM):
                model.fit(X, y, epochs=1, verbose=0, sample_weight=weights)
        except RanksDisagreeError as err:
            _save(out, name, message=str(err))


def early_stopping(out):
    """EarlyStopping on rank 0 watching the validation loss of a learning rate far too
    high (it rises again after a few epochs): it stops both ranks and restores the best
    epoch's parameters on both."""
    model, X, y = trajectory_problem(np.float64)
    stopper = fnn.EarlyStopping(monitor="val_loss", patience=1, restore_best=True)
    with Recording(COMM) as parallel:
        history = model.fit(X, y, epochs=10, batch_size=BATCH, validation_split=0.2,
                            optimizer=fnn.SGD(lr=30.0), callbacks=[stopper], verbose=0)
    _save(out, "early-stopping", val_loss=history["val_loss"], epochs=np.stack(parallel.epochs),
          params=model.params)


def plateau(out):
    """ReduceLROnPlateau on rank 0 (it reduces after epoch 2 and never again), clipping
    on every rank: both ranks train on at the reduced rate, in step."""
    model, X, y = trajectory_problem(np.float64)
    callbacks = [fnn.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9,
                                       cooldown=100)]
    with DataParallel(COMM):
        history = model.fit(X, y, epochs=4, batch_size=BATCH, verbose=0, callbacks=callbacks,
                            optimizer=fnn.SGD(lr=0.05, momentum=0.9, clipnorm=0.5))
    _save(out, "plateau", params=model.params, lr=history["lr"],
          lr_scale=model.optimizer_state.lr_scale)


def dropout(out):
    """A model with dropout, two epochs on every rank: the ranks stay in step (each
    draws its own masks; the gradient is their sum)."""
    _, X, y = trajectory_problem(np.float64)
    model = fnn.MLP([8, 24, 16, 3], activation="tanh", seed=3, dtype=np.float64, dropout=0.5)
    with DataParallel(COMM):
        model.fit(X, y, epochs=2, batch_size=BATCH, verbose=0, optimizer=fnn.SGD(lr=0.05))
    _save(out, "dropout", params=model.params)


def checkpoint(out, step):
    """step "run": 5 epochs asked, a callback stops after 3, a checkpoint per epoch (rank 0);
    "resume": load epoch 2's checkpoint and train one more epoch on this many ranks."""
    path = str(Path(out) / "ck-{epoch}.npz")
    if step == "run":
        model, X, y = trajectory_problem(np.float64)
        saver = fnn.ModelCheckpoint(path, save_best_only=False, include_optimizer=True)
        with Recording(COMM) as parallel:
            history = model.fit(X, y, epochs=5, batch_size=BATCH, verbose=0,
                                optimizer=fnn.SGD(lr=0.05, momentum=0.9),
                                callbacks=[_Stop(3), saver])
        _save(out, "checkpoint-run", params=np.stack(parallel.epochs),
              epochs=history.epochs, saved=len(saver.saved))
    else:
        _, X, y = trajectory_problem(np.float64)
        model = fnn.load(path.format(epoch=2))
        with DataParallel(COMM):
            model.fit(X, y, epochs=1, batch_size=BATCH, verbose=0)
        _save(out, f"checkpoint-resume-{SIZE}", params=model.params)


def mapped_problem():
    """(model, X, y): trajectory_problem's data for a float64 model with an input map
    (shift and per-feature scale) and class names."""
    _, X, y = trajectory_problem(np.float64)
    model = fnn.MLP([8, 24, 16, 3], activation="tanh", seed=3, dtype=np.float64,
                    input_shift=0.5, input_scale=np.linspace(0.5, 2, 8),
                    classes=["a", "b", "c"])
    return model, X, model.classes[y]


def input_map(out):
    """mapped_problem's model, weighted, 2 epochs on every rank."""
    model, X, y = mapped_problem()
    with DataParallel(COMM):
        model.fit(X, y, epochs=2, batch_size=BATCH, verbose=0, optimizer=fnn.SGD(lr=0.05),
                  sample_weight=np.linspace(0, 1, len(X)), class_weight={"b": 2.0})
    _save(out, f"input-map-{SIZE}", params=model.params)


if __name__ == "__main__":
    scenario, out = sys.argv[1], sys.argv[2]
    if scenario.startswith("trajectories"):
        trajectories(out, np.dtype(scenario.split("-")[1]))
    elif scenario == "mnist":
        mnist(out)
    elif scenario == "early-stopping":
        early_stopping(out)
    elif scenario == "plateau":
        plateau(out)
    elif scenario == "dropout":
        dropout(out)
    elif scenario == "input-map":
        input_map(out)
    elif scenario.startswith("checkpoint"):
        checkpoint(out, scenario.split("-")[1])
    else:
        failures(out, scenario)
