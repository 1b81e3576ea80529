"""Each backend named by ``--backends`` against the numpy reference, op by op.

Every comparison uses a tolerance derived in ``kernels/tolerances.py`` from the op's inputs
(magnitude-aware rounding bounds), and its failure message gives the max abs and max rel
error and the first mismatching index/value pairs. ``--backends numpy`` compares numpy
with itself (identical results: passes trivially, but exercises the tests); a backend
that cannot be loaded here is an error, not a skip.

Inputs come in every memory layout the contract allows (C, Fortran, row slices of a wider
buffer, every other element of a bigger one; the gaps hold NaN so reading them shows);
outputs are fresh C-contiguous buffers filled with NaN, so an entry left unwritten shows.
Inputs are checked unchanged after every call.

Hypothesis runs derandomized (the same examples every run, no database) so that CI is
deterministic. Whole training runs are in ``test_equivalence_training.py``.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings, strategies as st
from optim_calls import adam_error_step, adam_step, sgd_error_step, sgd_step

from fastnn.kernels import loop, tolerances as T
from fastnn.kernels.compare import assert_close
from fastnn.kernels.contract import ACTIVATIONS, NONFINITE_INPUT
from fastnn.kernels.losses import UNITS as LOSS_UNITS, resolve as resolve_loss
from fastnn.kernels.net import Net

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)

DTYPES = (np.float32, np.float64)
LAYOUTS = ("C", "F", "sliced", "strided")
SIZES = st.one_of(st.integers(1, 9), st.sampled_from([16, 17, 31, 33, 64, 65, 130]))
SEEDS = st.integers(0, 2**32 - 1)
# Explicit examples with BIG (rows x columns > 2^18) run the numba kernels' parallel
# chunked loops, which the small generated shapes never reach.
BIG = 1100  # x 300 outputs = 330,000 elements
BIG_ROWS = 30_000  # x 9 or 10 classes


# -- inputs in every layout -------------------------------------------------------------------
def arrange(a, layout):
    """The values of ``a`` (1-D or 2-D) in ``layout``; gaps of non-contiguous views hold NaN
    (or -1 for integers)."""
    a = np.asarray(a)
    fill = np.nan if a.dtype.kind == "f" else -1
    if layout == "C" or (layout == "F" and a.ndim == 1):
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "sliced":  # a window of a wider buffer: unit inner stride, longer rows
        if a.ndim == 1:
            big = np.full(a.size + 5, fill, a.dtype)
            big[3:3 + a.size] = a
            return big[3:3 + a.size]
        big = np.full((a.shape[0] + 2, a.shape[1] + 3), fill, a.dtype)
        big[1:-1, 2:-1] = a
        return big[1:-1, 2:-1]
    big = np.full(tuple(2 * s + 1 for s in a.shape), fill, a.dtype)  # "strided"
    view = big[(slice(1, None, 2),) * a.ndim]
    view[...] = a
    return view


def nan_buffer(shape, dtype):
    return np.full(shape, np.nan, dtype)


class Unchanged:
    """Snapshot inputs; ``check()`` asserts none of them was written to."""

    def __init__(self, **arrays):
        self.arrays = arrays
        self.saved = {k: np.array(v, copy=True) for k, v in arrays.items()}

    def check(self, backend_name):
        for key, a in self.arrays.items():
            assert np.array_equal(a, self.saved[key], equal_nan=a.dtype.kind == "f"), \
                f"{backend_name} modified its input {key!r}"


def both(ref, candidate, call, inputs: Unchanged):
    """``call(ops)`` on the reference, then on the candidate; inputs checked after each."""
    want = call(ref)
    inputs.check(ref.name)
    got = call(candidate)
    inputs.check(candidate.name)
    return got, want


# -- dense layer ------------------------------------------------------------------------------
def dense_case(seed, n, i, o, dtype, scale):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, i)) * scale).astype(dtype)
    W = (rng.standard_normal((i, o)) / math.sqrt(i)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return rng, x, W, b


@SETTINGS
@given(dtype=st.sampled_from(DTYPES), activation=st.sampled_from(ACTIVATIONS), n=SIZES,
       i=SIZES, o=SIZES, layout=st.sampled_from(LAYOUTS),
       scale=st.sampled_from([1e-3, 1.0, 30.0]), seed=SEEDS)
@example(dtype=np.float32, activation="tanh", n=BIG, i=9, o=300, layout="C", scale=1.0, seed=1)
@example(dtype=np.float64, activation="relu", n=BIG, i=9, o=300, layout="F", scale=1.0, seed=2)
def test_dense_forward(ref, candidate, dtype, activation, n, i, o, layout, scale, seed):
    _, x, W, b = dense_case(seed, n, i, o, dtype, scale)
    x, W, b = arrange(x, layout), arrange(W, layout), arrange(b, layout)

    def call(ops):
        out = nan_buffer((n, o), dtype)
        ops.dense_forward(out, x, W, b, activation)
        return out

    got, want = both(ref, candidate, call, Unchanged(x=x, W=W, b=b))
    assert got.dtype == dtype
    assert_close(f"dense_forward {activation} out", got, want,
                 *T.dense_forward_tol(x, W, b, activation))


@SETTINGS
@given(dtype=st.sampled_from(DTYPES), activation=st.sampled_from(ACTIVATIONS), n=SIZES,
       i=SIZES, o=SIZES, layout=st.sampled_from(LAYOUTS), with_dx=st.booleans(), seed=SEEDS)
@example(dtype=np.float32, activation="sigmoid", n=BIG, i=9, o=300, layout="C", with_dx=True,
         seed=3)
@example(dtype=np.float64, activation="relu", n=BIG, i=9, o=300, layout="sliced",
         with_dx=True, seed=4)
def test_dense_backward(ref, candidate, dtype, activation, n, i, o, layout, with_dx, seed):
    rng, x, W, b = dense_case(seed, n, i, o, dtype, 1.0)
    out = nan_buffer((n, o), dtype)
    ref.dense_forward(out, x, W, b, activation)
    dout = rng.standard_normal((n, o)).astype(dtype)
    x, W, out = arrange(x, layout), arrange(W, layout), arrange(out, layout)

    def call(ops):
        dW, db = nan_buffer((i, o), dtype), nan_buffer(o, dtype)
        dx = nan_buffer((n, i), dtype) if with_dx else None
        dz = dout.copy()
        ops.dense_backward(dW, db, dx, dz, x, W, out, activation)
        return {"dz": dz, "dW": dW, "db": db, "dx": dx}

    got, want = both(ref, candidate, call, Unchanged(x=x, W=W, out=out))
    tols = T.dense_backward_tol(dout, x, W, activation)
    for key in ("dz", "dW", "db") + (("dx",) if with_dx else ()):
        assert_close(f"dense_backward {activation} {key}", got[key], want[key], *tols[key])


# -- the whole network's forward (prediction) ---------------------------------------------------
INPUT_KINDS = ("float", "uint8", "scaled float")
CHUNKED = 4100  # rows: chunks of the reference (4096 + 4) and of numba (3 x 1367)


def network_case(seed, dtype, hidden, activations, dropout, kind, n):
    """A Net (sizes (i, *hidden, k), weights ~ N(0, 1/fan-in), biases N(0, 0.1)), its
    input rows x (n, i) of ``kind`` (uint8 and scaled float ones with input_scale 1/255)."""
    rng = np.random.default_rng(seed)
    sizes = (rng.integers(1, 12), *hidden, rng.integers(1, 6))
    acts = [activations[l % len(activations)] for l in range(len(sizes) - 1)]
    net = Net(sizes, acts, "mse", dtype, input_scale=1.0 if kind == "float" else 1 / 255,
              dropout=[0.0] + [dropout] * (len(sizes) - 2))
    for W, b in zip(net.W, net.b):
        W[...] = rng.standard_normal(W.shape) / math.sqrt(W.shape[0])
        b[...] = rng.standard_normal(b.shape) * 0.1
    pixels = rng.integers(0, 256, (n, sizes[0]))
    if kind == "float":
        return net, rng.standard_normal((n, sizes[0])).astype(dtype)
    return net, pixels.astype(np.uint8 if kind == "uint8" else dtype)


@SETTINGS
@given(dtype=st.sampled_from(DTYPES), hidden=st.lists(SIZES, max_size=3),
       activations=st.lists(st.sampled_from(ACTIVATIONS), min_size=1, max_size=3),
       dropout=st.sampled_from([0.0, 0.5]), kind=st.sampled_from(INPUT_KINDS),
       layout=st.sampled_from(LAYOUTS), n=SIZES, seed=SEEDS)
@example(dtype=np.float32, hidden=[64, 17], activations=["relu"], dropout=0.5, kind="float",
         layout="C", n=CHUNKED, seed=7)
@example(dtype=np.float64, hidden=[33], activations=["tanh"], dropout=0.0, kind="uint8",
         layout="C", n=CHUNKED, seed=8)
def test_network_forward(ref, candidate, dtype, hidden, activations, dropout, kind, layout,
                         n, seed):
    """Logits within dense_forward's bound composed over the layers
    (``tolerances.network_forward_tol``); dropout layers skipped as inference does; one
    and many rows; inputs of the net's dtype, uint8 or float scaled by the net."""
    net, x0 = network_case(seed, dtype, hidden, activations, dropout, kind, n)
    x = arrange(x0, layout)

    def call(ops):
        out = nan_buffer((n, net.sizes[-1]), dtype)
        return ops.network_forward(out, x, net), out

    (status, got), (want_status, want) = both(ref, candidate, call, Unchanged(x=x))
    assert status == want_status == 0
    assert_close("network_forward logits", got, want, *T.network_forward_tol(x0, net))
    plain = Net(net.sizes, net.activations, "mse", dtype, params=net.params.copy(),
                input_scale=net.input_scale)  # dropout is the training's: none here
    assert_close("network_forward without dropout layers", got,
                 forward_of(ref, plain, x0), *T.network_forward_tol(x0, net))


