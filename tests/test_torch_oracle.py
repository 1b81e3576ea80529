"""Activations, losses, RMSprop and gradient clipping of every rule against PyTorch
autograd, ``torch.optim`` and ``torch.nn.utils.clip_grad_*_``, in float64, on every
backend (skipped, with the reason, where PyTorch is not installed: it is an oracle here,
not a dependency).

Bounds: every quantity is a short float64 computation on both sides (a dense layer of 8
inputs, an activation, a few optimizer steps), so the two agree to a few hundred float64
units of the values' magnitude; ``assert_close`` below allows 1e-12 relative to the
largest magnitude, ~4500 u, for the erf/tanh/exp of different libms and the sums'
orders.
"""

import dataclasses

import numpy as np
import pytest

import fastnn as fnn
from fastnn.kernels.activations import UNITS, resolve
from fastnn.kernels.losses import UNITS as LOSS_UNITS, resolve as resolve_loss

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests; "
                            "pip install torch to run them")
F = torch.nn.functional

TOL = 1e-12
TORCH_ACTIVATIONS = {  # one entry per activation unit: the same function in PyTorch
    "identity": lambda z, p: z,
    "relu": lambda z, p: F.relu(z),
    "tanh": lambda z, p: torch.tanh(z),
    "sigmoid": lambda z, p: torch.sigmoid(z),
    "leaky_relu": lambda z, p: F.leaky_relu(z, p),
    "gelu": lambda z, p: F.gelu(z, approximate="tanh" if p else "none"),
}
SPECS = [*UNITS, "leaky_relu(0.2)", "gelu(tanh)"]
TORCH_LOSSES = {  # one entry per loss unit: each row's loss in PyTorch (reduction="none")
    "softmax_cross_entropy": lambda z, t, p: F.cross_entropy(z, t, reduction="none"),
    "sigmoid_bce": lambda z, t, p: F.binary_cross_entropy_with_logits(
        z, t, reduction="none").mean(1),
    "mse": lambda z, t, p: F.mse_loss(z, t, reduction="none").mean(1),
    "huber": lambda z, t, p: F.huber_loss(z, t, reduction="none", delta=p).mean(1),
    "mae": lambda z, t, p: F.l1_loss(z, t, reduction="none").mean(1),
    "poisson": lambda z, t, p: F.poisson_nll_loss(z, t, log_input=True, full=False,
                                                  reduction="none").mean(1),
}
LOSS_SPECS = [*LOSS_UNITS, "huber(0.3)"]


def assert_close(name, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max()))
    assert np.abs(got - want).max() <= TOL * scale, (name, np.abs(got - want).max())


def test_every_activation_unit_has_a_torch_counterpart():
    assert set(TORCH_ACTIVATIONS) == set(UNITS)


@pytest.mark.parametrize("spec", SPECS)
def test_dense_layer_and_its_gradients_match_torch_autograd(backend, spec):
    ops = fnn.get_backend()
    unit, param = resolve(spec)
    rng = np.random.default_rng(0)
    n, i, o = 16, 8, 5
    x, W, b = rng.standard_normal((n, i)), rng.standard_normal((i, o)), rng.standard_normal(o)
    R = rng.standard_normal((n, o))
    out, z = np.empty((n, o)), np.empty((n, o)) if unit.USES == "z" else None
    ops.dense_forward(out, x, W, b, spec, z)
    dW, db, dx, dout = np.empty((i, o)), np.empty(o), np.empty((n, i)), R.copy()
    ops.dense_backward(dW, db, dx, dout, x, W, out, spec, z)

    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    yt = TORCH_ACTIVATIONS[unit.NAME](xt @ Wt + bt, param)
    (yt * torch.tensor(R)).sum().backward()
    assert_close("out", out, yt.detach().numpy())
    for name, got, want in (("dW", dW, Wt.grad), ("db", db, bt.grad), ("dx", dx, xt.grad)):
        assert_close(name, got, want.numpy())


def test_every_loss_unit_has_a_torch_counterpart():
    assert set(TORCH_LOSSES) == set(LOSS_UNITS)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("spec, form", [
    (spec, form) for spec in LOSS_SPECS for form in ("labels", "probabilities", "values")
    if (form == "values") != (resolve_loss(spec)[0].TARGETS == "labels")])
def test_loss_and_its_gradient_match_torch_autograd(backend, spec, form, weighted):
    """The weighted mean of PyTorch's per-row losses, sum(w l) / sum(w) (the plain mean
    without weights: PyTorch's reduction="mean"), and its gradient by autograd."""
    unit, param = resolve_loss(spec)
    ops = fnn.get_backend()
    rng = np.random.default_rng(1)
    n, k = 12, 4
    z = rng.standard_normal((n, k)) * 2
    t = {"labels": rng.integers(0, k, n), "probabilities": rng.uniform(0, 1, (n, k)),
         "values": rng.uniform(0, 1, (n, k)) * (4 if unit.PREDICT == "exp" else 1)}[form]
    w = rng.uniform(0, 2, n) if weighted else None
    d = np.empty_like(z)
    loss = ops.loss(d, z, t, spec, w)
    zt = torch.tensor(z, requires_grad=True)
    rows = TORCH_LOSSES[unit.NAME](zt, torch.tensor(t), param)
    want = rows.mean() if w is None else (rows * torch.tensor(w)).sum() / w.sum()
    want.backward()
    assert_close("loss", loss, want.item())
    assert_close("gradient", d, zt.grad.numpy())


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9}, {"centered": True},
                                     {"momentum": 0.5, "centered": True, "weight_decay": 0.01}],
                         ids=["plain", "momentum", "centered", "all"])
