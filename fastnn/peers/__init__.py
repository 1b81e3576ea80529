"""Peer implementations of the MNIST-MLP workload, each a script run in a process of its own.

    python -m fastnn.peers.torch_mlp   --epochs 4 --batch 128 [--samples N] [--threads 2]
    python -m fastnn.peers.jax_mlp     ...
    python -m fastnn.peers.sklearn_mlp ...
    python -m fastnn.peers.fastnn_mlp  ... [--backend numba]   (fastnn itself, alike)

Each trains 784-256-128-10 (ReLU, softmax cross-entropy, SGD lr 0.05 momentum 0.9,
reshuffled every epoch, float32) on the first N MNIST training images for E epochs of ONE
ongoing run (optimizer state carried from epoch to epoch, as a user's training run), the
way that library's users write it and with that library's own defaults, then prints one
JSON line (see :func:`report`); stdout has nothing else. A peer whose library is not
installed prints ``{"peer": ..., "skipped": "<reason>"}`` and exits 0.

A fresh process per peer because a library measured inside fastnn's process is measured
beside fastnn's thread pools and environment (PyTorch ran 2x slower there). So this module
and the scripts import only numpy, ``fastnn.benchmark.workload`` (the constants and the
MNIST files) and their own library; never fastnn's backends or numba.

Time to accuracy (``fastnn bench --time-to-accuracy``): ``--schedule onecycle --max-lr X
--nesterov --weight-decay W --init he --target 0.98`` make a peer run fastnn's MNIST
recipe: the learning rate of every step is computed by ``fastnn.schedules.OneCycle``
itself (pure numpy; so the peer follows the very same schedule, step by step), weight
decay on the weights only, He-normal ReLU layers, a Glorot-uniform output layer and zero
biases, as ``fastnn.layers``. After every epoch the clock stops, the test set is scored,
and the run ends at the first epoch at or above the target (see :func:`train_to_target`).
``fastnn_mlp`` is fastnn itself run the same way, in a process of its own like the peers.

Serving (``fastnn bench``'s rounds, ``--serve``; torch, jax, sklearn): the peer builds its
run, prints a "ready" JSON line (version, and its BLAS or backend: :func:`blas_info`),
then waits on stdin: each ``epoch`` line runs one more epoch of the same run and prints
``{"seconds": s}``; ``done`` (or the end of stdin) scores the test set and prints the
usual report (see :func:`serve`). The sizes, learning rate, momentum, batch and data come
from ``fastnn.benchmark.workload``, the one module of the workload's constants.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np

from fastnn.benchmark import workload


def parse_args(peer: str, argv=None) -> argparse.Namespace:
    """``--epochs E --batch B --samples N --threads T --seed S`` and the recipe options
    (schedule, momentum, Nesterov, weight decay, initialisation, target) of a peer."""
    from fastnn._args import int_at_least, positive_int

    parser = argparse.ArgumentParser(prog=f"python -m fastnn.peers.{peer}_mlp",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=positive_int, default=workload.DEFAULT_EPOCHS)
    parser.add_argument("--batch", type=positive_int, default=workload.DEFAULT_BATCH)
    parser.add_argument("--samples", type=positive_int, default=None,
                        help="the first N training images (default all 60,000)")
    parser.add_argument("--threads", type=positive_int, default=workload.DEFAULT_THREADS,
                        help="threads for the library (capped at the CPU count)")
    parser.add_argument("--seed", type=int_at_least(0, "non-negative"), default=0)
    parser.add_argument("--schedule", choices=("constant", "onecycle"), default="constant",
                        help="constant: --lr at every step; onecycle: fastnn's "
                             "OneCycle(--max-lr) over --epochs")
    parser.add_argument("--lr", type=float, default=workload.MNIST_LR)
    parser.add_argument("--max-lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=workload.MNIST_MOMENTUM)
    parser.add_argument("--nesterov", action="store_true")
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="L2 on the weights (not the biases), PyTorch's form")
    parser.add_argument("--init", choices=("default", "he"), default="default",
                        help="default: the library's own; he: fastnn's (He-normal ReLU "
                             "layers, Glorot-uniform output layer, zero biases)")
    parser.add_argument("--target", type=float, default=None,
                        help="score the test set after every epoch (clock stopped) and "
                             "stop at the first epoch reaching this accuracy")
    if peer == "fastnn":
        parser.add_argument("--backend", choices=("numpy", "numba"), default="numba")
    else:
        parser.add_argument("--serve", action="store_true",
                            help="wait for 'epoch' lines on stdin, one epoch each (see "
                                 "fastnn.peers.serve); --epochs is then the most it runs")
    args = parser.parse_args(argv)
    args.threads = min(args.threads, os.cpu_count() or args.threads)
    return args


def load_data(samples: int | None):
    """((X_train, y_train), (X_test, y_test)): float32 (n, 784) in [0, 1], int64 labels;
    the first ``samples`` training rows."""
    return workload.load_mnist_train(samples), workload.load_mnist_test()


def timed_epochs(epochs: int, run_epoch: Callable[[int], None]) -> list[float]:
    """Wall seconds of ``run_epoch(0)``, ..., ``run_epoch(epochs - 1)``, each timed alone.

    ``run_epoch`` must return only when its work is done (e.g. block_until_ready).
    """
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        run_epoch(epoch)
        seconds.append(time.perf_counter() - start)
    return seconds


def learning_rates(args: argparse.Namespace, n: int) -> np.ndarray:
    """The learning rate of every step of the run (float64, epochs * steps per epoch):
    ``--lr`` throughout, or fastnn's ``OneCycle(--max-lr)`` bound to this run."""
    steps = -(-n // args.batch)
    if args.schedule == "constant":
        return np.full(args.epochs * steps, args.lr)
    from fastnn.schedules import OneCycle

    return OneCycle(max_lr=args.max_lr).bind(steps, args.epochs)(
        np.arange(args.epochs * steps))


def glorot_limit(fan_in: int, fan_out: int) -> float:
    """fastnn's Glorot-uniform bound for the (identity) output layer."""
    return (6.0 / (fan_in + fan_out)) ** 0.5


def train_to_target(epochs: int, run_epoch: Callable[[int], None],
                    accuracy: Callable[[], float], target: float | None) -> dict:
    """Run up to ``epochs`` epochs and score the test set with the clock stopped.

    Without a target: all the epochs (see :func:`timed_epochs`), scored once at the end.
    With one: scored after every epoch, stopping at the first epoch whose accuracy
    reaches it. Returns epoch_seconds (training only), test_accuracies (one per scoring)
    and, with a target, seconds_to_target (training seconds up to the end of that epoch,
    None if no epoch reaches it) and epochs_to_target.
    """
    if target is None:
        seconds = timed_epochs(epochs, run_epoch)
        return {"epoch_seconds": seconds, "test_accuracies": [float(accuracy())]}
    seconds, accuracies = [], []
    for epoch in range(epochs):
        start = time.perf_counter()
        run_epoch(epoch)
        seconds.append(time.perf_counter() - start)
        accuracies.append(float(accuracy()))
        if accuracies[-1] >= target:
            break
    reached = accuracies[-1] >= target
    return {"epoch_seconds": seconds, "test_accuracies": accuracies, "target": target,
            "seconds_to_target": sum(seconds) if reached else None,
            "epochs_to_target": len(seconds) if reached else None}


def recipe(args: argparse.Namespace) -> dict:
    """The recipe options, for the report."""
    return {"schedule": args.schedule, "lr": args.lr, "max_lr": args.max_lr,
            "momentum": args.momentum, "nesterov": args.nesterov,
            "weight_decay": args.weight_decay, "init": args.init, "seed": args.seed}


def batches(order: np.ndarray, batch: int) -> Iterator[np.ndarray]:
    """Consecutive slices of ``order`` of ``batch`` rows, the last one partial."""
    for start in range(0, len(order), batch):
        yield order[start:start + batch]


def report(peer: str, version: str, args: argparse.Namespace, samples: int,
           epoch_seconds: list[float], test_accuracy: float, **extra) -> None:
    """Print the peer's one JSON line: peer, version, batch, samples (rows trained on),
    threads, epochs, epoch_seconds, first_epoch_s, steady_epoch_s (median of epochs 2..E;
    null if E = 1), test_accuracy, and ``extra``."""
    steady = statistics.median(epoch_seconds[1:]) if len(epoch_seconds) > 1 else None
    line = {"peer": peer, "version": version, "batch": args.batch, "samples": samples,
            "threads": args.threads, "epochs": len(epoch_seconds),
            "epoch_seconds": epoch_seconds, "first_epoch_s": epoch_seconds[0],
            "steady_epoch_s": steady, "test_accuracy": float(test_accuracy), **extra}
    print(json.dumps(line), flush=True)


def skip(peer: str, reason: str) -> None:
    """Print ``{"peer": peer, "skipped": reason}`` and exit 0."""
    print(json.dumps({"peer": peer, "skipped": reason}), flush=True)
    sys.exit(0)


def serve(peer: str, version: str, args: argparse.Namespace, samples: int,
          run_epoch: Callable[[int], None], accuracy: Callable[[], float],
          blas: list, stdin=None) -> None:
    """Serve one ongoing run: print the ready line, then one epoch per ``epoch`` line
    on ``stdin`` (default sys.stdin; at most ``args.epochs``), printing its seconds; at
    ``done`` or the end of input, score the test set and print the report."""
    print(json.dumps({"peer": peer, "version": version, "ready": True, "blas": blas}),
          flush=True)
    seconds = []
    for line in stdin or sys.stdin:
        command = line.strip()
        if command == "done":
            break
        if command != "epoch":
            raise SystemExit(f"{peer}: unknown command {command!r} (epoch, done)")
        if len(seconds) == args.epochs:
            raise SystemExit(f"{peer}: asked for more than --epochs {args.epochs} epochs")
        start = time.perf_counter()
        run_epoch(len(seconds))
        seconds.append(time.perf_counter() - start)
        print(json.dumps({"seconds": seconds[-1]}), flush=True)
    if seconds:
        report(peer, version, args, samples, seconds, accuracy(), blas=blas)


def blas_info() -> list[dict]:
    """The BLAS libraries loaded in this process, as threadpoolctl sees them:
    internal_api, version, architecture, filepath (empty without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{key: entry.get(key) for key in ("internal_api", "version", "architecture",
                                             "filepath")}
            for entry in threadpool_info() if entry.get("user_api") == "blas"]
