"""The stable sigmoid of the numba backend's prediction transform (activations and
losses are units: ``kernels/activations``, ``kernels/losses``)."""

from ..scalar import exp
from .config import inline


@inline
def stable_sigmoid(z, one):
    """1/(1+e) for z >= 0, e/(1+e) else, with e = exp(-|z|): no overflow."""
    e = exp(-abs(z))
    return (one if z >= 0 else e) / (one + e)
