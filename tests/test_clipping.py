"""Gradient clipping (``clipnorm``, ``clipvalue``) on every optimizer: the reference's
definition, each backend named by ``--backends`` against it for every registered rule, and
the failure and validation rules. PyTorch is the oracle in ``test_torch_oracle.py``; whole
runs are in ``test_equivalence_training.py`` and ``test_continued_training.py``.

Tolerances: each rule's ``error_step`` with the clipping's bound (``clipping.clipped_error``:
the factor's float64 norm, divide and rounding to the dtype, the product, the rounded
clip value), propagated step to step from the reference state, times 2 * SAFETY.
"""

import dataclasses

import numpy as np
import pytest

import fastnn as fnn
from fastnn.errors import ValueRangeError
from fastnn.kernels import tolerances as T
from fastnn.kernels.compare import assert_close
from fastnn.kernels.optimizers import RULES
from fastnn.kernels.optimizers.clipping import clip

RULE_CASES = {  # every registered rule, with its slots in use
    "sgd": fnn.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "adam": fnn.Adam(lr=1e-2, weight_decay=1e-2),
    "adamw": fnn.AdamW(lr=1e-2, weight_decay=0.05),
    "rmsprop": fnn.RMSprop(lr=1e-2, momentum=0.5, centered=True, weight_decay=1e-2),
}
CLIPS = {"norm": dict(clipnorm=1.0), "value": dict(clipvalue=0.05),
         "both": dict(clipnorm=2.0, clipvalue=0.05)}
SIZES = [7, 1000, 40_001]
N_STEPS = 4


def test_every_rule_is_covered():
    assert set(RULE_CASES) == set(fnn.optimizers.OPTIMIZERS) == set(RULES)


# -- the reference, by its definition -----------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipnorm_rescales_to_the_norm_and_leaves_a_short_gradient_alone(dtype):
    g = np.array([3.0, -4.0, 0.0], dtype)  # norm 5
    assert clip(g, clipnorm=1.0) and g.dtype == dtype
    np.testing.assert_array_equal(g, np.array([3, -4, 0], dtype) * dtype(0.2))
    short = np.array([3.0, -4.0], dtype)
    assert clip(short, clipnorm=5.0)
    assert short.tolist() == [3.0, -4.0]  # factor exactly 1: untouched


def test_clipnorm_accumulates_the_norm_in_float64():
    # 4 entries of 1e30: the float32 sum of squares overflows (1e60), the float64 one does not
    g = np.full(4, 1e30, np.float32)
    assert clip(g, clipnorm=1.0)
    np.testing.assert_allclose(g, 0.5, rtol=3e-7)  # the factor and the product: 2 roundings


