"""How far two correct backends may disagree, op by op, derived from rounding-error analysis.

Two implementations of the same op that are both correct differ only by rounding: in the
order of a sum, in fused multiply-adds, in how exp/tanh/log1p are approximated. So the
allowed difference is derived, not tuned: bound each implementation's forward error
against the exact result (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 2-3),
then

    |got - ref| <= 2 * SAFETY * bound

where the 2 is because both results carry up to ``bound`` of error (triangle inequality)
and ``SAFETY`` (below) is the one margin for everything the first-order analysis leaves out.

Units and facts used throughout:

- ``u`` is the unit roundoff: 2^-24 ~ 6.0e-8 for float32, 2^-53 ~ 1.1e-16 for float64.
  One correctly rounded operation has relative error <= u; one ulp of x is <= 2u|x|.
- A sum or dot product of K terms, in ANY order (BLAS blocking, pairwise, sequential,
  with or without FMA), has |error| <= gamma_K * sum_i |a_i b_i|, gamma_K = K u / (1 - K u).
  The bound is on the *magnitude* sum |a_i b_i| (``|x| @ |W|``), not on the result: after
  cancellation the result may be near zero while the error is not, so a flat rtol is
  unusable and every dot-product bound here is magnitude-aware. (The typical error is
  ~sqrt(K) u; using the worst case K u makes the bounds safe for any summation order.)
- Transcendental functions (exp, tanh, log, log1p) from numba/LLVM's libm and from numpy's
  SIMD routines each claim a few ulps; we allow ``TRANSCENDENTAL_ULPS`` = 4 ulps = 8u
  relative to the result.
- Losses are accumulated in float64 (the contract), so their reduction over the batch adds
  only float64 rounding; what matters is the per-element rounding of their float32 inputs.
- Results that underflow (e.g. exp(-100) in float32) may be gradual (subnormal) or flushed
  to zero; every absolute tolerance gets a floor of ``2 * SAFETY * finfo.tiny`` for that.

Contents:

- :func:`tol`: the table, ``(atol, rtol)`` from an op name, a reduction length and a
  magnitude; the ``*_tol`` functions take an op's inputs (any dtype, any layout), compute
  its magnitudes in float64, and return ``(atol, rtol)`` ready for :func:`compare` (atol
  may be an array broadcasting against the output);
- :func:`sgd_error_step`, :func:`adam_error_step`: error bounds propagated through
  optimizer steps; :func:`trajectory_atol`: whole training runs, whose amplification of
  rounding differences is measured (noisy twins, see there);
- :func:`compare`, :func:`report`, :func:`assert_close`: the comparison, with the max abs
  and rel errors and the first mismatching index/value pairs (reusable by ``fastnn check``).
"""

from __future__ import annotations

import math

import numpy as np

SAFETY = 4.0
"""The single safety factor, applied to every bound below (see the module docstring).

It covers what the first-order analysis drops (products of two small errors, the
1/(1 - K u) terms at second order) and small differences between the rounding counts
assumed here and those of a particular implementation (e.g. a scale formed as 2/N and
then multiplied, instead of one division)."""

TRANSCENDENTAL_ULPS = 4
"""Accuracy assumed for exp, tanh, log, log1p: this many ulps (numba/LLVM vs numpy SIMD)."""

def unit_roundoff(dtype) -> float:
    """u: half the machine epsilon; 2^-24 for float32, 2^-53 for float64."""
    return float(np.finfo(dtype).eps) / 2


def gamma(k, dtype) -> float | np.ndarray:
    """Higham's gamma_k = k u / (1 - k u): the relative error bound of a k-term sum."""
    u = unit_roundoff(dtype)
    k = np.asarray(k, dtype=np.float64)
    if np.any(k * u >= 1):
        raise ValueError(f"gamma_k undefined for k u >= 1 (k={np.max(k)}, u={u})")
    g = k * u / (1 - k * u)
    return float(g) if g.ndim == 0 else g


def floor(dtype) -> float:
    """The absolute floor of every tolerance: underflowed results (subnormal or flushed)."""
    return 2 * SAFETY * float(np.finfo(dtype).tiny)


