"""The training loop: validation, epochs, shuffling, progress, history, divergence.

Epochs run inside the backend's ``train_epochs`` in chunks: one epoch per call when there
is per-epoch work to do here (validation, per-epoch lines), otherwise as many epochs as
make about ``CHUNK_SAMPLES`` samples, so tiny full-batch problems run thousands of
epochs per compiled call.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from . import _validate as check
from .backend import get_backend
from .errors import ConfigError, TrainingDivergedError, ValueRangeError
from .history import History
from .optimizers import get_optimizer

CHUNK_SAMPLES = 1 << 20


def fit(model, X, y, *, epochs=10, batch_size=32, optimizer="sgd", validation_data=None,
        shuffle=True, verbose=1) -> History:
    """Train ``model`` in place; return (and keep as ``model.history``) its History.

    X (n, i) real array; y int labels (n,) or targets (n,) / (n, k) per the model's loss;
    batch_size=None trains full-batch; shuffle reorders the samples every epoch (seeded
    by the model's seed); verbose 0 silent, 1 a progress bar, 2 also a line per epoch.
    Raises TrainingDivergedError, keeping the last finite parameters, if the loss or a
    gradient stops being finite.
    """
    epochs = check.positive_int(epochs, "epochs")
    if verbose not in (0, 1, 2):
        raise ValueRangeError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    X = check.features(X, model.sizes[0], model.dtype, keep_integers=True)
    t = check.targets(y, len(X), model.loss, model.sizes[-1], model.dtype)
    n = len(X)
    batch = n if batch_size is None else min(check.positive_int(batch_size, "batch_size"), n)
    validation = _validation(model, validation_data)
    opt = get_optimizer(optimizer)
    state = opt.state(model.net.n_params, model.dtype)
    ops = get_backend()
    shuffled = bool(shuffle) and batch < n
    per_epoch_work = validation is not None or verbose == 2
    chunk = 1 if per_epoch_work else max(1, min(epochs, CHUNK_SAMPLES // n))

    history = model.history = History(metric=model.metric)
    model.fitted = True
    with tqdm(total=epochs, unit="epoch", disable=verbose == 0, leave=verbose > 0) as bar:
        done = 0
        while done < epochs:
            count = min(chunk, epochs - done)
            orders = (np.stack([model.shuffle_rng.permutation(n) for _ in range(count)])
                      if shuffled else None)
            start = time.perf_counter()
            stats = ops.train_epochs(model.net, state, X, t, orders, count, batch)
            seconds = time.perf_counter() - start
            finished = count if stats.failed_epoch < 0 else stats.failed_epoch
            _record(history, model, stats, finished, t, n * finished / max(seconds, 1e-12))
            if stats.failed_epoch >= 0:
                raise _diverged(stats, done, opt, history)
            if validation is not None:
                scores = model.evaluate(*validation)
                history.append(**{f"val_{key}": value for key, value in scores.items()})
            done += count
            bar.update(count)
            if verbose:
                bar.set_postfix(history.last(), refresh=False)
            if verbose == 2:
                bar.write(_epoch_line(done, epochs, history.last()))
    return history


def _validation(model, validation_data):
    if validation_data is None:
        return None
    try:
        X_val, y_val = validation_data
    except (TypeError, ValueError):
        raise ConfigError("validation_data must be a pair (X_val, y_val)") from None
    X_val = check.features(X_val, model.sizes[0], model.dtype, "validation X",
                           keep_integers=True)
    return X_val, check.targets(y_val, len(X_val), model.loss, model.sizes[-1], model.dtype,
                                "validation y")


def _record(history, model, stats, finished, t, samples_per_s):
    loss_sum = stats.loss_sum[:finished]
    history.extend(loss=loss_sum / len(t),
                   **{model.metric: model._metric(loss_sum, stats.correct[:finished], t)},
                   samples_per_s=[samples_per_s] * finished)


def _diverged(stats, done, opt, history) -> TrainingDivergedError:
    epoch = done + stats.failed_epoch + 1
    what = ("the loss is" if stats.failed_what == "loss" else
            "the gradient, or the update it gives, is")
    err = TrainingDivergedError(
        f"training diverged at epoch {epoch}, batch {stats.failed_batch + 1}: {what} NaN "
        f"or infinite. The model keeps the parameters from before "
        f"that batch; try a lower learning rate (lr is {opt.lr:g}) or standardised inputs.")
    err.epoch, err.batch, err.history = epoch, stats.failed_batch + 1, history
    return err


def _epoch_line(epoch, epochs, last):
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}"]
    for key, value in last.items():
        parts.append(f"{key} {value:,.0f}" if key == "samples_per_s" else f"{key} {value:.4f}")
    return "  ".join(parts)
