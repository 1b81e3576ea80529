"""MNIST-MLP training runs per backend and batch size, beside the GEMM floor and the peers.

A run is E epochs (``DEFAULT_EPOCHS``) of ONE ongoing training, as a user trains: for
fastnn one ``model.fit(X, y, epochs=E, ...)`` call, the optimizer state carried across
epochs; for PyTorch eager, JAX and scikit-learn the same run by ``fastnn.peers`` in a
fresh process of its own (skipped, with the reason, when the library is missing). Such a
run happens once (one round): pytest-benchmark's own numbers in group ``mnist-run-b{B}``
are the whole run (for a peer, its whole process: interpreter start, import, data); the
numbers to read are in ``extra_info``: ``epoch_seconds``, ``first_epoch_s`` (compiling and
cold caches), ``steady_epoch_s`` (median of epochs 2..E) and ``samples_per_s`` from it.
Group ``mnist-epoch-b{B}`` holds the GEMM floor (only the eight matrix products of each
step: the practical hardware limit), 5 rounds after a warm-up. The closing table relates
the steady epochs to the floor (``x GEMM floor``).
"""

import importlib.util

import pytest

from fastnn import benchmark as workloads

BATCHES = workloads.DEFAULT_BATCHES
EPOCHS = workloads.DEFAULT_EPOCHS
ROUNDS, WARMUP_ROUNDS = 5, 1
THREADS = workloads.DEFAULT_THREADS
LIBRARIES = {"torch": "torch", "jax": "jax", "sklearn": "sklearn"}  # peer: module to find


def _record_run(benchmark, record, backend, batch, n, epoch_seconds, **extra):
    """Put one run's per-epoch numbers into extra_info and its steady epoch in the table."""
    summary = workloads.epoch_summary(epoch_seconds)
    benchmark.extra_info.update(epoch_seconds=summary["epoch_seconds"],
                                first_epoch_s=summary["first_epoch_s"],
                                steady_epoch_s=summary["seconds"], **extra)
    record(workloads.MNIST_WORKLOAD, backend, batch, n, seconds=summary["seconds"],
           first_epoch_s=summary["first_epoch_s"], **extra)


def _stamp(benchmark, group, backend, batch, n, **extra):
    benchmark.group = group
    benchmark.extra_info.update(backend=backend, dtype="float32", batch=batch, threads=THREADS,
                                samples=n, **extra)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("backend", workloads.DEFAULT_BACKENDS)
def test_mnist_run(benchmark, record, mnist_train, backend, batch):
    X, y = mnist_train
    runs = []
    _stamp(benchmark, f"mnist-run-b{batch}", backend, batch, len(X), epochs=EPOCHS)
    benchmark.pedantic(lambda: runs.append(workloads.mnist_run(backend, batch, X, y, EPOCHS)),
                       rounds=1)
    if benchmark.stats:
        _record_run(benchmark, record, backend, batch, len(X), runs[0][0])


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("peer", workloads.PEERS)
def test_peer_run(benchmark, record, mnist_train, peer, batch):
    if importlib.util.find_spec(LIBRARIES[peer]) is None:
        pytest.skip(f"{peer} is not installed (an optional peer)")
    n = len(mnist_train[0])
    reports = []
    _stamp(benchmark, f"mnist-run-b{batch}", peer, batch, n, epochs=EPOCHS)
    benchmark.pedantic(
        lambda: reports.append(workloads.run_peer(peer, batch, n, EPOCHS, THREADS)), rounds=1)
    report = reports[0]
    if "skipped" in report:
        pytest.skip(f"{peer}: {report['skipped']}")
    assert "error" not in report, f"{peer}: {report['error']}"
    if benchmark.stats:
        _record_run(benchmark, record, peer, batch, n, report["epoch_seconds"],
                    version=report["version"], test_accuracy=report["test_accuracy"])


@pytest.mark.parametrize("batch", BATCHES)
def test_gemm_floor(benchmark, record, mnist_train, batch):
    n = len(mnist_train[0])
    _stamp(benchmark, f"mnist-epoch-b{batch}", workloads.FLOOR, batch, n)
    benchmark.pedantic(workloads.gemm_floor_runner(batch, n), rounds=ROUNDS,
                       warmup_rounds=WARMUP_ROUNDS)
    record(workloads.MNIST_WORKLOAD, workloads.FLOOR, batch, n)
