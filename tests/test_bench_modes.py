"""``fastnn bench --predict`` and ``--cold-start``: the predict command end to end on a tiny
setting (peers that are not installed are skipped), its table from fake reports, and the
cold-start figures from fake process timings (order, ratio, budgets), plus one real child
of the warm-cache figure. No timing is asserted."""

import argparse
import json
import os

import pytest

import fastnn as fnn
from fastnn import benchmark
from fastnn.benchmark import cold_start, predict


def parse(*argv):
    parser = argparse.ArgumentParser()
    benchmark.add_arguments(parser)
    return parser.parse_args([str(arg) for arg in argv])


@pytest.fixture
def restore_threads():
    requested = fnn.threads._requested
    yield
    fnn.set_num_threads(requested or os.cpu_count())  # run() sets the process's threads
    fnn.threads._requested = requested


def test_modes_exclude_each_other():
    for argv in (["--predict", "--cold-start"], ["--predict", "--time-to-accuracy"],
                 ["--calls", "0"], ["--pairs", "0"]):
        with pytest.raises(SystemExit):
            parse(*argv)
    assert parse("--predict").calls == 1000 and parse("--cold-start").pairs == 2


def test_predict_runs_every_system_and_prints_the_table(monkeypatch, restore_threads,
                                                         tmp_path, capsys):
    monkeypatch.setattr(predict, "REPEATS", 1)
    path = tmp_path / "predict.json"
    status = benchmark.run(parse("--predict", "--calls", 3, "--samples", 256, "--threads", 1,
                                 "--backends", "numpy", "--peers", "torch,sklearn",
                                 "--json", path))
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["system", "version", "batch", "1"]
    document = json.loads(path.read_text())
    rows = {r["peer"]: r for r in document["results"]}
    assert list(rows) == ["fastnn numpy", "onnxruntime", "torch", "sklearn"]
    for name, row in rows.items():
        line = next(line for line in lines if line.startswith(name))
        if "skipped" in row:  # a peer that is not installed
            assert "skipped: " in line and "is not installed" in row["skipped"]
            continue
        assert "error" not in row, row
        assert row["calls"] == 3 and row["repeats"] == 1 and row["threads"] == 1
        assert row["latency_s"] > 0 and row["samples_per_s"] > 0
        assert row["max_abs_diff"] < 1e-4  # the same weights everywhere
    assert rows["fastnn numpy"]["max_abs_diff"] == 0.0  # it made the reference
    assert rows["fastnn numpy"]["latency_vs_first"] == 1.0
    assert document["settings"]["trained_on"] == "numpy"


def test_predict_table_from_fake_reports():
    rows = predict.rows_of([
        {"peer": "fastnn numba", "version": "1", "latency_s": 2e-5, "latency_p90_s": 3e-5,
         "throughput_s": 0.05, "samples_per_s": 200_000, "max_abs_diff": 0.0},
        {"peer": "torch", "version": "2", "latency_s": 4e-5, "latency_p90_s": 5e-5,
         "throughput_s": 0.1, "samples_per_s": 100_000, "max_abs_diff": 1e-6},
        {"peer": "onnxruntime", "skipped": "onnxruntime is not installed"},
        {"peer": "sklearn", "error": "exit status 1: boom"}])
    assert rows[1]["latency_vs_first"] == 0.5 and rows[1]["throughput_vs_first"] == 0.5
    table = predict.format_predict_table(rows, "fastnn numba")
    assert "vs fastnn numba" in table and "20.0" in table and "0.50x" in table
    assert "skipped: onnxruntime is not installed" in table
    assert "failed: exit status 1: boom" in table
    assert [label for label, _ in predict.systems(("numba", "check"), ())] == ["fastnn numba"]


def test_cold_start_pairs_alternate_and_the_ratio_is_their_median(monkeypatch, tmp_path):
    calls, seconds = [], iter([30.0, 10.0, 12.0, 24.0, 20.0, 10.0])

    def fake(argv, env):
        who = "fastnn" if argv[2] == "fastnn" else "torch"
        calls.append((who, env.get("NUMBA_CACHE_DIR"), env["FASTNN_NUM_THREADS"]))
        return next(seconds), "{}"

    monkeypatch.setattr(cold_start, "timed_process", fake)
    result = cold_start.train_versus_torch(2, 3, tmp_path)
    assert [c[0] for c in calls] == ["fastnn", "torch", "torch", "fastnn", "fastnn", "torch"]
    caches = [c[1] for c in calls if c[0] == "fastnn"]
    assert len(set(caches)) == 3 and all(c.startswith(str(tmp_path)) for c in caches)
    assert all(c[1] is None for c in calls if c[0] == "torch")  # only fastnn's cache is set
    assert all(c[2] == "2" for c in calls)
    assert result["fastnn_s"] == [30.0, 24.0, 20.0] and result["torch_s"] == [10.0, 12.0, 10.0]
    assert result["ratios"] == [3.0, 2.0, 2.0] and result["value"] == 2.0
    assert result["result"] == "MISS" and result["cache_dir"] == caches[-1]
    assert "NUMBA_CACHE_DIR" not in os.environ or os.environ["NUMBA_CACHE_DIR"] not in caches


def test_cold_start_without_torch_is_not_measured(monkeypatch, tmp_path):
    def fake(argv, env):
        return 5.0, '{"peer": "torch", "skipped": "torch is not installed"}'

    monkeypatch.setattr(cold_start, "timed_process", fake)
    result = cold_start.train_versus_torch(1, 1, tmp_path)
    assert result["value"] is None and result["result"] == "not measured"


def test_figures_print_value_budget_and_verdict():
    figures = [cold_start.figure("info", 40.0, 45.0, "s", kernels="numba kernels: 30 ..."),
               cold_start.figure("ratio", 1.6, 1.5, "x", fastnn_s=[16.0], torch_s=[10.0],
                                 ratios=[1.6], goal=1.0),
               cold_start.figure("new net", 0.2, 1.0, "s", first_fit_s=0.5, second_fit_s=0.3,
                                 compiled=0, loaded=4, backend_load_s=0.4),
               cold_start.figure("newer net", 2.0, 1.0, "s", first_fit_s=2.5, second_fit_s=0.5,
                                 compiled=1, compiled_kernels=["fused_train"], loaded=0,
                                 backend_load_s=0.4)]
    lines = cold_start.format_figures(figures).splitlines()
    assert "40.00s" in lines[0] and "budget <= 45s" in lines[0] and "PASS" in lines[0]
    assert "1.60x" in lines[1] and "MISS" in lines[1] and "goal 1x" in lines[1]
    assert "0 compiled, 4 loaded from the cache" in lines[2] and "PASS" in lines[2]
    assert "MISS" in lines[3] and "1 compiled (fused_train), 0 loaded" in lines[3]


def test_the_warm_cache_child_reports_its_fits_and_cache_counts():
    result = cold_start.new_net_warm(1, None)  # fastnn's own cache, as the suite left it
    assert result["unit"] == "s" and result["result"] in ("PASS", "MISS")
    assert result["first_fit_s"] > 0 and result["second_fit_s"] > 0
    assert (result["compiled"] == 0) == (result["compiled_kernels"] == [])
    assert result["loaded"] >= 0
    assert result["value"] == result["first_fit_s"] - result["second_fit_s"]
