"""Peak resident memory of ``fastnn train mnist --epochs 1`` (target: at most 300 MB).

The command runs as a child process (full MNIST, whatever FASTNN_BENCH_SAMPLES says) and
reports its own peak at exit: ``VmHWM`` of ``/proc/self/status``, the high-water mark of
its address space since it started (Linux; skipped elsewhere). Not ``ru_maxrss`` from
``os.wait4``: Linux folds the peak of the process that spawned the child into the child's
``ru_maxrss`` at exec, so a large pytest process (one that has just compiled every kernel
reaches 900 MB) would hide the child's own peak. The numba kernels load from the cache
the session warm-up filled, so no compiler memory is counted. extra_info has
``peak_rss_mb`` in MiB. One round: the timed function is the whole run.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fastnn import benchmark as workloads

TARGET_MB = 300
STATUS = Path("/proc/self/status")

# python -c REPORT_PEAK <peak file> <fastnn arguments>: runs ``python -m fastnn`` and, at
# exit, writes its VmHWM (KiB) to the peak file.
REPORT_PEAK = """\
import atexit, runpy, sys

def report(path=sys.argv.pop(1)):
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(kib)

atexit.register(report)
runpy.run_module("fastnn", run_name="__main__", alter_sys=True)
"""


def peak_rss_mb(args, env) -> float:
    """Run ``python -m fastnn *args``; its own peak resident set size in MiB. Fails the
    test if it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak_kib"
        child = subprocess.run([sys.executable, "-c", REPORT_PEAK, str(peak_file), *args],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if child.returncode:
            pytest.fail(f"fastnn {' '.join(args)} exited {child.returncode}:\n"
                        f"{child.stdout.decode(errors='replace')}")
        return int(peak_file.read_text()) / 1024


@pytest.mark.parametrize("backend", workloads.DEFAULT_BACKENDS)
def test_train_mnist_peak_rss(benchmark, backend):
    if not STATUS.exists():
        pytest.skip("needs /proc/self/status (Linux) for the child's own peak")
    args = ["train", "mnist", "--epochs", "1", "--verbose", "0", "--backend", backend]
    env = {**os.environ, "FASTNN_NUM_THREADS": str(workloads.DEFAULT_THREADS)}
    peaks = []
    benchmark.group = "memory-train-mnist"
    benchmark.pedantic(lambda: peaks.append(peak_rss_mb(args, env)), rounds=1)
    benchmark.extra_info.update(backend=backend, threads=workloads.DEFAULT_THREADS,
                                peak_rss_mb=round(peaks[0], 1), target_mb=TARGET_MB,
                                within_target=peaks[0] <= TARGET_MB)
