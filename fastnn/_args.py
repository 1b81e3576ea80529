"""argparse argument types shared by ``fastnn.cli`` and ``fastnn.benchmark``.

Each raises ``argparse.ArgumentTypeError`` naming what it wanted. They live here, not in
``cli``, so that ``benchmark`` (imported by ``cli`` for ``fastnn bench``) never imports
``cli`` back.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argument type: an integer >= low, else "must be a {what} integer"."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a {what} integer, got {text!r}")
        return value

    return parse


positive_int = int_at_least(1, "positive")