def _rounding_units():
    """Relative error of each activation's output, in units of u (its own rounding only).

    identity, relu: exact (relu is a comparison and a copy).
    tanh: one libm call, TRANSCENDENTAL_ULPS ulps = 2 * 4 u.
    sigmoid, as 1/(1+e) or e/(1+e) with e = exp(-|z|) (or 1/(1+exp(-z))): the exp in the
        numerator (8u) + the exp inside 1+e weighted by e/(1+e) <= 1/2 (4u) + the add (u)
        + the divide (u) = 14u.
    """
    ulp = 2 * TRANSCENDENTAL_ULPS
    return {"identity": 0.0, "relu": 0.0, "tanh": float(ulp),
            "sigmoid": ulp + ulp / 2 + 2.0}


ACTIVATION_ROUNDINGS = _rounding_units()

DZ_ROUNDINGS = 3
"""Roundings in ``dz = dout * act'(y)`` for tanh and sigmoid, as an absolute error in units
of u |dout|: act' = 1 - y*y or y*(1 - y) lies in [0, 1] and is formed with two roundings
(for tanh each is at most u in absolute terms since y*y <= 1), and the product with dout one
more. relu' = [y > 0] and identity' = 1 are exact, so their dz is exact."""


def tol(op: str, dtype, reduction_length: int = 0, magnitude=1.0,
        activation: str = "identity") -> tuple:
    """``(atol, rtol)`` for comparing one output of ``op`` between two backends.

    The accepted difference is ``atol + rtol * |ref|`` with ``atol`` proportional to
    ``magnitude``, the op's magnitude array (see each entry); the per-op ``*_tol`` functions
    below compute it from the inputs. ``reduction_length`` is K, the number of terms summed.

    op:
    - ``dense_forward``: out = act(x @ W + b). z is an (i+1)-term dot product (K = i+1,
      magnitude |x| @ |W| + |b|) so |dz| <= gamma_K * magnitude; relu, tanh and sigmoid are
      1-Lipschitz so that passes through at most unchanged; then the activation's own
      rounding, relative to the output (``ACTIVATION_ROUNDINGS``).
    - ``dense_backward.dz``: magnitude |dout|, DZ_ROUNDINGS u for tanh/sigmoid, 0 else.
    - ``dense_backward``: dW = x.T @ dz (K = n, magnitude |x|.T @ |dout|), db = sum dz
      (K = n, magnitude sum |dout|), dx = dz @ W.T (K = o, magnitude |dout| @ |W|.T): a
      K-term sum of products whose factors dz already carry DZ_ROUNDINGS u |dout|, so
      gamma_K + DZ_ROUNDINGS u, times the magnitude.
    - ``elementwise``: a straight-line expression of K roundings (no reductions): gamma_K
      times ``magnitude``, the expression evaluated on absolute values (Higham 3.1).
    """
    u = unit_roundoff(dtype)
    K = reduction_length
    smooth = activation in ("tanh", "sigmoid")
    if op == "dense_forward":
        coef, rel = gamma(K, dtype), ACTIVATION_ROUNDINGS[activation] * u
    elif op == "dense_backward.dz":
        coef, rel = DZ_ROUNDINGS * u * smooth, 0.0
    elif op == "dense_backward":
        coef, rel = gamma(K, dtype) + DZ_ROUNDINGS * u * smooth, 0.0
    elif op == "elementwise":
        coef, rel = gamma(K, dtype), 0.0
    else:
        raise KeyError(f"no tolerance rule for op {op!r}")
    return 2 * SAFETY * coef * np.asarray(magnitude, np.float64) + floor(dtype), 2 * SAFETY * rel


def _f64(a):
    return np.asarray(a, dtype=np.float64)


# -- dense layer ----------------------------------------------------------------------------
def dense_forward_tol(x, W, b, activation):
    """(atol (n, o), rtol) for ``out = act(x @ W + b)``; see ``tol('dense_forward')``."""
    magnitude = np.abs(_f64(x)) @ np.abs(_f64(W)) + np.abs(_f64(b))
    return tol("dense_forward", x.dtype, x.shape[1] + 1, magnitude, activation)


