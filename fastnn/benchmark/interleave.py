"""Timing in turns, so that every contender meets the same moments of a drifting machine.

A shared host's speed drifts by tens of percent within minutes, so only quantities taken
in the same moments compare. Two schemes:

- :func:`run_rounds` (``fastnn bench``): every system (the GEMM floor, fastnn per backend,
  each peer) runs ONE ongoing training run, one epoch at a time; round r runs one epoch
  of each, in an order rotated by r, so that no system always follows the same one. The
  first round (compiling, cold caches) is reported apart. Each timed round gives each
  system's ratio to the floor's epoch of that same round; the median ratio over the
  rounds and its quartiles are reported. A system that fails is dropped from later
  rounds and reported with its reason;
- :func:`time_interleaved` (the tutorial nets): repeated calls of a few callables, one
  call of each per round in a fixed order, the median kept.

A system is any object with ``name`` and ``epoch() -> seconds``; the tests drive these
with fake systems whose epoch times they set.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .floor import FLOOR


class System(Protocol):
    """A contender: ``epoch()`` runs one more epoch of its run and returns its seconds."""

    name: str

    def epoch(self) -> float: ...


@dataclass
class Outcome:
    """One system's rounds: seconds per round (round 0 first), ratios to the floor's epoch
    of the same round (timed rounds only), and ``error`` if it failed."""

    name: str
    seconds: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict:
        """first_epoch_s, seconds (median of the timed rounds), x_gemm_floor (median
        ratio) and its spread (q1, q3, min, max), as far as the rounds allow."""
        out = {"epoch_seconds": list(self.seconds)}
        if self.seconds:
            out["first_epoch_s"] = self.seconds[0]
        if len(self.seconds) > 1:
            out["seconds"] = statistics.median(self.seconds[1:])
        if self.ratios:
            out.update(x_gemm_floor=statistics.median(self.ratios), ratios=list(self.ratios),
                       **spread(self.ratios))
        if self.error:
            out["error"] = self.error
        return out


def spread(values: Sequence[float]) -> dict:
    """{"q1", "q3", "min", "max"} of ``values`` (quartiles by the inclusive method: for
    one value all four are that value)."""
    if len(values) == 1:
        q1 = q3 = values[0]
    else:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"q1": q1, "q3": q3, "min": min(values), "max": max(values)}


def rotation(names: Sequence[str], round_index: int) -> list[str]:
    """The order of round ``round_index``: ``names`` rotated left by the round number."""
    k = round_index % len(names) if names else 0
    return [*names[k:], *names[:k]]


def run_rounds(systems: Sequence[System], rounds: int, floor: str = FLOOR,
               settle: float = 0.0, say: Callable[[str], None] = lambda text: None,
               ) -> dict[str, Outcome]:
    """Run ``rounds`` rounds (the first untimed for the ratios) of one epoch per system;
    {name: Outcome}. ``floor`` names the system the ratios divide by; if it fails, the
    run stops (no ratio is possible). ``settle`` seconds of sleep after each epoch let a
    finished peer's spinning threads go idle before the next one starts.
    """
    outcomes = {s.name: Outcome(s.name) for s in systems}
    by_name = {s.name: s for s in systems}
    names = [s.name for s in systems]
    for r in range(rounds):
        this_round = {}
        for name in rotation(names, r):
            if outcomes[name].error:
                continue
            try:
                this_round[name] = by_name[name].epoch()
            except Exception as exc:  # any failure of one contender: report, carry on
                outcomes[name].error = f"failed in round {r + 1}: {exc}"
                say(f"{name}: {outcomes[name].error}")
                if name == floor:
                    return outcomes
                continue
            outcomes[name].seconds.append(this_round[name])
            if settle:
                time.sleep(settle)
        if r and floor in this_round:
            for name, seconds in this_round.items():
                if name != floor:
                    outcomes[name].ratios.append(seconds / this_round[floor])
        say(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{name} {seconds:.3f} s" for name, seconds in this_round.items()))
    return outcomes


def time_interleaved(fns: dict[str, Callable[[], None]], warmup: int = 1,
                     repeats: int = 3) -> dict[str, tuple[float, list[float]]]:
    """Run each of ``fns`` ``warmup`` times untimed, then ``repeats`` timed rounds that
    call each once, in turn; {name: (median, all times)} in s."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(ts), ts) for name, ts in times.items()}
