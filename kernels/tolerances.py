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
  magnitude; one ``*_tol`` function per op of the contract takes the op's inputs (any
  dtype, any layout), computes its magnitudes in float64, and returns ``(atol, rtol)``
  ready for ``compare.compare`` (atol may be an array broadcasting against the output);
- :func:`optimizer_step_tol`: each optimizer rule propagates its own bounds through one
  step (``optimizers/<rule>.py``, ``error_step``), starting from the bound of its clipped
  gradient when the state clips (``optimizers/clipping.py``, ``clipped_error``: the float64
  norm, the factor rounded to the dtype, the product, the rounded clip value); this turns
  them into tolerances.

The units (u, gamma_k, SAFETY, the underflow floor) live in ``rounding.py``; the
comparison harness in ``compare.py``.
"""

from __future__ import annotations

import math

import numpy as np

from .activations import UNITS, resolve
from .optimizers import RULES
from .rounding import SAFETY, floor, gamma, unit_roundoff


def _rounding_units():
    """Relative error of each activation's output, in units of u (its own rounding only),
    as its unit declares it (``kernels/activations``: identity and relu exact, tanh one
    libm call of TRANSCENDENTAL_ULPS ulps = 8u, sigmoid 14u, ...)."""
    return {name: float(unit.VALUE_ROUNDINGS) for name, unit in UNITS.items()}


ACTIVATION_ROUNDINGS = _rounding_units()


def tol(op: str, dtype, reduction_length: int = 0, magnitude=1.0,
        activation: str = "identity") -> tuple:
    """``(atol, rtol)`` for comparing one output of ``op`` between two backends.

    The accepted difference is ``atol + rtol * |ref|`` with ``atol`` proportional to
    ``magnitude``, the op's magnitude array (see each entry); the per-op ``*_tol`` functions
    below compute it from the inputs. ``reduction_length`` is K, the number of terms summed.

    op:
    The activation's unit (``kernels/activations``, ``activation`` a spec) declares its
    own rounding: VALUE_ROUNDINGS (relative to the output), INPUT_ROUNDINGS (absolute, in
    u |z|, for outputs formed as z times a factor that may cancel, e.g. gelu),
    SLOPE_ROUNDINGS (of dz, in u |dout|) and LIPSCHITZ (a bound of |act'|).

    - ``dense_forward``: out = act(x @ W + b). z is an (i+1)-term dot product (K = i+1,
      magnitude |x| @ |W| + |b|) so |dz| <= gamma_K * magnitude, which the activation
      passes on times at most LIPSCHITZ, plus INPUT_ROUNDINGS u |z| (<= the magnitude);
      then the activation's own rounding, VALUE_ROUNDINGS u relative to the output.
    - ``dense_backward.dz``: magnitude |dout|, SLOPE_ROUNDINGS u.
    - ``dense_backward``: dW = x.T @ dz (K = n, magnitude |x|.T @ |dout|), db = sum dz
      (K = n, magnitude sum |dout|), dx = dz @ W.T (K = o, magnitude |dout| @ |W|.T),
      each magnitude times LIPSCHITZ (|dz| <= LIPSCHITZ |dout|): a K-term sum of products
      whose factors dz already carry SLOPE_ROUNDINGS u |dout|, so gamma_K LIPSCHITZ +
      SLOPE_ROUNDINGS u, times the magnitude.
    - ``elementwise``: a straight-line expression of K roundings (no reductions): gamma_K
      times ``magnitude``, the expression evaluated on absolute values (Higham 3.1).
    """
    u = unit_roundoff(dtype)
    K = reduction_length
    unit = resolve(activation)[0]
    if op == "dense_forward":
        coef = gamma(K, dtype) * unit.LIPSCHITZ + unit.INPUT_ROUNDINGS * u
        rel = unit.VALUE_ROUNDINGS * u
    elif op == "dense_backward.dz":
        coef, rel = unit.SLOPE_ROUNDINGS * u, 0.0
    elif op == "dense_backward":
        coef, rel = gamma(K, dtype) * unit.LIPSCHITZ + unit.SLOPE_ROUNDINGS * u, 0.0
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


# -- optimizers: each rule's own error propagation (optimizers/<rule>.py) ------------------------
def optimizer_step_tol(state, params, slots, grads, n_decay, lr) -> dict:
    """{"params" or slot name: atol (p,)} for one ``optimizer_step`` of ``state`` from the
    values before it (the step propagates from exact values: zero incoming error)."""
    rule = RULES[state.rule]
    zero = np.zeros(params.shape)
    names = rule.slot_names(**state.hyper)
    err = rule.error_step({"p": zero, **{name: zero for name in names}}, params, slots,
                          grads, lr, state.step + 1, n_decay, params.dtype, **state.hyper)
    atol = {name: 2 * SAFETY * err[name] + floor(params.dtype) for name in names}
    return {"params": 2 * SAFETY * err["p"] + floor(params.dtype), **atol}
