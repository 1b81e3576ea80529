"""Where the gradient's Allreduce is called from: Python (mpi4py) or compiled code (numba-mpi).

    mpiexec -n 2 python bench/mpi_allreduce.py [--calls 300]

One Allreduce (sum) of one entry (the cost of the call) and of a buffer the size of the
MNIST MLP's gradient (235,146 entries), the ranks in step (a barrier first), median of 5
rounds of ``--calls`` calls:

- ``mpi4py``: ``comm.Allreduce(MPI.IN_PLACE, grads)`` from a Python loop, as
  ``fastnn.mpi`` calls it between the backward pass and the optimizer step (and, to
  compare with numba-mpi, into a second buffer);
- ``numba-mpi``: ``numba_mpi.allreduce`` from inside an ``@njit`` loop, as a compiled
  epoch would call it (``pip install numba-mpi``; its row is left out without it), into a
  second buffer: it has no in-place form (the same buffer twice returns an error status
  and reduces nothing). It takes float64 only: float32 buffers raise, so a float32 model
  would need a float64 copy of its gradient each step.

The difference between the two rows is what calling from Python costs per step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from mpi4py import MPI

from fastnn.benchmark import MNIST_SIZES
from fastnn.kernels.net import count_params

COMM = MPI.COMM_WORLD


def per_call(loop, grads, calls) -> float:
    """Median seconds per call over 5 rounds of ``loop(grads, calls)``."""
    loop(grads, 1)  # compiles a numba loop; warms the MPI channel
    rounds = []
    for _ in range(5):
        COMM.Barrier()
        start = time.perf_counter()
        loop(grads, calls)
        rounds.append((time.perf_counter() - start) / calls)
    return statistics.median(rounds)


def python_loop(grads, calls):
    for _ in range(calls):
        COMM.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)


def python_loop_two_buffers(grads, calls):
    total = np.empty_like(grads)
    for _ in range(calls):
        COMM.Allreduce(grads, total, op=MPI.SUM)


def compiled_loop():
    """An @njit loop calling numba_mpi.allreduce, or None without numba-mpi."""
    try:
        import numba
        import numba_mpi
    except ImportError:
        return None

    @numba.njit
    def loop(grads, calls):
        total = np.empty_like(grads)  # no in-place form: the same buffer twice is an error
        for _ in range(calls):
            status = numba_mpi.allreduce(grads, total, numba_mpi.Operator.SUM)
            if status != 0:
                raise RuntimeError("numba_mpi.allreduce failed")

    return loop


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    p = count_params(MNIST_SIZES)
    rows = [("mpi4py, float32", python_loop, np.float32),
            ("mpi4py, float64", python_loop, np.float64),
            ("mpi4py, float64, into a second buffer", python_loop_two_buffers, np.float64)]
    compiled = compiled_loop()
    if compiled is not None:
        rows.append(("numba-mpi in @njit, float64", compiled, np.float64))
    results = [(name, entries, per_call(loop, np.ones(entries, dtype), args.calls),
                np.dtype(dtype).itemsize)
               for entries in (1, p) for name, loop, dtype in rows]
    if COMM.Get_rank() == 0:
        print(f"{COMM.Get_size()} ranks, median of 5 x {args.calls} calls; one entry: "
              f"the cost of the call itself")
        print("| caller | entries | MB | us per Allreduce |")
        print("| --- | ---: | ---: | ---: |")
        for name, entries, seconds, size in results:
            print(f"| {name} | {entries:,} | {entries * size / 1e6:.2f} | "
                  f"{seconds * 1e6:.1f} |")
        if compiled is None:
            print("(numba-mpi is not installed: pip install numba-mpi for its row)")


if __name__ == "__main__":
    main()
