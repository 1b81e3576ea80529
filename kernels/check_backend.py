"""The check backend: every op runs on the numba backend AND on the numpy reference.

The numba results are compared with the reference within the derived tolerances of
``tolerances.py``; a disagreement raises BackendMismatchError naming the op, the shapes
and the max abs/rel difference. Otherwise the numba results are what the caller gets.
``train_epochs`` is the generic loop over these checked ops, so every op of every step is
compared (the numba backend's one-call path for small nets is covered by the tests).
It is slow by design: a tool to validate the fast backend on your machine and data.
"""

from __future__ import annotations

import sys

import numpy as np

from ..errors import BackendMismatchError
from . import loop, numba_backend as fast, numpy_backend as ref, tolerances as tol

name = "check"


def _copy(a):
    return a.copy() if isinstance(a, np.ndarray) else a


def _shapes(**arrays):
    return ", ".join(f"{key} {a.shape} {a.dtype}" for key, a in arrays.items()
                     if isinstance(a, np.ndarray))


def compared(op: str, shapes: str, checks) -> list[dict]:
    """Rows ``{op, output, shapes, max_abs, max_rel, headroom, ok}``, one per output in
    ``checks``: a list of (output name, numba value, reference value, atol, rtol)."""
    rows = []
    for output, got, want, atol, rtol in checks:
        result = tol.compare(got, want, atol, rtol)
        rows.append({"op": op, "output": output, "shapes": shapes, **result})
    return rows


def _raise_on_mismatch(rows) -> None:
    for row in rows:
        if not row["ok"]:
            raise BackendMismatchError(
                "check backend: " + tol.report(f"numba {row['op']} vs the numpy reference, "
                                               f"{row['output']} ({row['shapes']})", row))


def run_dense_forward(out, x, W, b, activation):
    want = np.empty_like(out)
    ref.dense_forward(want, x, W, b, activation)
    fast.dense_forward(out, x, W, b, activation)
    atol, rtol = tol.dense_forward_tol(x, W, b, activation)
    return compared(f"dense_forward[{activation}]", _shapes(x=x, W=W, b=b),
                    [("out", out, want, atol, rtol)])


def run_dense_backward(dW, db, dx, dout, x, W, out, activation):
    tols = tol.dense_backward_tol(dout, x, W, activation)
    want = [_copy(a) for a in (dW, db, dx, dout)]
    ref.dense_backward(*want, x, W, out, activation)
    fast.dense_backward(dW, db, dx, dout, x, W, out, activation)
    checks = [(key, got, w, *tols[key]) for key, got, w in
              (("dW", dW, want[0]), ("db", db, want[1]), ("dx", dx, want[2]),
               ("dz", dout, want[3])) if got is not None]
    return compared(f"dense_backward[{activation}]", _shapes(dout=dout, x=x, W=W), checks)


def run_loss(op, grad, logits, targets):
    """softmax_cross_entropy, sigmoid_bce or mse on both backends; returns (rows, loss)."""
    loss_atol, (grad_atol, grad_rtol) = getattr(tol, f"{op}_tol")(logits, targets)
    want_grad = _copy(grad)
    want = getattr(ref, op)(want_grad, logits, targets)
    got = getattr(fast, op)(grad, logits, targets)
    checks = [("loss", got, want, loss_atol, 0.0)]
    if grad is not None:
        checks.append(("gradient", grad, want_grad, grad_atol, grad_rtol))
    return compared(op, _shapes(logits=logits, targets=targets), checks), got


def run_count_correct(logits, targets, loss):
    want = ref.count_correct(logits, targets, loss)
    got = fast.count_correct(logits, targets, loss)
    return compared("count_correct", _shapes(logits=logits), [("count", got, want, 0, 0)]), got


def run_transform(op, out, x):
    """softmax or sigmoid on both backends; out may be x (the tolerance is taken first)."""
    atol, rtol = getattr(tol, f"{op}_tol")(x)
    want = np.empty_like(out)
    getattr(ref, op)(want, x)
    getattr(fast, op)(out, x)
    return compared(op, _shapes(x=x), [("out", out, want, atol, rtol)])


