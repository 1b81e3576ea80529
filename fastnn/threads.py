"""Thread control: one setting for numba's and the BLAS library's thread pools.

``FASTNN_NUM_THREADS=n`` (read when the first backend loads) or ``set_num_threads(n)``
gives numba and BLAS the same n, so the two never oversubscribe the cores: fastnn
never runs them at the same time, each gets all n threads in turn. No environment
variable is written (other libraries, and child processes, read them): numba's pool keeps
its size (the core count, or the user's ``NUMBA_NUM_THREADS``) and ``numba.set_num_threads``
uses n of them in the calling thread (numba's rule: a worker thread calls
``set_num_threads`` itself); a larger n reaches BLAS only, with a RuntimeWarning.
OpenMP's own settings (its wait policy) are never changed: its runtime is shared with
other libraries in the process (see ``kernels/numba_backend/config.py``).
"""

from __future__ import annotations

import os
import sys
import warnings
from numbers import Integral

from .errors import ConfigError

_requested: int | None = None
_env_applied = False


def _parse(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"FASTNN_NUM_THREADS must be a positive integer, got {value!r}")
    return n


def apply_env() -> None:
    """Apply ``FASTNN_NUM_THREADS`` if set, once, before the first backend is imported."""
    global _env_applied
    if _env_applied:
        return
    value = os.environ.get("FASTNN_NUM_THREADS", "").strip()
    if value:
        set_num_threads(_parse(value))
    _env_applied = True


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for numba kernels and for BLAS; more than the CPU count is
    capped at it, with a RuntimeWarning naming both."""
    global _requested
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ConfigError(f"number of threads must be a positive integer, got {n!r}")
    n = int(n)
    cores = os.cpu_count() or n
    if n > cores:
        warnings.warn(f"{n} threads requested but this machine has {cores} CPU(s): using "
                      f"{cores}", RuntimeWarning, stacklevel=2)
        n = cores
    _requested = n
    import numba

    pool = numba.config.NUMBA_NUM_THREADS
    if n > pool:
        warnings.warn(f"numba's thread pool holds {pool} thread(s), fixed when numba "
                      f"started it (NUMBA_NUM_THREADS): numba keeps {pool}, BLAS gets {n}",
                      RuntimeWarning, stacklevel=2)
    numba.set_num_threads(min(n, pool))
    from .kernels.openblas import load

    load()  # the BLAS the numba kernels call, so that its threads are set too
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")  # every BLAS loaded: numpy's and that one


def thread_info() -> dict:
    """The effective settings: requested count, numba threads and layer, BLAS pools."""
    from threadpoolctl import threadpool_info
    info = {"cpu_count": os.cpu_count(), "requested": _requested,
            "FASTNN_NUM_THREADS": os.environ.get("FASTNN_NUM_THREADS")}
    if "numba" in sys.modules:
        import numba
        info["numba_threads"] = numba.get_num_threads()
        try:
            info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet
            info["numba_threading_layer"] = "not started"
    info["blas"] = [{key: pool.get(key) for key in ("internal_api", "version", "num_threads",
                                                    "threading_layer", "filepath")}
                    for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return info
