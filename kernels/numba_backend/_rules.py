"""Loss codes and the stable sigmoid shared by the numba loss kernels (activations are
units: ``kernels/activations``, specialised per unit in ``dense.py``)."""

from ..scalar import exp
from .config import inline

SOFTMAX_CE, SIGMOID_BCE, MSE = 0, 1, 2
LOSS_CODES = {"softmax_cross_entropy": SOFTMAX_CE, "sigmoid_bce": SIGMOID_BCE, "mse": MSE}


@inline
def stable_sigmoid(z, one):
    """1/(1+e) for z >= 0, e/(1+e) else, with e = exp(-|z|): no overflow."""
    e = exp(-abs(z))
    return (one if z >= 0 else e) / (one + e)