def dense_backward_tol(dout, x, W, activation):
    """{name: (atol, rtol)} for dz (the overwritten dout), dW, db and dx of dense_backward.

    dout is the incoming gradient *before* the call (it is overwritten).
    """
    dt = x.dtype
    n, o = dout.shape
    ad, ax, aW = np.abs(_f64(dout)), np.abs(_f64(x)), np.abs(_f64(W))
    return {
        "dz": tol("dense_backward.dz", dt, 0, ad, activation),
        "dW": tol("dense_backward", dt, n, ax.T @ ad, activation),
        "db": tol("dense_backward", dt, n, ad.sum(axis=0), activation),
        "dx": tol("dense_backward", dt, o, ad @ aW.T, activation),
    }


# -- softmax and softmax cross-entropy --------------------------------------------------------
def _softmax_parts(logits):
    """float64 shifted logits s = z - max, probabilities p, lse = log sum exp s, and the
    probability-weighted mean shift R_w = sum_j p_j |s_j| per row."""
    z = _f64(logits)
    s = z - z.max(axis=1, keepdims=True)
    e = np.exp(s)
    S = e.sum(axis=1, keepdims=True)
    p = e / S
    return s, p, np.log(S), np.sum(p * np.abs(s), axis=1, keepdims=True)


def _softmax_rel(logits):
    """Relative error bound (per element, in absolute terms) of a computed softmax p_j.

    Per row, with s = z - max(z) and k classes:
      s_j = z_j - max:       abs error u|s_j|
      e_j = exp(s_j):        rel error 8u (4 ulps) + u|s_j| (its argument's error)
      S = sum_j e_j:         rel error gamma_k + sum_j p_j (8u + u|s_j|) = gamma_k + 8u + u R_w
    then either form of the normalisation:
      e_j / S:               rel 8u + u|s_j| + gamma_k + 8u + u R_w + u (the divide)
      exp(s_j - log S):      log S has abs error gamma_k + 8u + u R_w + 8u ln k (its ulps),
                             s_j - log S adds u|s_j| + u(|s_j| + ln k); exp adds 8u
    so rel(p_j) <= gamma_k + u (17 + 2|s_j| + R_w + 9 ln k) covers both.
    Note p_j |s_j| <= 1/e, so huge negative shifts cost nothing: they only make p_j ~ 0.
    """
    u = unit_roundoff(logits.dtype)
    k = logits.shape[1]
    s, p, _, R_w = _softmax_parts(logits)
    return p, gamma(k, logits.dtype) + u * (17 + 2 * np.abs(s) + R_w + 9 * math.log(k))


def softmax_tol(logits):
    """(atol (n, k), rtol) for ``softmax(out, logits)``: p_j times its relative bound."""
    p, rel = _softmax_rel(logits)
    return 2 * SAFETY * p * rel + floor(logits.dtype), 0.0


def softmax_cross_entropy_tol(logits, labels):
    """(loss atol, (dlogits atol (n, k), rtol)) for ``softmax_cross_entropy``.

    Row loss l = log S - s_label (see :func:`_softmax_rel` for S): log S has absolute error
    gamma_k + 8u + u R_w + 8u ln k; s_label adds u|s_label|; the subtraction u|l|. The mean
    over n rows is float64 (gamma_n of float64 on mean |l|), so the loss tolerance is the
    mean row bound. dlogits_j = (p_j - y_j)/n: p_j's error, then the rounding of each term
    and of the difference (written p/n - y/n by some kernels, (p - y)/n by others: both
    within 3u (p_j + y_j)/n), so atol = (p_j rel_j + 3u (p_j + y_j)) / n.
    """
    dt = logits.dtype
    u = unit_roundoff(dt)
    n, k = logits.shape
    s, p, lse, R_w = _softmax_parts(logits)
    rows = np.arange(n)
    s_label = s[rows, labels]
    row_loss = lse[:, 0] - s_label
    row_err = (gamma(k, dt) + u * (8 + R_w[:, 0] + 8 * math.log(k) + np.abs(s_label))
               + u * np.abs(row_loss))
    loss_atol = 2 * SAFETY * (row_err.mean() + gamma(n, np.float64) * np.abs(row_loss).mean())
    _, rel = _softmax_rel(logits)
    y = np.zeros_like(p)
    y[rows, labels] = 1
    grad_atol = 2 * SAFETY * (p * rel + 3 * u * (p + y)) / n + floor(dt)
    return loss_atol, (grad_atol, 0.0)


