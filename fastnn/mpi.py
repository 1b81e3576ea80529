"""Data-parallel training on MPI: one network on K processes, one Allreduce per step.

Run ``mpiexec -n K python train.py`` where train.py fits as usual inside a context::

    from mpi4py import MPI
    import fastnn as fnn
    from fastnn.mpi import DataParallel

    with DataParallel(MPI.COMM_WORLD):            # every rank holds the whole set
        model.fit(X, y, epochs=4, batch_size=128, optimizer=...)

Every step each rank gathers its rows of the global batch, runs forward, loss and backward
through the backend's contract ops (so every backend works), scales its loss gradient by
its share of the global batch (its rows / the batch's rows; with sample or class weights
its rows' weight / the batch's weight, its loss being the weighted mean of its own rows),
and one in-place ``Allreduce`` (sum) of the flat gradient buffer ``net.grads`` leaves the
gradient of the global batch's (weighted) mean loss on every rank, zero for a batch that
weighs nothing; every rank then applies the same ``optimizer_step`` to the same
parameters. The parameters are compared between ranks (a digest) after every epoch; a
difference raises ``RanksDisagreeError``.

Data: ``DataParallel(comm)`` (replicated) takes rank r's share of each global batch of
one shared seeded order: the run is one process's run at the global batch size, up to the
order of the gradient's sums. ``DataParallel(comm, sharded=True)``: each rank passes its
own rows; an epoch is all ranks' rows, ``ceil(total rows / batch_size)`` steps, each rank
giving an equal share of its (seeded, per-rank) order to every step. Sample weights
(>= 0) are each rank's own rows' (sharded: each rank's must not all be zero); the
batches' weights over all ranks take one Allreduce per epoch, ``class_weight="balanced"``
one of the class counts, so that the weights are those of all the rows in one process.

Epoch losses and metrics, validation scores and the divergence check are global (reduced
over ranks), so every rank has the same history and stops at the same step with the same
error. Callbacks run on rank 0 only (checkpoints are written once); rank 0's stop decision
and, after ``on_train_end`` (``EarlyStopping(restore_best=True)``), its parameters reach
every rank. An exception on one rank prints ``fastnn.mpi: rank R of K failed ...`` on
stderr and calls ``MPI_Abort``, ending the job instead of leaving the others waiting.

mpi4py is optional (``pip install 'fastnn[mpi]'``) and imported when a DataParallel is made.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import math
import os
import sys
import time
import traceback
import warnings

import numpy as np
from tqdm.auto import tqdm

from . import _validate as check, _weights, threads, training
from .backend import get_backend
from .callbacks import validation_rows
from .errors import ConfigError, FastnnError, ValueRangeError
from .history import History
from .kernels import loop
from .kernels.net import EpochStats
from .optimizers import get_optimizer

__all__ = ["DataParallel", "RanksDisagreeError", "active"]

_active: contextvars.ContextVar[DataParallel | None] = contextvars.ContextVar(
    "fastnn_data_parallel", default=None)


class RanksDisagreeError(FastnnError, RuntimeError):
    """The ranks of a data-parallel run disagree (model, data layout or parameters);
    raised on every rank alike."""


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("fastnn.mpi needs mpi4py and an MPI library: pip install "
                          "'fastnn[mpi]' (mpi4py and the mpich wheel, which brings mpiexec)"
                          ) from None
    return MPI


def active() -> DataParallel | None:
    """The DataParallel whose ``with`` block is running here, or None."""
    return _active.get()


ABORT_GRACE_S = 1.0  # seconds between a failing rank's message and MPI_Abort


class DataParallel:
    """``with DataParallel(comm): model.fit(...)`` trains data-parallel over ``comm``'s ranks.

    comm: an mpi4py communicator (default ``MPI.COMM_WORLD``); sharded: each rank passes
    its own rows (else every rank passes the whole set); threads: fastnn threads per rank
    while fitting (default: cores // ranks on this machine, at least 1, unless
    ``FASTNN_NUM_THREADS`` or ``fnn.set_num_threads`` chose a number), restored after.
    ``allreduce_seconds`` and ``steps`` count the gradient Allreduces of the last fit.
    """

    def __init__(self, comm=None, *, sharded: bool = False, threads: int | None = None):
        MPI = _mpi()
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.sharded = bool(sharded)
        if threads is not None:
            threads = check.positive_int(threads, "threads")
        self.threads = threads
        self.allreduce_seconds, self.steps = 0.0, 0
        self._token = None

    def __enter__(self) -> DataParallel:
        self._token = _active.set(self)
        return self

    def __exit__(self, *exc):
        _active.reset(self._token)
        return False

    def fit(self, model, X, y, **kwargs) -> History:
        """``fastnn.training.fit`` over the ranks (same arguments); see the module."""
        try:
            with self._thread_scope():
                return self._fit(model, X, y, **kwargs)
        except Exception as err:
            if _agreed(err) or self.size == 1:
                raise
            self._abort(err)

    def _abort(self, err):
        sys.stderr.write(f"fastnn.mpi: rank {self.rank} of {self.size} failed with "
                         f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
                         f"fastnn.mpi: aborting the job (MPI_Abort) so that no rank waits\n")
        sys.stderr.flush()
        # mpiexec forwards a rank's output through its proxy, which MPI_Abort tears down:
        # without a moment to forward it, the message was lost in one CI run of three
        time.sleep(ABORT_GRACE_S)
        self.comm.Abort(1)

    @contextlib.contextmanager
    def _thread_scope(self):
        local = self.comm.Split_type(_mpi().COMM_TYPE_SHARED)  # collective: every rank
        n = self.threads or max(1, (os.cpu_count() or 1) // local.Get_size())
        local.Free()
        if self.threads is None and (threads._requested is not None
                                     or os.environ.get("FASTNN_NUM_THREADS", "").strip()):
            yield  # the user's own choice stands
            return
        import numba
        from threadpoolctl import threadpool_limits

        from .kernels.openblas import load

        load()  # the BLAS the numba kernels call, so that its pool is limited too
        saved = numba.get_num_threads()
        with threadpool_limits(limits=n, user_api="blas"):
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            try:
                yield
            finally:
                numba.set_num_threads(saved)

    # -- the training loop ---------------------------------------------------------------
    def _fit(self, model, X, y, *, epochs=10, batch_size=32, optimizer=None,
             validation_data=None, validation_split=None, callbacks=(), shuffle=True,
             verbose=1, sample_weight=None, class_weight=None) -> History:
        epochs = check.positive_int(epochs, "epochs")
        if verbose not in (0, 1, 2):
            raise ValueRangeError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        X = check.features(X, model.sizes[0], model.dtype, keep_integers=True)
        t = check.targets(model._labels(y), len(X), model.loss, model.sizes[-1], model.dtype)
        sample_weight = _weights.sample_weights(sample_weight, len(X))
        if validation_split is not None and validation_data is not None:
            raise ConfigError("give validation_data or validation_split, not both")
        split = (None if validation_split is None else
                 validation_rows(len(X), validation_split, model.seed))
        validation = training._validation(model, validation_data)
        _refuse_negative(sample_weight, None if validation is None else validation[2])
        opt = get_optimizer(model.optimizer or "sgd" if optimizer is None else optimizer)
        rows = self._agree(model, X, t, len(X) if split is None else len(split[0]), batch_size,
                           epochs, shuffle, opt, validation, validation_split, sample_weight,
                           class_weight)
        w = training.weights_of(model, t, sample_weight, class_weight,
                                self._class_counts(model, t, class_weight))
        if split is not None:
            (X, t, w), validation = training.held_out(X, t, w, split)
        X = model._mapped(X)
        n = int(sum(rows)) if self.sharded else rows[0]
        batch = n if batch_size is None else min(check.positive_int(batch_size, "batch_size"),
                                                 n)
        steps = -(-n // batch)
        state = training.optimizer_state(model, opt, steps, epochs)
        train_set = _Rows(self, model, t, w)
        val_set = None if validation is None else _Rows(self, model, *validation[1:])
        callbacks = list(callbacks) if self.rank == 0 else []
        verbose = verbose if self.rank == 0 else 0
        if model.history is None:
            model.history = History(metric=model.metric)
        history = model.history
        model.fitted = True
        baseline = train_set.trivial
        best, warned = math.inf, False
        self.allreduce_seconds, self.steps = 0.0, 0
        for callback in callbacks:
            getattr(callback, "on_train_begin", training._nothing)(model)
        try:
            with tqdm(total=epochs, unit="epoch", disable=verbose == 0,
                      leave=verbose > 0) as bar:
                for done in range(epochs):
                    start = time.perf_counter()
                    lrs = state.learning_rates(steps).tolist()
                    stats = self._epoch(get_backend(), model, state, X, t, w,
                                        self._plan(model, rows, batch, shuffle, w), lrs)
                    seconds = time.perf_counter() - start
                    loss_sum, correct = self._sum([stats.loss_sum[0], stats.correct[0]])
                    if stats.failed_epoch >= 0:
                        err = training._diverged(stats, done,
                                                 training._lr_text(opt, state, state.step),
                                                 history)
                        err.agreed_by_ranks = True
                        raise err
                    loss = loss_sum / train_set.weight
                    history.extend(loss=[loss], **{model.metric: [train_set.metric(
                        loss_sum, correct)]}, lr=[lrs[-1]], samples_per_s=[n / seconds])
                    if not warned and training._exploded(np.array([loss]), best, baseline):
                        warned = True
                        if self.rank == 0:
                            warnings.warn(training._explosion_message(
                                done + 1, loss, best, baseline,
                                training._lr_text(opt, state, state.step - 1)),
                                training.TrainingDivergenceWarning, stacklevel=4)
                    best = min(best, loss)
                    self._check_params(model, done + 1)
                    if val_set is not None:
                        history.append(**{f"val_{key}": value for key, value in
                                          val_set.evaluate(validation[0]).items()})
                    bar.update(1)
                    if verbose:
                        bar.set_postfix(history.last(), refresh=False)
                    if verbose == 2:
                        bar.write(training._epoch_line(done + 1, epochs, history.last()))
                    stop = any([getattr(callback, "on_epoch_end", training._nothing)(
                        model, history.epochs, history.last()) for callback in callbacks])
                    # rank 0's callbacks decide; a ReduceLROnPlateau's multiplier too
                    stop, state.lr_scale = self.comm.bcast((stop, state.lr_scale), root=0)
                    if stop:
                        break
        finally:
            for callback in callbacks:
                getattr(callback, "on_train_end", training._nothing)(model)
            failed = sys.exc_info()[1]
            if failed is None or _agreed(failed):  # all ranks are here: no one waits
                self.comm.Bcast(model.params, root=0)  # e.g. EarlyStopping's restored best
        return history

    def _agree(self, model, X, t, n_train, batch_size, epochs, shuffle, opt, validation,
               validation_split, sample_weight, class_weight):
        """Check with one allgather that every rank trains the same model the same way;
        returns every rank's training rows n_train (all equal unless sharded)."""
        w_val = None if validation is None else validation[2]
        mine = {
            "model": (model.sizes, model.net.activations, model.loss, str(model.dtype),
                      [_digest(np.asarray(a, np.float64)) for a in (model.input_shift,
                                                                    model.input_scale)],
                      None if model.classes is None else model.classes.tolist()),
            "parameters": _digest(model.params),
            "optimizer state": None if model.optimizer_state is None else
            (model.optimizer_state.rule, model.optimizer_state.step,
             model.optimizer_state.lr_scale, [_digest(s) for s in model.optimizer_state.slots]),
            "shuffle seed": repr(model.shuffle_rng.bit_generator.state),
            "arguments": (batch_size, epochs, bool(shuffle), repr(opt), validation is None,
                          validation_split),
            "data": (X.shape[1:], t.shape[1:]) if self.sharded else (X.shape, t.shape,
                                                                      _digest(t)),
            "weights": (class_weight, *[None if a is None else "given" if self.sharded
                                        else _digest(a) for a in (sample_weight, w_val)]),
        }
        everyone = self.comm.allgather((mine, n_train))
        for key, value in mine.items():
            differ = [r for r, (theirs, _) in enumerate(everyone) if theirs[key] != value]
            if differ:
                raise RanksDisagreeError(
                    f"the ranks of this data-parallel fit disagree on the {key}: rank "
                    f"{self.rank} differs from rank(s) {differ}. Build the model with the same "
                    f"seed on every rank (or load the same file) and pass the same arguments"
                    + ("; each rank's own rows need DataParallel(comm, sharded=True)"
                       if key == "data" else ""))
        rows = [count for _, count in everyone]
        if min(rows) == 0:
            raise RanksDisagreeError(f"rank(s) {[r for r, c in enumerate(rows) if not c]} "
                                     "have no training rows")
        return rows

    def _plan(self, model, rows, batch, shuffle, w):
        """This rank's part of one epoch: (order or None, lo (S,), hi (S,), mine (S,),
        total (S,)); step s trains rows order[lo[s]:hi[s]] of this rank, which weigh
        mine[s] of the step's total[s] over all ranks: rows (int64), or the sums of their
        weights w (float64 (n,); one Allreduce)."""
        K, r = self.size, self.rank
        if not self.sharded:
            n = rows[0]
            order = model.shuffle_rng.permutation(n) if shuffle and batch < n else None
            starts = np.arange(0, n, batch)
            m = np.minimum(starts + batch, n) - starts
            bounds = starts[:, None] + (m[:, None] * np.arange(K + 1)) // K
            lo, hi, total = bounds[:, r], bounds[:, r + 1], m
        else:
            steps = -(-sum(rows) // batch)
            seed = int(model.shuffle_rng.integers(2**63)) if shuffle else None
            order = (None if seed is None else
                     np.random.default_rng([seed, r]).permutation(rows[r]))
            edges = (np.asarray(rows, np.int64)[:, None] * np.arange(steps + 1)) // steps
            lo, hi, total = edges[r, :-1], edges[r, 1:], np.diff(edges, axis=1).sum(axis=0)
        if w is None:
            return order, lo, hi, hi - lo, total
        ordered = w if order is None else w[order]
        mine = np.array([ordered[a:b].sum() for a, b in zip(lo, hi)])
        return order, lo, hi, mine, self._sum(mine)

    @np.errstate(over="ignore", invalid="ignore")
    def _epoch(self, ops, model, state, X, t, w, plan, lrs):
        """One epoch of this rank's plan, one gradient Allreduce per step; EpochStats of
        this rank's rows (the caller sums them over the ranks); w: the rows' weights
        (float64 (n,)) or None."""
        MPI = _mpi()
        net = model.net
        order, lo, hi, mine, total = plan
        stats = EpochStats.empty(1)
        widest = int(max((hi - lo).max(), 1))
        ws = net.workspace(widest)
        stage = ws.stage(X.dtype) if X.dtype != net.dtype else None
        for s in range(len(lo)):
            m = int(hi[s] - lo[s])
            bad_loss = False
            if m == 0:
                net.grads.fill(0)
            else:
                rows = slice(lo[s], hi[s]) if order is None else order[lo[s]:hi[s]]
                x = loop.input_batch(ws.x[:m], X, rows, net.input_scale, stage)
                own = ws.targets[:m] if ws.targets.ndim == t.ndim else None  # else probabilities
                tb = t[rows] if order is None else t.take(rows, axis=0, out=own, mode="clip")
                outs, douts = [o[:m] for o in ws.out], [d[:m] for d in ws.dout]
                zs = [None if z is None else z[:m] for z in ws.z]
                dropped = [None if d is None else d[:m] for d in ws.dropped]
                # dropout masks of their own per rank: the step's number as each rank counts
                step = (state.step + 1) * self.size + self.rank
                logits = loop.forward(ops, net, x, outs, zs, dropped, step)
                wb = None if w is None else w[rows]
                loss = ops.loss(douts[-1], logits, tb, net.loss, wb)
                if math.isfinite(loss):
                    stats.correct[0] += ops.metric_sum(logits, tb, net.loss, wb)
                    if total[s]:  # else every rank's loss gradient is zero already
                        # this rank's share of the step's (weighted) mean
                        douts[-1] *= net.dtype.type(mine[s] / total[s])
                    loop.backward(ops, net, x, outs, douts, zs, dropped, step)
                    stats.loss_sum[0] += loss * mine[s]
                else:
                    bad_loss = True
                    net.grads.fill(np.nan)  # every rank's sum turns NaN: all stop here
            start = time.perf_counter()
            self.comm.Allreduce(MPI.IN_PLACE, net.grads, op=MPI.SUM)
            self.allreduce_seconds += time.perf_counter() - start
            self.steps += 1
            if not ops.optimizer_step(net.params, net.grads, state, net.n_weights, lrs[s]):
                what = "loss" if self.comm.allreduce(bad_loss, op=MPI.LOR) else "gradient"
                stats.failed_epoch, stats.failed_batch, stats.failed_what = 0, s, what
                return stats
        return stats

    def _class_counts(self, model, t, class_weight) -> np.ndarray | None:
        """Sharded and class_weight "balanced": every rank's rows of each class, float64
        (k,), by one Allreduce, so that the weights are those of all the rows; else None."""
        if not (self.sharded and isinstance(class_weight, str)):
            return None
        classes = _weights.class_of_each_row(t, model._unit.HITS)
        return None if classes is None else self._sum(
            np.bincount(classes, minlength=training.n_classes(model)))

    def _sum(self, values) -> np.ndarray:
        """Elementwise float64 sum of ``values`` over the ranks."""
        out = np.array(values, np.float64)
        self.comm.Allreduce(_mpi().IN_PLACE, out, op=_mpi().SUM)
        return out

    def _check_params(self, model, epoch):
        digests = self.comm.allgather(_digest(model.params))
        differ = [r for r, d in enumerate(digests) if d != digests[0]]
        if differ:
            raise RanksDisagreeError(f"after epoch {epoch} the parameters of rank(s) {differ} "
                                     "differ from rank 0's; the ranks must run the same "
                                     "backend, thread count and fastnn version")


class _Rows:
    """A data set spread over the ranks: its weight (rows, or the sum of the weights),
    trivial loss, metric and evaluation over all ranks.

    t, w: this rank's validated targets and their weights (float64 (n,)) or None.
    Replicated data is the same on every rank; this rank then takes only its 1/K of the
    rows.
    """

    def __init__(self, parallel, model, t, w):
        self.parallel, self.model = parallel, model
        K, r, n = parallel.size, parallel.rank, len(t)
        self.part = (slice(None) if parallel.sharded
                     else slice(n * r // K, n * (r + 1) // K))
        self.t, self.w = t[self.part], None if w is None else w[self.part]
        mine = len(self.t) if w is None else float(np.sum(self.w))
        trivial = training.trivial_loss(model, self.t, self.w) * mine if mine else 0.0
        self.weight, trivial = parallel._sum([mine, trivial])
        self.trivial = trivial / self.weight  # the weighted mean over all the rows
        self.sst = float("nan")
        if model.metric == "r2":  # about the weighted mean, summed over the outputs
            tf, rows = self.t.astype(np.float64), 1.0 if w is None else self.w[:, None]
            mean = parallel._sum(np.sum(rows * tf, axis=0)) / self.weight
            self.sst = float(parallel._sum(np.sum(rows * (tf - mean) ** 2, axis=0)).sum())

    def metric(self, loss_sum, metric_sum) -> float:
        """Accuracy, or R² = 1 - SSE/SST, from global (weighted) sums ``metric_sum`` (as
        ``Sequential._metric``)."""
        if self.model.metric == "r2":
            return 1.0 - metric_sum / self.sst if self.sst > 0 else math.nan
        per_row = 1 if self.model._unit.HITS == "argmax" else self.model.sizes[-1]
        return metric_sum / (self.weight * per_row)

    def evaluate(self, X) -> dict[str, float]:
        """``{'loss', metric}`` over every rank's rows; X: this rank's validated inputs."""
        X = X[self.part]
        sums = self.model._sums(X, self.t, self.w) if len(X) else (0.0, 0.0)
        loss_sum, metric_sum = self.parallel._sum(list(sums))
        return {"loss": loss_sum / self.weight,
                self.model.metric: self.metric(loss_sum, metric_sum)}


def _refuse_negative(*weights) -> None:
    """ConfigError if any of ``weights`` (float64 arrays or None) is negative: a rank's
    share of a batch could then weigh 0 in total while its rows do not, and its loss,
    the weighted mean of its own rows, would drop them."""
    if any(w is not None and (w < 0).any() for w in weights):
        raise ConfigError("fastnn.mpi.DataParallel takes sample weights >= 0; train with "
                          "negative weights in one process")


def _agreed(err: BaseException) -> bool:
    """Whether every rank raises ``err`` at the same point (decided from collective results),
    so it propagates normally instead of aborting the job."""
    return isinstance(err, RanksDisagreeError) or getattr(err, "agreed_by_ranks", False)


def _digest(a: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(a).view(np.uint8), digest_size=16).hexdigest()
