"""``fastnn.benchmark.interleave.run_rounds`` with fake systems whose epoch times the test
sets: the rotating order, ratios taken within each round, the median and quartiles, and a
failing system reported clearly while the others carry on. No training, no timing."""

import statistics

import pytest

from fastnn.benchmark.interleave import Outcome, rotation, run_rounds, spread


class Fake:
    """A system whose r-th epoch takes ``times[r]`` seconds (``log`` records the calls);
    it raises at epoch ``fail_at`` (0-based) if given."""

    def __init__(self, name, times, log, fail_at=None):
        self.name, self.times, self.log, self.fail_at = name, list(times), log, fail_at
        self.calls = 0

    def epoch(self):
        self.log.append(self.name)
        self.calls += 1
        if self.calls - 1 == self.fail_at:
            raise RuntimeError("exit status 1: out of memory")
        return self.times[self.calls - 1]


def test_rotation_moves_every_system_one_place_per_round():
    names = ["gemm-floor", "numba", "numpy", "torch"]
    assert rotation(names, 0) == names
    assert rotation(names, 1) == ["numba", "numpy", "torch", "gemm-floor"]
    assert rotation(names, 3) == ["torch", "gemm-floor", "numba", "numpy"]
    assert rotation(names, 4) == names
    assert rotation([], 2) == []


def test_rounds_run_one_epoch_of_each_system_in_a_rotating_order():
    log = []
    systems = [Fake(name, [1.0] * 4, log) for name in ("gemm-floor", "a", "b")]
    run_rounds(systems, 4)
    assert log == ["gemm-floor", "a", "b", "a", "b", "gemm-floor", "b", "gemm-floor", "a",
                   "gemm-floor", "a", "b"]
    # Over any 3 rounds every system takes every place once (first, middle, last).
    for place in range(3):
        assert sorted(log[3 * r + place] for r in range(3)) == ["a", "b", "gemm-floor"]


def test_ratios_are_taken_within_each_round_and_the_first_round_is_apart():
    log = []
    # The machine slows down 2x in round 3: per-round ratios stay at 1.5, while the ratio
    # of the medians of seconds would not.
    floor = Fake("gemm-floor", [9.0, 1.0, 2.0, 2.0, 1.0], log)
    fast = Fake("fast", [30.0, 1.5, 3.0, 3.0, 1.5], log)
    odd = Fake("odd", [1.0, 1.0, 4.0, 3.0, 5.0], log)
    outcomes = run_rounds([floor, fast, odd], 5)
    assert outcomes["fast"].ratios == [1.5, 1.5, 1.5, 1.5]
    assert outcomes["odd"].ratios == [1.0, 2.0, 1.5, 5.0]
    assert outcomes["gemm-floor"].ratios == []  # nothing to divide the floor by
    summary = outcomes["fast"].summary()
    assert summary["first_epoch_s"] == 30.0  # compiling: apart, in no ratio
    assert summary["seconds"] == statistics.median([1.5, 3.0, 3.0, 1.5])
    assert summary["x_gemm_floor"] == 1.5
    odd_summary = outcomes["odd"].summary()
    assert odd_summary["x_gemm_floor"] == 1.75  # median of 1.0, 1.5, 2.0, 5.0
    assert (odd_summary["q1"], odd_summary["q3"]) == (1.375, 2.75)
    assert (odd_summary["min"], odd_summary["max"]) == (1.0, 5.0)


def test_spread_quartiles_by_the_inclusive_method():
    assert spread([2.0]) == {"q1": 2.0, "q3": 2.0, "min": 2.0, "max": 2.0}
    assert spread([1.0, 3.0]) == {"q1": 1.5, "q3": 2.5, "min": 1.0, "max": 3.0}
    assert spread([5.0, 1.0, 2.0, 4.0, 3.0]) == {"q1": 2.0, "q3": 4.0, "min": 1.0,
                                                  "max": 5.0}


def test_a_failing_system_is_reported_and_dropped_while_the_others_carry_on():
    log, said = [], []
    floor = Fake("gemm-floor", [1.0] * 4, log)
    broken = Fake("torch", [2.0] * 4, log, fail_at=2)
    fine = Fake("numba", [1.2] * 4, log)
    outcomes = run_rounds([floor, broken, fine], 4, say=said.append)
    assert outcomes["torch"].error == "failed in round 3: exit status 1: out of memory"
    assert outcomes["torch"].seconds == [2.0, 2.0] and outcomes["torch"].ratios == [2.0]
    assert broken.calls == 3  # never asked again after it failed
    assert outcomes["numba"].ratios == pytest.approx([1.2] * 3)
    assert "torch: failed in round 3: exit status 1: out of memory" in said
    summary = outcomes["torch"].summary()
    assert summary["error"].startswith("failed in round 3") and summary["x_gemm_floor"] == 2.0


def test_a_failing_floor_ends_the_rounds():
    log = []
    floor = Fake("gemm-floor", [1.0] * 3, log, fail_at=1)
    other = Fake("numba", [1.0] * 3, log)
    outcomes = run_rounds([floor, other], 3)
    assert outcomes["gemm-floor"].error.startswith("failed in round 2")
    assert log == ["gemm-floor", "numba", "numba", "gemm-floor"]


def test_an_outcome_without_epochs_summarises_to_its_error():
    assert Outcome("jax", error="failed in round 1: boom").summary() == {
        "epoch_seconds": [], "error": "failed in round 1: boom"}