def test_network_forward_of_no_rows(ref, candidate):
    net, x = network_case(0, np.float32, [5], ["relu"], 0.0, "float", 0)
    out = np.empty((0, net.sizes[-1]), np.float32)
    assert ref.network_forward(out, x, net) == candidate.network_forward(out, x, net) == 0


def forward_of(ops, net, x):
    """The logits of x through ``loop.forward`` (no dropout), x converted and scaled as
    ``loop.input_batch`` does: the reference's layer-by-layer forward, spelled out."""
    n = len(x)
    inputs = loop.input_batch(np.empty((n, net.sizes[0]), net.dtype), x, slice(0, n),
                              net.input_scale)
    return loop.forward(ops, net, inputs, [np.empty((n, o), net.dtype) for o in net.sizes[1:]])


@SETTINGS
@given(dtype=st.sampled_from(DTYPES), kind=st.sampled_from(INPUT_KINDS), n=SIZES,
       rows=st.lists(st.integers(0, 200), min_size=1, max_size=3), big=st.booleans(),
       seed=SEEDS)
@example(dtype=np.float32, kind="float", n=CHUNKED, rows=[4099, 5], big=True, seed=9)
def test_network_forward_reports_non_finite_inputs_and_outputs(ref, candidate, dtype, kind,
                                                                n, rows, big, seed):
    """A NaN or infinity in x: NONFINITE_INPUT on every backend. Finite rows too large for
    the weights (every weight >= 300, rows of the largest finite value: x s W overflows
    even at s = 1/255): the number of rows whose logits overflow. uint8 rows: none."""
    net, x = network_case(seed, dtype, [8], ["identity"], 0.0, kind, n)
    rows = sorted({r % n for r in rows})
    for W in net.W:
        W[...] = np.abs(W) + 300
    if kind == "uint8":
        expected = 0
    elif big:  # finite rows overflowing inside: counted
        x[rows] = np.finfo(dtype).max
        expected = len(rows)
    else:
        x[rows[-1], -1] = np.nan if seed % 2 else -np.inf
        expected = NONFINITE_INPUT
    for ops in (ref, candidate):
        out = nan_buffer((n, net.sizes[-1]), dtype)
        assert ops.network_forward(out, x, net) == expected, ops.name
        if expected > 0:
            assert np.array_equal(np.flatnonzero(~np.isfinite(out).all(axis=1)), rows)


