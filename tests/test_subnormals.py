"""No subnormal optimizer slots after training, on every backend, path and rule.

A velocity (or moment) whose gradient becomes zero decays geometrically: with momentum
0.9 it passes below the smallest normal number after some hundreds of steps in float32
(thousands in float64) and then sticks at the smallest subnormal, since 0.9 times it
rounds back to it. Subnormal operands cost a microcode assist on many x86 CPUs, so the
kernel contract flushes slots below ``finfo.tiny`` to zero (``kernels/optimizers``).
These tests hold on any CPU: they look at the values, not the time.
"""

import numpy as np
import pytest

import fastnn as fnn

STEPS = {np.float32: 1500, np.float64: 8000}  # enough for 0.9^t * 1e-2 to pass below tiny
OPTIMIZERS = {
    "sgd-momentum": fnn.SGD(lr=0.05, momentum=0.9),
    "sgd-nesterov": fnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": fnn.Adam(lr=1e-3, beta1=0.9, beta2=0.9),
    "adamw": fnn.AdamW(lr=1e-3, beta1=0.9, beta2=0.9),
    # not centered: a full batch has no gradient variance, so centered steps grow to g / eps
    "rmsprop": fnn.RMSprop(lr=1e-3, alpha=0.9, momentum=0.9),
    "adam-clipped": fnn.Adam(lr=1e-3, beta1=0.9, beta2=0.9, clipnorm=0.1, clipvalue=0.01),
}  # fast-decaying hyper-parameters; every registered rule (checked below)


def test_every_rule_is_covered():
    assert {opt.rule for opt in OPTIMIZERS.values()} == set(fnn.optimizers.OPTIMIZERS)
NETS = {"small-net": [4, 8, 2], "generic": [4, 80, 64, 2]}  # numba: compiled run / op loop


def test_the_unflushed_recurrence_sticks_in_the_subnormal_range():
    """The premise: without the flush rule a decaying slot would end subnormal, not zero."""
    for dtype, steps in STEPS.items():
        v = dtype(1e-2)
        for _ in range(steps):
            v = dtype(0.9) * v
        assert 0 < v < np.finfo(dtype).tiny, (dtype, v)


def subnormal_count(a):
    return int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_no_subnormal_slots_after_a_unit_stops_learning(backend, dtype, net, optimizer):
    """Input feature 0 carries signal for a few steps, then is always 0: the gradients of
    its first-layer weights are exactly zero from then on and their slots decay."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4)).astype(dtype)
    y = (X[:, 1] > 0).astype(int)
    model = fnn.MLP(NETS[net], activation="tanh", seed=0, dtype=dtype)
    model.fit(X, y, epochs=3, batch_size=None, optimizer=OPTIMIZERS[optimizer], verbose=0)
    state = model.optimizer_state
    weights_of_feature_0 = slice(0, NETS[net][1])  # row 0 of W[0] in the flat buffer
    assert all(np.abs(slot[weights_of_feature_0]).max() > 1e-6 for slot in state.slots)
    X[:, 0] = 0
    model.fit(X, y, epochs=STEPS[dtype], batch_size=None, verbose=0)  # continues the state
    assert state.step == 3 + STEPS[dtype]
    names = fnn.kernels.optimizers.RULES[state.rule].slot_names(**state.hyper)
    for name, slot in zip(names, state.slots):
        assert subnormal_count(slot) == 0, (name, subnormal_count(slot))
        assert not slot[weights_of_feature_0].any(), name  # decayed all the way: flushed


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_the_reference_flush_keeps_every_normal_number_and_zeroes_the_rest(dtype):
    """The boundary of the reference's flush (``write_flushed``, on the bits of each
    entry): tiny and everything above it, of either sign, kept bit for bit; every
    subnormal written as +0."""
    from fastnn.kernels.optimizers._common import write_flushed

    info = np.finfo(dtype)
    normal = np.array([info.tiny, np.nextafter(info.tiny, 1), 0.5, 3.0, info.max], dtype)
    subnormal = np.array([np.nextafter(info.tiny, 0), info.tiny / 3, info.smallest_subnormal,
                          0.0], dtype)
    new = np.concatenate([normal, -normal, subnormal, -subnormal])
    slot = np.full_like(new, np.nan)
    write_flushed(slot, new)
    kept = 2 * len(normal)
    assert np.array_equal(slot[:kept], new[:kept])
    assert not slot[kept:].any() and not np.signbit(slot[kept:]).any()