def run_sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay,
                 bounds=None):
    before = {"p": params.copy(), "v": velocity.copy(), "g": grads.copy()}
    want = [a.copy() for a in (params, velocity, grads)]
    ok_ref = ref.sgd_step(*want, lr, momentum, weight_decay, nesterov, n_decay)
    ok = fast.sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay,
                       bounds)
    zero = np.zeros(params.shape)
    err = tol.sgd_error_step({"p": zero, "v": zero}, before["p"], before["v"], before["g"],
                             lr, momentum, weight_decay, nesterov, n_decay, params.dtype)
    checks = [("applied", ok, ok_ref, 0, 0)]
    if ok_ref:
        checks += [("params", params, want[0], 2 * tol.SAFETY * err["p"] + tol.floor(params.dtype), 0),
                   ("velocity", velocity, want[1], 2 * tol.SAFETY * err["v"] + tol.floor(params.dtype), 0)]
    return compared("sgd_step", _shapes(params=params), checks), ok


def run_adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay,
                  bounds=None):
    before = [a.copy() for a in (params, m, v, grads)]
    want = [a.copy() for a in (params, m, v, grads)]
    ok_ref = ref.adam_step(*want, step, lr, beta1, beta2, eps, weight_decay, n_decay)
    ok = fast.adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay,
                        bounds)
    zero = np.zeros(params.shape)
    err = tol.adam_error_step({"p": zero, "m": zero, "v": zero}, *before, step, lr, beta1,
                              beta2, eps, weight_decay, n_decay, params.dtype)
    floor = tol.floor(params.dtype)
    checks = [("applied", ok, ok_ref, 0, 0)]
    if ok_ref:
        checks += [(name, got, w, 2 * tol.SAFETY * err[key] + floor, 0)
                   for name, key, got, w in (("params", "p", params, want[0]),
                                             ("m", "m", m, want[1]), ("v", "v", v, want[2]))]
    return compared("adam_step", _shapes(params=params), checks), ok


# -- the contract's ops: run both, raise on disagreement, return numba's results ------------
def dense_forward(out, x, W, b, activation):
    _raise_on_mismatch(run_dense_forward(out, x, W, b, activation))


def dense_backward(dW, db, dx, dout, x, W, out, activation):
    _raise_on_mismatch(run_dense_backward(dW, db, dx, dout, x, W, out, activation))


def softmax_cross_entropy(dlogits, logits, labels):
    rows, loss = run_loss("softmax_cross_entropy", dlogits, logits, labels)
    _raise_on_mismatch(rows)
    return loss


def sigmoid_bce(dlogits, logits, targets):
    rows, loss = run_loss("sigmoid_bce", dlogits, logits, targets)
    _raise_on_mismatch(rows)
    return loss


def mse(dpred, pred, targets):
    rows, loss = run_loss("mse", dpred, pred, targets)
    _raise_on_mismatch(rows)
    return loss


def count_correct(logits, targets, loss):
    rows, count = run_count_correct(logits, targets, loss)
    _raise_on_mismatch(rows)
    return count


def softmax(out, logits):
    _raise_on_mismatch(run_transform("softmax", out, logits))


def sigmoid(out, x):
    _raise_on_mismatch(run_transform("sigmoid", out, x))


def sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov, n_decay,
             bounds=None):
    rows, ok = run_sgd_step(params, velocity, grads, lr, momentum, weight_decay, nesterov,
                            n_decay, bounds)
    _raise_on_mismatch(rows)
    return ok


def adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay, n_decay,
              bounds=None):
    rows, ok = run_adam_step(params, m, v, grads, step, lr, beta1, beta2, eps, weight_decay,
                             n_decay, bounds)
    _raise_on_mismatch(rows)
    return ok


def train_epochs(net, opt, X, targets, orders, n_epochs, batch_size):
    """The generic loop over the checked ops above."""
    return loop.train_epochs(sys.modules[__name__], net, opt, X, targets, orders, n_epochs,
                             batch_size)