# -- losses -------------------------------------------------------------------------------------
LOGIT_STYLES = ("normal", "large", "extreme", "ties")


def make_logits(rng, style, n, k, dtype):
    """normal: N(0, 3); large: uniform +-100 (exp overflows float32 past ~88.7 unless
    shifted); extreme: mostly +-1e4, 0, +-80 (underflow to exactly 0 after the shift);
    ties: small integers, so rows hold equal maxima."""
    if style == "normal":
        z = rng.standard_normal((n, k)) * 3
    elif style == "large":
        z = rng.uniform(-100, 100, (n, k))
    elif style == "extreme":
        z = rng.choice([-1e4, -80.0, 0.0, 80.0, 1e4], (n, k)) + rng.standard_normal((n, k))
        z[rng.uniform(size=(n, k)) < 0.3] = 1e4
    else:
        z = rng.integers(-1, 2, (n, k)).astype(np.float64)
    return z.astype(dtype)


def make_labels(rng, n, k):
    """Labels in 0..k-1 with both edge classes present (when n >= 2)."""
    labels = rng.integers(0, k, n)
    labels[0] = k - 1
    labels[-1] = 0 if n > 1 else labels[-1]
    return labels


TARGET_STYLES = ("binary", "soft", "half")
LOSS_SPECS = (*LOSS_UNITS, "huber(0.25)")  # every loss unit, and one with its parameter set
WEIGHTS = ("none", "random", "integer")


