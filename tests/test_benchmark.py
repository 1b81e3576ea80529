"""``fastnn.benchmark`` on tiny sizes: the workloads run, the table prints, --json is valid,
the peers run in processes of their own and their reports (or skips) reach the table.

No timing is asserted: this only checks that ``fastnn bench`` works end to end. The real
peers are not trained here (``bench/test_epochs.py`` does); a fake peer module stands in.
"""

import argparse
import dataclasses
import json
import os
import statistics

import numpy as np
import pytest

import fastnn as fnn
from fastnn import benchmark
from fastnn.benchmark import accuracy, command, runs


class FakePeer:
    """Stands in for PeerProcess: torch trains (0.5 s, then 0.1 s, 0.2 s, ...), jax is
    skipped, sklearn fails in its second epoch; every instance in ``FakePeer.started``."""

    started: list = []

    def __init__(self, name, module, argv, timeout=600.0):
        self.name, self.argv, self.epochs = name, argv, 0
        FakePeer.started.append(self)
        self.ready = ({"peer": name, "skipped": "jax is not installed"} if name == "jax" else
                      {"peer": name, "version": "9.9", "ready": True, "blas": ["fake BLAS"]})

    def epoch(self):
        self.epochs += 1
        if self.name == "sklearn" and self.epochs == 2:
            raise benchmark.processes.PeerFailed("sklearn: exit status 1: MemoryError")
        return 0.5 if self.epochs == 1 else 0.1 * (self.epochs - 1)

    def finish(self):
        if self.name == "sklearn":
            raise benchmark.processes.PeerFailed("sklearn: exit status 1: MemoryError")
        return {"peer": self.name, "version": "9.9", "test_accuracy": 0.5}

    def close(self):
        pass


@pytest.fixture
def tiny(monkeypatch):
    """Tutorials of a few iterations, one timed run each, 300 fake MNIST rows, fake peers
    (in ``tiny.peers``), a GEMM floor of 0.1 s per epoch; the thread setting is restored
    afterwards."""
    monkeypatch.setattr(runs, "TUTORIALS", {name: dataclasses.replace(spec, iterations=3)
                                            for name, spec in runs.TUTORIALS.items()})
    monkeypatch.setattr(command, "WARMUP", 0)
    monkeypatch.setattr(command, "REPEATS", 1)
    monkeypatch.setattr(command, "SETTLE_S", 0.0)
    rng = np.random.default_rng(0)
    X = rng.random((300, 784), dtype=np.float32)
    y = rng.integers(0, 10, 300)
    monkeypatch.setattr(command, "load_mnist_train",
                        lambda samples=None: (X[:samples], y[:samples]))
    monkeypatch.setattr(command, "load_mnist_test", lambda: (X[:50], y[:50]))
    monkeypatch.setattr(command._Floor, "epoch", lambda self: 0.1)
    monkeypatch.setattr(FakePeer, "started", [])
    monkeypatch.setattr(command, "PeerProcess", FakePeer)
    requested = fnn.threads._requested
    yield argparse.Namespace(peers=FakePeer.started)
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
                                 "--samples", 200, "--epochs", 3, "--threads", 1,
                                 "--json", path))
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("CPU: ") and any(line.startswith("BLAS ") for line in lines)
    assert "peer torch: fake BLAS" in out
    header = next(line for line in lines if line.startswith("workload")).split()
    assert header[:4] == ["workload", "backend", "batch", "samples/s"]
    assert "GEMM" in header and "q1-q3" in header and "torch" in header
    for name in ("gemm-floor", "numpy", "numba", "torch 9.9", "xor", "moons", "full",
                 "skipped: jax is not installed",
                 "failed: failed in round 2: sklearn: exit status 1: MemoryError"):
        assert name in out
    assert [(p.name, p.argv) for p in tiny.peers] == [
        (name, ["--batch", str(batch), "--epochs", "3", "--threads", "1", "--samples", "200"])
        for batch in (32, 128) for name in ("torch", "jax", "sklearn")]

    document = json.loads(path.read_text())
    assert set(document) == {"machine", "load_average_1min", "settings", "results", "blas"}
    assert {"cpu", "cpu_count", "numba", "numba_threading_layer_config", "numpy_blas",
            "threads", "blas", "torch", "jax", "scikit-learn"} <= set(document["machine"])
    assert document["blas"]["peers"] == {"torch": "fake BLAS", "sklearn": "fake BLAS"}
    assert document["settings"]["samples"] == 200 and document["settings"]["epochs"] == 3
    assert document["settings"]["peers"] == ["torch", "jax", "sklearn"]
    results = document["results"]
    mnist = [r for r in results if r["workload"] == "mnist-epoch"]
    assert {(r["backend"], r["batch"]) for r in mnist} == {
        (b, n) for b in ("gemm-floor", "numpy", "numba", "torch", "jax", "sklearn")
        for n in (32, 128)}
    for r in mnist:
        if r["backend"] == "jax":  # skipped: a note, no numbers
            assert "seconds" not in r and r["note"].startswith("skipped")
            continue
        if r["backend"] == "sklearn":  # one epoch, then failed: no steady number
            assert "seconds" not in r and r["note"].startswith("failed")
            assert r["epoch_seconds"] == [0.5]
            continue
        assert r["samples"] == 200 and r["samples_per_s"] > 0
        assert len(r["epoch_seconds"]) == 3 and r["first_epoch_s"] == r["epoch_seconds"][0]
        assert r["seconds"] == statistics.median(r["epoch_seconds"][1:])
        assert {"seconds", "x_gemm_floor", "vs_numpy", "vs_torch"} <= set(r)
        if r["backend"] != "gemm-floor":  # ratios per round: this epoch / the floor's
            assert r["rounds"] == 2
            assert r["ratios"] == pytest.approx([s / 0.1 for s in r["epoch_seconds"][1:]])
            assert 0 <= r["test_accuracy"] <= 1
    torch_128 = next(r for r in mnist if r["backend"] == "torch" and r["batch"] == 128)
    assert torch_128["seconds"] == pytest.approx(0.15) and torch_128["vs_torch"] == 1.0
    assert torch_128["x_gemm_floor"] == pytest.approx(1.5)
    assert torch_128["ratio_spread"] == "1.25-1.75" and torch_128["test_accuracy"] == 0.5
    assert {(r["workload"], r["backend"]) for r in results if r["batch"] is None} == {
        (w, b) for w in ("xor", "moons") for b in ("numpy", "numba")}


