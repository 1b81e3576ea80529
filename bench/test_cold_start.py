"""Cold start, apart from throughput: a fresh process imports fastnn, builds the MNIST net
and fits one batch of 128 on the numba backend; and the compile budgets of ``fastnn bench
--cold-start`` (``fastnn.benchmark.cold_start``, the one implementation both use).

The child measures itself with ``time.perf_counter()`` and prints JSON: ``import_s``
(``import fastnn``), ``first_batch_s`` (loading the backend, compiling or loading the
kernels, the fit) and the numba cache hits and misses; the parent puts them in
extra_info. The timed function is the whole child process, interpreter start included.
``NUMBA_CACHE_DIR`` points at a new temporary directory: empty (every kernel that batch
needs compiles; marked ``cold``, 10-20 s) or warm (filled by one untimed run first).

The budgets, group ``cold-start budgets``, one round each (each is whole processes; the
figure, its budget and PASS/MISS in extra_info): ``fastnn train mnist`` with an empty cache
against the PyTorch script of the same recipe (``cold``), a net of a new depth, activation
and loss on a cache that holds only what ``fastnn train mnist`` compiled (its first fit
minus a second; the cache filled untimed first, ``cold``), and ``fastnn info --compile``
with an empty cache (``cold``).
"""

import json
import os
import statistics
import subprocess
import sys

import pytest

from fastnn import benchmark as workloads
from fastnn.benchmark import cold_start

CHILD = """
import json, time
start = time.perf_counter()
import fastnn as fnn
imported = time.perf_counter()
import numpy as np
rng = np.random.default_rng(0)
X, y = rng.random((128, 784), dtype=np.float32), rng.integers(0, 10, 128)
fit_start = time.perf_counter()
fnn.set_backend("numba")
model = fnn.MLP([784, 256, 128, 10], activation="relu", seed=0)
model.fit(X, y, epochs=1, batch_size=128, optimizer=fnn.SGD(lr=0.05, momentum=0.9), verbose=0)
done = time.perf_counter()
from fastnn.benchmark.cold_start import numba_cache_stats
stats = numba_cache_stats()
print(json.dumps({"import_s": imported - start, "first_batch_s": done - fit_start,
                  "cache_hits": stats["hits"], "cache_misses": stats["misses"]}))
"""


def run_child(cache_dir) -> dict:
    """Run CHILD in a fresh interpreter with ``cache_dir`` as numba's cache; its JSON."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir),
           "FASTNN_NUM_THREADS": str(workloads.DEFAULT_THREADS)}
    env.pop("FASTNN_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_children(benchmark, cache_dir, cache, rounds):
    """Time ``rounds`` child runs on ``cache_dir``; extra_info gets each child's numbers
    (``runs``) and their medians."""
    runs = []
    benchmark.group = "cold-start"
    benchmark.extra_info.update(cache=cache, backend="numba", batch=128, dtype="float32",
                                threads=workloads.DEFAULT_THREADS, runs=runs)
    benchmark.pedantic(lambda: runs.append(run_child(cache_dir)), rounds=rounds)
    for key in runs[0]:
        benchmark.extra_info[key] = statistics.median(child[key] for child in runs)


@pytest.mark.cold
def test_cold_start_empty_cache(benchmark, tmp_path):
    time_children(benchmark, tmp_path, "empty", rounds=1)


def test_cold_start_warm_cache(benchmark, tmp_path):
    run_child(tmp_path)  # fills the cache, untimed
    time_children(benchmark, tmp_path, "warm", rounds=3)


def time_figure(benchmark, measure) -> dict:
    """One round of ``measure()`` (a cold_start figure); the figure into extra_info."""
    figures = []
    benchmark.group = "cold-start budgets"
    benchmark.extra_info.update(threads=workloads.DEFAULT_THREADS, backend="numba")
    benchmark.pedantic(lambda: figures.append(measure()), rounds=1)
    benchmark.extra_info.update(figures[0])
    return figures[0]


@pytest.mark.cold
def test_budget_train_mnist_empty_cache_vs_torch(benchmark, tmp_path):
    time_figure(benchmark, lambda: cold_start.train_versus_torch(
        workloads.DEFAULT_THREADS, 1, tmp_path))


@pytest.mark.cold
def test_budget_new_net_warm_cache(benchmark, tmp_path):
    cold_start.fastnn_train_mnist(workloads.DEFAULT_THREADS, tmp_path)  # fills it, untimed
    figure = time_figure(benchmark, lambda: cold_start.new_net_warm(
        workloads.DEFAULT_THREADS, tmp_path))
    assert figure["compiled"] >= 0


@pytest.mark.cold
def test_budget_info_compile_empty_cache(benchmark):
    time_figure(benchmark, lambda: cold_start.info_compile(workloads.DEFAULT_THREADS))
