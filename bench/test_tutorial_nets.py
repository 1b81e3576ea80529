"""The tutorial nets through the public ``fit``: XOR (2-4-2 ReLU, 10,000 full-batch
iterations) and two moons (2-3-2 tanh, L2, 20,000), where per-call overhead dominates.

Group ``tutorial-{name}``; a round is one whole ``fit`` call (the model continues
training from round to round). extra_info has the iterations and seconds per iteration.
"""

import pytest

from fastnn import benchmark as workloads

ROUNDS, WARMUP_ROUNDS = 3, 1


@pytest.mark.parametrize("backend", workloads.DEFAULT_BACKENDS)
@pytest.mark.parametrize("name", list(workloads.TUTORIALS))
def test_tutorial(benchmark, record, name, backend):
    spec = workloads.TUTORIALS[name]
    benchmark.group = f"tutorial-{name}"
    benchmark.extra_info.update(backend=backend, dtype="float32", batch="full",
                                iterations=spec.iterations, threads=workloads.DEFAULT_THREADS)
    benchmark.pedantic(workloads.tutorial_runner(name, backend), rounds=ROUNDS,
                       warmup_rounds=WARMUP_ROUNDS)
    if benchmark.stats:
        benchmark.extra_info["seconds_per_iteration"] = (benchmark.stats["median"]
                                                         / spec.iterations)
    record(name, backend, None)
