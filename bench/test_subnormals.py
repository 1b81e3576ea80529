"""The optimizer step on a state that training would fill with subnormals, and on a clean one.

The "stalled" state comes from what makes subnormals in a real run: velocities (or Adam's
moments) of entries whose gradient has been exactly zero for hundreds of steps (dead ReLU
units, always-blank pixels), here 1,500 steps with a gradient that is zero on 40% of the
entries. Without the contract's flush rule those slots would sit at the smallest
subnormal; with it they are zero. The "clean" state: the same buffers after 1,500 steps
of a dense random gradient. The two medians should be within 1.2x of each other on both
backends (x86 CPUs from Intel pay far more for subnormal operands than AMD's Zen).
"""

import numpy as np
import pytest

import fastnn as fnn
from fastnn import benchmark as workloads
from fastnn.kernels import load_backend
from fastnn.kernels.net import Net

OPTIMIZERS = {"sgd-momentum": fnn.SGD(lr=0.05, momentum=0.9), "adam": fnn.Adam()}
WARM_STEPS = 1500


def trained_state(ops, optimizer, zero_fraction):
    net = Net(workloads.MNIST_SIZES, ("relu", "relu", "identity"), "softmax_cross_entropy")
    rng = np.random.default_rng(0)
    net.params[:] = rng.standard_normal(net.n_params).astype(np.float32) * 0.05
    state = optimizer.state(net.n_params, net.dtype)
    grads = rng.standard_normal(net.n_params).astype(np.float32) * 1e-3
    dead = rng.random(net.n_params) < zero_fraction
    for step in range(WARM_STEPS):
        g = grads * np.float32(rng.standard_normal())
        if step > 10:
            g[dead] = 0
        assert ops.optimizer_step(net.params, g, state, net.n_weights, 1e-4)
    return net, state, grads * np.where(dead, 0, 1).astype(np.float32)


@pytest.mark.parametrize("backend", workloads.DEFAULT_BACKENDS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind,zero_fraction", [("stalled", 0.4), ("clean", 0.0)])
def test_step_after_training(benchmark, backend, optimizer, kind, zero_fraction):
    ops = load_backend(backend)
    net, state, grads = trained_state(ops, OPTIMIZERS[optimizer], zero_fraction)
    tiny = np.finfo(np.float32).tiny
    subnormal = sum(int(np.count_nonzero((s != 0) & (np.abs(s) < tiny))) for s in state.slots)

    def fresh_gradient():
        net.grads[...] = grads
        return (net.params, net.grads, state, net.n_weights, 1e-4), {}

    benchmark.group = f"optimizer_step after training: {optimizer} ({backend})"
    benchmark.extra_info.update(backend=backend, state=kind, subnormal_slots=subnormal)
    benchmark.pedantic(ops.optimizer_step, setup=fresh_gradient, rounds=300, warmup_rounds=10)
