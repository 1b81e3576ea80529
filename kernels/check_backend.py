"""The check backend: every op runs on the numba backend AND on the numpy reference.

The numba results are compared with the reference within the derived tolerances of
``tolerances.py``; a disagreement raises BackendMismatchError naming the op, the shapes
and the max abs/rel difference. Otherwise the numba results are what the caller gets.

Predictions compare numba's whole-network forward (one compiled call) with the reference's
layer-by-layer forward, within the bound of the layers' composed rounding errors.
Training takes the path the numba backend would take. On the generic loop every op of
every step is one of the checked ops below. On a compiled path (one call for a whole
run, which the backend announces through the contract's ``compiled_step`` hook) it runs
one batch per call and then replays each op of that step on the reference *from the
compiled path's own inputs* (its activations, its layer gradients, its parameter
gradients), so each per-op tolerance applies exactly.
It is slow by design: a tool to validate the fast backend on your machine and data.
"""

from __future__ import annotations

import numpy as np

from . import dropout, load_backend, loop, tolerances as tol
from .compare import compare, report
from .errors import BackendMismatchError
from .net import EpochStats, Net
from .optimizers import OptimizerState

name = "check"
OPS = ("dense_forward", "dense_backward", "dropout_forward", "dropout_backward", "loss",
       "metric_sum", "softmax", "sigmoid", "optimizer_step", "train_epochs",
       "network_forward")
fast, ref = load_backend("numba"), load_backend("numpy")


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
        result = compare(got, want, atol, rtol)
        rows.append({"op": op, "output": output, "shapes": shapes, **result})
    return rows


def _raise_on_mismatch(rows) -> None:
    for row in rows:
        if not row["ok"]:
            raise BackendMismatchError(
                "check backend: " + report(f"numba {row['op']} vs the numpy reference, "
                                           f"{row['output']} ({row['shapes']})", row))


def run_dense_forward(out, x, W, b, activation, z=None):
    want, want_z = np.empty_like(out), _copy(z)
    ref.dense_forward(want, x, W, b, activation, want_z)
    fast.dense_forward(out, x, W, b, activation, z)
    atol, rtol = tol.dense_forward_tol(x, W, b, activation)
    checks = [("out", out, want, atol, rtol)]
    if z is not None:
        checks.append(("z", z, want_z, *tol.dense_forward_tol(x, W, b, "identity")))
    return compared(f"dense_forward[{activation}]", _shapes(x=x, W=W, b=b), checks)


def run_dense_backward(dW, db, dx, dout, x, W, out, activation, z=None):
    tols = tol.dense_backward_tol(dout, x, W, activation)
    want = [_copy(a) for a in (dW, db, dx, dout)]
    ref.dense_backward(*want, x, W, out, activation, z)
    fast.dense_backward(dW, db, dx, dout, x, W, out, activation, z)
    checks = [(key, got, w, *tols[key]) for key, got, w in
              (("dW", dW, want[0]), ("db", db, want[1]), ("dx", dx, want[2]),
               ("dz", dout, want[3])) if got is not None]
    return compared(f"dense_backward[{activation}]", _shapes(dout=dout, x=x, W=W), checks)


def run_dropout_forward(out, x, rate, key):
    """Exact on every backend (one product by the same factor): compared bit for bit."""
    want = np.empty_like(out)
    ref.dropout_forward(want, x, rate, key)
    fast.dropout_forward(out, x, rate, key)
    return compared(f"dropout_forward({rate})", _shapes(x=x), [("out", out, want, 0, 0)])


def run_dropout_backward(d, rate, key):
    want = d.copy()
    ref.dropout_backward(want, rate, key)
    fast.dropout_backward(d, rate, key)
    return compared(f"dropout_backward({rate})", _shapes(d=d), [("d", d, want, 0, 0)])


def run_loss(spec, grad, logits, targets, weights=None):
    """The loss unit ``spec`` on both backends; returns (rows, loss)."""
    loss_atol, (grad_atol, grad_rtol) = tol.loss_tol(spec, logits, targets, weights)
    want_grad = _copy(grad)
    want = ref.loss(want_grad, logits, targets, spec, weights)
    got = fast.loss(grad, logits, targets, spec, weights)
    checks = [("loss", got, want, loss_atol, 0.0)]
    if grad is not None:
        checks.append(("gradient", grad, want_grad, grad_atol, grad_rtol))
    return compared(f"loss[{spec}]", _shapes(logits=logits, targets=targets, weights=weights),
                    checks), got


def run_metric_sum(logits, targets, spec, weights=None):
    want = ref.metric_sum(logits, targets, spec, weights)
    got = fast.metric_sum(logits, targets, spec, weights)
    atol = tol.metric_tol(spec, logits, targets, weights)
    return compared(f"metric_sum[{spec}]", _shapes(logits=logits),
                    [("sum", got, want, atol, 0)]), got


def run_transform(op, out, x):
    """softmax or sigmoid on both backends; out may be x (the tolerance is taken first)."""
    atol, rtol = getattr(tol, f"{op}_tol")(x)
    want = np.empty_like(out)
    getattr(ref, op)(want, x)
    getattr(fast, op)(out, x)
    return compared(op, _shapes(x=x), [("out", out, want, atol, rtol)])


