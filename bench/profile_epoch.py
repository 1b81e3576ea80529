"""Where one MNIST-MLP epoch spends its time, op by op, next to the GEMM floor.

    python bench/profile_epoch.py [--backend numba] [--batch 128] [--repeats 3] [--samples N]

Runs the generic training loop (``kernels/loop.py``, what both backends use for the
MNIST net) with every op of the backend wrapped in a timer, and the GEMM floor in the
same process, alternating, and prints seconds per epoch (the median over the repeats).
``dense_forward`` and ``dense_backward`` include their BLAS products: their sum minus the
floor is what the fused passes (and any slowdown of the products inside a step) cost.
"rest" is the epoch minus the timed ops: gathering the shuffled batch, and Python.
Then, each alone in a tight loop, the two costs this loop cannot drop: gathering an
epoch's shuffled input rows and one epoch of optimizer steps. The GEMM floor plus these
two is the least an epoch of this design can take.

The optimizer alone runs on the state and gradients of a real training run: one epoch
of the same training records its last ``RING`` gradients and the parameters and
optimizer state at its end; each repeat restores that state and replays one epoch's
worth of steps, step k taking recorded gradient k mod RING (copied, untimed, into a
scratch buffer first: the contract lets a step overwrite its gradient). An earlier
version repeated one frozen gradient for every step: each velocity entry whose gradient
was zero (dead ReLU units) then decayed geometrically, mu^k, into the subnormal range,
where arithmetic is many times slower, and the number was inflated by an artefact no
training run sees. The line after it counts the slot entries left subnormal.
Not a benchmark (timers add about 1 us per op call); use it to see what dominates.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections import defaultdict, deque
from types import SimpleNamespace

import numpy as np

import fastnn as fnn
from fastnn.backend import get_backend
from fastnn.benchmark import (
    DEFAULT_THREADS,
    MNIST_LR,
    MNIST_MOMENTUM,
    MNIST_SIZES,
    gemm_floor_runner,
    load_mnist_train,
)
from fastnn.kernels import loop
from fastnn.kernels.contract import OPS

OPTIMIZER_OP = "optimizer_step"  # the contract's optimizer op: see optimizer_step below
TIMED_OPS = ("dense_forward", "dense_backward", "loss", "metric_sum", OPTIMIZER_OP)
RING = 32  # recorded real gradients replayed by the optimizer-alone timing


def optimizer_step(ops, params: np.ndarray, grads: np.ndarray, state, n_weights: int,
                   lr: float) -> bool:
    """The script's one call of the optimizer op, as ``kernels/loop.py`` makes it: one
    step of ``state`` on the flat ``params`` (p,) with ``grads`` (p,), overwritable."""
    return ops.optimizer_step(params, grads, state, n_weights, lr)


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


def recording(ops, grads: np.ndarray, ring: deque) -> SimpleNamespace:
    """The backend's ops, the optimizer op first appending a copy of ``grads`` (the net's
    flat gradient buffer, which the loop passes it) to ``ring``."""
    step = getattr(ops, OPTIMIZER_OP)

    def record(*args):
        ring.append(grads.copy())
        return step(*args)

    return SimpleNamespace(**{name: record if name == OPTIMIZER_OP else getattr(ops, name)
                              for name in OPS})


def profile(backend: str, batch: int, repeats: int,
            samples: int | None = None) -> dict[str, float]:
    """Median seconds per epoch of every timed op, "rest", "epoch" and "GEMM floor"; the
    epochs are over the first ``samples`` MNIST images (default all)."""
    fnn.set_num_threads(DEFAULT_THREADS)
    X, y = load_mnist_train(samples)
    model = fnn.MLP(MNIST_SIZES, activation="relu", seed=0)
    optimizer = fnn.SGD(lr=MNIST_LR, momentum=MNIST_MOMENTUM)
    with fnn.use_backend(backend):
        model.fit(X[:batch], y[:batch], epochs=1, batch_size=batch, verbose=0)  # compile
        ops = get_backend()
    net = model.net
    state = optimizer.state(net.n_params, net.dtype)
    floor = gemm_floor_runner(batch, len(X))
    rng = np.random.default_rng(0)
    ring = deque(maxlen=RING)  # one real epoch: its last gradients, the state at its end
    loop.train_epochs(recording(ops, net.grads, ring), net, state, X, y,
                      rng.permutation(len(X))[None], 1, batch)
    recorded = net.params.copy(), _copy_state(state), list(ring)
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
        seconds["optimizer alone"], seconds["subnormal slots"] = optimizer_alone(
            ops, *recorded, net.n_weights, -(-len(X) // batch))
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


def _copy_state(state):
    """A new optimizer state object with copies of ``state``'s slots."""
    return dataclasses.replace(state, slots=tuple(slot.copy() for slot in state.slots))


def optimizer_alone(ops, params0: np.ndarray, state0, ring: list[np.ndarray], n_weights: int,
                    steps: int) -> tuple[float, int]:
    """Seconds for ``steps`` optimizer steps from a copy of (params0, state0), step k on
    recorded gradient ``ring[k % len(ring)]``; and the slot entries left subnormal."""
    params, state = params0.copy(), _copy_state(state0)
    scratch = np.empty_like(ring[0])
    lrs = state.learning_rates(steps).tolist()
    seconds, applied = 0.0, 0
    for k in range(steps):
        np.copyto(scratch, ring[k % len(ring)])
        start = time.perf_counter()
        applied += optimizer_step(ops, params, scratch, state, n_weights, lrs[k])
        seconds += time.perf_counter() - start
    if applied != steps:
        raise RuntimeError(f"only {applied} of {steps} optimizer steps applied")
    tiny = np.finfo(params.dtype).tiny
    subnormal = sum(int(np.count_nonzero((slot != 0) & (np.abs(slot) < tiny)))
                    for slot in state.slots)
    return seconds, subnormal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=None,
                        help="the first N MNIST images (default all; small N: a smoke run)")
    args = parser.parse_args()
    result = profile(args.backend, args.batch, args.repeats, args.samples)
    floor = result["GEMM floor"]
    print(f"{args.backend}, MNIST-MLP epoch, batch {args.batch}, median of {args.repeats}")
    print(f"{'part':<24}{'s/epoch':>9}{'x floor':>9}")
    for name in (*TIMED_OPS, "rest", "epoch", "GEMM floor"):
        print(f"{name:<24}{result[name]:>9.3f}{result[name] / floor:>9.2f}")
    print("each alone, outside the loop:")
    least = floor + result["gather alone"] + result["optimizer alone"]
    for name, value in (("gather", result["gather alone"]),
                        (OPTIMIZER_OP, result["optimizer alone"]),
                        ("floor + both: least", least)):
        print(f"{name:<24}{value:>9.3f}{value / floor:>9.2f}")
    print(f"(optimizer alone: real gradients, a ring of {RING}; slot entries left "
          f"subnormal: {result['subnormal slots']:.0f})")


if __name__ == "__main__":
    main()
