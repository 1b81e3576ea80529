"""Inference speed (``fastnn bench --predict``): ``predict_proba`` of the trained MNIST net.

The net (784-256-128-10 ReLU, the workload's SGD) is trained for one epoch here, on the
numba backend if it is among ``--backends`` (else the first), so every system predicts
with the same weights: they are written once to a temporary directory as fastnn's model
file, an ONNX file (``fastnn.onnx.export``) and plain arrays, beside fastnn numpy's
probabilities of the 10,000 test images as the reference. Then each system runs
``python -m fastnn.peers.predict`` in a process of its own (fastnn per backend too, so
that every one starts alike): latency at batch 1 (median of ``--calls`` calls) and
throughput at batch 10,000 (median of 5 calls). Peers: ONNX Runtime (unless ``--peers
none``), PyTorch and scikit-learn if in ``--peers``; one that is not installed is skipped
with a line saying so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import fastnn as fnn

from .machine import warn_if_busy
from .processes import run_module
from .runs import mnist_model
from .tables import say
from .workload import load_mnist_test, load_mnist_train

PEER_MODULE = "fastnn.peers.predict"
TRAIN_EPOCHS, TRAIN_BATCH = 1, 128
REPEATS = 5  # full-batch calls whose median is the throughput


def prepare(directory: Path, backend: str, samples: int | None) -> str | None:
    """Train the net one epoch on ``backend`` and write its files into ``directory``;
    None, or why the ONNX file could not be written."""
    X, y = load_mnist_train(samples)
    model, optimizer = mnist_model()
    with fnn.use_backend(backend):
        model.fit(X, y, epochs=TRAIN_EPOCHS, batch_size=TRAIN_BATCH, optimizer=optimizer,
                  verbose=0)
    fnn.save(model, directory / "model.npz")
    np.savez(directory / "weights.npz",
             **{f"W{l}": W for l, W in enumerate(model.net.W)},
             **{f"b{l}": b for l, b in enumerate(model.net.b)})
    with fnn.use_backend("numpy"):
        np.save(directory / "reference.npy",
                model.predict_proba(load_mnist_test()[0]).astype(np.float64))
    try:
        from fastnn import onnx
    except ImportError as exc:
        return str(exc)
    onnx.export(model, directory / "model.onnx")
    return None


def systems(backends, peers) -> list[tuple[str, list[str]]]:
    """(label, options) of each system: fastnn per backend, then the peers."""
    found = [(f"fastnn {backend}", ["--system", "fastnn", "--backend", backend])
             for backend in backends if backend != "check"]
    if peers:
        found.append(("onnxruntime", ["--system", "onnxruntime"]))
    return found + [(name, ["--system", name]) for name in ("torch", "sklearn")
                    if name in peers]


def rows_of(reports: list[dict]) -> list[dict]:
    """Table rows: each report with its latency and throughput relative to the first
    timed row's (fastnn's first backend): how many times faster it is."""
    timed = [r for r in reports if "latency_s" in r]
    for r in timed:
        r["latency_vs_first"] = timed[0]["latency_s"] / r["latency_s"]
        r["throughput_vs_first"] = timed[0]["throughput_s"] / r["throughput_s"]
    return reports


def format_predict_table(rows: list[dict], first: str) -> str:
    """The rows as an aligned text table (skipped or failed ones with their note)."""
    cells = [["system", "version", "batch 1 median us", "p90 us", f"vs {first}",
              "batch 10000 ms", "samples/s", f"vs {first}", "max |p - ref|", "note"]]
    for r in rows:
        if "latency_s" not in r:
            note = (f"skipped: {r['skipped']}" if "skipped" in r
                    else f"failed: {r.get('error', 'no report')}")
            cells.append([r["peer"], "", "", "", "", "", "", "", "", note])
            continue
        cells.append([r["peer"], str(r["version"]), f"{r['latency_s'] * 1e6:.1f}",
                      f"{r['latency_p90_s'] * 1e6:.1f}", f"{r['latency_vs_first']:.2f}x",
                      f"{r['throughput_s'] * 1e3:.2f}", f"{r['samples_per_s']:,.0f}",
                      f"{r['throughput_vs_first']:.2f}x", f"{r['max_abs_diff']:.1e}",
                      r.get("note", "")])
    widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
    left = (0, 1, 9)
    return "\n".join("  ".join(c.ljust(w) if j in left else c.rjust(w)
                               for j, (c, w) in enumerate(zip(row, widths))).rstrip()
                     for row in cells)


def run(args: argparse.Namespace, threads: int) -> dict:
    """Train, write the files, run every system, print the table; the JSON document."""
    backend = "numba" if "numba" in args.backends else args.backends[0]
    chosen = systems(args.backends, args.peers)
    print(f"fastnn bench --predict: the MNIST net trained {TRAIN_EPOCHS} epoch on {backend}; "
          f"batch 1 x {args.calls} calls, batch 10,000 x {REPEATS}; {threads} threads; "
          f"systems {', '.join(label for label, _ in chosen)}", file=sys.stderr, flush=True)
    warn_if_busy()
    reports = []
    with tempfile.TemporaryDirectory(prefix="fastnn-predict-") as tmp:
        directory = Path(tmp)
        onnx_missing = prepare(directory, backend, args.samples)
        for label, options in chosen:
            if label == "onnxruntime" and onnx_missing:
                reports.append({"peer": label, "skipped": onnx_missing})
            else:
                reports.append(run_module(label, PEER_MODULE, [
                    *options, "--dir", tmp, "--calls", str(args.calls), "--repeats",
                    str(REPEATS), "--threads", str(threads)]))
            report = reports[-1]
            say(f"{label}: " + (report.get("skipped") or report.get("error") or
                                f"{report['latency_s'] * 1e6:.1f} us, "
                                f"{report['throughput_s'] * 1e3:.2f} ms"))
    rows = rows_of(reports)
    print(format_predict_table(rows, chosen[0][0] if chosen else "-"))
    settings = {"trained_on": backend, "train_epochs": TRAIN_EPOCHS, "calls": args.calls,
                "repeats": REPEATS, "threads": threads, "samples": args.samples}
    return {"settings": settings, "results": rows}
