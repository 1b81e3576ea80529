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
- :func:`loss_tol`: each loss unit declares the rounding of its entries or rows
  (``losses/<unit>.py``); this turns it into the tolerances of the weighted mean;
- :func:`optimizer_step_tol`: each optimizer rule propagates its own bounds through one
  step (``optimizers/<rule>.py``, ``error_step``), starting from the bound of its clipped
  gradient when the state clips (``optimizers/clipping.py``, ``clipped_error``: the float64
  norm, the factor rounded to the dtype, the product, the rounded clip value); this turns
  them into tolerances.

The units (u, gamma_k, SAFETY, the underflow floor) live in ``rounding.py``; the
comparison harness in ``compare.py``.
"""

from __future__ import annotations

import numpy as np

from .activations import UNITS, resolve
from .losses import resolve as resolve_loss
from .losses.softmax_cross_entropy import softmax_rel
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


def network_forward_tol(x, net):
    """(atol (n, k), rtol) for ``network_forward``'s logits: dense_forward's bound,
    composed over the layers.

    Both backends form the same input ``dtype(x) * dtype(scale)`` (each a correctly
    rounded operation, so identical). Layer l with fan-in K then adds, on each side, its
    own error ``(gamma_{K+1} L + INPUT_ROUNDINGS u) M_l + VALUE_ROUNDINGS u |a_l|`` (as
    ``tol('dense_forward')``, M_l = |a_{l-1}| @ |W| + |b|) to the error it inherits,
    ``L e_{l-1} @ |W|`` (L the unit's LIPSCHITZ), plus an underflow of tiny: e_l. The
    magnitudes come from a float64 forward of that input through each unit's reference.
    """
    dt = net.dtype
    u = unit_roundoff(dt)
    with np.errstate(over="ignore"):
        a = _f64(np.multiply(x, dt.type(net.input_scale), dtype=dt))  # both sides' input
    e = np.zeros_like(a)
    for W, b, activation in zip(net.W, net.b, net.activations):
        unit, p = resolve(activation)
        aW, W64, b64 = np.abs(_f64(W)), _f64(W), _f64(b)
        magnitude = np.abs(a) @ aW + np.abs(b64)
        z = a @ W64 + b64
        a = np.empty_like(z)
        unit.forward(a, z, p)
        own = ((gamma(W.shape[0] + 1, dt) * unit.LIPSCHITZ + unit.INPUT_ROUNDINGS * u)
               * magnitude + unit.VALUE_ROUNDINGS * u * np.abs(a))
        e = unit.LIPSCHITZ * (e @ aW) + own + float(np.finfo(dt).tiny)
    return 2 * SAFETY * e + floor(dt), 0.0


# -- softmax and sigmoid (prediction transforms) ---------------------------------------------
def softmax_tol(logits):
    """(atol (n, k), rtol) for ``softmax(out, logits)``: p_j times its relative bound
    (``losses/softmax_cross_entropy.py``, ``softmax_rel``)."""
    p, rel = softmax_rel(logits)
    return 2 * SAFETY * p * rel + floor(logits.dtype), 0.0


def sigmoid_tol(x):
    """(atol, rtol) for the elementwise ``sigmoid``: ACTIVATION_ROUNDINGS['sigmoid'] u relative
    (the input is exact, so nothing propagates), with the underflow floor."""
    u = unit_roundoff(x.dtype)
    return floor(x.dtype), 2 * SAFETY * ACTIVATION_ROUNDINGS["sigmoid"] * u


# -- losses: each unit's own rounding (losses/<unit>.py) ------------------------------------
def _row_bounds(unit, z, t, p):
    """(each row's loss (n,), its absolute error bound (n,), the bound of each entry of
    the row loss's gradient (n, k)), float64, as the unit declares them; a pointwise
    unit's row is the mean of its k entries (a float64 sum: gamma_k of float64)."""
    if unit.KIND == "rows":
        row_err, grad_err = unit.row_bounds(z, t, p)
        return np.abs(unit.forward_rows(z, t, p)).astype(np.float64), row_err, grad_err
    u = unit_roundoff(z.dtype)
    k = z.shape[1]
    loss_u, grad_u = unit.rounding(_f64(z), _f64(t), p)
    entries = np.abs(_f64(unit.forward(z, t, p)))
    row = entries.mean(axis=1)
    return row, u * loss_u.mean(axis=1) + gamma(k, np.float64) * row, u * grad_u / k


def loss_tol(spec, z, targets, weights=None):
    """(loss atol, (gradient atol (n, k), rtol)) for ``loss`` of the unit ``spec``.

    The unit bounds each row's loss and each entry of its gradient (``rounding`` or
    ``row_bounds``); the batch's loss is sum_r s_r l_r with s_r = w_r / W (1/n without
    weights), a float64 sum of n terms: the |s|-weighted mean of the row bounds plus
    gamma_(n+2) of float64 on the |s|-weighted mean |l| (the sum, the products by w and
    the division). The gradient is s_r times the row loss's gradient, s_r rounded to the
    dtype and the product rounded (2u relative), on top of the unit's bound. Weights of
    both signs cancel in the sums: a float64 sum of terms whose magnitudes add to
    kappa = sum|w| / |W| times its value carries kappa times the relative error, so the
    gamma terms are multiplied by kappa (1 for weights of one sign: the bound is then
    unchanged) and s_r's relative error gains gamma_n kappa (W's own sum).
    """
    unit, p = resolve_loss(spec)
    dt = z.dtype
    u = unit_roundoff(dt)
    n = z.shape[0]
    row, row_err, grad_err = _row_bounds(unit, z, targets, p)
    w = np.ones(n) if weights is None else _f64(weights)
    total = w.sum()
    s = np.abs(w / total) if total != 0 else np.zeros(n)
    kappa = np.abs(w).sum() / abs(total) if total != 0 else 1.0
    loss_atol = 2 * SAFETY * (s @ row_err + kappa * gamma(n + 2, np.float64) * (s @ row))
    grad = np.empty(z.shape, dt)
    if unit.KIND == "rows":
        unit.backward_rows(grad, z, targets, p)
    else:
        unit.backward(grad, z, targets, p)
        grad = _f64(grad) / z.shape[1]
    grad_rel = 2 * u + kappa * gamma(n, np.float64) * (weights is not None)
    grad_atol = 2 * SAFETY * s[:, None] * (grad_err + grad_rel * np.abs(_f64(grad))) + floor(dt)
    return loss_atol, (grad_atol, 0.0)


def metric_tol(spec, z, targets, weights=None):
    """atol for ``metric_sum``: counts are sums of weights (float64, gamma_n of float64 on
    the sum of their magnitudes); an r2 unit's squared errors e^2 of its prediction: the
    prediction's rounding (exp: 8u relative; identity: exact) doubled by the square,
    2 (8u |y| |e|), plus the float64 sum."""
    unit, p = resolve_loss(spec)
    n = z.shape[0]
    w = np.ones(n) if weights is None else np.abs(_f64(weights))
    if unit.HITS != "none":
        return 2 * SAFETY * gamma(n + 1, np.float64) * w.sum() * z.shape[1]
    y = np.empty(z.shape)
    unit.predict(y, _f64(z), p)
    e = np.abs(y - _f64(targets))
    rel = 8 * unit_roundoff(z.dtype) if unit.PREDICT == "exp" else 0.0
    per_row = (2 * rel * np.abs(y) * e + gamma(z.shape[1] + 1, np.float64) * e * e).sum(axis=1)
    return 2 * SAFETY * (w @ per_row + gamma(n + 1, np.float64) * (w @ (e * e).sum(axis=1)))


# -- optimizers: each rule's own error propagation (optimizers/<rule>.py) ------------------------
def optimizer_step_tol(state, params, slots, grads, n_decay, lr) -> dict:
    """{"params" or slot name: atol (p,)} for one ``optimizer_step`` of ``state`` from the
    values before it (the step propagates from exact values: zero incoming error)."""
    rule = RULES[state.rule]
    zero = np.zeros(params.shape)
    hyper = state.hyper_at(state.step)
    names = rule.slot_names(**hyper)
    err = rule.error_step({"p": zero, **{name: zero for name in names}}, params, slots,
                          grads, lr, state.step + 1, n_decay, params.dtype, **hyper)
    atol = {name: 2 * SAFETY * err[name] + floor(params.dtype) for name in names}
    return {"params": 2 * SAFETY * err["p"] + floor(params.dtype), **atol}