def make_targets(rng, style, n, k, dtype):
    """binary 0/1, soft uniform [0, 1], or exactly 0.5."""
    if style == "binary":
        t = rng.integers(0, 2, (n, k)).astype(np.float64)
    elif style == "soft":
        t = rng.uniform(0, 1, (n, k))
    else:
        t = np.full((n, k), 0.5)
    return t.astype(dtype)


def loss_case(rng, spec, style, target_style, n, k, dtype, weights):
    """(z, targets, weights) for the loss unit ``spec``: labels or (for target_style "soft")
    probabilities for a unit of labels, targets of its range otherwise (counts scaled by 3
    for poisson, whose log-mean logits are clipped to +-30, beyond which exp overflows
    float32 as training divergence does); weights None, uniform [0, 2) with every fourth
    zero, or small integers."""
    unit = resolve_loss(spec)[0]
    z = make_logits(rng, style, n, k, dtype)
    if unit.PREDICT == "exp":
        z = np.clip(z, -30, 30)
    if unit.TARGETS == "labels":
        t = (make_labels(rng, n, k) if target_style != "soft"
             else make_targets(rng, "soft", n, k, dtype))
    else:
        t = make_targets(rng, target_style, n, k, dtype)
        t = t * dtype(3) if unit.PREDICT == "exp" else t
    w = {"none": None, "random": rng.uniform(0, 2, n) * (np.arange(n) % 4 != 3),
         "integer": rng.integers(0, 4, n).astype(np.float64)}[weights]
    if w is not None and not w.any():
        w[0] = 1.0
    return z, t, w


@settings(SETTINGS, max_examples=100)  # seven units, two target forms, three weightings
@given(spec=st.sampled_from(LOSS_SPECS), dtype=st.sampled_from(DTYPES), n=SIZES,
       k=st.one_of(st.integers(1, 12), st.sampled_from([33, 100])),
       style=st.sampled_from(LOGIT_STYLES), target_style=st.sampled_from(TARGET_STYLES),
       weights=st.sampled_from(WEIGHTS), layout=st.sampled_from(LAYOUTS),
       with_grad=st.booleans(), seed=SEEDS)
@example(spec="softmax_cross_entropy", dtype=np.float32, n=BIG_ROWS, k=10, style="large",
         target_style="binary", weights="none", layout="C", with_grad=True, seed=5)
@example(spec="softmax_cross_entropy", dtype=np.float64, n=BIG_ROWS, k=10, style="normal",
         target_style="soft", weights="random", layout="C", with_grad=False, seed=6)
