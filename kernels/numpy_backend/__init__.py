"""The numpy reference backend: plain numpy, the definition of every op's semantics.

Its losses are each loss unit's reference (``kernels/losses/``), its optimizer step each
rule's reference update (``kernels/optimizers/``); it trains with the generic loop of
``kernels/loop.py``.
"""

from ..optimizers import reference_step as optimizer_step
from .dense import dense_backward, dense_forward, sigmoid
from .dropout import dropout_backward, dropout_forward
from .losses import loss, metric_sum, softmax

name = "numpy"
OPS = ("dense_forward", "dense_backward", "dropout_forward", "dropout_backward", "loss",
       "metric_sum", "softmax", "sigmoid", "optimizer_step")

__all__ = ["name", "OPS", *OPS]
