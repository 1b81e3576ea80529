"""The MNIST-MLP workload every benchmark runs: its constants and its data.

One source for ``fastnn bench``, ``bench/`` and the peer scripts (``fastnn.peers``), so
that no script restates a size, a learning rate or a batch size. It imports only numpy and
``fastnn.datasets``: the peers import it in processes that must not load fastnn's
backends or numba.
"""

from __future__ import annotations

import os

import numpy as np

from fastnn.datasets import load_mnist

MNIST_SIZES = (784, 256, 128, 10)  # ReLU hidden layers, softmax cross-entropy
MNIST_LR, MNIST_MOMENTUM = 0.05, 0.9  # SGD, constant rate, heavy-ball momentum
MNIST_WORKLOAD = "mnist-epoch"
DEFAULT_BATCHES = (32, 128, 1024)
DEFAULT_BATCH = 128  # a peer script's default
DEFAULT_THREADS = 2
DEFAULT_EPOCHS = 4  # of one run: the first apart, the others timed
SAMPLES_ENV = "FASTNN_BENCH_SAMPLES"


def load_mnist_train(samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST training set: X float32 (n, 784) in [0, 1], y int64 (n,); the first
    ``samples`` rows (all 60,000 if None)."""
    (X, y), _ = load_mnist()
    return X[:samples], y[:samples]


def load_mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test set: X float32 (10000, 784) in [0, 1], y int64 (10000,)."""
    return load_mnist()[1]


def samples_from_env() -> int | None:
    """``$FASTNN_BENCH_SAMPLES`` as a positive int, or None (all samples) if unset."""
    value = os.environ.get(SAMPLES_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SAMPLES_ENV} must be a positive integer, got {value!r}")
    return int(value)
