"""Losses with their gradients in one pass, metrics, and prediction transforms (numba).

Every loss unit (``kernels/losses``) is compiled into a C function of its own (a numba
``cfunc`` per unit, dtype, layout and target form, cached on disk), made when first used
and passed as an argument to the compiled driver and to :func:`call_loss`, so they are
compiled once for every loss (as the optimizer updates, ``optim.py``) and a first run
compiles only the loss it uses. The sweeps are inlined into each function (compiled as
separate functions they took about three times as long to compile: 10.8 against 4 to 5
s for softmax cross-entropy, measured once on a loaded machine). A pointwise unit's copy
is the template :func:`_entries_chunk` with its scalar ``value`` and ``grad`` bound in
(``units.bound_copy``); softmax cross-entropy has its own sweeps, for labels and for
target probabilities: max, exp-sum, log and gradient per sample in one sweep, writing
``(p - onehot) * w / W`` straight into the gradient; no one-hot matrix, no probability
copy.

The sweeps run class-major (a view (k, m) of (m, k) logits), so their loops run over
samples and vectorise, with the float32 exp and log of ``_math.py`` (log1p stays
numpy's); the small-network path keeps its logits in that layout already. Loss sums are
float64, over fixed chunks of samples added in order (a result does not depend on how
the caller batches). A loss's function also returns its metric's sum (``metric_sum``).
"""

import functools

import numba
import numpy as np
from numba import carray, cfunc, njit, types

from ..losses import UNITS, resolve
from ..scalar import exp
from ._math import log_of_sum
from ._rules import stable_sigmoid
from .config import CHUNK, JIT
from .units import bound_copy, inline_copy


def loss(grad, z, targets, spec, weights=None):
    """``Backend.loss`` through the unit's compiled function; inputs of any memory order
    are copied to C order, and without a gradient buffer the gradient goes to a scratch
    one."""
    unit, p = resolve(spec)
    z = np.ascontiguousarray(z)
    d = grad if grad is not None and grad.flags.c_contiguous else np.empty_like(z)
    labels, T = _forms(targets, z.dtype)
    w = _NO_WEIGHTS if weights is None else np.ascontiguousarray(weights, np.float64)
    out = np.zeros(1)
    fn = loss_function(unit.NAME, z.dtype, False, targets.ndim == 1)
    value = call_loss(fn, d, z, labels, T, w, False, p, out)
    if grad is not None and d is not grad:
        grad[...] = d
    return value


def _forms(targets, dtype):
    """(labels int64 (n,) or empty, values (n, k) of dtype or empty) from targets."""
    if targets.ndim == 1:
        return np.ascontiguousarray(targets, np.int64), np.empty((0, 0), dtype)
    return _NO_LABELS, np.ascontiguousarray(targets, dtype)


_NO_LABELS = np.empty(0, np.int64)
_NO_WEIGHTS = np.empty(0, np.float64)


def softmax(out, logits):
    """Row-wise softmax of logits (n, k) into out (n, k)."""
    _softmax(out, logits)


def sigmoid(out, x):
    """Elementwise stable logistic function; out, x (n, k)."""
    _sigmoid(out, x)


# -- sweeps over samples lo..hi-1 of a batch of weight W: class-major views z_t (k, m) ------
# wr float64 (m,): the rows' weights (ones without weights); each returns the weighted sum
# of its rows' losses (float64, before the division by W and, for pointwise losses, k) and
# writes the gradient of the batch's loss into d_t[:, lo:hi].
@inline_copy
def _scales(wr, lo, hi, W, dtype):
    """f(w_r / W) per row, formed in float64 and rounded once: without weights exactly
    f(1) / f(n), the unweighted mean's scale (a double rounding of a quotient from
    float64 to float32 is innocuous)."""
    f = dtype.type
    scale = np.empty(hi - lo, dtype)
    for r in range(hi - lo):
        scale[r] = f(wr[lo + r] / W)
    return scale


@inline_copy
def _exp_sums(d_t, z_t, lo, hi):
    """Row maxima and sums of exp(z - max) over samples lo..hi-1; d_t gets the exps."""
    top = z_t[0, lo:hi].copy()
    for j in range(1, z_t.shape[0]):
        z = z_t[j, lo:hi]
        for r in range(hi - lo):
            top[r] = max(top[r], z[r])
    total = np.zeros(hi - lo, z_t.dtype)
    for j in range(z_t.shape[0]):
        z, d = z_t[j, lo:hi], d_t[j, lo:hi]
        for r in range(hi - lo):
            e = exp(z[r] - top[r])
            d[r] = e
            total[r] += e
    return top, total


