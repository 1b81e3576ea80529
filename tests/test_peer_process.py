"""Peers as long-lived processes (``fastnn bench``'s rounds): the serve protocol on both
sides, a peer that dies mid-run, and one real peer (scikit-learn, if installed) serving
two epochs of one run on a few MNIST rows."""

import argparse
import importlib.util
import io
import json
import subprocess
import sys

import pytest

from fastnn import peers
from fastnn.benchmark.processes import PeerFailed, PeerProcess

FAKE_SERVER = """
import json, sys
from fastnn import peers
args = peers.parse_args("fake", sys.argv[1:])
done = []
def epoch(e):
    if args.batch == 13 and e == 1:
        print("RuntimeError: out of luck", file=sys.stderr)
        sys.exit(3)
    done.append(e)
print("noise from the library")
peers.serve("fake", "1.0", args, 10, epoch, lambda: 0.25, ["fake BLAS"])
"""


@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    """A module ``fake_server`` on PYTHONPATH serving epochs through ``peers.serve``."""
    (tmp_path / "fake_server.py").write_text(FAKE_SERVER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))


def test_serve_runs_one_epoch_per_line_and_reports_at_the_end(capsys):
    args = argparse.Namespace(batch=8, threads=1, epochs=3)
    ran = []
    peers.serve("p", "2.0", args, 100, ran.append, lambda: 0.75, ["BLAS x"],
                stdin=io.StringIO("epoch\nepoch\ndone\nepoch\n"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"peer": "p", "version": "2.0", "ready": True, "blas": ["BLAS x"]}
    assert ran == [0, 1] and all(set(line) == {"seconds"} for line in lines[1:3])
    assert lines[3]["epochs"] == 2 and lines[3]["test_accuracy"] == 0.75
    assert lines[3]["epoch_seconds"] == [lines[1]["seconds"], lines[2]["seconds"]]


def test_serve_refuses_more_epochs_than_asked_for_and_unknown_commands():
    args = argparse.Namespace(batch=8, threads=1, epochs=1)
    with pytest.raises(SystemExit, match="more than --epochs 1"):
        peers.serve("p", "1", args, 1, lambda e: None, lambda: 0.0, [],
                    stdin=io.StringIO("epoch\nepoch\n"))
    with pytest.raises(SystemExit, match="unknown command 'train'"):
        peers.serve("p", "1", args, 1, lambda e: None, lambda: 0.0, [],
                    stdin=io.StringIO("train\n"))


def test_peer_process_serves_epochs_of_one_run(fake_server):
    peer = PeerProcess("fake", "fake_server", ["--epochs", "3", "--batch", "8"], timeout=60)
    assert peer.ready == {"peer": "fake", "version": "1.0", "ready": True,
                          "blas": ["fake BLAS"]}
    assert peer.epoch() >= 0 and peer.epoch() >= 0
    report = peer.finish()
    assert report["epochs"] == 2 and report["test_accuracy"] == 0.25


def test_a_peer_dying_mid_run_fails_with_its_last_stderr_line(fake_server):
    peer = PeerProcess("fake", "fake_server", ["--epochs", "3", "--batch", "13"], timeout=60)
    peer.epoch()
    with pytest.raises(PeerFailed, match="fake: exit status 3: RuntimeError: out of luck"):
        peer.epoch()
    peer.close()


def test_a_peer_that_cannot_start_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(PeerFailed, match="missing: exit status 1: .*No module named missing_peer"):
        PeerProcess("missing", "missing_peer", [], timeout=60)


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="scikit-learn is not installed (an optional peer)")
def test_the_sklearn_peer_serves_two_epochs_and_reports_its_blas():
    peer = PeerProcess("sklearn", "fastnn.peers.sklearn_mlp",
                       ["--samples", "256", "--epochs", "2", "--batch", "64",
                        "--threads", "1"], timeout=120)
    assert peer.ready["peer"] == "sklearn" and isinstance(peer.ready["blas"], list)
    seconds = [peer.epoch(), peer.epoch()]
    report = peer.finish()
    assert report["epoch_seconds"] == seconds and 0 <= report["test_accuracy"] <= 1


def test_the_peer_scripts_load_only_the_workload_module_of_the_benchmarks():
    code = ("import sys, fastnn.peers.torch_mlp, fastnn.peers.predict; print(sorted(m for m in "
            "sys.modules if m.startswith('fastnn.benchmark') or m == 'numba'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "['fastnn.benchmark', 'fastnn.benchmark.workload']"
