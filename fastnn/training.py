"""The training loop: validation, epochs, shuffling, progress, history, divergence.

Epochs run inside the backend's ``train_epochs`` in chunks: one epoch per call when there
is per-epoch work to do here (validation, per-epoch lines, callbacks) or when an epoch
has at least ``EPOCH_CALL_SAMPLES`` samples (so the progress bar and the history follow
every epoch of MNIST-sized data), otherwise up to as many epochs as make about
``CHUNK_SAMPLES`` samples, so tiny full-batch problems run thousands of epochs per
compiled call (a call costs about as much as a thousand steps of a tutorial net). The
first call trains about ``FIRST_CALL_SAMPLES`` samples (at least one epoch) and each
later one twice as many as the one before, up to that size, so the bar moves from the
start and an exploding loss is seen within twice the epochs it took.

An interrupt (KeyboardInterrupt, Ctrl-C) during a backend call discards that call's
epochs: the parameters, the optimizer state and the shuffling state go back to the last
recorded epoch, so the model, its optimizer and its history describe the same moment
and a further ``fit`` continues exactly; then the interrupt propagates.

Callbacks (``fastnn.callbacks``) run after every epoch and may stop training. A loss or
gradient that turns NaN or infinite stops training with TrainingDivergedError; an epoch
whose finite mean loss explodes gets a TrainingDivergenceWarning (see ``EXPLOSION``).

Training continues: the optimizer's state (slots, step count, and so the position of a
learning-rate schedule) stays with the model between ``fit`` calls, and the history grows.
A ``fit`` whose optimizer has the same rule as the kept state continues it, with the new
hyper-parameters from its next step on (and the state's learning-rate multiplier, which
``ReduceLROnPlateau`` lowers); another rule, or ``model.reset_optimizer()``, starts from
fresh state.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np
from tqdm.auto import tqdm

from . import _validate as check, _weights, schedules
from .backend import get_backend
from .callbacks import validation_rows
from .errors import ConfigError, TrainingDivergedError, TrainingDivergenceWarning, ValueRangeError
from .history import History
from .kernels import load_backend
from .kernels.loop import steps_per_epoch
from .optimizers import get_optimizer

EPOCH_CALL_SAMPLES = 1 << 15
FIRST_CALL_SAMPLES = 1 << 14
CHUNK_SAMPLES = 1 << 20


def fit(model, X, y, *, epochs=10, batch_size=32, optimizer=None, validation_data=None,
        validation_split=None, callbacks=(), shuffle=True, verbose=1,
        order=None, sample_weight=None, class_weight=None) -> History:
    """Train ``model`` in place; return (and keep as ``model.history``) its History.

    X (n, i) real array, raw rows (the model applies its input map); y int labels (n,),
    or the model's class names if it has ``classes``, or targets (n,) / (n, k) per the
    model's loss;
    batch_size=None trains full-batch; optimizer: an optimizer or its name, None for the
    model's current one (``SGD()`` at first); validation_data (X_val, y_val), or
    validation_split, a fraction of the rows held out (seeded by the model's seed) and
    scored after every epoch; callbacks: see ``fastnn.callbacks``; shuffle reorders the
    samples every epoch (seeded by the model's seed); verbose 0 silent, 1 a progress bar,
    2 also a line per epoch. Raises TrainingDivergedError, keeping the last finite
    parameters, if the loss or a gradient stops being finite; warns
    (TrainingDivergenceWarning, once per call) if an epoch's finite mean loss explodes
    (see ``EXPLOSION``). On KeyboardInterrupt the model stays at its last recorded epoch
    (see the module docstring). order: int64 (n,), a permutation of the rows that every
    epoch takes instead of shuffling (``fastnn.sklearn`` passes scikit-learn's order so
    as not to copy X into it); not with validation_split. sample_weight (n,), of a
    positive total (a weight may be negative, as in scikit-learn): each batch's loss is
    the weighted mean of its rows' losses, normalised by the batch's weight
    (scikit-learn's convention), and the history's loss and metric are weighted;
    class_weight: {class: weight} (the model's class names if it has them, else labels)
    or ``"balanced"`` (n / (classes * rows of the class)), multiplying sample_weight.
    validation_data may carry weights as a third element (X_val, y_val, w_val).
    """
    epochs = check.positive_int(epochs, "epochs")
    if verbose not in (0, 1, 2):
        raise ValueRangeError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    X = check.features(X, model.sizes[0], model.dtype, keep_integers=True)
    t = check.targets(model._labels(y), len(X), model.loss, model.sizes[-1], model.dtype)
    w = weights_of(model, t, sample_weight, class_weight)
    if validation_split is not None and validation_data is not None:
        raise ConfigError("give validation_data or validation_split, not both")
    validation = _validation(model, validation_data)
    if validation_split is not None:
        (X, t, w), validation = held_out(X, t, w, validation_rows(len(X), validation_split,
                                                                  model.seed))
    X = model._mapped(X)
    n = len(X)
    batch = n if batch_size is None else min(check.positive_int(batch_size, "batch_size"), n)
    callbacks = list(callbacks)
    opt = get_optimizer(model.optimizer or "sgd" if optimizer is None else optimizer)
    state = optimizer_state(model, opt, steps_per_epoch(n, batch), epochs)
    ops = get_backend()
    shuffled = bool(shuffle) and batch < n
    if order is not None:
        order = _permutation(order, n, validation_split)
    per_epoch_work = validation is not None or verbose == 2 or bool(callbacks)
    chunk = (1 if per_epoch_work or n >= EPOCH_CALL_SAMPLES else
             max(1, min(epochs, CHUNK_SAMPLES // n)))

    if model.history is None:
        model.history = History(metric=model.metric)
    history = model.history
    was_fitted, model.fitted = model.fitted, True
    baseline = trivial_loss(model, t, w)
    best, warned = math.inf, False
    for callback in callbacks:
        getattr(callback, "on_train_begin", _nothing)(model)
    unrecorded = None  # the state before a backend call whose epochs are not recorded yet
    try:
        with tqdm(total=epochs, unit="epoch", disable=verbose == 0, leave=verbose > 0) as bar:
            done, ramp = 0, max(1, FIRST_CALL_SAMPLES // n)
            while done < epochs:
                count = min(chunk, ramp, epochs - done)
                ramp *= 2
                unrecorded = _snapshot(model, state)
                if order is not None:
                    orders = np.tile(order, (count, 1))
                else:
                    orders = (np.stack([model.shuffle_rng.permutation(n)
                                        for _ in range(count)]) if shuffled else None)
                first_step = state.step
                start = time.perf_counter()
                stats = ops.train_epochs(model.net, state, X, t, orders, count, batch, w)
                seconds = time.perf_counter() - start
                finished = count if stats.failed_epoch < 0 else stats.failed_epoch
                losses = _record(history, model, stats, finished, t, w, state, first_step,
                                 steps_per_epoch(n, batch), n * finished / max(seconds, 1e-12))
                unrecorded = None
                exploded = None if warned else _exploded(losses, best, baseline)
                if exploded is not None:
                    at, best_before = exploded
                    last_step = first_step + (at + 1) * steps_per_epoch(n, batch) - 1
                    lr = _lr_text(opt, state, last_step)
                    warnings.warn(_explosion_message(done + at + 1, losses[at], best_before,
                                                     baseline, lr),
                                  TrainingDivergenceWarning, stacklevel=3)
                    warned = True
                if stats.failed_epoch >= 0:
                    failed_step = (first_step + stats.failed_epoch * steps_per_epoch(n, batch)
                                   + stats.failed_batch)
                    raise _diverged(stats, done, _lr_text(opt, state, failed_step), history)
                best = min(best, float(losses.min())) if len(losses) else best
                if validation is not None:
                    scores = model._scores(*validation)
                    history.append(**{f"val_{key}": value for key, value in scores.items()})
                done += count
                if verbose:
                    bar.set_postfix(history.last(), refresh=False)
                bar.update(count)  # after the postfix, so it shows this update's numbers
                if verbose == 2:
                    bar.write(_epoch_line(done, epochs, history.last()))
                if any([getattr(callback, "on_epoch_end", _nothing)(
                        model, history.epochs, history.last()) for callback in callbacks]):
                    break
    except KeyboardInterrupt:
        if unrecorded is not None:  # the interrupted call's epochs are discarded
            _restore(model, state, unrecorded)
            model.fitted = was_fitted or history.epochs > 0
        raise
    finally:
        for callback in callbacks:
            getattr(callback, "on_train_end", _nothing)(model)
    return history


def _snapshot(model, state) -> tuple:
    """Copies of what a backend call changes: (params (p,), slots, step, shuffling state)."""
    return (model.params.copy(), tuple(slot.copy() for slot in state.slots), state.step,
            model.shuffle_rng.bit_generator.state)


def _restore(model, state, snapshot) -> None:
    """Put back a :func:`_snapshot`, so that parameters, optimizer state, shuffling and
    history describe the same epoch again. The optimizer state becomes a new object: a
    backend's private data about the old one (kept per state and step) no longer applies."""
    params, slots, step, shuffling = snapshot
    model.params[...] = params
    model.optimizer_state = dataclasses.replace(state, slots=slots, step=step)
    model.shuffle_rng.bit_generator.state = shuffling


def _permutation(order, n, validation_split) -> np.ndarray:
    """``order`` as a C-contiguous int64 permutation of range(n); ConfigError otherwise."""
    if validation_split is not None:
        raise ConfigError("give order or validation_split, not both")
    order = np.ascontiguousarray(order, dtype=np.int64)
    valid = (order.shape == (n,) and (n == 0 or (order.min() >= 0 and order.max() < n))
             and (np.bincount(order, minlength=n) == 1).all())
    if not valid:
        raise ConfigError(f"order must be a permutation of the {n} rows' indices")
    return order


def _nothing(*args):
    return None


EXPLOSION = 1e3
"""An epoch whose mean training loss exceeds EXPLOSION times the larger of the best
earlier epoch loss of the same ``fit`` and a trivial predictor's loss
(:func:`trivial_loss`) is diverging, though its loss is finite: the loss of a network
trained at far too high a learning rate grows by many orders of magnitude (a small net at
lr 1e6 reached 1e34) before it overflows, or never overflows. A fit's first epoch has no
earlier epoch: it is diverging above EXPLOSION**2 times the trivial loss (a net on
unscaled inputs may start far above the trivial loss and still train). The first such
epoch of a ``fit`` gets a TrainingDivergenceWarning; training goes on (a warning, not an
error: the model still holds exactly what its finished epochs made, and a NaN or
infinity later still stops it with TrainingDivergedError)."""


def trivial_loss(model, t, w=None) -> float:
    """The loss of a model whose output is zero whatever its input: log k for softmax
    cross-entropy over k classes (with labels), log 2 for binary cross-entropy, mean t^2
    for mse, 1 for poisson; the reference's loss of zeros (weighted by w, or None)."""
    zeros = np.zeros((len(t), model.sizes[-1]), model.dtype)
    return load_backend("numpy").loss(None, zeros, t, model.loss, w)


def weights_of(model, t, sample_weight, class_weight, counts=None):
    """The training rows' weights, float64 (n,), or None: sample_weight validated, times
    class_weight's (see ``_weights``; counts: each class's rows in all the data, when t
    is a part of it)."""
    w = _weights.sample_weights(sample_weight, len(t))
    return _weights.with_class_weights(w, class_weight, t, model._unit.HITS, n_classes(model),
                                       model.classes, counts)


def n_classes(model) -> int:
    """How many classes ``class_weight`` tells apart: the outputs of a softmax, 2 for a
    logistic output."""
    return model.sizes[-1] if model._unit.HITS == "argmax" else 2


def held_out(X, t, w, split):
    """((X, t, w) of the training rows, (X, t, w) of the held-out rows) of ``split``
    (training rows, held-out rows) as ``validation_rows`` gives them; w None or each
    part's weights, which must have a positive total."""
    kept, out = split
    if w is None:
        return (X[kept], t[kept], None), (X[out], t[out], None)
    return ((X[kept], t[kept],
             _weights.total_is_positive(w[kept], "sample_weight of the training rows")),
            (X[out], t[out],
             _weights.total_is_positive(w[out], "sample_weight of the held-out rows")))


def _exploded(losses, best, baseline) -> tuple[int, float] | None:
    """(index, best earlier loss) of the first of ``losses`` (float64, one per epoch) that
    is an explosion, or None; ``best`` is the best earlier epoch's loss of this fit (inf
    before the first)."""
    earlier = np.minimum.accumulate(np.concatenate(([best], losses[:-1])))
    with np.errstate(invalid="ignore"):
        limit = np.where(np.isfinite(earlier), EXPLOSION * np.maximum(earlier, baseline),
                         EXPLOSION**2 * baseline)
    over = np.flatnonzero(losses > limit)
    return (int(over[0]), float(earlier[over[0]])) if over.size else None


def _lr_text(opt, state, step: int) -> str:
    """The learning rate of 0-based optimizer ``step`` for a message: ``lr is 0.1``, or
    for a schedule ``lr 4e+28 at step 12 of the schedule OneCycle(max_lr=1e+30)`` (times
    a ReduceLROnPlateau multiplier, named when not 1)."""
    rate = float(state.rates_at(np.array([step], np.int64))[0])
    scaled = f" (reduced: {state.lr_scale:g} times lr)" if state.lr_scale != 1 else ""
    if not callable(opt.lr):
        return f"lr is {rate:g}{scaled}"
    return f"lr {rate:.3g} at step {step + 1} of the schedule {opt.lr!r}{scaled}"


def _explosion_message(epoch, loss, best, baseline, lr) -> str:
    reference = (f"{EXPLOSION:g} times the larger of the best earlier epoch's ({best:.3g}) "
                 f"and a trivial predictor's ({baseline:.3g})" if math.isfinite(best) else
                 f"{EXPLOSION**2:g} times a trivial predictor's ({baseline:.3g})")
    return (f"training is diverging: epoch {epoch}'s mean loss {loss:.3g} is more than "
            f"{reference}, though still finite; try a lower learning rate ({lr}) or "
            f"standardised inputs")


def optimizer_state(model, optimizer, steps_per_epoch: int, epochs: int):
    """The state ``optimizer`` continues on ``model``: the kept one if it has the same
    rule (taking the new learning rate and hyper-parameters), else a fresh one; a
    schedule (of the learning rate or the weight decay) is bound to this fit's steps per
    epoch and epochs."""
    fresh = optimizer.state(model.net.n_params, model.dtype)
    fresh.lr = schedules.bound(optimizer.lr, steps_per_epoch, epochs)
    fresh.hyper["weight_decay"] = schedules.bound(optimizer.weight_decay, steps_per_epoch,
                                                  epochs)
    kept = model.optimizer_state
    if kept is not None and kept.rule == fresh.rule:
        kept.lr, kept.hyper = fresh.lr, fresh.hyper
        fresh = kept
    model.optimizer, model.optimizer_state = optimizer, fresh
    return fresh


def _validation(model, validation_data):
    """(X_val, t_val, w_val or None) from (X_val, y_val) or (X_val, y_val, w_val)."""
    if validation_data is None:
        return None
    try:
        X_val, y_val, *rest = validation_data
    except (TypeError, ValueError):
        rest = [None, None]
    if len(rest) > 1:
        raise ConfigError("validation_data must be a pair (X_val, y_val) or a triple "
                          "(X_val, y_val, sample_weight_val)")
    X_val = check.features(X_val, model.sizes[0], model.dtype, "validation X",
                           keep_integers=True)
    t_val = check.targets(model._labels(y_val, "validation y"), len(X_val), model.loss,
                          model.sizes[-1], model.dtype, "validation y")
    w_val = _weights.sample_weights(rest[0] if rest else None, len(X_val),
                                    "validation sample_weight")
    return X_val, t_val, w_val


def _record(history, model, stats, finished, t, w, state, first_step, steps_per_epoch,
            samples_per_s):
    """Append ``finished`` epochs to the history; returns their (weighted) mean losses
    (float64)."""
    loss_sum = stats.loss_sum[:finished]
    weight = len(t) if w is None else float(np.sum(w))
    last_steps = first_step + steps_per_epoch * np.arange(1, finished + 1) - 1
    lrs = state.rates_at(last_steps)
    history.extend(loss=loss_sum / weight,
                   **{model.metric: model._metric(stats.correct[:finished], t, w)},
                   lr=lrs, samples_per_s=[samples_per_s] * finished)
    return loss_sum / weight


def _diverged(stats, done, lr, history) -> TrainingDivergedError:
    epoch = done + stats.failed_epoch + 1
    what = ("the loss is" if stats.failed_what == "loss" else
            "the gradient, or the update it gives, is")
    err = TrainingDivergedError(
        f"training diverged at epoch {epoch}, batch {stats.failed_batch + 1}: {what} NaN "
        f"or infinite. The model keeps the parameters from before "
        f"that batch; try a lower learning rate ({lr}) or standardised inputs.")
    err.epoch, err.batch, err.history = epoch, stats.failed_batch + 1, history
    return err


def _epoch_line(epoch, epochs, last):
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}"]
    for key, value in last.items():
        parts.append(f"{key} {value:,.0f}" if key == "samples_per_s" else f"{key} {value:.4f}")
    return "  ".join(parts)