def test_rmsprop_follows_torch_optim(backend, options):
    """Three epochs of four batches: fastnn's fit against ``torch.optim.RMSprop`` (weight
    decay on the weights only, as fastnn applies it)."""
    model, X, y, W, b = optimizer_problem()
    model.fit(X, y, epochs=3, batch_size=16, verbose=0, shuffle=False,
              optimizer=fnn.RMSprop(lr=0.01, **options))
    options = dict(options)
    decay = options.pop("weight_decay", 0.0)
    opt = torch.optim.RMSprop([{"params": W, "weight_decay": decay}, {"params": b}], lr=0.01,
                              **options)
    assert_close("params", model.params, torch_trained(opt, X, y, W, b))


def optimizer_problem():
    """The optimizer oracles' problem: (model, X, y, W, b), a float64 tanh net 5-7-3 on 64
    random rows and labels, and its weights and biases as torch leaves (copies)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    model = fnn.MLP([5, 7, 3], activation="tanh", dtype="float64", seed=0)
    W = [torch.tensor(w.copy(), requires_grad=True) for w in model.net.W]
    b = [torch.tensor(v.copy(), requires_grad=True) for v in model.net.b]
    return model, X, y, W, b


def torch_trained(opt, X, y, W, b, after_backward=None):
    """Three epochs of four batches of 16 with the torch optimizer ``opt`` over W and b,
    calling ``after_backward()`` between each backward pass and step; the parameters,
    flat in fastnn's order."""
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(3):
        for start in range(0, 64, 16):
            opt.zero_grad()
            logits = torch.tanh(Xt[start:start + 16] @ W[0] + b[0]) @ W[1] + b[1]
            F.cross_entropy(logits, yt[start:start + 16]).backward()
            if after_backward is not None:
                after_backward()
            opt.step()
    return np.concatenate([w.detach().numpy().ravel() for w in W]
                          + [v.detach().numpy() for v in b])


TORCH_RULES = {  # fastnn optimizer, torch.optim class and its options (weight decay apart)
    "sgd": (fnn.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
            torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True), 0.01),
    "adam": (fnn.Adam(lr=0.01, weight_decay=0.01), torch.optim.Adam, dict(lr=0.01), 0.01),
    "adamw": (fnn.AdamW(lr=0.01, weight_decay=0.05), torch.optim.AdamW, dict(lr=0.01), 0.05),
    "rmsprop": (fnn.RMSprop(lr=0.01, momentum=0.5, centered=True), torch.optim.RMSprop,
                dict(lr=0.01, momentum=0.5, centered=True), 0.0),
}
CLIPS = {"norm": dict(clipnorm=0.6), "value": dict(clipvalue=0.02),
         "both": dict(clipnorm=0.6, clipvalue=0.02)}


def test_every_rule_has_a_torch_counterpart():
    assert set(TORCH_RULES) == set(fnn.optimizers.OPTIMIZERS)


def torch_clip(params, clipnorm, clipvalue) -> bool:
    """PyTorch's clip_grad_norm_ then clip_grad_value_ (Keras's order, fastnn's); True if
    the norm was clipped. clip_grad_norm_ multiplies by c / (n + 1e-6): asked for
    c (n + 1e-6) / n, it multiplies by c / n, fastnn's and Keras's c / max(n, c) once
    n > c (and by 1 below: its factor is clamped to 1)."""
    clipped = False
    if clipnorm is not None:
        norm = float(torch.nn.utils.clip_grad_norm_(params, float("inf")))  # measures only
        torch.nn.utils.clip_grad_norm_(params, clipnorm * (norm + 1e-6) / norm)
        clipped = norm > clipnorm
    if clipvalue is not None:
        torch.nn.utils.clip_grad_value_(params, clipvalue)
    return clipped


@pytest.mark.parametrize("which", list(CLIPS))
@pytest.mark.parametrize("rule", list(TORCH_RULES))
def test_clipping_follows_torch(backend, rule, which):
    """Three epochs of four batches with clipping: fastnn's fit against PyTorch's clipping
    utilities followed by the torch optimizer (weight decay on the weights only, as fastnn
    applies it; clipping of the loss's gradient, before the decay, in both)."""
    ours, cls, options, decay = TORCH_RULES[rule]
    clips = CLIPS[which]
    model, X, y, W, b = optimizer_problem()
    model.fit(X, y, epochs=3, batch_size=16, verbose=0, shuffle=False,
              optimizer=dataclasses.replace(ours, **clips))
    opt = cls([{"params": W, "weight_decay": decay}, {"params": b, "weight_decay": 0.0}],
              **options)
    clipped = []
    want = torch_trained(opt, X, y, W, b, lambda: clipped.append(
        torch_clip(W + b, clips.get("clipnorm"), clips.get("clipvalue"))))
    if "clipnorm" in clips:
        assert 0 < sum(clipped) < len(clipped), clipped  # both sides of the norm
    assert_close("params", model.params, want)
