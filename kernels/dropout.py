"""Dropout's masks: one counter-based generator, the same on every backend.

Training with dropout multiplies the input of a dense layer by ``keep / (1 - rate)``
(inverted dropout, as PyTorch), keep being 0 or 1 per entry. The keep bit of entry
(r, c) of a batch's (n, units) input is a pure function of the model's dropout seed, the
optimizer step being computed (1-based, ``state.step + 1``), the layer's position and
the entry's position ``r * units + c``: no generator state exists, so every backend and
layout draws the same masks, the check backend replays a step exactly, and a run
continued or resumed from a checkpoint draws what an uninterrupted one would have.

The bits come from the splitmix64 finaliser (Steele, Lea & Flood 2014, "Fast splittable
pseudorandom number generators"), a bijection of uint64 with full avalanche: the step's
key is :func:`key_of`, an entry's draw is ``mix(key + (position
+ 1) * GOLDEN) >> 40``, uniform on 0..2**24 - 1, and the entry is kept when its draw is
at least ``threshold(rate) = round(rate * 2**24)``; so a rate is applied to within
2**-25. ``keeps`` is written for numpy arrays and compiled scalars alike (every operand
uint64: numba would turn int64 with uint64 into float64).
"""

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)
DRAW_BITS = 24


def mix(x):
    """splitmix64's finaliser of x (uint64, scalar or array): uint64."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def keeps(key, position, threshold):
    """Whether the entry at ``position`` (uint64) is kept under a step's ``key`` (uint64):
    its 24-bit draw is at least ``threshold`` (uint64)."""
    return (mix(key + (position + np.uint64(1)) * GOLDEN) >> _S40) >= threshold


def key_of(seed, step, layer):
    """The key of a layer's mask at an optimizer step: ``mix(mix(mix(seed) + step) +
    layer)``, all uint64 (scalars in compiled code; arrays here, where numpy does not warn
    of the wrap-around its scalars would)."""
    return mix(mix(mix(seed) + step) + layer)


def step_key(seed: int, step: int, layer: int) -> np.uint64:
    """:func:`key_of` for Python ints: a model's dropout seed, the 1-based optimizer step
    and the dense layer whose input is dropped."""
    one = np.ones(1, np.uint64)
    return key_of(one * np.uint64(seed), one * np.uint64(step), np.uint64(layer))[0]


def threshold(rate: float) -> np.uint64:
    """Draws below this are dropped: ``round(rate * 2**24)`` as uint64."""
    return np.uint64(round(rate * (1 << DRAW_BITS)))


def scale(rate: float, dtype) -> np.generic:
    """The kept entries' factor ``1 / (1 - rate)``, formed in float64, in dtype."""
    return np.dtype(dtype).type(1.0 / (1.0 - rate))
