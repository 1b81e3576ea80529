"""Shared fixtures. Backend-dependent tests take the ``backend`` fixture and run once per
backend named by ``--backends`` (default: ``$FASTNN_BACKEND`` if set, else numpy and numba);
the equivalence suites take ``candidate`` (each of those backends, loaded) and ``ref``
(the numpy reference)."""

import os
import tracemalloc

import numpy as np
import pytest

import fastnn as fnn
from fastnn.kernels import load_backend


def pytest_addoption(parser):
    default = os.environ.get("FASTNN_BACKEND") or "numpy,numba"
    parser.addoption("--backends", default=default,
                     help="comma-separated backends for tests using the `backend` fixture "
                          f"(default {default})")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        names = [b.strip() for b in metafunc.config.getoption("backends").split(",") if b.strip()]
        metafunc.parametrize("backend", names, indirect=True)
    _parametrize_candidate(metafunc)


@pytest.fixture
def backend(request):
    """The backend name; the test body runs inside ``fnn.use_backend(name)``."""
    with fnn.use_backend(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def peak_bytes():
    """``peak_bytes(fn, *args, **kwargs)`` runs fn(*args, **kwargs) and returns the peak
    bytes tracemalloc traced meanwhile (numpy's allocations included)."""
    def measure(fn, *args, **kwargs):
        tracemalloc.start()
        try:
            fn(*args, **kwargs)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    return measure


# -- backend against the reference (the equivalence suites) ------------------------------------
def _parametrize_candidate(metafunc):
    if "candidate" in metafunc.fixturenames:
        names = [b.strip() for b in metafunc.config.getoption("backends").split(",")
                 if b.strip()]
        metafunc.parametrize("candidate", names, indirect=True, scope="module")


@pytest.fixture(scope="module")
def candidate(request):
    """The backend under test; one that cannot load is an error, not a skip."""
    return load_backend(request.param)


@pytest.fixture(scope="module")
def ref():
    return load_backend("numpy")