@example(spec="sigmoid_bce", dtype=np.float32, n=BIG_ROWS, k=9, style="normal",
         target_style="soft", weights="none", layout="C", with_grad=True, seed=7)
@example(spec="mse", dtype=np.float32, n=BIG_ROWS, k=9, style="normal", target_style="soft",
         weights="random", layout="C", with_grad=True, seed=8)
def test_loss(ref, candidate, spec, dtype, n, k, style, target_style, weights, layout,
              with_grad, seed):
    """Every loss unit, labels or values (or probabilities), with and without weights."""
    k = max(k, 2) if resolve_loss(spec)[0].TARGETS == "labels" else k
    rng = np.random.default_rng(seed)
    z, t, w = loss_case(rng, spec, style, target_style, n, k, dtype, weights)
    z, t = arrange(z, layout), arrange(t, layout)
    w = None if w is None else arrange(w, layout)

    def call(ops):
        d = nan_buffer((n, k), dtype) if with_grad else None
        return ops.loss(d, z, t, spec, w), d

    (loss, d), (loss_ref, d_ref) = both(ref, candidate, call, Unchanged(
        z=z, t=t, **({} if w is None else {"w": w})))
    assert isinstance(loss, float), type(loss)
    loss_atol, grad_tol = T.loss_tol(spec, z, t, w)
    assert_close(f"{spec} loss", loss, loss_ref, loss_atol)
    if with_grad:
        assert_close(f"{spec} gradient", d, d_ref, *grad_tol)


@SETTINGS
@given(spec=st.sampled_from(LOSS_SPECS), dtype=st.sampled_from(DTYPES), n=SIZES,
       k=st.integers(2, 12), style=st.sampled_from(LOGIT_STYLES),
       target_style=st.sampled_from(TARGET_STYLES), weights=st.sampled_from(WEIGHTS),
       layout=st.sampled_from(LAYOUTS), seed=SEEDS)
def test_metric_sum(ref, candidate, spec, dtype, n, k, style, target_style, weights, layout,
                    seed):
    """Counts are exact without weights (argmax takes the FIRST maximum on ties; z > 0
    strictly against t >= 0.5); weighted counts and squared errors within metric_tol."""
    rng = np.random.default_rng(seed)
    z, t, w = loss_case(rng, spec, style, target_style, n, k, dtype, weights)
    z, t = arrange(z, layout), arrange(t, layout)
    got, want = both(ref, candidate, lambda ops: ops.metric_sum(z, t, spec, w),
                     Unchanged(z=z, t=t))
    assert isinstance(got, float), type(got)
    if w is None and resolve_loss(spec)[0].HITS != "none":
        assert got == want and got == int(got), (got, want)
    assert_close(f"{spec} metric_sum", got, want, T.metric_tol(spec, z, t, w))


def test_all_zero_weights_give_loss_zero_and_a_zero_gradient(ref, candidate):
    z = np.array([[1.0, -2.0], [0.5, 3.0]])
    for spec, unit in LOSS_UNITS.items():
        t = np.array([0, 1]) if unit.TARGETS == "labels" else np.full((2, 2), 0.5)
        for ops in (ref, candidate):
            d = nan_buffer(z.shape, z.dtype)
            assert ops.loss(d, z, t, spec, np.zeros(2)) == 0.0
            assert not d.any(), (spec, ops.name, d)


def test_metric_sum_tie_conventions(ref, candidate):
    """Hand-made ties: first maximum wins; z = 0 is 'negative'; t = 0.5 is 'positive'."""
    z = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [5.0, 5.0, 5.0]])
    ce = "softmax_cross_entropy"
    assert candidate.metric_sum(z, np.array([0, 1, 0]), ce) == 3
    assert candidate.metric_sum(z, np.array([1, 2, 2]), ce) == 0
    assert candidate.metric_sum(z, np.eye(3)[[0, 1, 0]], ce) == 3
    assert candidate.metric_sum(z, np.array([0, 1, 0]), ce, np.array([0.5, 2.0, 0.0])) == 2.5
    zb = np.array([[0.0, 1e-30, -1e-30]])
    assert candidate.metric_sum(zb, np.array([[0.5, 0.5, 0.5]]), "sigmoid_bce") == 1
    assert candidate.metric_sum(zb, np.array([[0.49, 0.49, 0.49]]), "sigmoid_bce") == 2


