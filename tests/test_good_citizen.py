"""fastnn leaves the process as it found it: environment, floating-point mode, threads.

Each check runs in a fresh interpreter (numba's and OpenMP's start-up happens once per
process), records the state before ``import fastnn``, trains on the numba backend (both
layouts of its driver; the row-major one starts BLAS's thread pool) and predicts, then
compares.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {p["filepath"]: p["num_threads"] for p in threadpool_info()
                if p["user_api"] == "blas"}

    def subnormals_survive():
        tiny = np.finfo(np.float32).tiny
        half = np.float32(tiny) / np.float32(2)  # a subnormal, unless flushed to zero
        return bool(half != 0 and half * np.float32(1) != 0)

    before = {"env": dict(os.environ), "blas": blas_threads(), "ieee": subnormals_survive()}
    import fastnn as fnn
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 40)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    with fnn.use_backend("numba"):
        for sizes in ([40, 8, 2], [40, 300, 2]):  # the driver's transposed and row-major layouts
            model = fnn.MLP(sizes, seed=0)
            model.fit(X, y, epochs=2, batch_size=64, optimizer=fnn.SGD(0.1, momentum=0.9),
                      verbose=0)
            model.predict(np.repeat(X, 40, axis=0))  # large enough for parallel kernels
    after = {"env": dict(os.environ), "blas": blas_threads(), "ieee": subnormals_survive()}
    json.dump({"before": before, "after": after}, sys.stdout)
""")


def run_child(env):
    result = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def plain_run():
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "NUMBA_NUM_THREADS", "FASTNN_NUM_THREADS")}
    return run_child(env)


def test_no_environment_variable_is_left_changed(plain_run):
    before, after = plain_run["before"]["env"], plain_run["after"]["env"]
    changed = {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
               if before.get(k) != after.get(k)}
    assert changed == {}


def test_floating_point_mode_keeps_ieee_subnormals(plain_run):
    assert plain_run["before"]["ieee"] and plain_run["after"]["ieee"]


def test_blas_thread_settings_are_left_alone(plain_run):
    """Every BLAS library loaded before fastnn keeps its thread count (a library loaded
    later, e.g. SciPy's by numba, has nothing to keep)."""
    before, after = plain_run["before"]["blas"], plain_run["after"]["blas"]
    assert before and {path: after[path] for path in before} == before


def test_a_wait_policy_the_user_set_is_kept():
    env = {k: v for k, v in os.environ.items() if k != "FASTNN_NUM_THREADS"}
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    after = run_child(env)["after"]["env"]
    assert after["OMP_WAIT_POLICY"] == "ACTIVE"
