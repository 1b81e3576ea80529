"""``fastnn bench``'s argument types: each raises ArgumentTypeError naming what it wanted."""

from __future__ import annotations

import argparse
import math

from fastnn._args import int_at_least, positive_int

from .processes import PEERS


def int_list(text: str) -> tuple[int, ...]:
    """``32,128``: positive integers."""
    try:
        return tuple(positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a comma list of positive integers, got {text!r}") from None


def backend_list(text: str) -> tuple[str, ...]:
    """``numpy,numba``: known backend names."""
    from fastnn.kernels import BACKENDS
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in BACKENDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"must be a comma list of {', '.join(BACKENDS)}, "
                                         f"got {text!r}")
    return names


def epochs(text: str) -> int:
    """At least 2: the first epoch is reported apart."""
    try:
        return int_at_least(2, "")(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 2 (the first "
                                         f"epoch is reported apart), got {text!r}") from None


def seed_list(text: str) -> tuple[int, ...]:
    """``0,1,2``: distinct non-negative integers."""
    try:
        seeds = tuple(int_at_least(0, "")(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        seeds = ()
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"must be a comma list of distinct non-negative "
                                         f"integers, got {text!r}")
    return seeds


def fraction(text: str) -> float:
    """A number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def peer_list(text: str) -> tuple[str, ...]:
    """``torch,jax``: known peers, or ``none``."""
    if text.strip().lower() == "none":
        return ()
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names or any(name not in PEERS for name in names):
        raise argparse.ArgumentTypeError(f"must be a comma list of {', '.join(PEERS)}, or "
                                         f"'none', got {text!r}")
    return names