@inline_copy
def softmax_ce_cols(d_t, z_t, labels, wr, lo, hi, W):
    """Labels: sum of w (logsumexp(z) - z[label]); d = (softmax(z) - onehot) w / W."""
    top, total = _exp_sums(d_t, z_t, lo, hi)
    scale = _scales(wr, lo, hi, W, z_t.dtype)
    loss = 0.0
    for r in range(hi - lo):
        loss += wr[lo + r] * np.float64(
            log_of_sum(total[r]) - (z_t[labels[lo + r], lo + r] - top[r]))
    for r in range(hi - lo):
        total[r] = scale[r] / total[r]
    for j in range(z_t.shape[0]):
        d = d_t[j, lo:hi]
        for r in range(hi - lo):
            d[r] *= total[r]
    for r in range(lo, hi):
        d_t[labels[r], r] -= scale[r - lo]
    return loss


@inline_copy
def softmax_prob_cols(d_t, z_t, t_t, wr, lo, hi, W):
    """Probabilities t: sum of w sum_j t_j (logsumexp(z) - z_j); d = (softmax(z) sum(t) - t)
    w / W."""
    top, total = _exp_sums(d_t, z_t, lo, hi)
    scale = _scales(wr, lo, hi, W, z_t.dtype)
    mass = np.zeros(hi - lo, z_t.dtype)
    lse = np.empty(hi - lo, z_t.dtype)
    for r in range(hi - lo):
        lse[r] = log_of_sum(total[r])
    rows = np.zeros(hi - lo)
    for j in range(z_t.shape[0]):
        z, t = z_t[j, lo:hi], t_t[j, lo:hi]
        for r in range(hi - lo):
            mass[r] += t[r]
            rows[r] += np.float64(t[r] * (lse[r] - (z[r] - top[r])))
    loss = 0.0
    for r in range(hi - lo):
        loss += wr[lo + r] * rows[r]
        total[r] = scale[r] * mass[r] / total[r]
    for j in range(z_t.shape[0]):
        d, t = d_t[j, lo:hi], t_t[j, lo:hi]
        for r in range(hi - lo):
            d[r] = d[r] * total[r] - t[r] * scale[r]
    return loss


def VALUE(z, t, p, f):
    """Placeholder: the unit's ``value``, bound per unit by :func:`loss_function`."""
    raise NotImplementedError("runs only in a per-unit copy")


def GRAD(z, t, p, f):
    """Placeholder: the unit's ``grad``, bound per unit by :func:`loss_function`."""
    raise NotImplementedError("runs only in a per-unit copy")


def PREDICTION(z, p, f):
    """Placeholder: an r2 unit's ``prediction``, bound per unit by :func:`loss_function`."""
    raise NotImplementedError("runs only in a per-unit copy")


def _entries_chunk(d_t, z_t, labels, t_t, wr, lo, hi, W, p):
    """A pointwise unit over samples lo..hi-1: sum of w l over entries; d = l' w / (W k)."""
    f = z_t.dtype.type
    k = z_t.shape[0]
    scale = _scales(wr, lo, hi, W * k, z_t.dtype)
    loss = 0.0
    for j in range(k):
        z, t, d = z_t[j, lo:hi], t_t[j, lo:hi], d_t[j, lo:hi]
        for r in range(hi - lo):
            loss += wr[lo + r] * np.float64(VALUE(z[r], t[r], p, f))
            d[r] = GRAD(z[r], t[r], p, f) * scale[r]
    return loss


def _labels_chunk(d_t, z_t, labels, t_t, wr, lo, hi, W, p):
    return softmax_ce_cols(d_t, z_t, labels, wr, lo, hi, W)


def _probabilities_chunk(d_t, z_t, labels, t_t, wr, lo, hi, W, p):
    return softmax_prob_cols(d_t, z_t, t_t, wr, lo, hi, W)


