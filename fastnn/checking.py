"""``fastnn check``: the numba backend against the numpy reference, on this machine.

Runs every op of the kernel contract on both backends over a fixed set of cases (the
MNIST net's shapes, odd and one-unit shapes, batch 1, non-contiguous and Fortran-ordered
inputs, extreme logits, both dtypes) and prints one row per output compared: the max
abs and rel difference, how much of the derived tolerance it used, pass or fail.
"""

from __future__ import annotations

import itertools

import numpy as np

from .kernels import check_backend as check
from .kernels.activations import resolve
from .kernels.contract import ACTIVATIONS
from .kernels.dropout import step_key as dropout_key
from .kernels.losses import UNITS as LOSS_UNITS
from .optimizers import OPTIMIZERS, SGD

DTYPES = (np.float32, np.float64)
DENSE_SHAPES = ((128, 784, 256), (128, 256, 128), (128, 128, 10), (1, 3, 1), (7, 5, 3),
                (33, 1, 17))


def _layouts(a):
    """The same values C-ordered, Fortran-ordered and as a strided (non-contiguous) view."""
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
    wide[:, ::2] = a
    return {"C": a, "F": np.asfortranarray(a), "strided": wide[:, ::2]}


def _output_of(rng, activation, shape, dtype):
    """(y, z): a layer's output for standard normal z, and z if the unit keeps it."""
    z = rng.standard_normal(shape).astype(dtype)
    unit, param = resolve(activation)
    out = np.empty_like(z)
    unit.forward(out, z, param)
    return out, (z if unit.USES == "z" else None)


def cases(rng: np.random.Generator):
    """Yield ``(description, rows)`` for every case; rows as from ``check_backend``."""
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        for n, i, o in DENSE_SHAPES:
            x = rng.standard_normal((n, i)).astype(dtype)
            W = (rng.standard_normal((i, o)) / np.sqrt(i)).astype(dtype)
            b = rng.standard_normal(o).astype(dtype)
            for activation in ACTIVATIONS:
                for layout, xs in _layouts(x).items():
                    if layout != "C" and activation != "relu":
                        continue
                    out = np.empty((n, o), dtype)
                    keep = resolve(activation)[0].USES == "z"
                    yield (name, f"{n}x{i}->{o} {layout}",
                           check.run_dense_forward(out, xs, W, b, activation,
                                                   np.empty_like(out) if keep else None))
                y, z = _output_of(rng, activation, (n, o), dtype)
                dout = rng.standard_normal((n, o)).astype(dtype)
                for first in (True, False):
                    dW, db = np.empty_like(W), np.empty_like(b)
                    dx = None if first else np.empty_like(x)
                    yield (name, f"{n}x{i}->{o}{' no dx' if first else ''}",
                           check.run_dense_backward(dW, db, dx, dout.copy(), x, W, y,
                                                    activation, z))
        for (n, u), rate in (((128, 256), 0.2), ((7, 5), 0.5), ((1, 3), 0.9)):
            x = rng.standard_normal((n, u)).astype(dtype)
            key = dropout_key(int(rng.integers(2**63)), 1, 0)
            yield (name, f"{n}x{u} rate {rate:g}",
                   check.run_dropout_forward(np.empty_like(x), x, rate, key))
            yield name, f"{n}x{u} rate {rate:g}", check.run_dropout_backward(x, rate, key)
        for n, k, scale in ((128, 10, 3.0), (1, 2, 1.0), (64, 10, 1e4), (50, 7, 80.0)):
            logits = (rng.standard_normal((n, k)) * scale).astype(dtype)
            labels = rng.integers(0, k, n)
            label = f"{n}x{k} |z|~{scale:g}"
            targets = rng.random((n, k)).astype(dtype)
            weights = rng.random(n)
            for spec, unit in LOSS_UNITS.items():
                forms = (labels, targets) if unit.TARGETS == "labels" else (targets,)
                z = np.minimum(logits, 80) if unit.PREDICT == "exp" else logits
                for t, w in itertools.product(forms, (None, weights)):
                    yield name, label, check.run_loss(spec, np.empty_like(z), z, t, w)[0]
                    yield name, label, check.run_metric_sum(z, t, spec, w)[0]
            yield name, label, check.run_transform("softmax", np.empty_like(logits), logits)
            yield name, label, check.run_transform("sigmoid", np.empty_like(logits), logits)
        for p, n_decay in ((235_146, 234_752), (37, 30)):
            params = rng.standard_normal(p).astype(dtype)
            grads = (rng.standard_normal(p) * 0.1).astype(dtype)
            for label, optimizer, step in _optimizer_cases():
                state = optimizer.state(p, dtype)
                state.step = step
                for slot in state.slots:  # moments are >= 0 for v, any sign for the others
                    slot[...] = np.abs(rng.standard_normal(p) * 0.01).astype(dtype)
                rows, _ = check.run_optimizer_step(params.copy(), grads.copy(), state, n_decay,
                                                   optimizer.lr)
                yield name, f"p={p} {label}", rows


def _optimizer_cases():
    """(label, optimizer, steps already taken) for every rule and its variants."""
    for momentum, nesterov, wd in ((0.0, False, 0.0), (0.9, False, 5e-4), (0.9, True, 0.0)):
        yield (f"sgd mu={momentum:g}{' nesterov' if nesterov else ''} wd={wd:g}",
               SGD(lr=0.05, momentum=momentum, nesterov=nesterov, weight_decay=wd), 0)
    for rule, cls in OPTIMIZERS.items():
        if rule != "sgd":
            for step in (0, 99):
                yield f"{rule} step={step + 1}", cls(lr=1e-3, weight_decay=1e-4), step
    for rule, cls in OPTIMIZERS.items():  # gradients ~0.1: the norm and some values clip
        yield (f"{rule} clipnorm=1 clipvalue=0.2",
               cls(lr=1e-3, clipnorm=1.0, clipvalue=0.2), 0)


def run(seed: int = 0, out=print) -> bool:
    """Print the comparison table; True if every row passed."""
    header = (f"{'op':<28} {'output':<9} {'dtype':<8} {'case':<26} {'max abs':>10} "
              f"{'max rel':>10} {'tol used':>9}  result")
    out(header)
    out("-" * len(header))
    n_rows = n_failed = 0
    for dtype, case, rows in cases(np.random.default_rng(seed)):
        for row in rows:
            n_rows += 1
            n_failed += not row["ok"]
            out(f"{row['op']:<28} {row['output']:<9} {dtype:<8} {case:<26} "
                f"{row['max_abs']:>10.2e} {row['max_rel']:>10.2e} "
                f"{100 * row['headroom']:>8.1f}%  {'pass' if row['ok'] else 'FAIL'}")
    out(f"{n_rows - n_failed} passed, {n_failed} failed")
    return n_failed == 0
