"""The numba backend: fused compiled kernels for every op of the contract.

Dense layers: BLAS product + one fused pass (``dense.py``); losses: loss and gradient in
one pass (``losses.py``); optimizers: one pass over the flat buffer for every rule it
compiles, the reference update for any other (``optim.py``); small networks: the whole
training run in one compiled call (``small.py``); larger ones use the generic loop over
these ops, with workspaces reused across batches.
"""

from .config import configure

configure()

from . import small  # noqa: E402  (kernels must be defined after configure())
from .dense import dense_backward, dense_forward  # noqa: E402
from .losses import (count_correct, mse, sigmoid, sigmoid_bce, softmax,  # noqa: E402
                     softmax_cross_entropy)
from .optim import optimizer_step  # noqa: E402
from .. import loop  # noqa: E402

name = "numba"
OPS = ("dense_forward", "dense_backward", "softmax_cross_entropy", "sigmoid_bce", "mse",
       "count_correct", "softmax", "sigmoid", "optimizer_step", "train_epochs")


def train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size):
    """One compiled call for small nets (``small.py``), else the generic loop over ``ops``."""
    if small.takes(net, state, X):
        return small.train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size)
    return loop.train_epochs(ops, net, state, X, targets, orders, n_epochs, batch_size)


__all__ = ["name", "OPS", *OPS]
