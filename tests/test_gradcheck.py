"""Every gradient of the kernel contract against finite differences, and the optimizers against
hand-computed PyTorch updates, on every backend.

Finite differences: the 5-point central stencil
    f'(t) ~ (f(t-2h) - 8 f(t-h) + 8 f(t+h) - f(t+2h)) / (12 h)
in float64, with h = H_REL * max(1, |t|) rounded to a power of two. Its truncation error is
h^4 |f^(5)| / 30 (~1e-18 here) and its rounding error ~ 1.5 eps_f / h, eps_f the error of
one evaluation of f; with h = 1e-4 that is ~1e-11 for O(1) functions, so the issue's
elementwise relative error |g_fd - g| / max(|g_fd| + |g|, tiny) < 1e-6 holds with five
orders of magnitude to spare wherever the gradient is resolvable at all. ``tiny`` is the
noise floor divided by the tolerance: below it a gradient entry is checked to the stencil's
absolute accuracy instead.

ReLU and leaky ReLU: points are resampled until every pre-activation is at least 1e-3 from
the kink, and each stencil evaluation checks that no unit changed side (else the
difference quotient would straddle the kink), so the checked function is smooth along
every stencil. Every activation unit of the registry is checked; one whose derivative
needs z (gelu) gets the z buffer its forward keeps.
"""

import math

import numpy as np
import pytest
from optim_calls import adam_error_step, adam_step, sgd_error_step, sgd_step

import fastnn as fnn
from fastnn.kernels import loop
from fastnn.kernels.activations import resolve
from fastnn.kernels.compare import assert_close
from fastnn.kernels.contract import ACTIVATIONS
from fastnn.kernels.losses import UNITS as LOSS_UNITS, resolve as resolve_loss
from fastnn.kernels.rounding import SAFETY, unit_roundoff

RTOL = 1e-6
H_REL = 1e-4
KINK_MARGIN = 1e-3
U64 = unit_roundoff(np.float64)
STENCIL = ((-2, 1.0), (-1, -8.0), (1, 8.0), (2, -1.0))  # (offset in h, weight / 12)


class KinkCrossed(AssertionError):
    """A stencil point put a ReLU unit on the other side of 0: the test point is invalid."""


def fd_gradient(f, theta):
    """5-point central differences of ``f() -> (value, pattern)`` w.r.t. each entry of the
    float64 array ``theta`` (perturbed in place and restored). ``pattern`` is any bytes
    summary of the ReLU sides; it must not change along a stencil. Returns (g, floor),
    floor the per-entry absolute noise level of the estimate (see the module docstring)."""
    base_value, base_pattern = f()
    n_terms = max(1, getattr(f, "n_terms", 1))
    eps_f = SAFETY * n_terms * U64 * max(1.0, abs(base_value))
    flat = theta.reshape(-1)
    g = np.empty(flat.size)
    noise = np.empty(flat.size)
    for i in range(flat.size):
        t0 = flat[i]
        h = 2.0 ** round(math.log2(H_REL * max(1.0, abs(t0))))
        total = 0.0
        for offset, weight in STENCIL:
            flat[i] = t0 + offset * h
            value, pattern = f()
            if pattern != base_pattern:
                flat[i] = t0
                raise KinkCrossed(f"entry {i}: the stencil crossed a ReLU kink")
            total += weight * value
        flat[i] = t0
        g[i] = total / (12 * h)
        noise[i] = 1.5 * eps_f / h
    return g.reshape(theta.shape), noise.reshape(theta.shape)


def assert_gradient(name, g, g_fd, noise):
    """Elementwise |g_fd - g| / max(|g_fd| + |g|, tiny) < RTOL, tiny = noise / RTOL."""
    g, g_fd = np.asarray(g, np.float64), np.asarray(g_fd, np.float64)
    assert g.shape == g_fd.shape, (name, g.shape, g_fd.shape)
    tiny = noise / RTOL
    rel = np.abs(g_fd - g) / np.maximum(np.abs(g_fd) + np.abs(g), tiny)
    worst = np.unravel_index(np.argmax(rel), rel.shape)
    bad = np.argwhere(rel >= RTOL)[:5]
    pairs = "; ".join(f"{tuple(ix)}: analytic {g[tuple(ix)]!r} vs fd {g_fd[tuple(ix)]!r}"
                      for ix in bad)
    assert rel.max() < RTOL, (f"{name}: max relative error {rel.max():.3e} at {worst} "
                              f"(max abs error {np.abs(g_fd - g).max():.3e}); {pairs}")