def test_bench_continues_one_run_per_backend_an_epoch_per_round(tiny, monkeypatch, capsys):
    calls, real_fit = [], fnn.Sequential.fit

    def fit(model, X, y, **kwargs):
        calls.append(kwargs)
        return real_fit(model, X, y, **kwargs)

    monkeypatch.setattr(fnn.Sequential, "fit", fit)
    benchmark.run(parse("--batch", 32, "--backends", "numpy", "--samples", 100,
                        "--epochs", 4, "--peers", "none"))
    mnist = [c for c in calls if c["batch_size"] == 32]
    assert len(mnist) == 4 and {c["epochs"] for c in mnist} == {1}  # one run, in rounds
    assert len({id(c["optimizer"]) for c in mnist}) == 1  # its state carried along
    optimizer = mnist[0]["optimizer"]
    assert (optimizer.lr, optimizer.momentum) == (0.05, 0.9)
    assert tiny.peers == []
    assert "torch" not in capsys.readouterr().out


def test_bench_rejects_bad_options():
    for argv in (["--batch", "0"], ["--batch", "32,x"], ["--backends", "cuda"],
                 ["--samples", "-5"], ["--peers", "tensorflow"], ["--peers", ""],
                 ["--epochs", "1"]):
        with pytest.raises(SystemExit):
            parse(*argv)
    assert parse("--peers", "none").peers == ()
    assert parse("--peers", "jax,torch").peers == ("jax", "torch")
    assert parse().peers == ("torch", "jax", "sklearn") and parse().epochs == 4


