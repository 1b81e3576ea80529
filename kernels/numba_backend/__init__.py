"""The numba backend: fused compiled kernels for every op of the contract.

Dense layers: BLAS product + one fused pass per activation unit (``dense.py``); losses:
loss and gradient in one pass, a compiled function per loss unit (``losses.py``; the
metric sum is the reference's numpy); optimizers: one pass over the flat buffer
for every rule it compiles, the reference update for any other (``optim.py``). Training
runs in one compiled call of the driver (``driver.py``), which trains any network with
the same compiled code; anything else (an update rule it does not compile,
non-contiguous data) takes the generic loop over these ops.
"""

from .config import cache_dir, configure

configure()

from .. import loop  # noqa: E402
from . import driver  # noqa: E402  (kernels must be defined after configure())
from .dense import dense_backward, dense_forward  # noqa: E402
from .dropout import dropout_backward, dropout_forward  # noqa: E402
from .losses import loss, sigmoid, softmax  # noqa: E402
from .optim import optimizer_step  # noqa: E402
from .warmup import warm_up  # noqa: E402, F401  (the contract's compile hook)

name = "numba"
OPS = ("dense_forward", "dense_backward", "dropout_forward", "dropout_backward", "loss",
       "softmax", "sigmoid", "optimizer_step", "train_epochs")


def train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size, weights=None):
    """One compiled call of the driver, else the generic loop over ``ops``."""
    run = (driver.train_epochs if driver.takes(net, state, X, targets, weights)
           else loop.train_epochs)
    return run(ops, net, state, X, targets, orders, n_epochs, batch_size, weights)


def compiled_step(net, state, X, targets, weights=None):
    """The contract's hook for checking a compiled path: None if this backend trains (net,
    state, X, targets) with the generic loop, else ``(run, intermediates)``: ``run`` is
    ``train_epochs`` of the compiled path, ``intermediates(net, m)`` gives, after a
    one-batch call of m rows, the gathered input (m, i) and per layer the outputs, the
    pre-activation gradients dz and the kept z (or None), each (m, units)."""
    if not driver.takes(net, state, X, targets, weights):
        return None
    return driver.train_epochs, driver.intermediates


def first_run_notice():
    """One line while the compile cache holds no kernel yet (a first run compiles), else
    None; the contract's hook."""
    cache = cache_dir()
    if cache.is_dir() and next(cache.rglob("*.nbi"), None) is not None:
        return None
    return (f"numba: compiling fastnn's kernels once for this machine (cached in {cache}; "
            f"later runs load them in about a second)")


__all__ = ["name", "OPS", *OPS]
