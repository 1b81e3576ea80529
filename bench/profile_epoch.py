"""Where one MNIST-MLP epoch spends its time, op by op, next to the GEMM floor.

    python bench/profile_epoch.py [--backend numba] [--batch 128] [--repeats 3]

Runs the generic training loop (``kernels/loop.py``, what both backends use for the
MNIST net) with every op of the backend wrapped in a timer, and the GEMM floor in the
same process, alternating, and prints seconds per epoch (the median over the repeats).
``dense_forward`` and ``dense_backward`` include their BLAS products: their sum minus the
floor is what the fused passes (and any slowdown of the products inside a step) cost.
"rest" is the epoch minus the timed ops: gathering the shuffled batch, and Python.
Then, each alone in a tight loop, the two costs this loop cannot drop: gathering an
epoch's shuffled input rows and one epoch of optimizer steps. The GEMM floor plus these
two is the least an epoch of this design can take.
Not a benchmark (timers add about 1 us per op call); use it to see what dominates.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from types import SimpleNamespace

import numpy as np

import fastnn as fnn
from fastnn.backend import get_backend
from fastnn.benchmark import (DEFAULT_THREADS, MNIST_LR, MNIST_MOMENTUM, MNIST_SIZES,
                              gemm_floor_runner, load_mnist_train)
from fastnn.kernels import loop
from fastnn.kernels.contract import OPS

TIMED_OPS = ("dense_forward", "dense_backward", "softmax_cross_entropy", "count_correct",
             "sgd_step")


def timed(ops, seconds: dict[str, float]) -> SimpleNamespace:
    """The backend's ops, each adding its wall time to ``seconds[op]``."""
    def wrap(name):
        op = getattr(ops, name)

        def run(*args):
            start = time.perf_counter()
            result = op(*args)
            seconds[name] += time.perf_counter() - start
            return result
        return run

    return SimpleNamespace(**{name: wrap(name) if name in TIMED_OPS else getattr(ops, name)
                              for name in OPS})


def profile(backend: str, batch: int, repeats: int) -> dict[str, float]:
    """Median seconds per epoch of every timed op, "rest", "epoch" and "GEMM floor"."""
    fnn.set_num_threads(DEFAULT_THREADS)
    X, y = load_mnist_train()
    model = fnn.MLP(MNIST_SIZES, activation="relu", seed=0)
    optimizer = fnn.SGD(lr=MNIST_LR, momentum=MNIST_MOMENTUM)
    with fnn.use_backend(backend):
        model.fit(X[:batch], y[:batch], epochs=1, batch_size=batch, verbose=0)  # compile
        ops = get_backend()
    net = model.net
    state = optimizer.state(net.n_params, net.dtype)
    floor = gemm_floor_runner(batch, len(X))
    rng = np.random.default_rng(0)
    runs = defaultdict(list)
    for _ in range(repeats + 1):  # the first round warms up and is dropped
        seconds = defaultdict(float)
        order = rng.permutation(len(X))[None]
        start = time.perf_counter()
        loop.train_epochs(timed(ops, seconds), net, state, X, y, order, 1, batch)
        seconds["epoch"] = time.perf_counter() - start
        seconds["rest"] = seconds["epoch"] - sum(seconds[name] for name in TIMED_OPS)
        start = time.perf_counter()
        floor()
        seconds["GEMM floor"] = time.perf_counter() - start
        seconds["gather alone"] = gather_alone(X, order[0], batch, net.input_scale)
        seconds["sgd_step alone"] = sgd_alone(ops, net, state, -(-len(X) // batch))
        for name, value in seconds.items():
            runs[name].append(value)
    return {name: statistics.median(values[1:]) for name, values in runs.items()}


def gather_alone(X: np.ndarray, order: np.ndarray, batch: int, scale: float) -> float:
    """Seconds to gather one epoch's input batches in ``order``, as the loop does."""
    out = np.empty((batch, X.shape[1]), X.dtype)
    start = time.perf_counter()
    for first in range(0, len(X), batch):
        rows = order[first:first + batch]
        loop.input_batch(out[:len(rows)], X, rows, scale)
    return time.perf_counter() - start


def sgd_alone(ops, net, state, steps: int) -> float:
    """Seconds for ``steps`` SGD steps on copies of the net's and optimizer's buffers."""
    params, velocity, grads, bounds = (a.copy() for a in (net.params, state.slots[0],
                                                            net.grads, state.bounds))
    start = time.perf_counter()
    applied = sum(ops.sgd_step(params, velocity, grads, state.lr, state.momentum,
                               state.weight_decay, state.nesterov, net.n_weights, bounds)
                  for _ in range(steps))
    seconds = time.perf_counter() - start
    if applied != steps:
        raise RuntimeError(f"only {applied} of {steps} SGD steps applied")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = profile(args.backend, args.batch, args.repeats)
    floor = result["GEMM floor"]
    print(f"{args.backend}, MNIST-MLP epoch, batch {args.batch}, median of {args.repeats}")
    print(f"{'part':<24}{'s/epoch':>9}{'x floor':>9}")
    for name in (*TIMED_OPS, "rest", "epoch", "GEMM floor"):
        print(f"{name:<24}{result[name]:>9.3f}{result[name] / floor:>9.2f}")
    print("each alone, outside the loop:")
    least = floor + result["gather alone"] + result["sgd_step alone"]
    for name, value in (("gather", result["gather alone"]),
                        ("sgd_step", result["sgd_step alone"]),
                        ("floor + both: least", least)):
        print(f"{name:<24}{value:>9.3f}{value / floor:>9.2f}")


if __name__ == "__main__":
    main()
