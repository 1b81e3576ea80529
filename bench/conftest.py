"""pytest-benchmark set-up for ``bench/``: threads, warm kernels, data, machine info.

Every benchmark runs with ``THREADS`` threads for numba and BLAS and with the numba
kernels already compiled (or loaded from the cache). ``FASTNN_BENCH_SAMPLES=n`` shrinks
the MNIST workload to its first n images. Timing tests hand their medians to ``record``
and the run ends with the ``fastnn bench`` table of them: samples/s,
ratio to the GEMM floor, speed-up over numpy and torch (see ``fastnn/benchmark/``).
"""

import pytest

import fastnn as fnn
from fastnn import benchmark as workloads

THREADS = workloads.DEFAULT_THREADS
_RESULTS: list[dict] = []


def pytest_configure(config):
    try:
        workloads.samples_from_env()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.addinivalue_line("markers", "cold: compiles numba kernels in fresh processes with an "
                                       "empty numba cache (one MNIST batch: 10-20 s; the "
                                       "compile budgets: minutes); deselect with -m 'not cold'")


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["fastnn"] = workloads.machine_info()


@pytest.fixture(scope="session", autouse=True)
def threads_and_warm_kernels():
    """THREADS threads for numba and BLAS; every numba kernel compiled before timing."""
    from fastnn.kernels.numba_backend.warmup import warm_up

    fnn.set_num_threads(THREADS)
    warm_up()


@pytest.fixture(scope="session")
def mnist_train():
    """MNIST training images float32 (n, 784) and labels; n from $FASTNN_BENCH_SAMPLES."""
    return workloads.load_mnist_train(workloads.samples_from_env())


@pytest.fixture
def record(benchmark):
    """``record(workload, backend, batch, samples=None, seconds=None, **extra)`` after
    timing: adds ``seconds`` (default: the benchmark's median) and ``extra`` to the closing
    table, and ``samples_per_s`` (if samples) to the benchmark's extra_info."""

    def add(workload, backend, batch, samples=None, seconds=None, **extra):
        if not benchmark.stats:  # --benchmark-disable: nothing was timed
            return
        seconds = benchmark.stats["median"] if seconds is None else seconds
        row = {"workload": workload, "backend": backend, "batch": batch, "seconds": seconds,
               **extra}
        if samples:
            row.update(samples=samples, samples_per_s=samples / seconds)
            benchmark.extra_info["samples_per_s"] = row["samples_per_s"]
        _RESULTS.append(row)

    return add


def pytest_terminal_summary(terminalreporter):
    if _RESULTS:
        terminalreporter.write_sep("-", "fastnn: medians, x GEMM floor (1.00 = hardware "
                                        "limit), speed-ups")
        terminalreporter.write_line(workloads.format_table(workloads.add_ratios(_RESULTS)))
