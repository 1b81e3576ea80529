"""Every op of the kernel contract at the MNIST-MLP shapes (batch 128), per backend.

Groups are ``op shape``, so the numpy and numba timings of one op sit side by side. Each
test calls the op once untimed (compiles or loads the numba kernel), then times it with
pytest-benchmark's calibrated loop. Inputs are float32; outputs are preallocated, as the
contract requires. The optimizer steps run over the flat 235,146-parameter buffer.
"""

import numpy as np
import pytest

import fastnn as fnn
from fastnn import benchmark as workloads
from fastnn.kernels import load_backend
from fastnn.kernels.net import Net

B = 128
SIZES = workloads.MNIST_SIZES
ACTIVATIONS = ("relu", "relu", "identity")
LAYERS = [(i, o, act) for i, o, act in zip(SIZES[:-1], SIZES[1:], ACTIVATIONS)]
LAYER_IDS = [f"{i}-{o}-{act}" for i, o, act in LAYERS]
K = SIZES[-1]

pytestmark = pytest.mark.parametrize("backend", workloads.DEFAULT_BACKENDS)


RNG = np.random.default_rng(0)


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def labels():
    return RNG.integers(0, K, B)


def time_op(benchmark, backend, group, op_name, *args):
    """Call op ``op_name`` of ``backend`` once untimed, then time it under ``group``."""
    op = getattr(load_backend(backend), op_name)
    benchmark.group = group
    benchmark.extra_info.update(backend=backend, dtype="float32", batch=B,
                                threads=workloads.DEFAULT_THREADS)
    op(*args)
    benchmark(op, *args)


@pytest.mark.parametrize("i,o,act", LAYERS, ids=LAYER_IDS)
def test_dense_forward(benchmark, backend, i, o, act):
    time_op(benchmark, backend, f"dense_forward {B}x{i}->{o} {act}", "dense_forward",
            np.empty((B, o), np.float32), f32(B, i), f32(i, o, scale=0.05), f32(o), act)


@pytest.mark.parametrize("first,i,o,act", [(l == 0, *layer) for l, layer in enumerate(LAYERS)],
                         ids=LAYER_IDS)
def test_dense_backward(benchmark, backend, first, i, o, act):
    x, W, b = f32(B, i), f32(i, o, scale=0.05), f32(o)
    out = x @ W + b
    if act == "relu":
        np.maximum(out, 0, out=out)
    dx = None if first else np.empty((B, i), np.float32)
    time_op(benchmark, backend, f"dense_backward {B}x{i}->{o} {act}{' (no dx)' if first else ''}",
            "dense_backward", np.empty((i, o), np.float32), np.empty(o, np.float32), dx,
            f32(B, o, scale=0.01), x, W, out, act)


def test_softmax_cross_entropy(benchmark, backend):
    time_op(benchmark, backend, f"softmax_cross_entropy {B}x{K}", "loss",
            np.empty((B, K), np.float32), f32(B, K), labels(), "softmax_cross_entropy")


def test_metric_sum(benchmark, backend):
    time_op(benchmark, backend, f"metric_sum {B}x{K}", "metric_sum", f32(B, K), labels(),
            "softmax_cross_entropy")


def test_softmax(benchmark, backend):
    time_op(benchmark, backend, f"softmax {B}x{K}", "softmax", np.empty((B, K), np.float32),
            f32(B, K))


def _flat_buffers():
    net = Net(SIZES, ACTIVATIONS, "softmax_cross_entropy")
    assert net.n_params == 235_146
    net.params[:] = f32(net.n_params, scale=0.05)
    net.grads[:] = f32(net.n_params, scale=1e-3)
    return net


OPTIMIZERS = {"sgd-momentum": fnn.SGD(lr=workloads.MNIST_LR, momentum=workloads.MNIST_MOMENTUM),
              "adam": fnn.Adam(), "adamw": fnn.AdamW()}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_step(benchmark, backend, optimizer):
    """One step over the flat buffer, its state carried from round to round; the gradient
    (scratch to the op) is restored before each round, untimed."""
    net = _flat_buffers()
    ops = load_backend(backend)
    state = OPTIMIZERS[optimizer].state(net.n_params, net.dtype)
    grads = net.grads.copy()

    def fresh_gradient():
        net.grads[...] = grads
        return (net.params, net.grads, state, net.n_weights, 1e-3), {}

    benchmark.group = f"optimizer_step[{optimizer}] p={net.n_params}"
    benchmark.extra_info.update(backend=backend, dtype="float32",
                                threads=workloads.DEFAULT_THREADS)
    benchmark.pedantic(ops.optimizer_step, setup=fresh_gradient, rounds=300, warmup_rounds=10)
