"""MNIST epochs on 1 and 2 MPI ranks (1 thread each) against one process with 1 and 2 threads.

    python bench/mpi_scaling.py                       # batches 128 and 1024, 3 epochs each
    python bench/mpi_scaling.py --batch 128 --epochs 2 --samples 20000   # a quick look

Rows, each in its own process(es), the 784-256-128-10 MLP with SGD + momentum at the
global batch size, numba backend:

- ``fit, 1 thread`` / ``fit, 2 threads``: plain ``model.fit`` (the compiled epoch);
- ``1 rank`` / ``2 ranks``: ``mpiexec -n K`` with ``fastnn.mpi.DataParallel`` (per step
  the contract ops from Python and one Allreduce of the gradient), 1 thread per rank.

Seconds per epoch are the median of the epochs after the first (which compiles or loads
numba's kernels). ``allreduce`` is the share of the epoch spent in the gradient's
Allreduce calls, waiting for the slower rank included; ``bare allreduce`` is the time of
one Allreduce of the gradient (0.94 MB of float32) alone, the ranks in step (a Barrier
before 100 back-to-back calls), in microseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import fastnn as fnn
from fastnn.benchmark import MNIST_LR, MNIST_MOMENTUM, MNIST_SIZES, load_mnist_train

BARE_CALLS = 100


def train(args) -> dict:
    """One configuration in this process (a rank, under mpiexec, if args.ranks)."""
    X, y = load_mnist_train(args.samples)
    batch = args.batch[0]
    model = fnn.MLP(MNIST_SIZES, activation="relu", seed=0)
    optimizer = fnn.SGD(lr=MNIST_LR, momentum=MNIST_MOMENTUM)
    result = {}
    if not args.ranks:
        history = model.fit(X, y, epochs=args.epochs, batch_size=batch,
                            optimizer=optimizer, verbose=0)
    else:
        from mpi4py import MPI

        from fastnn.mpi import DataParallel

        comm = MPI.COMM_WORLD
        with DataParallel(comm) as parallel:
            history = model.fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer,
                                verbose=0)  # compiles the ops' kernels: not timed
            model.fit(X, y, epochs=args.epochs - 1, batch_size=batch, verbose=0)
        epoch_seconds = np.array(history["samples_per_s"][1:]) ** -1.0 * len(X)
        result["allreduce_share"] = parallel.allreduce_seconds / epoch_seconds.sum()
        grads = np.zeros(model.net.n_params, model.dtype)
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(BARE_CALLS):
            comm.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)
        result["bare_allreduce_us"] = (time.perf_counter() - start) / BARE_CALLS * 1e6
        if comm.Get_rank():
            return {}
    seconds = [len(X) / s for s in history["samples_per_s"][1:]]
    result["seconds"] = statistics.median(seconds)
    return result


def run(batch, ranks, threads, args) -> dict:
    """One configuration in fresh process(es); its result dict."""
    env = {**os.environ, "FASTNN_NUM_THREADS": str(threads), "FASTNN_BACKEND": "numba"}
    command = [sys.executable, __file__, "--worker", "--batch", str(batch), "--epochs",
               str(args.epochs), "--ranks", str(ranks)]
    if args.samples:
        command += ["--samples", str(args.samples)]
    if ranks:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
        command = [mpiexec, "-n", str(ranks), *command]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--epochs", type=int, default=3, help="per run, the first untimed")
    parser.add_argument("--samples", type=int, default=None, help="MNIST rows (all 60,000)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ranks", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is not timed)")
    if args.worker:
        result = train(args)
        if result:
            print(json.dumps(result))
        return
    configs = [("fit, 1 thread", 0, 1), ("fit, 2 threads", 0, 2), ("1 rank", 1, 1),
               ("2 ranks", 2, 1)]
    print(f"MNIST {'-'.join(map(str, MNIST_SIZES))}, SGD momentum, {args.epochs - 1} timed "
          f"epoch(s) of {args.samples or 60000} rows; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| global batch | run | s/epoch | vs fit, 1 thread | allreduce | bare allreduce |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for batch in args.batch:
        base = None
        for name, ranks, threads in configs:
            r = run(batch, ranks, threads, args)
            base = base or r["seconds"]
            share = f"{r['allreduce_share']:.0%}" if "allreduce_share" in r else ""
            bare = f"{r['bare_allreduce_us']:.0f} us" if "bare_allreduce_us" in r else ""
            print(f"| {batch} | {name} | {r['seconds']:.3f} | {base / r['seconds']:.2f}x | "
                  f"{share} | {bare} |", flush=True)


if __name__ == "__main__":
    main()