def run_network_forward(out, x, net):
    """network_forward on both backends, numba's compiled call against the reference (the
    generic forward over numpy's ops); the non-finite row counts must agree, the logits
    within the layers' composed bound. Returns (rows, numba's count)."""
    want = np.empty_like(out)
    want_status = ref.network_forward(want, x, net)
    status = fast.network_forward(out, x, net)
    checks = [("non-finite rows", status, want_status, 0, 0)]
    if status == want_status != loop.NONFINITE_INPUT:
        checks.append(("out", out, want, *tol.network_forward_tol(x, net)))
    return compared("network_forward", _shapes(x=x, out=out), checks), status


def run_optimizer_step(params, grads, state, n_decay, lr):
    """optimizer_step on both backends (numba's in place); returns (rows, applied)."""
    slots_before = [s.copy() for s in state.slots]
    tols = tol.optimizer_step_tol(state, params, slots_before, grads, n_decay, lr)
    mirror = OptimizerState(state.rule, state.lr, state.hyper,
                            tuple(s.copy() for s in state.slots), state.step)
    want_params = params.copy()
    ok_ref = ref.optimizer_step(want_params, grads.copy(), mirror, n_decay, lr)
    ok = fast.optimizer_step(params, grads, state, n_decay, lr)
    checks = [("applied", ok, ok_ref, 0, 0)]
    if ok_ref:
        checks.append(("params", params, want_params, tols["params"], 0))
        slot_names = tol.RULES[state.rule].slot_names(**state.hyper)
        checks += [(key, got, want, tols[key], 0)
                   for key, got, want in zip(slot_names, state.slots, mirror.slots)]
    return compared(f"optimizer_step[{state.rule}]", _shapes(params=params), checks), ok


# -- the contract's ops: run both, raise on disagreement, return numba's results ------------
def dense_forward(out, x, W, b, activation, z=None):
    _raise_on_mismatch(run_dense_forward(out, x, W, b, activation, z))


def dense_backward(dW, db, dx, dout, x, W, out, activation, z=None):
    _raise_on_mismatch(run_dense_backward(dW, db, dx, dout, x, W, out, activation, z))


def dropout_forward(out, x, rate, key):
    _raise_on_mismatch(run_dropout_forward(out, x, rate, key))


def dropout_backward(d, rate, key):
    _raise_on_mismatch(run_dropout_backward(d, rate, key))


def loss(grad, z, targets, spec, weights=None):
    rows, value = run_loss(spec, grad, z, targets, weights)
    _raise_on_mismatch(rows)
    return value


def metric_sum(z, targets, spec, weights=None):
    rows, value = run_metric_sum(z, targets, spec, weights)
    _raise_on_mismatch(rows)
    return value


def softmax(out, logits):
    _raise_on_mismatch(run_transform("softmax", out, logits))


def sigmoid(out, x):
    _raise_on_mismatch(run_transform("sigmoid", out, x))


def optimizer_step(params, grads, state, n_decay, lr):
    rows, ok = run_optimizer_step(params, grads, state, n_decay, lr)
    _raise_on_mismatch(rows)
    return ok


def network_forward(ops, out, x, net):
    rows, status = run_network_forward(out, x, net)
    _raise_on_mismatch(rows)
    return status


def train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size, weights=None):
    """The path numba takes: the generic loop over the checked ops, or one of numba's
    compiled paths one batch at a time, each step replayed op by op on the reference."""
    path = fast.compiled_step(net, state, X, targets, weights)
    if path is None:
        return loop.train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size,
                                 weights)
    stats = EpochStats.empty(n_epochs)
    n = X.shape[0]
    lrs = state.learning_rates(n_epochs * loop.steps_per_epoch(n, batch_size))
    step = 0
    for epoch in range(n_epochs):
        order = np.arange(n) if orders is None else orders[epoch]
        for batch, start in enumerate(range(0, n, batch_size)):
            rows = order[start:start + batch_size]
            one = _step_checked(path, net, state, X[rows], targets[rows],
                                None if weights is None else weights[rows], float(lrs[step]))
            if one.failed_epoch >= 0:
                stats.failed_epoch, stats.failed_batch = epoch, batch
                stats.failed_what = one.failed_what
                return stats
            stats.loss_sum[epoch] += one.loss_sum[0]
            stats.correct[epoch] += one.correct[0]
            step += 1
    return stats