def test_clipvalue_clamps_each_entry_and_norm_comes_first():
    g = np.array([3.0, -4.0, 0.1])
    assert clip(g, clipvalue=0.5) and g.tolist() == [0.5, -0.5, 0.1]
    g = np.array([3.0, -4.0, 0.0])  # norm 5 -> [0.6, -0.8, 0]; then clamped to 0.7
    assert clip(g, clipnorm=1.0, clipvalue=0.7) and g.tolist() == [3 * 0.2, -0.7, 0.0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", list(CLIPS))
def test_a_non_finite_gradient_fails_the_step_rather_than_being_clipped(backend, which, bad):
    ops = fnn.get_backend()
    for rule, opt in RULE_CASES.items():
        opt = dataclasses.replace(opt, **CLIPS[which])
        state = opt.state(50, np.float32)
        p = np.linspace(-1, 1, 50).astype(np.float32)
        g = np.ones(50, np.float32)
        assert ops.optimizer_step(p, g.copy(), state, 25, 0.01)  # known bounds from here
        before = [p.copy()] + [s.copy() for s in state.slots]
        g[17] = bad
        assert ops.optimizer_step(p, g, state, 25, 0.01) is False, (rule, which, bad)
        for a, b in zip([p, *state.slots], before):
            assert a.tobytes() == b.tobytes(), (rule, which, bad)
        assert state.step == 1


def test_a_float64_gradient_whose_squared_norm_overflows_fails_the_step(backend):
    ops = fnn.get_backend()
    state = fnn.SGD(lr=0.1, clipnorm=1.0).state(3, np.float64)
    p = np.zeros(3)
    assert ops.optimizer_step(p, np.array([1e200, 0.0, 0.0]), state, 3, 0.1) is False
    assert not p.any()
    assert ops.optimizer_step(p, np.array([1e100, 0.0, 0.0]), state, 3, 0.1)
    np.testing.assert_allclose(p, [-0.1, 0, 0], rtol=1e-15)


@pytest.mark.parametrize("value", [0, -1.0, np.inf, np.nan, "1", True])
@pytest.mark.parametrize("name", ["clipnorm", "clipvalue"])
def test_clipping_parameters_are_validated(name, value):
    for cls in fnn.optimizers.OPTIMIZERS.values():
        with pytest.raises(ValueRangeError, match=name):
            cls(**{name: value})


def test_clipping_is_keyword_only_and_shown_when_set():
    assert fnn.SGD(0.1, 0.9).momentum == 0.9  # positional fields unchanged
    assert repr(fnn.SGD(0.1)) == "SGD(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0)"
    assert repr(fnn.Adam(clipnorm=1.0)).endswith("weight_decay=0.0, clipnorm=1.0)")
    assert fnn.Adam(clipnorm=1.0) != fnn.Adam()


# -- every backend against the reference, every rule --------------------------------------
def _case(size, dtype, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(size).astype(dtype)
    # scales so that some steps clip and some do not (norm ~ scale sqrt(size))
    grads = [(rng.standard_normal(size) * scale).astype(dtype)
             for scale in (1.0, 1e-3 / np.sqrt(size), 30.0, 0.01)]
    return p, grads, size // 2


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("which", list(CLIPS))
@pytest.mark.parametrize("rule", list(RULE_CASES))
def test_clipped_steps_match_the_reference(ref, candidate, rule, which, dtype, size):
    """N_STEPS steps, each backend from its own state object (so the numba backend's
    overflow proof runs from step 2 with its kept bounds), within the propagated bounds."""
    opt = dataclasses.replace(RULE_CASES[rule], **CLIPS[which])
    p0, grads, n_decay = _case(size, dtype, seed=size)
    runs = {ops.name: (p0.copy(), opt.state(size, dtype)) for ops in (ref, candidate)}
    names = RULES[rule].slot_names(**runs[ref.name][1].hyper)
    err = {"p": np.zeros(size), **{name: np.zeros(size) for name in names}}
    for k, g in enumerate(grads):
        p_r, state_r = runs[ref.name]
        before = (p_r.astype(np.float64), [s.astype(np.float64) for s in state_r.slots])
        for ops in (ref, candidate):
            p, state = runs[ops.name]
            assert ops.optimizer_step(p, g.copy(), state, n_decay, opt.lr), (ops.name, k)
        err = RULES[rule].error_step(err, before[0], before[1], g, opt.lr, k + 1, n_decay,
                                     np.dtype(dtype), **state_r.hyper)
        (p_c, state_c) = runs[candidate.name]
        assert_close(f"{rule} {which} params after step {k + 1}", p_c, p_r,
                     2 * T.SAFETY * err["p"] + T.floor(dtype))
        for name, a, b in zip(names, state_c.slots, state_r.slots):
            assert_close(f"{rule} {which} {name} after step {k + 1}", a, b,
                         2 * T.SAFETY * err[name] + T.floor(dtype))


@pytest.mark.parametrize("rule", list(RULE_CASES))
def test_clipnorm_rescues_a_step_that_would_overflow(backend, rule):
    """float32 gradients near the largest float: unclipped, the update overflows (g^2, or
    the new parameter); clipped to norm 1 it applies, as the reference computes it (the
    numba backend's proof must take the clipped bound, not |g|)."""
    ops = fnn.get_backend()
    big = np.full(10, 3e38, np.float32)
    for clipnorm in (None, 1.0):
        opt = dataclasses.replace(RULE_CASES[rule], lr=1.0, clipnorm=clipnorm)
        state = opt.state(10, np.float32)
        p = np.zeros(10, np.float32)
        assert ops.optimizer_step(p, np.full(10, 1e-3, np.float32), state, 5, 1.0)
        ok = ops.optimizer_step(p, big.copy(), state, 5, 1.0)
        assert ok is (clipnorm is not None), (rule, clipnorm)
        if ok:
            assert np.abs(p).max() < 100  # steps of at most a few lr (centered RMSprop: 25)


@pytest.mark.parametrize("sizes", [[6, 8, 3], [6, 96, 64, 3]], ids=["transposed", "row-major"])
def test_the_check_backend_replays_clipped_compiled_steps(sizes):
    """On the check backend each step of the compiled driver is replayed on the reference
    from the driver's own gradient (which the compiled clipping must leave unclipped:
    it clips on the fly) and compared within the clipping's bounds; a mismatch raises."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    for opt in (fnn.Adam(lr=0.01, clipnorm=0.3, clipvalue=0.02),
                fnn.SGD(lr=0.05, momentum=0.9, clipvalue=0.02)):
        with fnn.use_backend("check"):
            model = fnn.MLP(sizes, seed=0)
            model.fit(X, y, epochs=2, batch_size=16, optimizer=opt, verbose=0)
        assert model.optimizer_state.step == 8
