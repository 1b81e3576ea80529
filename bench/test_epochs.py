"""MNIST-MLP epoch throughput per backend and batch size, beside the GEMM floor and torch.

Group ``mnist-epoch-b{B}`` holds, for batch size B: every backend's epoch through
``model.fit(epochs=1)``, the GEMM floor (only the eight matrix products of each step:
the practical hardware limit) and, if installed, PyTorch eager CPU. pytest-benchmark
cannot relate tests to one another, so the ratio to the floor is printed in the closing
table, and from saved JSON it is median(backend) / median(test_gemm_floor) per group.
"""

import pytest

from fastnn import benchmark as workloads

BATCHES = workloads.DEFAULT_BATCHES
ROUNDS, WARMUP_ROUNDS = 5, 1
THREADS = workloads.DEFAULT_THREADS


def _time_epoch(benchmark, record, epoch, backend, batch, n):
    """Time ``epoch`` in pedantic mode and stamp the MNIST workload's extra_info."""
    benchmark.group = f"mnist-epoch-b{batch}"
    benchmark.extra_info.update(backend=backend, dtype="float32", batch=batch, threads=THREADS,
                                samples=n)
    benchmark.pedantic(epoch, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    record(workloads.MNIST_WORKLOAD, backend, batch, n)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("backend", workloads.DEFAULT_BACKENDS)
def test_mnist_epoch(benchmark, record, mnist_train, backend, batch):
    X, y = mnist_train
    epoch = workloads.mnist_epoch_runner(backend, batch, X, y)
    _time_epoch(benchmark, record, epoch, backend, batch, len(X))


@pytest.mark.parametrize("batch", BATCHES)
def test_gemm_floor(benchmark, record, mnist_train, batch):
    n = len(mnist_train[0])
    _time_epoch(benchmark, record, workloads.gemm_floor_runner(batch, n), workloads.FLOOR,
                batch, n)


@pytest.mark.parametrize("batch", BATCHES)
def test_torch_epoch(benchmark, record, mnist_train, batch):
    X, y = mnist_train
    epoch = workloads.torch_epoch_runner(batch, X, y, threads=THREADS)
    if epoch is None:
        pytest.skip("PyTorch is not installed (an optional peer: pip install torch)")
    _time_epoch(benchmark, record, epoch, "torch", batch, len(X))
