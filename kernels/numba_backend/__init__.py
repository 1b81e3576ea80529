"""The numba backend: fused compiled kernels for every op of the contract.

Dense layers: BLAS product + one fused pass (``dense.py``); losses: loss and gradient in
one pass (``losses.py``); optimizers: one pass over the flat buffer for every rule it
compiles, the reference update for any other (``optim.py``). Training runs in one
compiled call: for small networks with activations transposed so that loops run over the
batch (``small.py``), for larger ones the generic loop's step with BLAS products
(``fused.py``); anything else (an update rule it does not compile, non-contiguous data)
takes the generic loop over these ops.
"""

from .config import configure

configure()

from .. import loop  # noqa: E402
from . import fused, small  # noqa: E402  (kernels must be defined after configure())
from .dense import dense_backward, dense_forward  # noqa: E402
from .losses import count_correct, mse, sigmoid, sigmoid_bce, softmax, softmax_cross_entropy  # noqa: E402
from .optim import optimizer_step  # noqa: E402

name = "numba"
OPS = ("dense_forward", "dense_backward", "softmax_cross_entropy", "sigmoid_bce", "mse",
       "count_correct", "softmax", "sigmoid", "optimizer_step", "train_epochs")


def train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size):
    """One compiled call (``small.py`` or ``fused.py``), else the generic loop over ``ops``."""
    path = compiled_path(net, state, X, targets)
    run = loop.train_epochs if path is None else path.train_epochs
    return run(ops, net, state, X, targets, orders, n_epochs, batch_size)


def compiled_path(net, state, X, targets):
    """The module whose one compiled call trains this, or None for the generic loop."""
    if small.takes(net, state, X):
        return small
    if fused.takes(net, state, X, targets):
        return fused
    return None


__all__ = ["name", "OPS", *OPS]
