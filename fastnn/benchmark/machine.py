"""The machine a benchmark ran on, for saved results, and a warning when it is busy."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

import numpy as np

import fastnn as fnn

from .blas import blas_libraries, cpu_info

PEER_DISTRIBUTIONS = ("torch", "jax", "scikit-learn", "onnxruntime")


def machine_info() -> dict:
    """Versions, CPU (model, SIMD) and count, numba threads and threading layer, every
    BLAS as threadpoolctl reports it, the peers' library versions."""
    import numba
    info = {"fastnn": fnn.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "cpu": cpu_info(), "cpu_count": os.cpu_count(),
            "numpy": np.__version__, "numpy_blas": numpy_blas(), "numba": numba.__version__,
            "numba_threading_layer_config": numba.config.THREADING_LAYER,
            "blas": blas_libraries(), "threads": fnn.thread_info()}
    for distribution in PEER_DISTRIBUTIONS:
        try:
            info[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            info[distribution] = None
    return info


def warn_if_busy() -> None:
    """Other busy processes make multi-threaded BLAS and numba wait on each other: say so."""
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cpus:
        print(f"  warning: load average {load:.1f} on {cpus} CPUs: other processes compete "
              "for the cores, so the numbers may be unreliable", file=sys.stderr, flush=True)


def numpy_blas() -> str:
    """numpy's build-time BLAS: name and version."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError):
        return "unknown"
