"""The numpy reference backend: plain numpy, the definition of every op's semantics.

Its optimizer step is each rule's reference update (``kernels/optimizers/``); it trains
with the generic loop of ``kernels/loop.py``.
"""

from ..optimizers import reference_step as optimizer_step
from .dense import dense_backward, dense_forward, sigmoid
from .dropout import dropout_backward, dropout_forward
from .losses import count_correct, mse, sigmoid_bce, softmax, softmax_cross_entropy

name = "numpy"
OPS = ("dense_forward", "dense_backward", "dropout_forward", "dropout_backward",
       "softmax_cross_entropy", "sigmoid_bce", "mse",
       "count_correct", "softmax", "sigmoid", "optimizer_step")

__all__ = ["name", "OPS", *OPS]
