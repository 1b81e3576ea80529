"""The numpy reference backend: plain numpy, the definition of every op's semantics."""

import sys

from .. import loop
from .dense import dense_backward, dense_forward, sigmoid
from .losses import count_correct, mse, sigmoid_bce, softmax, softmax_cross_entropy
from .optim import adam_step, sgd_step

name = "numpy"


def train_epochs(net, opt, X, targets, orders, n_epochs, batch_size):
    """The generic loop of ``kernels/loop.py`` over this backend's ops."""
    return loop.train_epochs(sys.modules[__name__], net, opt, X, targets, orders, n_epochs,
                             batch_size)


__all__ = ["name", "dense_forward", "dense_backward", "softmax_cross_entropy", "sigmoid_bce",
           "mse", "count_correct", "softmax", "sigmoid", "sgd_step", "adam_step",
           "train_epochs"]
