"""One model, many threads: concurrent predict/evaluate/load give the serial results.

``predict``, ``predict_proba``, ``logits`` and ``evaluate`` never share a buffer between
calls (the numba backend borrows its workspace from the net for one call, ``Net.borrow``),
so any number of Python threads may call them on one model at once. Results must be
bit-identical to serial calls on the same backend. The backend override is per thread
(a ContextVar), so each worker enters ``use_backend`` itself.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastnn as fnn
from fastnn.model import PREDICT_ROWS

THREADS, CALLS = 8, 20


@pytest.fixture
def trained(backend):
    rng = np.random.default_rng(0)
    y = np.arange(600) % 4
    X = rng.normal(size=(600, 12)) + np.eye(4, 12)[y]
    model = fnn.MLP([12, 32, 16, 4], seed=0)
    model.fit(X, y, epochs=2, batch_size=32, optimizer=fnn.SGD(lr=0.05, momentum=0.9),
              verbose=0)
    return model


def inputs(n_sets=5):
    """Batches of different sizes, one larger than a predict chunk, some non-contiguous."""
    rng = np.random.default_rng(1)
    sizes = [1, 7, 64, 513, PREDICT_ROWS + 300][:n_sets]
    out = [rng.normal(size=(n, 12)) for n in sizes]
    if n_sets > 2:
        out[2] = np.asfortranarray(out[2])
    if n_sets > 3:
        out[3] = rng.normal(size=(513, 24))[:, ::2]
    return out


def run_threads(backend, fn, jobs):
    """fn(job) for every job, on THREADS threads started together; results in job order."""
    barrier = threading.Barrier(THREADS)

    def worker(chunk):
        with fnn.use_backend(backend):
            barrier.wait()
            return [fn(job) for job in chunk]

    chunks = [jobs[i::THREADS] for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        done = list(pool.map(worker, chunks))
    results = [None] * len(jobs)
    for i, chunk_results in enumerate(done):
        results[i::THREADS] = chunk_results
    return results


@pytest.mark.parametrize("method", ["predict", "predict_proba", "logits"])
def test_concurrent_predict_matches_serial(backend, trained, method):
    Xs = inputs()
    call = getattr(trained, method)
    serial = [call(X) for X in Xs]
    jobs = [i % len(Xs) for i in range(THREADS * CALLS)]
    results = run_threads(backend, lambda i: call(Xs[i]), jobs)
    assert len(results) == THREADS * CALLS
    for i, got in zip(jobs, results):
        assert got.dtype == serial[i].dtype and got.shape == serial[i].shape
        assert got.tobytes() == serial[i].tobytes(), f"input {i} differs under threads"


def test_concurrent_evaluate_matches_serial(backend, trained):
    rng = np.random.default_rng(2)
    sets = [(rng.normal(size=(n, 12)), rng.integers(0, 4, n)) for n in (5, 300, 2000)]
    serial = [trained.evaluate(X, y) for X, y in sets]
    jobs = [i % len(sets) for i in range(THREADS * CALLS)]
    results = run_threads(backend, lambda i: trained.evaluate(*sets[i]), jobs)
    for i, got in zip(jobs, results):
        assert got == serial[i]


def test_concurrent_mixed_calls_do_not_disturb_each_other(backend, trained):
    Xs = inputs(4)
    methods = ["predict", "predict_proba", "logits"]
    serial = {(m, i): getattr(trained, m)(X) for m in methods for i, X in enumerate(Xs)}
    jobs = [(methods[k % 3], k % len(Xs)) for k in range(THREADS * CALLS)]
    results = run_threads(backend, lambda job: getattr(trained, job[0])(Xs[job[1]]), jobs)
    for job, got in zip(jobs, results):
        assert got.tobytes() == serial[job].tobytes(), job


def test_concurrent_loads_of_one_file(backend, trained, tmp_path):
    path = tmp_path / "m.npz"
    trained.save(path)
    X = inputs(3)[2]
    expected = trained.logits(X)
    results = run_threads(backend, lambda _: fnn.load(path).logits(X), list(range(THREADS * 4)))
    for got in results:
        assert got.tobytes() == expected.tobytes()


def test_each_thread_keeps_its_own_backend(request, trained):
    """Threads on different backends at once each match their own backend's serial run."""
    names = [b.strip() for b in request.config.getoption("backends").split(",") if b.strip()]
    X = inputs(3)[2]
    serial = {}
    for name in names:
        with fnn.use_backend(name):
            serial[name] = trained.logits(X)
    barrier = threading.Barrier(THREADS)

    def worker(k):
        name = names[k % len(names)]
        with fnn.use_backend(name):
            barrier.wait()
            return name, [fnn.backend_name()] + [trained.logits(X) for _ in range(CALLS)]

    with ThreadPoolExecutor(THREADS) as pool:
        for name, (seen, *outputs) in pool.map(worker, range(THREADS)):
            assert seen == name
            for got in outputs:
                assert got.tobytes() == serial[name].tobytes(), name