KINKED = ("relu", "leaky_relu")  # units with a kink at z = 0 (y > 0 exactly when z > 0)


def relu_pattern(outs, activations):
    """Which units of kinked activations are on, as bytes, for the stencil's kink check."""
    return b"".join((o > 0).tobytes() for o, a in zip(outs, activations)
                    if resolve(a)[0].NAME in KINKED)


def away_from_kink(z):
    """True if every pre-activation is at least KINK_MARGIN from 0."""
    return bool(np.min(np.abs(z)) >= KINK_MARGIN)


# -- dense layer --------------------------------------------------------------------------
@pytest.mark.parametrize("with_dx", [True, False], ids=["dx", "first-layer"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_gradients_match_finite_differences(backend, activation, with_dx):
    ops = fnn.get_backend()
    n, i, o = 4, 3, 5
    for seed in range(100):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, i))
        W = rng.standard_normal((i, o)) / math.sqrt(i)
        b = rng.standard_normal(o) * 0.5
        if activation not in KINKED or away_from_kink(x @ W + b):
            break
    R = rng.standard_normal((n, o))
    out = np.empty((n, o))
    z = np.empty((n, o)) if resolve(activation)[0].USES == "z" else None

    def f():
        ops.dense_forward(out, x, W, b, activation)
        return float(np.sum(out * R)), relu_pattern([out], [activation])
    f.n_terms = n * o * (i + 1)

    ops.dense_forward(out, x, W, b, activation, z)
    dout = R.copy()
    dW, db = np.full((i, o), np.nan), np.full(o, np.nan)
    dx = np.full((n, i), np.nan) if with_dx else None
    ops.dense_backward(dW, db, dx, dout, x, W, out, activation, z)

    assert_gradient("dW", dW, *fd_gradient(f, W))
    assert_gradient("db", db, *fd_gradient(f, b))
    if with_dx:
        assert_gradient("dx", dx, *fd_gradient(f, x))
    if activation == "relu":
        assert (dW[:, (out <= 0).all(axis=0)] == 0).all(), "a dead ReLU unit got a gradient"


def test_dense_backward_overwrites_dout_with_preactivation_gradient(backend):
    """dout becomes dz = dout * act'(out): for tanh, dout * (1 - out^2)."""
    ops = fnn.get_backend()
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 4)), rng.standard_normal(4)
    out = np.empty((3, 4))
    ops.dense_forward(out, x, W, b, "tanh")
    dout = rng.standard_normal((3, 4))
    expected = dout * (1 - np.tanh(x @ W + b) ** 2)
    ops.dense_backward(np.empty((2, 4)), np.empty(4), None, dout, x, W, out, "tanh")
    np.testing.assert_allclose(dout, expected, rtol=1e-13, atol=1e-15)


# -- losses -------------------------------------------------------------------------------
LOSS_SPECS = (*LOSS_UNITS, "huber(0.5)")  # every unit, and one with its parameter set
TARGET_FORMS = ("labels", "probabilities", "values")


def loss_cases():
    """(spec, target form) for every loss unit: labels and probabilities for a unit of
    labels, values otherwise."""
    return [(spec, form) for spec in LOSS_SPECS for form in TARGET_FORMS
            if (form == "values") != (resolve_loss(spec)[0].TARGETS == "labels")]


