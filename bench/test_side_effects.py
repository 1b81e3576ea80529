"""A PyTorch epoch in a process where fastnn has trained, against one in a clean process.

fastnn must leave nothing behind that slows another library: before, the numba backend
wrote ``OMP_WAIT_POLICY=PASSIVE`` into ``os.environ``, and PyTorch's OpenMP threads, which
read it when PyTorch starts them, ran an epoch at batch 128 in 1.07 s instead of 0.51 s.
Each variant is a fresh process running the PyTorch peer (``fastnn.peers.torch_mlp``,
its own defaults, 2 threads); "after fastnn" first imports fastnn and trains the MNIST MLP
for an epoch on the numba backend. They alternate, ROUNDS times each; the medians of the
steady epochs (2..E) should be within 5% of each other.
"""

import json
import statistics
import subprocess
import sys

import pytest

from fastnn import benchmark as workloads

ROUNDS = 3
PEER_ARGS = ["--epochs", "3", "--batch", "128", "--samples", "20000", "--threads", "2"]
FASTNN_FIRST = (
    "import fastnn as fnn\n"
    "(X, y), _ = fnn.datasets.load_mnist()\n"
    "with fnn.use_backend('numba'):\n"
    "    fnn.MLP([784, 256, 128, 10]).fit(X[:20000], y[:20000], epochs=1, batch_size=128,\n"
    "                                     optimizer=fnn.SGD(0.05, momentum=0.9), verbose=0)\n")


def steady_seconds(prefix: str) -> float:
    code = prefix + f"from fastnn.peers import torch_mlp\ntorch_mlp.main({PEER_ARGS!r})\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return report["steady_epoch_s"]


def test_pytorch_after_fastnn_runs_as_in_a_clean_process(benchmark):
    pytest.importorskip("torch", reason="the PyTorch peer needs torch")
    times = {"clean": [], "after fastnn": []}

    def alternate():
        for _ in range(ROUNDS):
            times["clean"].append(steady_seconds(""))
            times["after fastnn"].append(steady_seconds(FASTNN_FIRST))

    benchmark.group = "side effects: a PyTorch epoch, batch 128, 20,000 MNIST rows"
    benchmark.pedantic(alternate, rounds=1, iterations=1)
    clean, after = (statistics.median(times[key]) for key in ("clean", "after fastnn"))
    benchmark.extra_info.update(clean_epoch_s=clean, after_fastnn_epoch_s=after,
                                ratio=after / clean, rounds=times,
                                threads=workloads.DEFAULT_THREADS)
    print(f"\nPyTorch steady epoch: clean {clean:.3f} s, after fastnn {after:.3f} s "
          f"({after / clean:.3f}x); rounds {times}")
    assert after <= 1.05 * clean, times