def test_json_directory_must_exist(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        benchmark.run(parse("--json", tmp_path / "missing" / "out.json"))


def test_ratios_relate_rows_of_the_same_workload_and_batch():
    rows = benchmark.add_ratios([
        {"workload": "mnist-epoch", "backend": "numba", "batch": 32, "seconds": 2.0},
        {"workload": "mnist-epoch", "backend": "jax", "batch": 32, "note": "skipped"},
        {"workload": "mnist-epoch", "backend": "gemm-floor", "batch": 32, "seconds": 1.0},
        {"workload": "mnist-epoch", "backend": "torch", "batch": 32, "seconds": 4.0},
        {"workload": "mnist-epoch", "backend": "numpy", "batch": 32, "seconds": 6.0},
        {"workload": "xor", "backend": "numba", "batch": None, "seconds": 0.5},
    ])
    assert [r["backend"] for r in rows] == ["gemm-floor", "numpy", "numba", "torch", "jax",
                                            "numba"]
    assert rows[2]["x_gemm_floor"] == 2.0 and rows[2]["vs_numpy"] == 3.0
    assert rows[2]["vs_torch"] == 2.0 and rows[3]["x_gemm_floor"] == 4.0
    assert "x_gemm_floor" not in rows[4] and "x_gemm_floor" not in rows[5]
    assert "vs_numpy" not in rows[5]
    table = benchmark.format_table(rows)
    assert "skipped" in table and "vs torch" in table


def test_epoch_summary_reports_the_first_epoch_apart():
    assert benchmark.epoch_summary([3.0, 1.0, 2.0, 1.5]) == {
        "epoch_seconds": [3.0, 1.0, 2.0, 1.5], "first_epoch_s": 3.0, "seconds": 1.5}
    assert "seconds" not in benchmark.epoch_summary([3.0])


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
    seconds, model = benchmark.mnist_run(backend, 32, X, y, epochs=2)
    assert len(seconds) == 2 and min(seconds) > 0 and model.history.epochs == 2
    benchmark.tutorial_runner("xor", backend)()


FAKE_PEER = """
import json, os, sys
print("a line of noise from the library")
if "--batch" in sys.argv and sys.argv[sys.argv.index("--batch") + 1] == "13":
    print("Traceback...\\nRuntimeError: out of luck", file=sys.stderr)
    sys.exit(3)
print(json.dumps({"peer": "fake", "argv": sys.argv[1:],
                  "mine": os.environ.get("FASTNN_TEST_MINE")}))
"""


@pytest.fixture
def fake_peer(tmp_path, monkeypatch):
    """PEERS["fake"]: a module on PYTHONPATH reporting its argv and one variable."""
    (tmp_path / "fake_peer.py").write_text(FAKE_PEER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setitem(benchmark.PEERS, "fake", "fake_peer")


def test_run_peer_runs_a_fresh_process_and_parses_its_json_line(fake_peer, monkeypatch):
    monkeypatch.setenv("FASTNN_TEST_MINE", "inherited")
    report = benchmark.run_peer("fake", 64, 1000, 3, threads=1)
    assert report["argv"] == ["--batch", "64", "--epochs", "3", "--threads", "1",
                              "--samples", "1000"]
    assert report["mine"] == "inherited"


def test_run_peer_reports_a_failure_with_its_last_stderr_line(fake_peer):
    report = benchmark.run_peer("fake", 13, None, 2)
    assert report == {"peer": "fake", "error": "exit status 3: RuntimeError: out of luck"}


def test_a_peer_without_its_library_prints_a_skip(tmp_path, monkeypatch):
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('hidden')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    report = benchmark.run_peer("torch", 32, 100, 2)
    assert report == {"peer": "torch", "skipped": "torch is not installed"}


# -- time to accuracy ------------------------------------------------------------------

def fake_tta_report(label, module, argv, timeout=None):
    """What run_module returns for a time-to-accuracy run: seed-dependent seconds; jax
    misses the target on seed 1; torch fails on seed 2."""
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
    if label == "torch" and seed == 2:
        return {"peer": label, "error": "exit status 1: MemoryError"}
    per_epoch = {"fastnn numba": 1.0, "fastnn numpy": 2.0, "torch": 3.0, "jax": 2.5}[label]
    epochs = 3 if seed == 0 else 4
    reached = not (label == "jax" and seed == 1)
    seconds = [per_epoch + 0.1 * seed] * epochs
    return {"peer": label.split()[0], "version": "9.9", "epoch_seconds": seconds,
            "test_accuracy": 0.981 if reached else 0.979,
            "test_accuracies": [0.97] * (epochs - 1) + [0.981 if reached else 0.979],
            "seconds_to_target": sum(seconds) if reached else None,
            "epochs_to_target": epochs if reached else None, "argv": argv}


def test_recipe_argv_runs_the_mnist_problems_recipe():
    from fastnn.problems import PROBLEMS

    problem = PROBLEMS["mnist"]
    optimizer = problem.optimizer(problem.lr)
    argv = benchmark.recipe_argv()

    def value(option):
        return argv[argv.index(option) + 1]

    assert argv[:2] == ["--schedule", "onecycle"]
    assert float(value("--max-lr")) == optimizer.lr.max_lr
    assert int(value("--batch")) == problem.batch_size
    assert int(value("--epochs")) == problem.epochs
    assert float(value("--momentum")) == optimizer.momentum
    assert float(value("--weight-decay")) == optimizer.weight_decay
    assert ("--nesterov" in argv) == optimizer.nesterov and value("--init") == "he"
    # A constant rate is passed as such; a schedule the peers cannot follow is refused.
    constant = dataclasses.replace(problem, lr=0.05, optimizer=fnn.SGD)
    assert benchmark.recipe_argv(constant)[:4] == ["--schedule", "constant", "--lr", "0.05"]
    odd = dataclasses.replace(problem, optimizer=lambda lr: fnn.SGD(
        lr=fnn.schedules.OneCycle(max_lr=lr, pct_start=0.5)))
    with pytest.raises(ValueError, match="pct_start=0.5"):
        benchmark.recipe_argv(odd)


def test_time_to_accuracy_runs_every_seed_of_every_contender_and_prints_the_table(
        tiny, monkeypatch, tmp_path, capsys):
    calls = []

    def runner(label, module, argv, timeout=None):
        calls.append((label, module, argv))
        return fake_tta_report(label, module, argv)

    monkeypatch.setattr(accuracy, "run_module", runner)
    path = tmp_path / "tta.json"
    status = benchmark.run(parse("--time-to-accuracy", "--seeds", "0,1,2",
                                 "--backends", "numba,numpy", "--threads", 1, "--json", path))
    out = capsys.readouterr().out
    assert status == 0
    warmups, calls = calls[:2], calls[2:]  # one untimed epoch per fastnn backend first
    assert [(c[0], c[2][:4]) for c in warmups] == [
        (label, ["--samples", "256", "--epochs", "1"]) for label in ("fastnn numba",
                                                                     "fastnn numpy")]
    labels = ["fastnn numba", "fastnn numpy", "torch", "jax"]  # sklearn is not run
    assert [(c[0], c[2][-1]) for c in calls] == [(label, str(seed)) for seed in (0, 1, 2)
                                                 for label in labels]  # seed-major
    for label, module, argv in calls:
        assert argv[:len(benchmark.recipe_argv())] == benchmark.recipe_argv()
        assert argv[argv.index("--target") + 1] == "0.98"
        assert argv[argv.index("--threads") + 1] == "1"
        assert module == (benchmark.FASTNN_PEER if label.startswith("fastnn")
                          else benchmark.PEERS[label])
        assert ("--backend" in argv) == label.startswith("fastnn")
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["peer", "median", "s", "to", "98.0%"]
    numba_line = next(line for line in lines if line.startswith("fastnn numba"))
    # medians: numba 4.4 s (3.0, 4.4, 4.8); fastest library: jax (7.5, inf, 10.8) -> 10.8,
    # torch (9.0, 12.4, inf) -> 12.4
    assert "4.40" in numba_line and "3 4 4" in numba_line and f"{4.4 / 10.8:.2f}x" in numba_line
    jax_line = next(line for line in lines if line.startswith("jax"))
    assert "10.80" in jax_line and "7.50 - 10.80" in jax_line and "1.00x" in jax_line
    torch_line = next(line for line in lines if line.startswith("torch"))
    assert "1 run(s) failed: exit status 1: MemoryError" in torch_line
    assert "sklearn" in out and "per-step" in out

    document = json.loads(path.read_text())
    assert document["settings"]["seeds"] == [0, 1, 2]
    assert document["settings"]["target"] == 0.98
    rows = {r["peer"]: r for r in document["results"]}
    assert rows["fastnn numpy"]["per_seed"] == pytest.approx([6.0, 8.4, 8.8])
    assert rows["jax"]["epochs"] == [3, None, 4]
    assert rows["torch"]["per_seed"][2] is None and rows["sklearn"]["note"].startswith("left")


def test_tta_rows_medians_count_misses_as_infinitely_slow():
    def runs(*seconds):
        return [{"peer": "p", "version": "1", "seed": s, "epoch_seconds": [1.0],
                 "test_accuracy": 0.99, "seconds_to_target": t,
                 "epochs_to_target": None if t is None else 2}
                for s, t in enumerate(seconds)]

    rows = benchmark.tta_rows({"fastnn numba": runs(1.0, 2.0, 3.0),
                               "torch": runs(None, None, 1.0),
                               "jax": runs(4.0, None, 5.0),
                               "fastnn numpy": [{"peer": "fastnn numpy", "error": "boom"}]},
                              left_out={})
    by_peer = {r["peer"]: r for r in rows}
    assert by_peer["torch"]["seconds"] == float("inf") and "x_fastest" not in by_peer["torch"]
    assert by_peer["jax"]["seconds"] == 5.0 and by_peer["jax"]["x_fastest"] == 1.0
    assert by_peer["fastnn numba"]["x_fastest"] == 2.0 / 5.0
    assert by_peer["fastnn numpy"] == {"peer": "fastnn numpy", "note": "failed: boom"}
    table = accuracy.format_tta_table(rows, 0.98)
    assert "not reached" in table and "failed: boom" in table
    # Without another library the ratio is to the fastest row.
    alone = benchmark.tta_rows({"fastnn numba": runs(1.0, 2.0, 3.0)}, left_out={})
    assert alone[0]["x_fastest"] == 1.0


def test_time_to_accuracy_options():
    assert parse("--time-to-accuracy").seeds == (0, 1, 2, 3, 4)
    assert parse("--seeds", "3").seeds == (3,) and parse("--target", "0.5").target == 0.5
    for argv in (["--seeds", ""], ["--seeds", "1,1"], ["--seeds", "-1"], ["--target", "0"],
                 ["--target", "1.5"], ["--target", "x"]):
        with pytest.raises(SystemExit):
            parse(*argv)


def test_peer_schedule_is_fastnns_onecycle_step_by_step():
    from fastnn import peers

    args = peers.parse_args("torch", ["--schedule", "onecycle", "--max-lr", "0.2",
                                      "--epochs", "3", "--batch", "100"])
    rates = peers.learning_rates(args, 1050)  # 11 steps per epoch, the last partial
    expected = fnn.schedules.OneCycle(max_lr=0.2).bind(11, 3)(np.arange(33))
    np.testing.assert_array_equal(rates, expected)
    assert rates.max() == pytest.approx(0.2, rel=1e-3)
    constant = peers.learning_rates(peers.parse_args("jax", ["--epochs", "2"]), 256)
    assert constant.tolist() == [benchmark.MNIST_LR] * 4


def test_train_to_target_stops_the_clock_while_scoring(monkeypatch):
    from fastnn import peers

    clock = [0.0]
    monkeypatch.setattr(peers.time, "perf_counter", lambda: clock[0])
    scores = iter([0.5, 0.97, 0.99, 0.995, 0.996])

    def epoch(e):
        clock[0] += 2.0

    def accuracy():
        clock[0] += 100.0  # scoring must not count
        return next(scores)

    run = peers.train_to_target(5, epoch, accuracy, 0.98)
    assert run == {"epoch_seconds": [2.0] * 3, "test_accuracies": [0.5, 0.97, 0.99],
                   "target": 0.98, "seconds_to_target": 6.0, "epochs_to_target": 3}
    missed = peers.train_to_target(2, epoch, accuracy, 0.999)
    assert missed["seconds_to_target"] is None and missed["epochs_to_target"] is None
    assert peers.train_to_target(2, epoch, lambda: 0.3, None) == {
        "epoch_seconds": [2.0, 2.0], "test_accuracies": [0.3]}


def test_fastnn_peer_reports_each_epochs_test_accuracy(tiny, capsys):
    from fastnn.peers import fastnn_mlp

    fastnn_mlp.main(["--backend", "numpy", "--samples", "600", "--epochs", "2", "--batch",
                     "100", "--schedule", "onecycle", "--max-lr", "0.1", "--nesterov",
                     "--target", "0.999", "--threads", "1", "--seed", "3"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["peer"] == "fastnn" and report["backend"] == "numpy"
    assert report["samples"] == 600 and len(report["epoch_seconds"]) == 2
    assert len(report["test_accuracies"]) == 2 and report["seconds_to_target"] is None
    assert report["recipe"]["seed"] == 3 and report["recipe"]["nesterov"] is True