def CHUNK_SWEEP(d_t, z_t, labels, t_t, wr, lo, hi, W, p):
    """Placeholder: the unit's sweep over a chunk of samples, bound per copy."""
    raise NotImplementedError("runs only in a per-unit copy")


# -- metric sums (``metric_sum``) of samples 0..m-1, rows weighted by wr ------------------
@inline_copy
def _argmax(z_t, m):
    """The first maximum's index of each of columns 0..m-1 of z_t (k, >= m)."""
    top = z_t[0, :m].copy()
    best = np.zeros(m, np.int64)
    for j in range(1, z_t.shape[0]):
        z = z_t[j, :m]
        for r in range(m):
            above = z[r] > top[r]
            best[r] = j if above else best[r]
            top[r] = z[r] if above else top[r]
    return best


def _labels_hits(z_t, labels, t_t, wr, m, p):
    best = _argmax(z_t, m)
    total = 0.0
    for r in range(m):
        total += wr[r] if best[r] == labels[r] else 0.0
    return total


def _probabilities_hits(z_t, labels, t_t, wr, m, p):
    best, truth = _argmax(z_t, m), _argmax(t_t, m)
    total = 0.0
    for r in range(m):
        total += wr[r] if best[r] == truth[r] else 0.0
    return total


def _sign_hits(z_t, labels, t_t, wr, m, p):
    half, zero = t_t.dtype.type(0.5), z_t.dtype.type(0)
    total = 0.0
    for j in range(z_t.shape[0]):
        z, t = z_t[j, :m], t_t[j, :m]
        for r in range(m):
            total += wr[r] if (z[r] > zero) == (t[r] >= half) else 0.0
    return total


def _squared_errors(z_t, labels, t_t, wr, m, p):
    f = z_t.dtype.type
    total = 0.0
    for j in range(z_t.shape[0]):
        z, t = z_t[j, :m], t_t[j, :m]
        for r in range(m):
            e = np.float64(PREDICTION(z[r], p, f)) - np.float64(t[r])
            total += wr[r] * (e * e)
    return total


def METRIC_SUM(z_t, labels, t_t, wr, m, p):
    """Placeholder: the unit's metric sweep, bound per copy."""
    raise NotImplementedError("runs only in a per-unit copy")