def loss_case(loss, rng, n=5, k=4, form=None):
    """(logits, targets) for a loss: labels covering both edge classes (or probabilities),
    binary and soft BCE targets, counts for poisson; targets of the other pointwise
    losses kept >= 1e-2 from the prediction (and from the huber threshold) so the
    gradient is resolvable and no kink lies within the finite differences' reach."""
    unit, p = resolve_loss(loss)
    z = rng.standard_normal((n, k)) * 2
    if unit.TARGETS == "labels":
        if form == "probabilities":
            t = rng.uniform(0, 1, (n, k))
            t[0] = np.eye(k)[1]
            return z, t
        labels = rng.integers(0, k, n)
        labels[0], labels[-1] = 0, k - 1
        return z, labels
    if loss == "sigmoid_bce":
        t = rng.uniform(0, 1, (n, k))
        t[0] = np.round(t[0])  # a row of hard 0/1 targets
        z[1, 0], z[1, 1] = 12.0, -12.0  # saturated logits: gradients ~1e-6 / N
        return z, t
    if loss == "poisson":
        return z, rng.integers(0, 5, (n, k)).astype(np.float64)
    d = rng.choice([-1, 1], (n, k)) * rng.uniform(1e-2, 2, (n, k))
    if unit.NAME == "huber":
        d = np.where(np.abs(np.abs(d) - p) < 1e-2, d + np.sign(d) * 2e-2, d)
    return z, z + d


WEIGHTINGS = {"unweighted": None, "weighted": np.array([0.5, 2.0, 0.0, 1.0, 3.0])}


@pytest.mark.parametrize("weights", WEIGHTINGS)
@pytest.mark.parametrize("loss, form", loss_cases())
def test_loss_gradients_match_finite_differences(backend, loss, form, weights):
    ops = fnn.get_backend()
    z, t = loss_case(loss, np.random.default_rng(11), form=form)
    w = WEIGHTINGS[weights]

    def f():
        return ops.loss(None, z, t, loss, w), b""
    f.n_terms = z.size * 4

    dz = np.full_like(z, np.nan)
    value = ops.loss(dz, z, t, loss, w)
    assert value == pytest.approx(ops.loss(None, z, t, loss, w), rel=8 * U64), \
        "the loss differs depending on whether its gradient is requested"
    assert_gradient(f"d{loss}/dlogits", dz, *fd_gradient(f, z))


