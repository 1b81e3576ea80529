"""Peak resident memory of ``fastnn train mnist --epochs 1`` (target: at most 300 MB).

The command runs as a child process (full MNIST, whatever FASTNN_BENCH_SAMPLES says);
its peak RSS comes from ``os.wait4``, the rusage of that one child. (``getrusage(
RUSAGE_CHILDREN).ru_maxrss`` is the largest of *all* children waited for so far, so an
earlier, bigger child of this pytest process would hide it.) ``ru_maxrss`` is in KiB on
Linux; extra_info has ``peak_rss_mb`` in MiB. The numba kernels load from the cache the
session warm-up filled, so no compiler memory is counted. One round: the timed function
is the whole run.
"""

import os
import subprocess
import sys
import tempfile

import pytest

from fastnn import benchmark as workloads

TARGET_MB = 300


def peak_rss_mb(argv, env) -> float:
    """Run ``argv``; its peak resident set size in MiB. Fails the test if it fails."""
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            log.seek(0)
            pytest.fail(f"{' '.join(argv)} exited {child.returncode}:\n"
                        f"{log.read().decode(errors='replace')}")
    return usage.ru_maxrss / 1024


@pytest.mark.parametrize("backend", workloads.DEFAULT_BACKENDS)
def test_train_mnist_peak_rss(benchmark, backend):
    argv = [sys.executable, "-m", "fastnn", "train", "mnist", "--epochs", "1", "--verbose", "0",
            "--backend", backend]
    env = {**os.environ, "FASTNN_NUM_THREADS": str(workloads.DEFAULT_THREADS)}
    peaks = []
    benchmark.group = "memory-train-mnist"
    benchmark.pedantic(lambda: peaks.append(peak_rss_mb(argv, env)), rounds=1)
    benchmark.extra_info.update(backend=backend, threads=workloads.DEFAULT_THREADS,
                                peak_rss_mb=round(peaks[0], 1), target_mb=TARGET_MB,
                                within_target=peaks[0] <= TARGET_MB)
