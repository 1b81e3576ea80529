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

The names ``bench/`` and other code use are re-exported here, lazily: a name's module is
imported on first use, so the peer scripts, which import ``workload`` in processes timed
from their start (``cold_start``), load nothing else of the package.
"""

import importlib

_HOMES = {
    "accuracy": ("recipe_argv", "time_to_accuracy", "tta_entries", "tta_rows"),
    "command": ("DEFAULT_BACKENDS", "add_arguments", "run"),
    "floor": ("FLOOR", "gemm_floor_runner"),
    "interleave": ("run_rounds", "time_interleaved"),
    "machine": ("machine_info",),
    "processes": ("FASTNN_PEER", "PEERS", "run_module", "run_peer"),
    "runs": ("TUTORIALS", "FastnnRun", "Tutorial", "epoch_summary", "mnist_run",
             "tutorial_runner"),
    "tables": ("add_ratios", "format_table"),
    "workload": ("DEFAULT_BATCHES", "DEFAULT_EPOCHS", "DEFAULT_THREADS", "MNIST_LR",
                 "MNIST_MOMENTUM", "MNIST_SIZES", "MNIST_WORKLOAD", "SAMPLES_ENV",
                 "load_mnist_test", "load_mnist_train", "samples_from_env"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str):
    """A re-exported name, from its module (imported now if it was not yet)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