def _batch_template(d_t, z_t, labels, t_t, wr, p, out):
    """The batch's loss, the weighted mean row loss (float64), its gradient into d_t and
    its metric sum into out[0]; a batch of weight 0 (its weights' sum, of either sign) has
    loss 0 and a zero gradient."""
    k, m = z_t.shape
    W = 0.0
    for r in range(m):
        W += wr[r]
    if W == 0.0:
        for j in range(k):
            for r in range(m):
                d_t[j, r] = 0
        out[0] = 0.0
        return 0.0
    per_chunk = max(1, CHUNK // max(k, 1))
    total = 0.0
    for lo in range(0, m, per_chunk):
        total += CHUNK_SWEEP(d_t, z_t, labels, t_t, wr, lo, min(m, lo + per_chunk), W, p)
    out[0] = METRIC_SUM(z_t, labels, t_t, wr, m, p)
    return total / (W * k) if POINTWISE else total / W


def BATCH(d_t, z_t, labels, t_t, wr, p, out):
    """Placeholder: the unit's copy of the batch template."""
    raise NotImplementedError("runs only in a per-unit copy")


def _transposed_views(d_at, z_at, m, k):
    return carray(d_at, (k, m)), carray(z_at, (k, m))


def _row_major_views(d_at, z_at, m, k):
    return carray(d_at, (m, k)).T, carray(z_at, (m, k)).T


def VIEWS(d_at, z_at, m, k):
    """Placeholder: the layout's class-major views (k, m) of d and z, bound per copy."""
    raise NotImplementedError("runs only in a per-unit copy")


def _loss_template(d_at, z_at, labels_at, t_at, w_at, m, k, weighted, p, out_at):
    """The C-callable loss of one unit in one layout and target form: the arrays arrive
    as pointers (see :func:`_loss_signature`); d and z (m, k) or (k, m) (the copy's
    layout), C order; labels int64 (m,) or targets (m, k), C order (the copy's form);
    weights float64 (m,) if ``weighted``; out float64 (1,) gets the metric sum."""
    out = carray(out_at, (1,))
    labels = carray(labels_at, (m if LABELS else 0,))
    T = carray(t_at, (0 if LABELS else m, k))
    wr = np.ones(m)
    if weighted:
        wr[:] = carray(w_at, (m,))
    d_t, z_t = VIEWS(d_at, z_at, m, k)
    return BATCH(d_t, z_t, labels, T.T, wr, p, out)


LABELS = True  # placeholder: whether the copy takes labels (else (m, k) targets)
POINTWISE = True  # placeholder: a pointwise unit's (its row loss is the mean of k entries)


def _loss_signature(dtype):
    real = types.CPointer(numba.from_dtype(np.dtype(dtype)))
    f64, i64 = types.CPointer(types.float64), types.int64
    return types.float64(real, real, types.CPointer(i64), real, f64, i64, i64, types.boolean,
                         types.float64, f64)


def _same(z, p, f):
    return z


def variants(name: str) -> list[tuple[bool, bool]]:
    """Every (transposed, labels) a unit's function is made for: both layouts; labels and
    (m, k) targets for a unit of labels (probabilities), (m, k) targets otherwise."""
    forms = (True, False) if UNITS[name].TARGETS == "labels" else (False,)
    return [(transposed, labels) for transposed in (False, True) for labels in forms]


@functools.cache
def loss_function(name: str, dtype, transposed: bool = False, labels: bool = False):
    """The compiled loss of unit ``name`` for arrays of ``dtype`` in one layout (d and z
    (k, m) if ``transposed``, else (m, k)) and one target form (int64 labels, else (m, k)
    targets): a C function (numba ``cfunc``, cached on disk) that :func:`call_loss` and
    the driver take as an argument. Each is compiled when first used, so a run compiles
    only the loss, layout and form it trains with."""
    unit = UNITS[name]
    form = "labels" if labels else "values"
    tag = f"{name}_{np.dtype(dtype).name}_{'t' if transposed else 'rows'}_{form}"
    names = dict(LABELS=labels, POINTWISE=unit.KIND == "entries",
                 PREDICTION=inline_copy(getattr(unit, "prediction", _same)),
                 VIEWS=inline_copy(_transposed_views if transposed else _row_major_views))
    if unit.KIND == "rows":
        sweep = _labels_chunk if labels else _probabilities_chunk
    else:
        names.update(VALUE=inline_copy(unit.value), GRAD=inline_copy(unit.grad))
        sweep = _entries_chunk
    hits = {"argmax": _labels_hits if labels else _probabilities_hits, "sign": _sign_hits,
            "none": _squared_errors}[unit.HITS]
    names["CHUNK_SWEEP"] = inline_copy(bound_copy(sweep, names, f"sweep_{tag}"))
    names["METRIC_SUM"] = inline_copy(bound_copy(hits, names, f"metric_{tag}"))
    names["BATCH"] = inline_copy(bound_copy(_batch_template, names, f"batch_{tag}"))
    return cfunc(_loss_signature(dtype), **JIT)(
        bound_copy(_loss_template, names, f"loss_{tag}"))


@njit(**JIT)
def call_loss(fn, d, z, labels, T, w, transposed, p, out):
    """``fn`` (a :func:`loss_function` of the arrays' layout and form) on the arrays: the
    loss (float64), its gradient into d and the metric sum into out[0]. d, z (k, m) if
    transposed else (m, k), C order; labels (m,) or T (m, k) C order, as fn takes them;
    w float64 (m,) or empty."""
    m, k = (z.shape[1], z.shape[0]) if transposed else (z.shape[0], z.shape[1])
    return fn(d.ctypes, z.ctypes, labels.ctypes, T.ctypes, w.ctypes, m, k, w.size > 0, p,
              out.ctypes)


@njit(**JIT)
def _softmax(out, logits):
    for r in range(logits.shape[0]):
        top = logits[r, 0]
        for j in range(1, logits.shape[1]):
            top = max(top, logits[r, j])
        s = logits.dtype.type(0)
        for j in range(logits.shape[1]):
            out[r, j] = exp(logits[r, j] - top)
            s += out[r, j]
        for j in range(logits.shape[1]):
            out[r, j] /= s


@njit(**JIT)
def _sigmoid(out, x):
    one = x.dtype.type(1)
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[r, j] = stable_sigmoid(x[r, j], one)