# -- sigmoid and binary cross-entropy -----------------------------------------------------------
def sigmoid_tol(x):
    """(atol, rtol) for the elementwise ``sigmoid``: ACTIVATION_ROUNDINGS['sigmoid'] u relative
    (the input is exact, so nothing propagates), with the underflow floor."""
    u = unit_roundoff(x.dtype)
    return floor(x.dtype), 2 * SAFETY * ACTIVATION_ROUNDINGS["sigmoid"] * u


def sigmoid_bce_tol(logits, targets):
    """(loss atol, (dlogits atol, rtol)) for ``sigmoid_bce``.

    Per element l = A + L with A = max(z, 0) - z t and L = log1p(exp(-|z|)):
      z t: u|z t|; A: u|A|; exp(-|z|) <= 1: 8u relative, which reaches L through
      e/(1+e) <= 1/2 (4u); log1p: 8u relative of L <= ln 2 (< 6u); l = A + L: u|l|.
    So |err l| <= u (|z t| + |A| + |l| + 10). Mean over N = n k entries in float64.
    dlogits = (sigmoid(z) - t) / N: sigmoid's 14u relative to sigmoid(z), then the
    subtraction and the scaling by 1/N (a divide, or a rounded 1/N and a multiply): 3u
    relative to the result.
    """
    dt = logits.dtype
    u = unit_roundoff(dt)
    z, t = _f64(logits), _f64(targets)
    N = z.size
    A = np.maximum(z, 0) - z * t
    ell = A + np.log1p(np.exp(-np.abs(z)))
    loss_atol = 2 * SAFETY * (u * np.mean(np.abs(z * t) + np.abs(A) + np.abs(ell) + 10)
                              + gamma(N, np.float64) * np.mean(np.abs(ell)))
    sig = np.exp(-np.logaddexp(0, -z))  # sigmoid(z) without overflow
    grad_atol = 2 * SAFETY * ACTIVATION_ROUNDINGS["sigmoid"] * u * sig / N + floor(dt)
    return loss_atol, (grad_atol, 2 * SAFETY * 3 * u)


def mse_tol(pred, targets):
    """(loss atol, (dpred atol, rtol)) for ``mse``.

    d = pred - t is rounded once in the dtype (u|d|) or formed exactly in float64; squaring
    then doubles the relative error: 2u d^2; the float64 mean adds gamma_N (float64).
    dpred = 2 d / N: d (u), the scale 2/N rounded to the dtype (u), the product (u): 3u
    relative to the result.
    """
    dt = pred.dtype
    u = unit_roundoff(dt)
    d2 = (_f64(pred) - _f64(targets)) ** 2
    loss_atol = 2 * SAFETY * (2 * u + gamma(d2.size + 1, np.float64)) * d2.mean()
    return loss_atol, (floor(dt), 2 * SAFETY * 3 * u)


# -- optimizers: forward error bounds propagated step by step -----------------------------------
def sgd_error_step(err, p, v, g, lr, momentum, weight_decay, nesterov, n_decay, dtype):
    """Propagate first-order error bounds through one ``sgd_step``; returns the new ``err``.

    err: {"p": (p,), "v": (p,)} bounds on how far a backend's params/velocity may be from
    the exact values before the step (zeros at the start); p, v, g: the reference state
    before the step (float64 copies). Each update line is one product of a coefficient cast
    to the dtype and one addition: three roundings (gamma_3) of its absolute-value
    evaluation, plus the incoming errors times the line's coefficients:
      g' = g + wd p          e_g = wd e_p + gamma_3 (|g| + wd |p|)   (first n_decay only)
      v' = mu v + g'         e_v = mu e_v + e_g + gamma_3 (mu |v| + |g'|)
      step = v' | g' + mu v' e_s = e_v | e_g + mu e_v + gamma_3 (|g'| + mu |v'|)
      p' = p - lr step       e_p = e_p + lr e_s + gamma_3 (|p| + lr |step|)
    With momentum 0 the step is g' and the velocity is not used.
    Returns bounds on each backend's error; compare two backends with 2 * SAFETY * err.
    """
    g3 = gamma(3, dtype)
    p, v, g = _f64(p), _f64(v), _f64(g)
    wd = np.zeros_like(p)
    wd[:n_decay] = weight_decay
    g1 = g + wd * p
    e_g = wd * err["p"] + g3 * (np.abs(g) + wd * np.abs(p))
    if momentum:
        v1 = momentum * v + g1
        e_v = momentum * err["v"] + e_g + g3 * (momentum * np.abs(v) + np.abs(g1))
        if nesterov:
            step = g1 + momentum * v1
            e_s = e_g + momentum * e_v + g3 * (np.abs(g1) + momentum * np.abs(v1))
        else:
            step, e_s = v1, e_v
    else:
        step, e_s, e_v = g1, e_g, err["v"]
    e_p = err["p"] + lr * e_s + g3 * (np.abs(p) + lr * np.abs(step))
    return {"p": e_p, "v": e_v}


