"""Data-parallel training on MPI (``fastnn.mpi``): real ``mpiexec -n 2`` jobs on loopback.

Each test starts ``tests/mpi_worker.py`` under the venv's ``mpiexec`` (from the ``mpich``
wheel of the dev extra) and reads what every rank wrote.

The bound two ranks are held to against one process (test_two_ranks_follow_one_process):
the two runs differ in the order of the sums over the global batch (dW = x.T @ dz and
db = sum dz: two partial sums of 64 rows added, instead of one 128-row sum) and, for a
last batch of 117 rows split 58 + 59, in one more rounding of the loss gradient (scaled
by 58/117; with weights, each rank's gradient is normalised by its own rows' weight and
scaled by that over the batch's: w_r / m_k, then m_k / W, a few more roundings of the
same kind). Each of these results is still within gamma_K times its magnitude of the
exact value (K the global batch, any summation order; the extra roundings u |dlogits|
are in the loss gradient's own bound, below gamma_K), so the two-rank run is "another
correct backend" in the sense of ``tolerances.trajectory_atol``: it stays within
2 * SAFETY * gamma_K(dtype) * sensitivity of the reference, where the sensitivity is the
training's measured amplification of a per-op error (noisy float64 twins of the reference
run, ``test_equivalence_training.sensitivity``). Nothing here is widened by hand.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

import mpi_worker as W
from test_docs import ROOT, _source, blocks
from test_equivalence_training import margins, sensitivity
from trajectory import max_reduction_length, trajectory_atol

import fastnn as fnn
from fastnn import schedules, training
from fastnn.callbacks import validation_rows
from fastnn.kernels import loop
from fastnn.kernels.net import Net
from fastnn.kernels.rounding import gamma
from fastnn.mpi import DataParallel

WORKER = Path(__file__).with_name("mpi_worker.py")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
    "mpiexec")
TIMEOUT = 120  # seconds for any one job: a hang fails the test instead of stalling CI
FAILURE_SECONDS = 10  # a failing rank must end the job this soon after it fails


def mpirun(scenario, out, n=2, backend="numpy", check=True, program=WORKER, cwd=None):
    """Run ``program`` (the worker, with ``scenario`` and ``out`` as its arguments) on n
    ranks; the CompletedProcess."""
    assert MPIEXEC, "mpiexec not found: install the mpi extra (pip install 'fastnn[mpi]')"
    env = {**os.environ, "FASTNN_BACKEND": backend, "PYTHONPATH": str(WORKER.parent)}
    env.pop("FASTNN_NUM_THREADS", None)
    arguments = [scenario, str(out)] if program == WORKER else []
    proc = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, str(program), *arguments],
                          env=env, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)
    if check:
        assert proc.returncode == 0, f"{scenario} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def ranks(out, name, n=2):
    return [np.load(Path(out) / f"{name}-{r}.npz") for r in range(n)]


# -- two ranks against one process --------------------------------------------------------
def problem(case, dtype):
    """(model, X, y, fit's arguments) of ``case``'s one-process run, and what it trains on:
    (X, t, w: the training rows, their targets and weights or None; the validation data
    (X, t, w) or None; the sample order of each epoch: the model's shuffling, or natural
    order)."""
    model, X, y = W.trajectory_problem(dtype, W.CASES[case].loss)
    X, y, arguments = W.fit_arguments(case, X, y)
    w = training.weights_of(model, y, arguments.get("sample_weight"),
                            arguments.get("class_weight"))
    trained, validation = (X, y, w), arguments.get("validation_data")
    if "validation_split" in arguments:
        trained, validation = training.held_out(X, y, w, validation_rows(
            len(X), arguments["validation_split"], model.seed))
    n = len(trained[0])
    if arguments.get("shuffle", True):
        rng = np.random.default_rng(np.random.SeedSequence(model.seed).spawn(2)[1])
        orders = np.stack([rng.permutation(n) for _ in range(W.EPOCHS)])
    else:
        orders = np.tile(np.arange(n), (W.EPOCHS, 1))
    return model, X, y, arguments, (*trained, validation, orders)


def one_process(case, dtype):
    """The reference: the numpy backend in one process at the global batch size; returns
    (params after each epoch, the history)."""
    model, X, y, arguments, _ = problem(case, dtype)
    epochs = []

    class Keep(fnn.Callback):
        def on_epoch_end(self, model, epoch, logs):
            epochs.append(model.params.copy())

    with fnn.use_backend("numpy"):
        history = model.fit(X, y, epochs=W.EPOCHS, optimizer=W.CASES[case].optimizer(),
                            callbacks=[Keep()], verbose=0, **arguments)
    return np.stack(epochs), history


@functools.cache
def sensitivities(case):
    """Per epoch e, the noisy-twin sensitivity of ``case``'s float64 reference trained e
    epochs (see the module), its probe the validation data's (weighted) loss and
    logits."""
    model, _, _, arguments, (X, t, w, validation, orders) = problem(case, np.float64)
    batch = arguments["batch_size"]
    optimizer = W.CASES[case].optimizer()

    def start():
        net = Net(model.sizes, model.net.activations, model.loss, np.float64,
                  params=model.params.copy())
        state = optimizer.state(net.n_params, np.float64)
        state.lr = schedules.bound(optimizer.lr, -(-len(X) // batch), W.EPOCHS)
        return net, state

    def probe(ops, net):
        X_val, t_val, w_val = validation
        logits = loop.forward(ops, net, X_val, [np.empty((len(X_val), k))
                                                for k in net.sizes[1:]])
        return np.concatenate([[ops.loss(None, logits, t_val, net.loss, w_val)],
                               logits.ravel()])

    with fnn.use_backend("numpy") as ref:
        return [sensitivity(ref, start, X, t, orders[:e], batch, weights=w,
                            probe=None if validation is None else probe)
                for e in range(1, W.EPOCHS + 1)]


def derived_tolerances(case, dtype):
    """Per epoch, {"params" (max over entries) or a history key: atol}, from the noisy-twin
    sensitivity of the float64 reference over that many epochs (see the module). A
    metric may differ further by what the logits' tolerance d can change in its
    (weighted) sum, as a share of the total weight (accuracy) or of SST (R²): the
    weight of the rows whose prediction it can change (margin <= 2 d in the plain
    reference, as ``allowed_flips``), or sum w (2 |z - t| + 3 d) d over the entries (each
    run's z within d of the other's, and of the plain reference's), and by the rounding
    of its float64 sums in another order (gamma_n of each: the metric within 2 gamma_n of
    max(1, SSE/SST)). The validation scores' sensitivity is an envelope over the epochs
    so far (one loss per epoch is measured, not a maximum over many steps)."""
    model, _, _, arguments, (X, t, w, validation, _) = problem(case, np.float64)
    batch = arguments["batch_size"]
    steps = -(-len(X) // batch)
    K = max_reduction_length(model.sizes, batch)

    def atol(sens):
        return trajectory_atol(sens, dtype, K)

    def metric_tol(logits, t, w, sens):
        w = np.ones(len(t)) if w is None else w
        d = atol(sens)
        if model.metric == "r2":
            res = np.abs(logits - t)
            value, change = w @ (res**2).sum(axis=1), w @ ((2 * res + 3 * d) * d).sum(axis=1)
        else:
            value = w @ (logits.argmax(axis=1) == t)
            change = w @ (margins(logits, model.loss) <= 2 * d)
        per_sum = abs(model._metric(1.0, t, w) - model._metric(0.0, t, w))
        return per_sum * change + 2 * gamma(len(t), np.float64) * max(1, per_sum * value)

    out, probe = [], 0
    for e, sens in enumerate(sensitivities(case), 1):
        plain = sens["plain"]
        epoch = range((e - 1) * steps, e * steps)
        rows = np.concatenate([plain["rows"][s] for s in epoch])
        logits = np.concatenate([plain["logits"][s] for s in epoch])
        tol = {"params": atol(sens["end"][0]), "loss": atol(sens["loss"][e * steps - 1]),
               model.metric: metric_tol(logits, t[rows], None if w is None else w[rows],
                                        max(sens["logits"][s] for s in epoch))}
        if validation is not None:
            X_val, t_val, w_val = validation
            probe = np.maximum(probe, sens["probe"])
            tol["val_loss"] = atol(probe[0])
            tol[f"val_{model.metric}"] = metric_tol(
                plain["probe"][1:].reshape(len(X_val), -1), t_val, w_val, probe[1:].max())
        out.append(tol)
    return out


BACKEND_DTYPES = [("numpy", np.float64), ("numba", np.float32), ("check", np.float32)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One 2-rank job per backend: numpy in float64 (the reduction-order bound alone),
    numba and check in float32 (that bound plus the backend's own rounding)."""
    out = tmp_path_factory.mktemp("mpi")
    for name, dtype in BACKEND_DTYPES:
        (out / name).mkdir()
        mpirun(f"trajectories-{np.dtype(dtype).name}", out / name, backend=name)
    return out


@pytest.mark.parametrize("case", list(W.CASES))
@pytest.mark.parametrize("kernels,dtype", BACKEND_DTYPES, ids=[b for b, _ in BACKEND_DTYPES])
def test_two_ranks_follow_one_process(runs, kernels, dtype, case):
    """Two ranks against one process at the same global batches (128 rows; the sharded
    case's 167, 84 of them from rank 0's shard): the parameters are bit-identical on both
    ranks after every epoch and within the derived bound of the one-process run
    (parameters after every epoch, epoch losses and accuracies, and the weighted cases'
    validation scores); the ranks' histories are the same."""
    rank0, rank1 = ranks(runs / kernels, f"trajectories-{np.dtype(dtype).name}")
    for e, (a, b) in enumerate(zip(rank0[f"{case}-params"], rank1[f"{case}-params"])):
        assert np.array_equal(a, b), f"{case}: the ranks' parameters differ after epoch {e + 1}"
    want, history = one_process(case, dtype)
    got = rank0[f"{case}-params"]
    for e, tol in enumerate(derived_tolerances(case, dtype)):
        worst = np.abs(got[e].astype(np.float64) - want[e]).max()
        assert worst <= tol["params"], (f"{case}, epoch {e + 1}: parameters differ by "
                                        f"{worst:.3g}, bound {tol['params']:.3g}")
        for key in sorted(tol.keys() - {"params"}):
            value, expected = rank0[f"{case}-{key}"][e], history[key][e]
            assert np.array_equal(value, rank1[f"{case}-{key}"][e])
            assert abs(value - expected) <= tol[key], (
                f"{case}, epoch {e + 1}: {key} {value!r} vs {expected!r}, bound {tol[key]:.3g}")
    assert not np.array_equal(got[-1], W.trajectory_problem(dtype)[0].params), "did not train"


def test_sharded_balanced_class_weights_are_those_of_all_rows(runs):
    """class_weight="balanced" on shards counts each class's rows over every rank: each
    rank's training weights are one process's balanced weights of all the rows, at its
    rows, exactly (the counts are integers, summed exactly); its own rows' balanced
    weights would differ."""
    model, X, y, arguments, _ = problem("weighted-sharded", np.float64)
    want = training.weights_of(model, y, arguments["sample_weight"], "balanced")
    for r, saved in enumerate(ranks(runs / "numpy", "trajectories-float64")):
        mine = W.shard(r)
        assert np.array_equal(saved["weighted-sharded-weights"], want[mine])
        assert not np.array_equal(want[mine], training.weights_of(
            model, y[mine], arguments["sample_weight"][mine], "balanced"))


def test_thread_setting_is_restored(runs):
    """Inside a fit each rank runs cores // ranks threads (at least 1); after it, the
    thread count it found."""
    before, after = ranks(runs / "numba", "trajectories-float32")[0]["threads"]
    assert before == after


# -- data, callbacks, checkpoints ---------------------------------------------------------
def test_sharded_mnist_reaches_the_tutorial_accuracy(tmp_path):
    """The README's MNIST recipe (4 epochs, one-cycle SGD, batch 128) with each rank holding
    half the training rows reaches the tutorial's >= 98% test accuracy, the same model on
    both ranks."""
    mpirun("mnist", tmp_path, backend="numba")
    rank0, rank1 = ranks(tmp_path, "mnist")
    assert np.array_equal(rank0["params"], rank1["params"])
    assert float(rank0["accuracy"]) >= 0.98, f"test accuracy {float(rank0['accuracy']):.4f}"


def test_stop_checkpoints_and_resume_on_another_number_of_ranks(tmp_path):
    """Rank 0's callback stops both ranks after epoch 3 of 5; the checkpoints are written by
    rank 0 only; resuming epoch 2's checkpoint on 2 ranks repeats epoch 3 bit for bit, on 1
    rank it equals one process (no MPI) resuming it, bit for bit (numpy backend)."""
    mpirun("checkpoint-run", tmp_path)
    run0, run1 = ranks(tmp_path, "checkpoint-run")
    assert int(run0["epochs"]) == int(run1["epochs"]) == 3
    assert (int(run0["saved"]), int(run1["saved"])) == (3, 0)
    assert sorted(p.name for p in tmp_path.glob("ck-*.npz")) == [f"ck-{e}.npz" for e in (1, 2, 3)]
    mpirun("checkpoint-resume", tmp_path)
    for r in ranks(tmp_path, "checkpoint-resume-2"):
        assert np.array_equal(r["params"], run0["params"][2])
    mpirun("checkpoint-resume", tmp_path, n=1)
    one_rank = ranks(tmp_path, "checkpoint-resume-1", n=1)[0]["params"]
    _, X, y = W.trajectory_problem(np.float64)
    model = fnn.load(tmp_path / "ck-2.npz")
    with fnn.use_backend("numpy"):
        model.fit(X, y, epochs=1, batch_size=W.BATCH, verbose=0)
    assert np.array_equal(one_rank, model.params)


def test_input_map_and_class_names(tmp_path):
    """A model with an input map (shift, per-feature scale) and class names, weighted by
    sample and by class name: on 1 rank the run equals one process's bit for bit (numpy
    backend: the same ops in the same order, the gradient scaled by 1), on 2 ranks the
    ranks agree."""
    mpirun("input-map", tmp_path, n=1)
    model, X, y = W.mapped_problem()
    with fnn.use_backend("numpy"):
        model.fit(X, y, epochs=2, batch_size=W.BATCH, verbose=0, optimizer=fnn.SGD(lr=0.05),
                  sample_weight=np.linspace(0, 1, len(X)), class_weight={"b": 2.0})
    assert np.array_equal(ranks(tmp_path, "input-map-1", n=1)[0]["params"], model.params)
    mpirun("input-map", tmp_path)
    rank0, rank1 = ranks(tmp_path, "input-map-2")
    assert np.array_equal(rank0["params"], rank1["params"])


def test_early_stopping_on_rank_0_stops_and_restores_every_rank(tmp_path):
    mpirun("early-stopping", tmp_path)
    rank0, rank1 = ranks(tmp_path, "early-stopping")
    assert np.array_equal(rank0["val_loss"], rank1["val_loss"])  # reduced over the ranks
    val_loss = rank0["val_loss"]
    best = int(np.argmin(val_loss))
    assert len(val_loss) < 10, f"did not stop early: validation losses {val_loss}"
    assert best < len(val_loss) - 1
    for r in (rank0, rank1):
        assert np.array_equal(r["params"], rank0["epochs"][best])


def test_a_plateau_reduction_on_rank_0_reaches_every_rank(tmp_path):
    """ReduceLROnPlateau runs on rank 0 only; its multiplier is sent with the stop
    decision, so both ranks train at the reduced rate (the per-epoch parameter check
    would fail otherwise)."""
    mpirun("plateau", tmp_path)
    rank0, rank1 = ranks(tmp_path, "plateau")
    assert np.array_equal(rank0["params"], rank1["params"])
    for r in (rank0, rank1):
        assert r["lr"].tolist() == [0.05, 0.05, 0.025, 0.025] and float(r["lr_scale"]) == 0.5


def test_dropout_trains_in_step_on_every_rank(tmp_path):
    """Each rank draws its own masks, so the run differs from one process's; the ranks'
    parameters stay equal (the per-epoch check would stop the job otherwise)."""
    mpirun("dropout", tmp_path)
    rank0, rank1 = ranks(tmp_path, "dropout")
    assert np.array_equal(rank0["params"], rank1["params"])
    _, X, y = W.trajectory_problem(np.float64)
    one = fnn.MLP([8, 24, 16, 3], activation="tanh", seed=3, dtype=np.float64, dropout=0.5)
    with fnn.use_backend("numpy"):
        one.fit(X, y, epochs=2, batch_size=W.BATCH, verbose=0, optimizer=fnn.SGD(lr=0.05))
    assert not np.array_equal(one.params, rank0["params"])


@pytest.mark.parametrize("scenario,what", [("disagree", "parameters"),
                                           ("disagree-weights", "weights")])
def test_ranks_with_different_models_or_weights_get_one_clear_error(tmp_path, scenario, what):
    mpirun(scenario, tmp_path)
    for r in ranks(tmp_path, scenario):
        assert f"disagree on the {what}" in str(r["message"])


@pytest.mark.parametrize("scenario,what", [
    ("diverge-lr", "training diverged at epoch 1, batch 3: the loss is"),
    ("diverge-rank-1", "training diverged at epoch 1, batch 7: the loss is")])
def test_divergence_stops_every_rank_at_the_same_step(tmp_path, scenario, what):
    """A learning rate that blows up, or a non-finite loss on rank 1's rows only: both ranks
    raise TrainingDivergedError at the same step with the same message and keep the same
    last finite parameters."""
    mpirun(scenario, tmp_path)
    rank0, rank1 = ranks(tmp_path, scenario)
    assert str(rank0["message"]) == str(rank1["message"])
    assert what in str(rank0["message"])
    assert np.array_equal(rank0["params"], rank1["params"])
    assert np.isfinite(rank0["params"]).all()


# -- failures end the job -----------------------------------------------------------------
@pytest.mark.parametrize("scenario,message", [
    ("fail-labels", "fastnn.mpi: rank 1 of 2 failed with ValueRangeError"),
    ("fail-negative-weights", "fastnn.mpi: rank 1 of 2 failed with ConfigError: "
                              "fastnn.mpi.DataParallel takes sample weights >= 0"),
    ("fail-callback", "fastnn.mpi: rank 0 of 2 failed with RuntimeError: boom in a callback"),
    ("killed", "BAD TERMINATION"),  # mpiexec's own report
])
def test_a_failing_rank_ends_the_job(tmp_path, scenario, message):
    """An exception on one rank (before the first collective, or in rank 0's callback while
    rank 1 waits in the next step's Allreduce), or a rank killed by SIGKILL, ends the whole
    job within FAILURE_SECONDS of the failure, with the message on stderr."""
    proc = mpirun(scenario, tmp_path, check=False)
    ended = time.time()
    failed_at = float((tmp_path / f"{scenario}-failing-at").read_text())
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert ended - failed_at < FAILURE_SECONDS


GUIDE = [block for block in blocks(ROOT / "docs" / "distributed.md")
         if block.skip and "mpiexec" in block.skip]


@pytest.mark.parametrize("block", GUIDE, ids=[block.where for block in GUIDE])
def test_the_guide_programs_run_on_two_ranks(tmp_path, block):
    """docs/distributed.md's MPI programs (test_docs.py skips them) as written, on the
    smaller data of their ``shortened`` markers: rank 0 prints the test scores."""
    program = tmp_path / "train.py"
    program.write_text(_source(block))
    proc = mpirun(block.where, None, backend="numba", program=program, cwd=tmp_path)
    printed = proc.stdout.strip().splitlines()
    assert len(printed) == 1 and "'accuracy'" in printed[0], proc.stdout


def test_without_mpi4py_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"pip install 'fastnn\[mpi\]'"):
        DataParallel()
