"""Gradient clipping, shared by every update rule: the reference and its error bound.

Two hyper-parameters every rule takes after its own (``CLIP``, in this order in a state's
hyper-parameters and in the compiled backends' hyper-parameter array):

- ``clipnorm`` c: the gradient's global L2 norm n = ||g|| over the whole flat buffer,
  accumulated in float64, and g <- g * c / max(n, c) (PyTorch's ``clip_grad_norm_``
  without its 1e-6 added to n; Keras's ``global_clipnorm``). The factor is formed in
  float64 and rounded once to the buffers' dtype; when n <= c it is exactly 1;
- ``clipvalue`` v: every entry clamped to [-v, v] (v rounded to the dtype).

With both, the norm is clipped first, then the values (Keras's order). None (0.0 in the
array) turns one off. A gradient with a NaN or infinite entry fails the step (nothing is
written), clipped or not: clipping never turns a non-finite gradient into a finite one
(PyTorch and Keras clamp an infinite entry to v). So does a float64 gradient whose squared
norm overflows float64 (a norm above ~1.3e154): its factor would be 0.
"""

import math

import numpy as np

from ..rounding import gamma, unit_roundoff

CLIP = ("clipnorm", "clipvalue")


def encoded(value) -> float:
    """A clipping hyper-parameter for the float64 array: None (off) as 0.0."""
    return 0.0 if value is None else float(value)


def norm_factor(grads, clipnorm) -> float:
    """float64 c / max(||g||, c), ||g|| accumulated in float64; NaN if the norm is not
    finite."""
    g = np.asarray(grads, np.float64).ravel()
    norm = math.sqrt(np.dot(g, g))
    return clipnorm / max(norm, clipnorm) if math.isfinite(norm) else math.nan


@np.errstate(over="ignore", invalid="ignore")
def clip(grads, clipnorm=None, clipvalue=None) -> bool:
    """Clip ``grads`` (p,) in place (it is the step's scratch); False, with nothing else
    changed, if a gradient entry (or, with clipnorm, the norm) is not finite."""
    if clipnorm is None and clipvalue is None:
        return True
    f = grads.dtype.type
    if clipnorm is not None:
        factor = norm_factor(grads, clipnorm)
        if not math.isfinite(factor):
            return False
        if factor < 1:
            grads *= f(factor)
    elif not np.isfinite(grads).all():
        return False
    if clipvalue is not None:
        np.clip(grads, -f(clipvalue), f(clipvalue), out=grads)
    return True


def clipped_error(grads, dtype, clipnorm=None, clipvalue=None):
    """(the exactly clipped gradient, float64 (p,); a bound of a backend's error in it).

    Derivation, u the dtype's unit roundoff, u64 float64's, p entries:

      s = sum g^2 in float64     any order: |ds| <= gamma_p(u64) s (a float32 square is
                                 exact in float64; a float64 one rounds once, within gamma_p)
      n = sqrt(s)                relative error <= gamma_p(u64) / 2 + u64
      phi = c / max(n, c)        + u64 (the divide); max is 1-Lipschitz in relative terms,
                                 so a rounded n near c moves phi by no more than n's error
      phi_d = dtype(phi)         + u
      g' = g phi_d               + u
      => |e_g'| <= (gamma_2(u) + gamma_{p+2}(u64)) |g phi| (also where phi = 1: a
                                 computed n just above c gives a factor just below 1)
      g'' = clamp(g', v_d)       clamping is 1-Lipschitz, and v_d = dtype(v) moves a
                                 clamped entry by at most u v: + u |g''|

    ``grads`` are the exact inputs (the same bits on every backend).
    """
    g = np.asarray(grads, np.float64)
    err = np.zeros_like(g)
    if clipnorm is not None:
        factor = norm_factor(g, clipnorm)
        g = g * factor
        err = (gamma(2, dtype) + gamma(g.size + 2, np.float64)) * np.abs(g)
    if clipvalue is not None:
        g = np.clip(g, -clipvalue, clipvalue)
        err = err + unit_roundoff(dtype) * np.abs(g)
    return g, err
