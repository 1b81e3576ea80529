"""AdamW (decoupled weight decay) on every backend and path.

Against PyTorch's ``torch.optim.AdamW`` run in float64 (all but exact): each backend's
result in its dtype lies within SAFETY times the first-order bound the rule propagates
(``kernels/optimizers/adamw.py``, ``error_step``) along the exact trajectory; against the
numpy reference, the numba backend (generic loop and compiled driver) within the
equivalence suites' tolerances; and by hand.
"""

import numpy as np
import pytest
from optim_calls import adam_error_step, adam_step

import fastnn as fnn
from fastnn.kernels.compare import assert_close
from fastnn.kernels.optimizers import RULES
from fastnn.kernels.rounding import SAFETY, unit_roundoff

DTYPES = [np.float32, np.float64]


def adamw_step(ops, p, m, v, g, step, lr, beta1, beta2, eps, wd, n_decay, bounds=None):
    return adam_step(ops, p, m, v, g, step, lr, beta1, beta2, eps, wd, n_decay, bounds,
                     rule="adamw")


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_step_by_hand(backend, dtype):
    """p = [2, 2] (a weight, then a bias), g = [0.5, 0.5], lr 0.1, wd 0.5, step 1:
    the weight decays to 2 (1 - 0.05) = 1.9 first; both then move by lr * sign(g)."""
    ops = fnn.get_backend()
    p = np.array([2.0, 2.0], dtype)
    m, v = np.zeros(2, dtype), np.zeros(2, dtype)
    assert adamw_step(ops, p, m, v, np.array([0.5, 0.5], dtype), 1, 0.1, 0.9, 0.999, 1e-8,
                      0.5, 1) is True
    step = 0.1 * 0.5 / (0.5 + 1e-8)
    tol = dict(rel=2 * SAFETY * 8 * unit_roundoff(dtype))
    assert p.tolist() == pytest.approx([1.9 - step, 2.0 - step], **tol)
    assert m.tolist() == pytest.approx([0.05, 0.05], **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_steps_match_pytorch_adamw(backend, dtype):
    """Six steps on a weight matrix and a bias (PyTorch: two parameter groups, decay on
    the weights only) against torch.optim.AdamW in float64."""
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of this test")
    ops = fnn.get_backend()
    rng = np.random.default_rng(3)
    n_w, n_b, lr, wd, betas, eps = 30, 6, 0.01, 0.1, (0.9, 0.999), 1e-8
    p0 = rng.standard_normal(n_w + n_b)
    grads = [rng.standard_normal(n_w + n_b) for _ in range(6)]
    weight = torch.tensor(p0[:n_w], dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(p0[n_w:], dtype=torch.float64, requires_grad=True)
    oracle = torch.optim.AdamW([{"params": [weight], "weight_decay": wd},
                                {"params": [bias], "weight_decay": 0.0}],
                               lr=lr, betas=betas, eps=eps)
    p, m, v = p0.astype(dtype), np.zeros(n_w + n_b, dtype), np.zeros(n_w + n_b, dtype)
    exact = (p0.copy(), np.zeros(n_w + n_b), np.zeros(n_w + n_b))
    err = {key: np.zeros(n_w + n_b) for key in "pmv"}
    for t, g in enumerate(grads, start=1):
        g_dtype = g.astype(dtype)
        err = adam_error_step(err, *exact, g_dtype, t, lr, *betas, eps, wd, n_w, dtype,
                              rule="adamw")
        assert adamw_step(ops, p, m, v, g_dtype.copy(), t, lr, *betas, eps, wd, n_w) is True
        weight.grad = torch.tensor(g_dtype[:n_w], dtype=torch.float64)
        bias.grad = torch.tensor(g_dtype[n_w:], dtype=torch.float64)
        oracle.step()
        state = [oracle.state[x] for x in (weight, bias)]
        exact = (np.concatenate([weight.detach().numpy(), bias.detach().numpy()]),
                 np.concatenate([s["exp_avg"].numpy() for s in state]),
                 np.concatenate([s["exp_avg_sq"].numpy() for s in state]))
        for name, got, want in zip("pmv", (p, m, v), exact):
            assert_close(f"AdamW {name} after step {t}", got, want, SAFETY * err[name])


def test_adamw_is_not_adam_with_l2():
    """The same hyper-parameters give different updates (decay outside vs inside the
    moments): a rule that silently ran Adam would pass every other test here."""
    ops = fnn.get_backend()
    rng = np.random.default_rng(4)
    p0, g = rng.standard_normal(20), rng.standard_normal(20) * 1e-3
    ends = {}
    for rule in ("adam", "adamw"):
        p, m, v = p0.copy(), np.zeros(20), np.zeros(20)
        for t in range(1, 4):
            adam_step(ops, p, m, v, g.copy(), t, 0.01, 0.9, 0.999, 1e-8, 0.5, 20, rule=rule)
        ends[rule] = p
    assert np.abs(ends["adam"] - ends["adamw"]).max() > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [37, 600_001], ids=["small", "chunked"])
def test_numba_matches_the_reference(ref, candidate, dtype, size):
    """Five steps from each backend's own state (its private bounds carried, so numba's
    one-pass path runs from step 2), then a poisoned step that changes nothing."""
    rng = np.random.default_rng(5)
    p0 = rng.standard_normal(size).astype(dtype)
    grads = [(rng.standard_normal(size) * 0.1).astype(dtype) for _ in range(5)]
    hyper = (1e-2, 0.9, 0.999, 1e-8, 0.05)
    n_decay = size // 2
    state = {ops.name: [p0.copy(), np.zeros(size, dtype), np.zeros(size, dtype)]
             for ops in (ref, candidate)}
    bounds = {ops.name: np.empty(0) for ops in (ref, candidate)}  # one state per backend
    err = {key: np.zeros(size) for key in "pmv"}
    for t, g in enumerate(grads, start=1):
        before = [a.astype(np.float64) for a in state[ref.name]]
        for ops in (ref, candidate):
            assert adamw_step(ops, *state[ops.name], g.copy(), t, *hyper, n_decay,
                              bounds[ops.name]) is True
        err = adam_error_step(err, *before, g, t, *hyper, n_decay, dtype, rule="adamw")
        for name, got, want in zip("pmv", state[candidate.name], state[ref.name]):
            assert_close(f"AdamW {name} after step {t}", got, want, 2 * SAFETY * err[name])
    poisoned = grads[0].copy()
    poisoned[size - 1] = np.nan
    for ops in (ref, candidate):
        kept = [a.copy() for a in state[ops.name]]
        assert adamw_step(ops, *state[ops.name], poisoned, 6, *hyper, n_decay,
                          bounds[ops.name]) is False
        for a, b in zip(state[ops.name], kept):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sizes", [[6, 12, 3], [6, 96, 64, 3]], ids=["small-net", "generic"])
def test_training_with_adamw_agrees_across_backends(sizes):
    """A few epochs through fit on numba (its driver, transposed for the first net and
    row-major for the second), on the check backend (every op compared with the
    reference within its derived bound, the compiled step replayed op by op; a mismatch
    raises) and on the reference."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((96, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    losses = {}
    for name in ("numpy", "numba", "check"):
        with fnn.use_backend(name):
            model = fnn.MLP(sizes, activation="tanh", seed=1)
            history = model.fit(X, y, epochs=3, batch_size=16, verbose=0,
                                optimizer=fnn.AdamW(lr=0.01, weight_decay=0.1))
            losses[name] = np.array(history["loss"])
            assert model.optimizer_state.rule == "adamw" and model.optimizer_state.step == 18
    # the check backend hands back numba's own results once each op has passed its derived
    # bound against the reference: the same arithmetic, so the same bits (numba against
    # the reference over whole runs: the adamw entries of test_equivalence_training)
    np.testing.assert_array_equal(losses["check"], losses["numba"])
    assert losses["numpy"][-1] < losses["numpy"][0]


def test_adamw_is_registered_everywhere():
    assert RULES["adamw"].slots == ("m", "v")
    assert fnn.optimizers.get_optimizer("AdamW") == fnn.AdamW()
    assert fnn.AdamW().weight_decay == 0.01  # PyTorch's default
    with pytest.raises(fnn.ValueRangeError, match="beta2"):
        fnn.AdamW(beta2=1.0)