def textbook_loss(loss, z, t, w=None):
    """The losses as usually written (unstable for large |z|; fine for these inputs): the
    (weighted) mean over rows of each row's loss, the mean over its entries for the
    pointwise losses."""
    unit, p = resolve_loss(loss)
    if unit.NAME == "softmax_cross_entropy":
        logp = np.log(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
        onehot = np.eye(z.shape[1])[t] if t.ndim == 1 else t
        rows = -(onehot * logp).sum(axis=1)
    else:
        d = z - t
        s = 1 / (1 + np.exp(-z))
        entries = {"sigmoid_bce": -(t * np.log(s) + (1 - t) * np.log(1 - s)),
                   "mse": d ** 2, "mae": np.abs(d),
                   "huber": np.where(np.abs(d) <= p, d * d / 2, p * (np.abs(d) - p / 2)),
                   "poisson": np.exp(z) - t * z}[unit.NAME]
        rows = entries.mean(axis=1)
    return np.average(rows, weights=w)


@pytest.mark.parametrize("loss, form", loss_cases())
def test_loss_values_match_textbook_formulas(backend, loss, form):
    ops = fnn.get_backend()
    z, t = loss_case(loss, np.random.default_rng(12), form=form)
    z = np.clip(z, -8, 8)
    for w in WEIGHTINGS.values():
        assert ops.loss(None, z, t, loss, w) == pytest.approx(textbook_loss(loss, z, t, w),
                                                             rel=1e-12)


def test_large_logits_stay_finite_and_exact(backend):
    """softmax CE of [1000, 0] with label 1 is 1000 (no overflow); BCE of z=-800, t=1 is 800."""
    ops = fnn.get_backend()
    z = np.array([[1000.0, 0.0]])
    d = np.empty_like(z)
    ce = "softmax_cross_entropy"
    assert ops.loss(d, z, np.array([1]), ce) == pytest.approx(1000.0, rel=1e-15)
    np.testing.assert_allclose(d, [[1.0, -1.0]], rtol=1e-15)
    zb = np.array([[-800.0, 800.0]])
    db = np.empty_like(zb)
    bce = ops.loss(db, zb, np.array([[1.0, 1.0]]), "sigmoid_bce")
    assert bce == pytest.approx(400.0, rel=1e-15)
    np.testing.assert_allclose(db, [[-0.5, 0.0]], atol=1e-300)


# -- whole models -------------------------------------------------------------------------
MODELS = {
    "tanh-softmax_ce": dict(sizes=[3, 5, 4, 3], activation="tanh"),
    "relu-sigmoid-mse": dict(sizes=[3, 5, 4, 2], activation="relu", loss="mse",
                             output_activation="sigmoid"),
    "sigmoid-bce": dict(sizes=[4, 6, 3], activation="sigmoid", loss="sigmoid_bce"),
    "relu-identity-softmax_ce": dict(sizes=[2, 6, 6, 4], activation="relu"),
}


def model_case(spec, rng):
    """A float64 MLP with random biases, a batch and targets, all ReLU units off the kink."""
    model = fnn.MLP(dtype="float64", seed=int(rng.integers(1000)), **spec)
    net = model.net
    net.params[net.n_weights:] = rng.standard_normal(net.n_params - net.n_weights) * 0.3
    n, k = 6, net.sizes[-1]
    X = rng.standard_normal((n, net.sizes[0]))
    if net.loss == "softmax_cross_entropy":
        t = rng.integers(0, k, n)
        t[0], t[-1] = 0, k - 1
    else:
        t = rng.uniform(0, 1, (n, k))
    return net, X, t


def preactivations(net, X):
    """Every layer's z = a @ W + b, computed here in float64 (independent of the backend)."""
    a, zs = X, []
    acts = {"identity": lambda z: z, "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
            "sigmoid": lambda z: 1 / (1 + np.exp(-z))}
    for W, b, act in zip(net.W, net.b, net.activations):
        zs.append(a @ W + b)
        a = acts[act](zs[-1])
    return zs


@pytest.mark.parametrize("name", MODELS)
def test_model_gradient_matches_finite_differences(backend, name):
    ops = fnn.get_backend()
    for seed in range(100):
        net, X, t = model_case(MODELS[name], np.random.default_rng(seed))
        relu_z = [z for z, a in zip(preactivations(net, X), net.activations) if a == "relu"]
        if all(away_from_kink(z) for z in relu_z):
            break
    else:
        pytest.fail("no test point off the ReLU kinks in 100 draws")
    n = len(X)
    outs = [np.empty((n, o)) for o in net.sizes[1:]]
    douts = [np.empty((n, o)) for o in net.sizes[1:]]
    def f():
        logits = loop.forward(ops, net, X, outs)
        return ops.loss(None, logits, t, net.loss), relu_pattern(outs, net.activations)
    f.n_terms = n * sum(i * o for i, o in zip(net.sizes[:-1], net.sizes[1:]))

    logits = loop.forward(ops, net, X, outs)
    ops.loss(douts[-1], logits, t, net.loss)
    net.grads[...] = np.nan
    loop.backward(ops, net, X, outs, douts)
    analytic = net.grads.copy()
    assert_gradient(f"{name}: dloss/dparams", analytic, *fd_gradient(f, net.params))


@pytest.mark.parametrize("loss", LOSS_SPECS)
def test_loss_and_gradient_matches_finite_differences(backend, loss):
    """``loop.loss_and_gradient``: the full-batch weighted loss and its gradient in
    net.grads, for every loss unit (a tanh net: no kinks)."""
    ops = fnn.get_backend()
    rng = np.random.default_rng(5)
    unit = resolve_loss(loss)[0]
    k = 3 if unit.TARGETS == "labels" else 2
    model = fnn.MLP([3, 4, k], activation="tanh", loss=loss, dtype="float64", seed=1)
    net = model.net
    X = rng.standard_normal((5, 3))
    _, t = loss_case(loss, rng, n=5, k=k)
    w = WEIGHTINGS["weighted"]
    outs = [np.empty((5, o)) for o in net.sizes[1:]]

    def f():
        return ops.loss(None, loop.forward(ops, net, X, outs), t, loss, w), b""
    f.n_terms = 5 * net.n_weights

    value = loop.loss_and_gradient(ops, net, X, t, w)
    assert value == pytest.approx(f()[0], rel=8 * U64)
    assert_gradient(f"{loss}: loss_and_gradient", net.grads.copy(), *fd_gradient(f, net.params))


def test_gradient_check_detects_a_wrong_gradient(backend):
    """The check itself can fail: a backward pass with a 1% error in one entry is caught."""
    net, X, t = model_case(MODELS["tanh-softmax_ce"], np.random.default_rng(0))
    ops = fnn.get_backend()
    outs = [np.empty((len(X), o)) for o in net.sizes[1:]]
    douts = [np.empty_like(o) for o in outs]

    def f():
        return ops.loss(None, loop.forward(ops, net, X, outs), t, "softmax_cross_entropy"), b""

    ops.loss(douts[-1], loop.forward(ops, net, X, outs), t, "softmax_cross_entropy")
    loop.backward(ops, net, X, outs, douts)
    wrong = net.grads.copy()
    wrong[7] *= 1.01
    with pytest.raises(AssertionError, match="max relative error"):
        assert_gradient("perturbed", wrong, *fd_gradient(f, net.params))


# -- optimizers: hand-computed PyTorch updates ------------------------------------------------
DTYPES = [np.float32, np.float64]


def approx(dtype):
    """Tolerance for hand-computed values: a few roundings of the dtype."""
    return dict(rel=2 * SAFETY * 8 * unit_roundoff(dtype), abs=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_weight_decay_by_hand(backend, dtype, nesterov):
    """p = [1, 2], v = [0.5, -1], g = [0.1, 0.2], lr 0.1, mu 0.9, wd 0.01 on entry 0 only.

    g' = [0.1 + 0.01*1, 0.2] = [0.11, 0.2]; v' = 0.9 v + g' = [0.56, -0.7];
    plain: p' = p - 0.1 v' = [0.944, 2.07];
    Nesterov: step = g' + 0.9 v' = [0.614, -0.43], p' = [0.9386, 2.043].
    """
    ops = fnn.get_backend()
    p = np.array([1.0, 2.0], dtype)
    v = np.array([0.5, -1.0], dtype)
    g = np.array([0.1, 0.2], dtype)
    assert sgd_step(ops, p, v, g, 0.1, 0.9, 0.01, nesterov, 1) is True
    assert v.tolist() == pytest.approx([0.56, -0.7], **approx(dtype))
    expected = [0.9386, 2.043] if nesterov else [0.944, 2.07]
    assert p.tolist() == pytest.approx(expected, **approx(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_plain_weight_decay_by_hand(backend, dtype):
    """No momentum: p' = p - lr (g + wd p) on the first n_decay entries, p - lr g after."""
    ops = fnn.get_backend()
    p = np.array([1.0, -2.0, 3.0], dtype)
    g = np.array([0.5, 0.5, 0.5], dtype)
    assert sgd_step(ops, p, np.zeros(3, dtype), g, 0.1, 0.0, 0.1, False, 2) is True
    # [1 - 0.1*(0.5 + 0.1), -2 - 0.1*(0.5 - 0.2), 3 - 0.1*0.5]
    assert p.tolist() == pytest.approx([0.94, -2.03, 2.95], **approx(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_first_two_steps_by_hand(backend, dtype):
    """p = 1, lr 0.1, betas (0.9, 0.999), eps 1e-8; g = 0.5 then -0.25.

    step 1: m = 0.05, v = 0.00025, m_hat = 0.5, v_hat = 0.25: p = 1 - 0.1*0.5/(0.5 + 1e-8).
    step 2: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225,
            p -= 0.1 * (0.02/(1 - 0.81)) / (sqrt(0.00031225/(1 - 0.998001)) + 1e-8).
    """
    ops = fnn.get_backend()
    p, m, v = (np.array([x], dtype) for x in (1.0, 0.0, 0.0))
    assert adam_step(ops, p, m, v, np.array([0.5], dtype), 1, 0.1, 0.9, 0.999, 1e-8, 0.0, 0) is True
    p1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    assert (p[0], m[0], v[0]) == pytest.approx((p1, 0.05, 0.00025), **approx(dtype))
    assert adam_step(ops, p, m, v, np.array([-0.25], dtype), 2, 0.1, 0.9, 0.999, 1e-8, 0.0,
                         0) is True
    p2 = p1 - 0.1 * (0.02 / (1 - 0.81)) / (math.sqrt(0.00031225 / (1 - 0.998001)) + 1e-8)
    assert (p[0], m[0], v[0]) == pytest.approx((p2, 0.02, 0.00031225), **approx(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule", ["adam", "adamw"])
def test_adam_eps_hat_is_keras_and_scikit_learns_form(backend, dtype, rule):
    """eps_hat: three steps of the Keras / TensorFlow / scikit-learn form, written as they
    write it: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), p -= lr_t m / (sqrt(v) + eps), with
    eps 0.1 (as large as the gradients, so that where it is added matters)."""
    ops = fnn.get_backend()
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 0.1
    p, m, v = (np.array([x], dtype) for x in (1.0, 0.0, 0.0))
    want_p, want_m, want_v, first = 1.0, 0.0, 0.0, None
    for t, g in enumerate([0.5, -0.25, 0.125], 1):
        assert adam_step(ops, p, m, v, np.array([g], dtype), t, lr, b1, b2, eps, 0.0, 0,
                         rule=rule, eps_hat=True) is True
        want_m, want_v = b1 * want_m + (1 - b1) * g, b2 * want_v + (1 - b2) * g * g
        lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        want_p -= lr_t * want_m / (math.sqrt(want_v) + eps)
        assert (p[0], m[0], v[0]) == pytest.approx((want_p, want_m, want_v), **approx(dtype))
        first = first if t > 1 else float(p[0])
    plain = np.array([1.0], dtype)  # PyTorch's form: 1 - lr g / (|g| + eps), far from it
    adam_step(ops, plain, np.zeros(1, dtype), np.zeros(1, dtype), np.array([0.5], dtype), 1,
              lr, b1, b2, eps, 0.0, 0, rule=rule)
    assert plain[0] == pytest.approx(1 - lr * 0.5 / (0.5 + eps), **approx(dtype))
    assert abs(plain[0] - first) > 0.05


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_first_step_is_lr_times_sign(backend, dtype):
    """With bias correction, step 1 moves every entry by lr * g / (|g| + eps) ~ lr sign(g);
    weight decay adds wd * p to the gradient of the first n_decay entries only."""
    ops = fnn.get_backend()
    rng = np.random.default_rng(5)
    p0 = rng.standard_normal(50).astype(dtype)
    g = rng.standard_normal(50).astype(dtype)
    p = p0.copy()
    assert adam_step(ops, p, np.zeros(50, dtype), np.zeros(50, dtype), g.copy(), 1,
                         0.01, 0.9, 0.999, 1e-8, 0.5, 20) is True
    p0, g = p0.astype(np.float64), g.astype(np.float64)
    g_eff = g + np.where(np.arange(50) < 20, 0.5, 0) * p0
    expected = p0 - 0.01 * g_eff / (np.abs(g_eff) + 1e-8)
    bound = adam_bound(p0, [g], 0.01, 0.9, 0.999, 1e-8, 0.5, 20, dtype)[-1]["p"]
    np.testing.assert_array_less(np.abs(p - expected), SAFETY * bound)


def sgd_bound(p, grads, lr, momentum, wd, nesterov, n_decay, dtype):
    """Error bounds after each step (tolerances.sgd_error_step along the exact trajectory)."""
    p, v = p.astype(np.float64), np.zeros(p.size)
    err, out = {"p": np.zeros(p.size), "v": np.zeros(p.size)}, []
    for g in grads:
        err = sgd_error_step(err, p, v, g, lr, momentum, wd, nesterov, n_decay, dtype)
        p, v = torch_sgd(p, v, [g], lr, momentum, wd, nesterov, n_decay)
        out.append(err)
    return out


def adam_bound(p, grads, lr, beta1, beta2, eps, wd, n_decay, dtype):
    """Error bounds after each Adam step along the exact trajectory."""
    p, m, v = p.astype(np.float64), np.zeros(p.size), np.zeros(p.size)
    err = {key: np.zeros(p.size) for key in "pmv"}
    out = []
    for step, g in enumerate(grads, start=1):
        err = adam_error_step(err, p, m, v, g, step, lr, beta1, beta2, eps, wd, n_decay, dtype)
        p, m, v = torch_adam_step(p, m, v, g, step, lr, beta1, beta2, eps, wd, n_decay)
        out.append(err)
    return out


def torch_sgd(p, v, grads, lr, momentum, wd, nesterov, n_decay):
    """torch.optim.SGD's documented algorithm (dampening 0) in float64 for 1-D buffers; v is
    the momentum buffer (zeros = not yet created: PyTorch then starts it at g)."""
    p, v = p.copy(), v.copy()
    for g in grads:
        g = g.copy()
        g[:n_decay] += wd * p[:n_decay]
        if momentum:
            v = g.copy() if not v.any() else momentum * v + g
            g = g + momentum * v if nesterov else v
        p -= lr * g
    return p, v


def torch_adam_step(p, m, v, g, step, lr, beta1, beta2, eps, wd, n_decay):
    """One step of torch.optim.Adam's documented algorithm (amsgrad off), in float64."""
    g = g.copy()
    g[:n_decay] += wd * p[:n_decay]
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    p = p - lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    return p, m, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_five_steps_match_torch_algorithm(backend, dtype, momentum, nesterov):
    """Five steps against the float64 transcription of PyTorch's algorithm, within the
    propagated rounding bound (tolerances.sgd_error_step; one side exact: SAFETY * bound)."""
    ops = fnn.get_backend()
    rng = np.random.default_rng(21)
    n, n_decay, lr, wd = 40, 25, 0.05, 0.01
    p0 = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(5)]
    p, v = p0.copy(), np.zeros(n, dtype)
    p_ref, v_ref = p0.astype(np.float64), np.zeros(n)
    bounds = sgd_bound(p0, [g.astype(np.float64) for g in grads], lr, momentum, wd, nesterov,
                       n_decay, dtype)
    for step, (g, bound) in enumerate(zip(grads, bounds), start=1):
        assert sgd_step(ops, p, v, g.copy(), lr, momentum, wd, nesterov, n_decay) is True
        p_ref, v_ref = torch_sgd(p_ref, v_ref, [g.astype(np.float64)], lr, momentum, wd,
                                 nesterov, n_decay)
        assert_close(f"params after step {step}", p, p_ref, SAFETY * bound["p"])
        if momentum:
            assert_close(f"velocity after step {step}", v, v_ref, SAFETY * bound["v"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_five_steps_match_torch_algorithm(backend, dtype):
    ops = fnn.get_backend()
    rng = np.random.default_rng(22)
    n, n_decay, hyper = 40, 25, (0.01, 0.9, 0.999, 1e-8, 0.01)
    p0 = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(5)]
    p, m, v = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    ref = (p0.astype(np.float64), np.zeros(n), np.zeros(n))
    bounds = adam_bound(p0, [g.astype(np.float64) for g in grads], *hyper, n_decay, dtype)
    for step, (g, bound) in enumerate(zip(grads, bounds), start=1):
        assert adam_step(ops, p, m, v, g.copy(), step, *hyper, n_decay) is True
        ref = torch_adam_step(*ref, g.astype(np.float64), step, *hyper, n_decay)
        for name, got, want in zip("pmv", (p, m, v), ref):
            assert_close(f"{name} after step {step}", got, want, SAFETY * bound[name])


BAD_VALUES = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size,where", [(10, 0), (10, 9), (10, 4), (40000, 39999)],
                         ids=["first", "last", "weights", "large-last"])
@pytest.mark.parametrize("bad", BAD_VALUES, ids=["nan", "inf", "-inf"])
def test_nonfinite_gradient_changes_nothing(backend, dtype, size, where, bad):
    """A NaN/inf gradient anywhere: both optimizers return False and leave params and every
    slot bit-identical (checked as raw bytes, so even -0.0 vs 0.0 would show)."""
    ops = fnn.get_backend()
    rng = np.random.default_rng(8)
    p = rng.standard_normal(size).astype(dtype)
    s1, s2 = rng.standard_normal(size).astype(dtype), rng.uniform(0, 1, size).astype(dtype)
    g = rng.standard_normal(size).astype(dtype)
    g[where] = bad
    before = [a.tobytes() for a in (p, s1, s2)]
    assert sgd_step(ops, p, s1, g.copy(), 0.1, 0.9, 0.01, True, size // 2) is False
    assert [a.tobytes() for a in (p, s1)] == before[:2]
    assert adam_step(ops, p, s1, s2, g.copy(), 3, 0.1, 0.9, 0.999, 1e-8, 0.01, size // 2) is False
    assert [a.tobytes() for a in (p, s1, s2)] == before
