"""Benchmark workloads and the ``fastnn bench`` command, one job per module.

- ``workload``: the MNIST-MLP workload's constants and data, shared with ``fastnn.peers``;
- ``floor``: the GEMM floor, only the matrix products of an epoch;
- ``runs``: fastnn's own training runs (the MNIST-MLP, the tutorial nets);
- ``processes``: peers in processes of their own, one-shot or serving epochs;
- ``interleave``: timing in turns (rounds in a rotating order, per-round ratios);
- ``blas``: the CPU, every BLAS's kernels, and the pinned-OpenBLAS warning;
- ``machine``: the machine info saved with results;
- ``tables``: ratios, text tables, progress lines;
- ``accuracy``: time to accuracy; ``predict``: inference speed; ``cold_start``: compile
  budgets;
- ``args`` and ``command``: the ``fastnn bench`` command.

The names ``bench/`` and other code use are re-exported here.
"""

from .accuracy import recipe_argv, time_to_accuracy, tta_entries, tta_rows
from .command import DEFAULT_BACKENDS, add_arguments, run
from .floor import FLOOR, gemm_floor_runner
from .interleave import run_rounds, time_interleaved
from .machine import machine_info
from .processes import FASTNN_PEER, PEERS, run_module, run_peer
from .runs import TUTORIALS, FastnnRun, Tutorial, epoch_summary, mnist_run, tutorial_runner
from .tables import add_ratios, format_table
from .workload import (
    DEFAULT_BATCHES,
    DEFAULT_EPOCHS,
    DEFAULT_THREADS,
    MNIST_LR,
    MNIST_MOMENTUM,
    MNIST_SIZES,
    MNIST_WORKLOAD,
    SAMPLES_ENV,
    load_mnist_test,
    load_mnist_train,
    samples_from_env,
)

__all__ = [
    "DEFAULT_BACKENDS", "DEFAULT_BATCHES", "DEFAULT_EPOCHS", "DEFAULT_THREADS", "FASTNN_PEER",
    "FLOOR", "MNIST_LR", "MNIST_MOMENTUM", "MNIST_SIZES", "MNIST_WORKLOAD", "PEERS",
    "SAMPLES_ENV", "TUTORIALS", "FastnnRun", "Tutorial", "add_arguments", "add_ratios",
    "epoch_summary", "format_table", "gemm_floor_runner", "load_mnist_test",
    "load_mnist_train", "machine_info", "mnist_run", "recipe_argv", "run", "run_module",
    "run_peer", "run_rounds", "samples_from_env", "time_interleaved", "time_to_accuracy",
    "tta_entries", "tta_rows", "tutorial_runner",
]
