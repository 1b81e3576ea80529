"""The GEMM floor: only the matrix products of an MNIST-MLP epoch, through numpy's BLAS.

Per step of m rows (ceil(n_samples / batch) steps, the last one partial), for layers
l = 0..L-1: forward ``a[l+1] = a[l] @ W[l]``; backward, last layer first,
``dW[l] = a[l].T @ d[l]`` and, except for l = 0, ``d[l-1] = d[l] @ W[l].T``: 3L - 1
float32 products (8 for MNIST-MLP) by ``np.matmul(..., out=preallocated)``. No
activation, loss, optimizer or data movement: the practical hardware limit of any
implementation calling the same BLAS; epochs are reported as multiples of it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .workload import MNIST_SIZES

FLOOR = "gemm-floor"  # the "backend" name of the GEMM floor's rows


def gemm_floor_runner(batch: int, n_samples: int,
                      sizes: tuple[int, ...] = MNIST_SIZES) -> Callable[[], None]:
    """A callable doing only the matrix products of one epoch of ``n_samples`` rows in
    batches of ``batch``, on preallocated random float32 arrays."""
    rng = np.random.default_rng(0)
    batch = min(batch, n_samples)

    def f32(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    W = [f32(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
    dW = [np.empty_like(w) for w in W]
    a = [f32(batch, s) for s in sizes]  # a[0] is the input batch, a[l+1] layer l's output
    d = [f32(batch, s) for s in sizes[1:]]  # d[l]: gradient of layer l's output
    full, rest = divmod(n_samples, batch)
    rows = [batch] * full + ([rest] if rest else [])
    views = {m: ([x[:m] for x in a], [g[:m] for g in d]) for m in set(rows)}
    steps = [views[m] for m in rows]

    def epoch():
        for a_m, d_m in steps:
            for l in range(len(W)):
                np.matmul(a_m[l], W[l], out=a_m[l + 1])
            for l in reversed(range(len(W))):
                np.matmul(a_m[l].T, d_m[l], out=dW[l])
                if l:
                    np.matmul(d_m[l], W[l].T, out=d_m[l - 1])

    return epoch
