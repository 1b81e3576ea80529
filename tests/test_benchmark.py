"""``fastnn.benchmark`` on tiny sizes: the workloads run, the table prints, --json is valid.

No timing is asserted: this only checks that ``fastnn bench`` works end to end.
"""

import argparse
import dataclasses
import json
import os

import numpy as np
import pytest

import fastnn as fnn
from fastnn import benchmark


@pytest.fixture
def tiny(monkeypatch):
    """Tutorials of a few iterations, one timed run each, 300 fake MNIST rows, no torch;
    the thread setting is restored afterwards."""
    monkeypatch.setattr(benchmark, "TUTORIALS", {name: dataclasses.replace(spec, iterations=3)
                                                 for name, spec in benchmark.TUTORIALS.items()})
    monkeypatch.setattr(benchmark, "WARMUP", 0)
    monkeypatch.setattr(benchmark, "REPEATS", 1)
    rng = np.random.default_rng(0)
    X = rng.random((300, 784), dtype=np.float32)
    y = rng.integers(0, 10, 300)
    monkeypatch.setattr(benchmark, "load_mnist_train",
                        lambda samples=None: (X[:samples], y[:samples]))
    monkeypatch.setattr(benchmark, "torch_epoch_runner", lambda *args, **kwargs: None)
    requested = fnn.threads._requested
    yield
    fnn.set_num_threads(requested or os.cpu_count())  # run() sets the process's threads
    fnn.threads._requested = requested


def parse(*argv):
    parser = argparse.ArgumentParser()
    benchmark.add_arguments(parser)
    return parser.parse_args([str(arg) for arg in argv])


def test_time_interleaved_alternates_rounds_after_the_warmups():
    calls = []
    result = benchmark.time_interleaved({name: lambda name=name: calls.append(name)
                                         for name in ("floor", "numba")}, warmup=1, repeats=3)
    assert calls == ["floor", "numba"] + ["floor", "numba"] * 3
    assert set(result) == {"floor", "numba"}
    for median, times in result.values():
        assert len(times) == 3 and median == sorted(times)[1]


def test_bench_prints_table_and_writes_json(tiny, tmp_path, capsys):
    path = tmp_path / "bench.json"
    status = benchmark.run(parse("--batch", "32,128", "--backends", "numpy,numba",
                                 "--samples", 200, "--threads", 1, "--json", path))
    out = capsys.readouterr().out
    assert status == 0
    header = out.splitlines()[0].split()
    assert header[:4] == ["workload", "backend", "batch", "samples/s"]
    assert "GEMM" in header and "numpy" in header and "torch" not in header
    for name in ("gemm-floor", "numpy", "numba", "xor", "moons", "full"):
        assert name in out

    document = json.loads(path.read_text())
    assert set(document) == {"machine", "load_average_1min", "settings", "results"}
    assert {"cpu_count", "numba", "numba_threading_layer_config", "numpy_blas",
            "threads"} <= set(document["machine"])
    assert document["settings"]["samples"] == 200
    results = document["results"]
    mnist = [r for r in results if r["workload"] == "mnist-epoch"]
    assert {(r["backend"], r["batch"]) for r in mnist} == {
        (b, n) for b in ("gemm-floor", "numpy", "numba") for n in (32, 128)}
    for r in mnist:
        assert r["samples"] == 200 and r["samples_per_s"] > 0
        assert {"seconds", "times", "x_gemm_floor", "vs_numpy"} <= set(r)
    assert {(r["workload"], r["backend"]) for r in results if r["batch"] is None} == {
        (w, b) for w in ("xor", "moons") for b in ("numpy", "numba")}


def test_bench_rejects_bad_options():
    for argv in (["--batch", "0"], ["--batch", "32,x"], ["--backends", "cuda"],
                 ["--samples", "-5"]):
        with pytest.raises(SystemExit):
            parse(*argv)


def test_json_directory_must_exist(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        benchmark.run(parse("--json", tmp_path / "missing" / "out.json"))


def test_ratios_relate_rows_of_the_same_workload_and_batch():
    rows = benchmark.add_ratios([
        {"workload": "mnist-epoch", "backend": "numba", "batch": 32, "seconds": 2.0},
        {"workload": "mnist-epoch", "backend": "gemm-floor", "batch": 32, "seconds": 1.0},
        {"workload": "mnist-epoch", "backend": "numpy", "batch": 32, "seconds": 6.0},
        {"workload": "xor", "backend": "numba", "batch": None, "seconds": 0.5},
    ])
    assert [r["backend"] for r in rows] == ["gemm-floor", "numpy", "numba", "numba"]
    assert rows[2]["x_gemm_floor"] == 2.0 and rows[2]["vs_numpy"] == 3.0
    assert "x_gemm_floor" not in rows[3] and "vs_numpy" not in rows[3]


def test_gemm_floor_does_the_products_of_every_step(monkeypatch):
    calls, real = [], np.matmul

    def counting(a, b, out):
        calls.append(len(a))
        return real(a, b, out=out)

    monkeypatch.setattr(np, "matmul", counting)
    benchmark.gemm_floor_runner(128, 300)()
    assert len(calls) == 3 * 8  # ceil(300 / 128) steps of 8 products
    assert calls.count(300 - 256) == 5  # the partial step: 3 forward + 2 input gradients


def test_runners_train_through_fit(tiny, backend):
    X, y = benchmark.load_mnist_train(64)
    benchmark.mnist_epoch_runner(backend, 32, X, y)()
    benchmark.tutorial_runner("xor", backend)()