# -- prediction transforms ----------------------------------------------------------------------
def transform_both(ref, candidate, op, x0, layout, in_place):
    """``op(out, x)`` (softmax or sigmoid) on both backends, with x0 in ``layout``, or in
    place (``op(x, x)``, as predict_proba calls it); returns (got, want)."""
    x = x0 if in_place else arrange(x0, layout)

    def call(ops):
        out = x0.copy() if in_place else nan_buffer(x0.shape, x0.dtype)
        getattr(ops, op)(out, out if in_place else x)
        return out

    return both(ref, candidate, call, Unchanged(x=x))


@SETTINGS
@given(dtype=st.sampled_from(DTYPES), n=SIZES, k=st.integers(1, 40),
       style=st.sampled_from(LOGIT_STYLES), layout=st.sampled_from(LAYOUTS),
       in_place=st.booleans(), seed=SEEDS)
def test_softmax(ref, candidate, dtype, n, k, style, layout, in_place, seed):
    z0 = make_logits(np.random.default_rng(seed), style, n, k, dtype)
    got, want = transform_both(ref, candidate, "softmax", z0, layout, in_place)
    assert_close("softmax", got, want, *T.softmax_tol(z0))
    # Each p_j is within its tolerance of the exact value, and the exact row sums are 1.
    assert_close("softmax row sums", got.sum(axis=1, dtype=np.float64), np.ones(n),
                 T.softmax_tol(z0)[0].sum(axis=1))


@SETTINGS
@given(dtype=st.sampled_from(DTYPES), n=SIZES, k=st.integers(1, 40),
       style=st.sampled_from(LOGIT_STYLES), layout=st.sampled_from(LAYOUTS),
       in_place=st.booleans(), seed=SEEDS)
def test_sigmoid(ref, candidate, dtype, n, k, style, layout, in_place, seed):
    x0 = make_logits(np.random.default_rng(seed), style, n, k, dtype)
    got, want = transform_both(ref, candidate, "sigmoid", x0, layout, in_place)
    assert_close("sigmoid", got, want, *T.sigmoid_tol(x0))
    assert np.all((got >= 0) & (got <= 1))


# -- optimizers ----------------------------------------------------------------------------------
# 600,001 spans three of the numba backend's parallel chunks (2^18 entries).
PARAM_SIZES = st.one_of(st.integers(1, 40), st.sampled_from([1000, 16384, 16385, 40001, 600_001]))
N_STEPS = 4


# gradient clipping (kernels/optimizers/clipping.py); the gradients' norms span 1e-3 sqrt(p)
# to 10 sqrt(p), so the norm clips at some steps and not at others
CLIPS = st.sampled_from([None, {"clipnorm": 1.0}, {"clipvalue": 0.5},
                         {"clipnorm": 3.0, "clipvalue": 0.5}])


def optimizer_case(seed, size, dtype, bad_step):
    """Initial params, N_STEPS gradients (one NaN/inf-poisoned if bad_step >= 0), n_decay."""
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(size).astype(dtype)
    grads = [(rng.standard_normal(size) * rng.choice([1e-3, 1.0, 10.0])).astype(dtype)
             for _ in range(N_STEPS)]
    if bad_step >= 0:
        grads[bad_step][rng.integers(size)] = rng.choice([np.nan, np.inf, -np.inf])
    return p, grads, int(rng.integers(0, size + 1))


@SETTINGS
@given(dtype=st.sampled_from(DTYPES), size=PARAM_SIZES,
       kind=st.sampled_from(["plain", "momentum", "nesterov"]),
       weight_decay=st.sampled_from([0.0, 1e-2]), bad_step=st.integers(-1, N_STEPS - 1),
       seed=SEEDS, clip=CLIPS)