def adam_error_step(err, p, m, v, g, step, lr, beta1, beta2, eps, weight_decay, n_decay,
                    dtype):
    """Propagate first-order error bounds through one ``adam_step`` (1-based ``step``).

    err: {"p", "m", "v"} bounds before the step; p, m, v, g: the reference state before it.
    The scalar coefficients (1 - beta, the bias corrections, lr / (1 - beta1^t)) are formed
    in float64 from the Python floats and rounded once to the dtype: forming 1 - beta2 in
    float32 instead would lose log2(1/(1 - beta2)) ~ 10 bits and is not covered.
      g' = g + wd p                 e_g = wd e_p + gamma_3 (|g| + wd |p|)
      m' = b1 m + (1-b1) g'         e_m = b1 e_m + (1-b1) e_g + gamma_5 (b1 |m| + (1-b1) |g'|)
      v' = b2 v + (1-b2) g'^2       e_v = b2 e_v + 2 (1-b2) |g'| e_g + gamma_6 (b2 v + (1-b2) g'^2)
      a = v' c2 (c2 = 1/(1-b2^t))   e_a = c2 e_v + gamma_2 a
      D = sqrt(a) + eps             e_D = min(sqrt(e_a), e_a / (2 sqrt(a))) + gamma_3 D
      U = (lr c1) m' / D            e_U = (lr c1) e_m / D + |U| e_D / D + gamma_3 |U|
      p' = p - U                    e_p = e_p + e_U + u (|p| + |U|)
    (|sqrt(a + d) - sqrt(a)| <= min(sqrt|d|, |d| / (2 sqrt a)).)
    """
    u = unit_roundoff(dtype)
    p, m, v, g = _f64(p), _f64(m), _f64(v), _f64(g)
    wd = np.zeros_like(p)
    wd[:n_decay] = weight_decay
    c1, c2 = 1 / (1 - beta1**step), 1 / (1 - beta2**step)
    g1 = g + wd * p
    e_g = wd * err["p"] + gamma(3, dtype) * (np.abs(g) + wd * np.abs(p))
    m1 = beta1 * m + (1 - beta1) * g1
    e_m = (beta1 * err["m"] + (1 - beta1) * e_g
           + gamma(5, dtype) * (beta1 * np.abs(m) + (1 - beta1) * np.abs(g1)))
    v1 = beta2 * v + (1 - beta2) * g1 * g1
    e_v = (beta2 * err["v"] + 2 * (1 - beta2) * np.abs(g1) * e_g
           + gamma(6, dtype) * (beta2 * v + (1 - beta2) * g1 * g1))
    a = v1 * c2
    e_a = c2 * e_v + gamma(2, dtype) * a
    root = np.sqrt(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_root = np.where(root > 0, np.minimum(np.sqrt(e_a), e_a / (2 * root)), np.sqrt(e_a))
    D = root + eps
    e_D = e_root + gamma(3, dtype) * D
    U = lr * c1 * m1 / D
    e_U = lr * c1 * e_m / D + np.abs(U) * e_D / D + gamma(3, dtype) * np.abs(U)
    e_p = err["p"] + e_U + u * (np.abs(p) + np.abs(U))
    return {"p": e_p, "m": e_m, "v": e_v}


# -- whole training runs ----------------------------------------------------------------------
def max_reduction_length(sizes, batch_size) -> int:
    """The longest sum in one training step of an MLP: a fan-in + 1 (forward, dx) or the
    batch (dW, db)."""
    return int(max(max(sizes) + 1, batch_size))


def trajectory_atol(sensitivity, dtype, reduction_length):
    """Absolute tolerance of a training trajectory (losses, logits, parameters) between backends.

    Rounding differences enter at every op of every step and are then amplified by the
    training dynamics, which no static bound captures; so the amplification is measured.
    A *noisy twin* of the reference run (float64) adds to every op output an error
    ``delta * (+-1) * magnitude`` (random signs, fresh per element, op and step;
    ``magnitude`` as in :func:`tol`: |x| @ |W| + |b| for a dense output, and so on), i.e.
    it is a model of another backend whose per-op error is ``delta`` instead of gamma_K.
    ``sensitivity`` is the twin's deviation from the plain run divided by delta (running
    maximum over steps, maximum over twins). A real backend's per-op error is at most
    gamma_K times the same magnitude (K the run's longest reduction, see
    :func:`max_reduction_length`), so the two backends differ by at most

        2 * SAFETY * gamma_K * sensitivity.

    Random signs measure the typical amplification, not the worst alignment of errors; the
    worst-case gamma_K ~ K u (against the typical sqrt(K) u of real rounding) leaves a
    factor sqrt(K) for that, before SAFETY.
    """
    return 2 * SAFETY * np.asarray(sensitivity, np.float64) * gamma(reduction_length, dtype)


# -- comparison ---------------------------------------------------------------------------------
def compare(got, ref, atol=0.0, rtol=0.0, max_report: int = 5) -> dict:
    """Compare ``got`` with ``ref`` elementwise: ``|got - ref| <= atol + rtol * |ref|``.

    atol and rtol may be arrays broadcasting against ref. Identical values (including equal
    infinities and NaN against NaN) always pass; a NaN on one side only never does.
    Returns ``ok``, ``max_abs`` and ``max_rel`` (over all elements, inf for a lone NaN),
    ``headroom`` (max of |diff| / allowed: how much of the tolerance was used), ``n_bad``,
    and ``mismatches``: the first ``max_report`` failing (index, got, ref, allowed).
    """
    got, ref = np.asarray(got), np.asarray(ref)
    if got.shape != ref.shape:
        return {"ok": False, "max_abs": math.inf, "max_rel": math.inf, "headroom": math.inf,
                "n_bad": max(got.size, ref.size),
                "mismatches": [], "shape": (got.shape, ref.shape)}
    g, r = _f64(got), _f64(ref)
    allowed = np.broadcast_to(_f64(atol) + _f64(rtol) * np.abs(r), r.shape)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        same = (g == r) | (np.isnan(g) & np.isnan(r))
        diff = np.where(same, 0.0, np.abs(g - r))
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = np.where(diff == 0, 0.0, diff / np.abs(r))
        bad = diff > allowed
        used = np.where(diff == 0, 0.0, diff / allowed)
    idx = np.argwhere(bad)[:max_report]
    mismatches = [(tuple(int(i) for i in ix), g[tuple(ix)].item(), r[tuple(ix)].item(),
                   allowed[tuple(ix)].item()) for ix in idx]
    return {"ok": not bad.any(), "max_abs": float(diff.max(initial=0.0)),
            "max_rel": float(rel.max(initial=0.0)), "headroom": float(used.max(initial=0.0)),
            "n_bad": int(bad.sum()), "mismatches": mismatches}


def report(name: str, result: dict) -> str:
    """A one-paragraph description of a :func:`compare` result."""
    if "shape" in result:
        got, ref = result["shape"]
        return f"{name}: shape {got} differs from the reference's {ref}"
    lines = [f"{name}: {result['n_bad']} element(s) out of tolerance; max abs error "
             f"{result['max_abs']:.3e}, max rel error {result['max_rel']:.3e}, "
             f"{result['headroom']:.3g}x the allowed difference at worst"]
    lines += [f"  at {ix}: got {g!r}, ref {r!r}, |diff| {abs(g - r):.3e} > allowed {a:.3e}"
              for ix, g, r, a in result["mismatches"]]
    return "\n".join(lines)


def assert_close(name: str, got, ref, atol=0.0, rtol=0.0) -> dict:
    """Raise AssertionError (with :func:`report`) unless ``compare(...)['ok']``."""
    result = compare(got, ref, atol, rtol)
    if not result["ok"]:
        raise AssertionError(report(name, result))
    return result


def assert_equal(name: str, got, ref) -> dict:
    """Exact equality (integers, counts, bit-identical reproducibility), with the report."""
    return assert_close(name, got, ref, 0.0, 0.0)