def _step_checked(path, net, state, x, t, w, lr) -> EpochStats:
    """One step of a compiled numba path on the rows (x, t) with weights w (or None) (x as
    stored: the path converts and scales it), then every op of it replayed on the
    reference from the path's own intermediates; raises on a mismatch."""
    m = len(x)
    before = Net(net.sizes, net.activations, net.loss, net.dtype, params=net.params.copy(),
                 dropout=net.dropout, dropout_seed=net.dropout_seed)
    t_step = state.step + 1  # the step's number: its dropout masks
    slots = tuple(s.copy() for s in state.slots)
    one_step = OptimizerState(state.rule, lr, state.hyper, state.slots, state.step)
    run, intermediates = path
    stats = run(fast, net, one_step, x, t, None, 1, m, w)
    if stats.failed_epoch >= 0:
        return stats
    state.step = one_step.step
    x, outs, dz, zs, dropped = intermediates(net, m)
    acts = [x] + outs  # (m, units), as the compiled path saw them
    inputs = [a if d is None else d for a, d in zip(acts, dropped)]  # each layer's input
    name = "compiled"
    rows = []
    for l, (W, b, act) in enumerate(zip(before.W, before.b, net.activations)):
        if dropped[l] is not None:
            want = np.empty(dropped[l].shape, net.dtype)
            ref.dropout_forward(want, np.ascontiguousarray(acts[l]), net.dropout[l],
                                net.dropout_key(t_step, l))
            rows += compared(f"{name} dropout_forward layer {l}", _shapes(x=acts[l]),
                             [("out", dropped[l], want, 0, 0)])
        want = np.empty(acts[l + 1].shape, net.dtype)
        want_z = None if zs[l] is None else np.empty_like(want)
        ref.dense_forward(want, inputs[l], W, b, act, want_z)
        rows += compared(f"{name} dense_forward[{act}] layer {l}", _shapes(x=inputs[l], W=W),
                         [("out", acts[l + 1], want, *tol.dense_forward_tol(inputs[l], W, b, act))]
                         + ([] if want_z is None else [("z", zs[l], want_z, *tol.dense_forward_tol(
                             inputs[l], W, b, "identity"))]))
    logits = np.ascontiguousarray(acts[-1])
    loss_atol, (grad_atol, grad_rtol) = tol.loss_tol(net.loss, logits, t, w)
    dout = np.empty_like(logits)
    want_loss = ref.loss(dout, logits, t, net.loss, w)
    weight = m if w is None else float(np.sum(w))
    got_loss = stats.loss_sum[0] / weight if weight else 0.0
    rows += compared(f"{name} loss[{net.loss}]", _shapes(logits=logits),
                     [("loss", got_loss, want_loss, loss_atol, 0.0)])
    rows += compared(f"{name} metric_sum[{net.loss}]", _shapes(logits=logits),
                     [("sum", stats.correct[0], ref.metric_sum(logits, t, net.loss, w),
                       tol.metric_tol(net.loss, logits, t, w), 0)])
    dout_atol = grad_atol + grad_rtol * np.abs(dout)
    for l in reversed(range(net.n_layers)):
        W, act, a_in = before.W[l], net.activations[l], np.ascontiguousarray(inputs[l])
        tols = tol.dense_backward_tol(dout, a_in, W, act)
        want = [np.empty_like(W), np.empty(W.shape[1], W.dtype),
                None if l == 0 else np.empty_like(acts[l]), dout]
        ref.dense_backward(*want, a_in, W, np.ascontiguousarray(acts[l + 1]), act,
                           None if zs[l] is None else np.ascontiguousarray(zs[l]))
        checks = [("dz", dz[l], want[3], dout_atol + tols["dz"][0], 0.0)]
        # the parameter gradients from the compiled step's own dz: exact inputs for the product
        grad_tols = tol.dense_backward_tol(dz[l], a_in, W, "identity")
        checks += [("dW", net.dW[l], a_in.T.astype(np.float64) @ dz[l], *grad_tols["dW"]),
                   ("db", net.db[l], dz[l].astype(np.float64).sum(axis=0), *grad_tols["db"])]
        rows += compared(f"{name} dense_backward[{act}] layer {l}",
                         _shapes(dout=dout, x=a_in, W=W), checks)
        if l:  # the next layer down starts from the compiled step's own dz
            dout = np.ascontiguousarray(dz[l] @ W.T.astype(np.float64)).astype(net.dtype)
            dout_atol = tol.dense_backward_tol(dz[l], a_in, W, "identity")["dx"][0]
            if dropped[l] is not None:  # the mask's product: the error times its factor,
                ref.dropout_backward(dout, net.dropout[l], net.dropout_key(t_step, l))
                factor = float(dropout.scale(net.dropout[l], np.float64))  # and one rounding more
                dout_atol = dout_atol * factor + np.finfo(net.dtype).eps / 2 * np.abs(dout)
    mirror = OptimizerState(state.rule, lr, state.hyper, tuple(s.copy() for s in slots),
                            state.step - 1)
    tols = tol.optimizer_step_tol(mirror, before.params, slots, net.grads, net.n_weights, lr)
    want_params = before.params.copy()
    ref.optimizer_step(want_params, net.grads.copy(), mirror, net.n_weights, lr)
    rows += compared(f"{name} optimizer_step[{state.rule}]", _shapes(params=net.params),
                     [("params", net.params, want_params, tols["params"], 0)]
                     + [(key, got, want, tols[key], 0) for key, got, want in
                        zip(tol.RULES[state.rule].slot_names(**state.hyper), state.slots,
                            mirror.slots)])
    _raise_on_mismatch(rows)
    return stats
