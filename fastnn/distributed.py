"""fastnn on a dask cluster: one thread count for every worker, so cores are not oversubscribed.

(Dask runs many independent fits, e.g. searches; one network trained on several processes
is ``fastnn.mpi``, see docs/distributed.md.)

A dask worker process runs tasks on its own threads, and by default fastnn's numba kernels
and BLAS each use every core of the machine from every worker process: W workers per
machine with T task threads each would run W*T*cores threads. Give fastnn
``cores // (W * T)`` threads per worker instead (1 for one single-threaded worker per core)::

    import joblib
    from dask.distributed import Client
    import fastnn.distributed
    from fastnn.sklearn import MLPClassifier

    client = Client("tcp://scheduler-host:8786")       # or Client(LocalCluster(...))
    fastnn.distributed.set_worker_threads(client, 1)   # every worker, now and restarted
    with joblib.parallel_backend("dask"):
        GridSearchCV(MLPClassifier(random_state=0), grid, n_jobs=-1).fit(X, y)

Or start the workers with the variables of :func:`worker_env` in their environment
(``LocalCluster(..., env=worker_env(1))``, or exported before ``dask worker``).

Why a setting at worker start: numba's thread count is per thread (``numba.set_num_threads``
applies to the thread calling it, and dask's task threads are not the thread that runs a
plugin), so the one process-wide cap is the size of numba's pool, ``NUMBA_NUM_THREADS``,
read when numba is imported. :func:`set_worker_threads` writes it in each worker that has
not imported numba yet (a fresh worker has not), and limits BLAS process-wide through
threadpoolctl; on a worker whose numba is already running, only the plugin's thread and
BLAS are capped, and :func:`set_worker_threads` says so.
"""

from __future__ import annotations

import os
import sys
import warnings
from numbers import Integral

try:
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover - exercised in an environment without the extra
    raise ImportError("fastnn.distributed needs the 'dask' extra: pip install "
                      "'fastnn[dask]'") from None

from .errors import ConfigError

__all__ = ["set_worker_threads", "worker_env", "FastnnThreads"]


def _positive(n) -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ConfigError(f"number of threads must be a positive integer, got {n!r}")
    return int(n)


def worker_env(n: int) -> dict[str, str]:
    """Environment variables giving a worker process ``n`` threads for fastnn (numba's
    pool and BLAS): for ``LocalCluster(env=...)`` or a ``dask worker`` shell."""
    n = str(_positive(n))
    return {"FASTNN_NUM_THREADS": n, "NUMBA_NUM_THREADS": n, "OMP_NUM_THREADS": n,
            "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n}


def _apply(n: int) -> None:
    """Cap this process at n fastnn threads (numba's pool only if numba is not running)."""
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(n)
    os.environ["FASTNN_NUM_THREADS"] = str(n)
    from .threads import set_num_threads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # reported by set_worker_threads
        set_num_threads(n)


class FastnnThreads(WorkerPlugin):
    """A dask worker plugin giving each worker ``n`` fastnn threads (see the module)."""

    name = "fastnn-threads"

    def __init__(self, n: int):
        self.n = _positive(n)

    def setup(self, worker):
        _apply(self.n)


def _pool_capped(n: int) -> bool:
    import numba
    return numba.config.NUMBA_NUM_THREADS <= n


def set_worker_threads(client, n: int) -> None:
    """Give every worker of ``client`` (also those that join or restart later) ``n``
    threads for fastnn's numba kernels and BLAS. A RuntimeWarning names the workers
    whose numba was already running with a larger pool: restart them
    (``client.restart()``) to apply the setting fully."""
    n = _positive(n)
    client.register_plugin(FastnnThreads(n), name=FastnnThreads.name)
    uncapped = [address for address, ok in client.run(_pool_capped, n).items() if not ok]
    if uncapped:
        warnings.warn(f"numba was already running on worker(s) {', '.join(uncapped)} with "
                      f"more than {n} threads: task threads there keep numba's pool size "
                      f"until the workers restart (client.restart())", RuntimeWarning,
                      stacklevel=2)
