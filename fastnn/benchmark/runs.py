"""fastnn's own training runs: the MNIST-MLP run and the tutorial nets.

- :func:`mnist_run`: E epochs of ONE ongoing run in one public ``model.fit(X, y,
  epochs=E)`` call (fit's input validation included), as ``bench/test_epochs.py`` times it.
  Per-epoch seconds come from ``history["samples_per_s"]``: real per-epoch times, as
  ``fit`` runs MNIST-sized data one epoch per backend call.
- :class:`FastnnRun`: the same run one epoch per call (``fit(epochs=1)`` again and again
  continues it: optimizer state, schedule position, shuffling), for ``fastnn bench``'s
  rounds; it lives in the calling process (see ``benchmark.interleave``).
- :func:`tutorial_runner`: XOR and two moons, full-batch gradient descent for 10,000 and
  20,000 iterations through ``fit``, where per-call overhead dominates.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import fastnn as fnn
from fastnn.datasets import logic_gate, make_moons

from .workload import MNIST_LR, MNIST_MOMENTUM, MNIST_SIZES


@dataclass(frozen=True)
class Tutorial:
    """A tutorial net: MLP sizes and hidden activation, softmax-CE, full-batch SGD."""

    sizes: tuple[int, ...]
    activation: str
    iterations: int
    lr: float
    weight_decay: float
    data: Callable[[], tuple[np.ndarray, np.ndarray]]


TUTORIALS = {
    "xor": Tutorial((2, 4, 2), "relu", 10_000, lr=0.1, weight_decay=0.0,
                    data=lambda: logic_gate("xor")),
    "moons": Tutorial((2, 3, 2), "tanh", 20_000, lr=1.0, weight_decay=1e-3,
                      data=lambda: make_moons(200, noise=0.2, seed=0)),
}


def mnist_model(seed: int = 0) -> tuple[fnn.Sequential, fnn.SGD]:
    """A fresh MNIST-MLP and its optimizer (SGD, the workload's lr and momentum)."""
    model = fnn.MLP(MNIST_SIZES, activation="relu", seed=seed)
    return model, fnn.SGD(lr=MNIST_LR, momentum=MNIST_MOMENTUM)


def mnist_run(backend: str, batch: int, X: np.ndarray, y: np.ndarray, epochs: int,
              seed: int = 0) -> tuple[list[float], fnn.Sequential]:
    """Train a fresh MNIST-MLP on ``backend`` for ``epochs`` epochs of one ``model.fit``
    call; return (wall seconds of each epoch, the trained model).

    X float32 (n, 784), y int64 (n,). The seconds are ``n / history["samples_per_s"]``.
    """
    model, optimizer = mnist_model(seed)
    with fnn.use_backend(backend):
        history = model.fit(X, y, epochs=epochs, batch_size=batch, optimizer=optimizer,
                            verbose=0)
    return [len(X) / rate for rate in history["samples_per_s"]], model


class FastnnRun:
    """One ongoing MNIST-MLP run on ``backend``, an epoch per :meth:`epoch` call."""

    def __init__(self, backend: str, batch: int, X: np.ndarray, y: np.ndarray, seed: int = 0):
        self.name = self.backend = backend
        self.batch, self.X, self.y = batch, X, y
        self.model, self.optimizer = mnist_model(seed)

    def epoch(self) -> float:
        """Train one more epoch; its seconds as fit measured them (input checks apart,
        as the peers time only their epoch loops)."""
        with fnn.use_backend(self.backend):
            history = self.model.fit(self.X, self.y, epochs=1, batch_size=self.batch,
                                     optimizer=self.optimizer, verbose=0)
        return len(self.X) / history["samples_per_s"][-1]

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of the model so far on (X, y)."""
        with fnn.use_backend(self.backend):
            return self.model.evaluate(X, y)["accuracy"]


def epoch_summary(epoch_seconds: list[float]) -> dict:
    """{"epoch_seconds", "first_epoch_s", "seconds": median of epochs 2..E (the steady
    number; absent if E = 1)} of one run's per-epoch wall seconds."""
    summary = {"epoch_seconds": list(epoch_seconds), "first_epoch_s": epoch_seconds[0]}
    if len(epoch_seconds) > 1:
        summary["seconds"] = statistics.median(epoch_seconds[1:])
    return summary


def tutorial_runner(name: str, backend: str, seed: int = 0) -> Callable[[], None]:
    """A callable running tutorial ``name`` (xor, moons): one full-batch ``fit`` of all
    its iterations on ``backend``; the model continues training from call to call."""
    spec = TUTORIALS[name]
    X, y = spec.data()
    X = X.astype(np.float32)
    model = fnn.MLP(spec.sizes, activation=spec.activation, seed=seed)
    optimizer = fnn.SGD(lr=spec.lr, weight_decay=spec.weight_decay)

    def run():
        with fnn.use_backend(backend):
            model.fit(X, y, epochs=spec.iterations, batch_size=None, optimizer=optimizer,
                      verbose=0)

    return run
