"""Tolerances of whole training runs between backends (test-only).

Rounding differences enter at every op of every step and are then amplified by the
training dynamics, which no static bound captures, so the amplification is measured on
noisy twins of the reference run (``test_equivalence_training.py``).
"""

import numpy as np

from fastnn.kernels.rounding import SAFETY, gamma


def max_reduction_length(sizes, batch_size) -> int:
    """The longest sum in one training step of an MLP: a fan-in + 1 (forward, dx) or the
    batch (dW, db)."""
    return int(max(max(sizes) + 1, batch_size))


def trajectory_atol(sensitivity, dtype, reduction_length):
    """Absolute tolerance of a training trajectory (losses, logits, parameters) between backends.

    Rounding differences enter at every op of every step and are then amplified by the
    training dynamics, which no static bound captures; so the amplification is measured.
    A *noisy twin* of the reference run (float64) adds to every op output an error
    ``delta * (+-1) * magnitude`` (random signs, fresh per element, op and step;
    ``magnitude`` as in :func:`tol`: |x| @ |W| + |b| for a dense output, and so on), i.e.
    it is a model of another backend whose per-op error is ``delta`` instead of gamma_K.
    ``sensitivity`` is the twin's deviation from the plain run divided by delta (running
    maximum over steps, maximum over twins). A real backend's per-op error is at most
    gamma_K times the same magnitude (K the run's longest reduction, see
    :func:`max_reduction_length`), so the two backends differ by at most

        2 * SAFETY * gamma_K * sensitivity.

    Random signs measure the typical amplification, not the worst alignment of errors; the
    worst-case gamma_K ~ K u (against the typical sqrt(K) u of real rounding) leaves a
    factor sqrt(K) for that, before SAFETY.
    """
    return 2 * SAFETY * np.asarray(sensitivity, np.float64) * gamma(reduction_length, dtype)