def test_sgd_steps(ref, candidate, dtype, size, kind, weight_decay, bad_step, seed, clip):
    """Several steps, each backend from its own state (with its optimizer bounds, so the
    numba backend's one-pass path runs from step 2); a poisoned step must change nothing.

    With momentum 0 the velocity is not compared: the contract leaves it untouched, and
    it never affects params.
    """
    p0, grads, n_decay = optimizer_case(seed, size, dtype, bad_step)
    lr, momentum, nesterov = 0.05, (0.0 if kind == "plain" else 0.9), kind == "nesterov"
    state = {ops.name: [p0.copy(), np.zeros(size, dtype)] for ops in (ref, candidate)}
    bounds = {ops.name: np.full(3, np.inf) for ops in (ref, candidate)}
    err = {"p": np.zeros(size), "v": np.zeros(size)}
    for step, g in enumerate(grads):
        p, v = (a.astype(np.float64) for a in state[ref.name])
        results = {}
        for ops in (ref, candidate):
            before = [a.tobytes() for a in state[ops.name]]
            p_b, v_b = state[ops.name]
            results[ops.name] = sgd_step(ops, p_b, v_b, g.copy(), lr, momentum, weight_decay,
                                         nesterov, n_decay, bounds[ops.name], clip)
            if step == bad_step:
                assert results[ops.name] is False, f"{ops.name}: poisoned step returned True"
                assert [a.tobytes() for a in state[ops.name]] == before, \
                    f"{ops.name}: a poisoned step changed params or velocity"
        assert results[candidate.name] is results[ref.name], results
        if step == bad_step:
            continue
        err = sgd_error_step(err, p, v, g, lr, momentum, weight_decay, nesterov, n_decay,
                             dtype, clip)
        (p_c, v_c), (p_r, v_r) = state[candidate.name], state[ref.name]
        assert_close(f"sgd params after step {step + 1}", p_c, p_r, 2 * T.SAFETY * err["p"])
        if momentum:
            assert_close(f"sgd velocity after step {step + 1}", v_c, v_r,
                         2 * T.SAFETY * err["v"])


@SETTINGS
@given(dtype=st.sampled_from(DTYPES), size=PARAM_SIZES, weight_decay=st.sampled_from([0.0, 1e-2]),
       lr=st.sampled_from([1e-3, 0.1]), bad_step=st.integers(-1, N_STEPS - 1), seed=SEEDS,
       clip=CLIPS, eps=st.sampled_from([1e-8, 0.1]), eps_hat=st.booleans())
def test_adam_steps(ref, candidate, dtype, size, weight_decay, lr, bad_step, seed, clip, eps,
                    eps_hat):
    """Steps 1..N_STEPS (bias correction at every one); a poisoned step changes nothing and
    does not advance the step count (the caller passes the same step number again). eps
    0.1 is as large as the gradients, so that where it is added (eps_hat) shows."""
    p0, grads, n_decay = optimizer_case(seed, size, dtype, bad_step)
    hyper = (lr, 0.9, 0.999, eps, weight_decay)
    state = {ops.name: [p0.copy(), np.zeros(size, dtype), np.zeros(size, dtype)]
             for ops in (ref, candidate)}
    bounds = {ops.name: np.full(3, np.inf) for ops in (ref, candidate)}
    err = {key: np.zeros(size) for key in "pmv"}
    t = 1
    for i, g in enumerate(grads):
        before64 = [a.astype(np.float64) for a in state[ref.name]]
        results = {}
        for ops in (ref, candidate):
            before = [a.tobytes() for a in state[ops.name]]
            results[ops.name] = adam_step(ops, *state[ops.name], g.copy(), t, *hyper, n_decay,
                                          bounds[ops.name], clip=clip, eps_hat=eps_hat)
            if i == bad_step:
                assert results[ops.name] is False, f"{ops.name}: poisoned step returned True"
                assert [a.tobytes() for a in state[ops.name]] == before, \
                    f"{ops.name}: a poisoned step changed params or moments"
        assert results[candidate.name] is results[ref.name], results
        if i == bad_step:
            continue
        err = adam_error_step(err, *before64, g, t, *hyper, n_decay, dtype, clip=clip,
                              eps_hat=eps_hat)
        for name, got, want in zip("pmv", state[candidate.name], state[ref.name]):
            assert_close(f"adam {name} after step {t}", got, want, 2 * T.SAFETY * err[name])
        t += 1
