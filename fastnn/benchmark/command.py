"""The ``fastnn bench`` command: its options and the four things it can run.

- default: per batch size, every system (the GEMM floor, fastnn per backend, each peer)
  trains ONE ongoing MNIST-MLP run in rounds, one epoch of each per round in a rotating
  order (``benchmark.interleave``); then the tutorial nets. Above the table: the CPU and
  every BLAS (``benchmark.blas``), and a warning if OpenBLAS is pinned below the CPU;
- ``--time-to-accuracy`` (``benchmark.accuracy``), ``--predict`` (``benchmark.predict``),
  ``--cold-start`` (``benchmark.cold_start``).

fastnn's own backends train in this process (``runs.FastnnRun``): ``fit(epochs=1)`` called
again continues the same run, as a user's process does; there is no process boundary to
cross per epoch, and the floor, which calls numpy's BLAS, runs beside them as before. The
peers each run in a process of their own (``processes.PeerProcess``), as their users run
them, with their own defaults and the same thread count.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import fastnn as fnn
from fastnn._args import positive_int

from . import args as types, blas, runs
from .accuracy import (
    TTA_LEFT_OUT,
    TTA_SEEDS,
    format_tta_table,
    recipe_argv,
    time_to_accuracy,
    tta_entries,
    tta_rows,
)
from .floor import FLOOR, gemm_floor_runner
from .interleave import run_rounds, time_interleaved
from .machine import machine_info, warn_if_busy
from .processes import PEERS, PeerFailed, PeerProcess, peer_argv
from .tables import add_ratios, format_table, say
from .workload import (
    DEFAULT_BATCHES,
    DEFAULT_EPOCHS,
    DEFAULT_THREADS,
    MNIST_WORKLOAD,
    load_mnist_test,
    load_mnist_train,
)

DEFAULT_BACKENDS = ("numpy", "numba")
WARMUP, REPEATS = 1, 3  # the tutorial nets: untimed runs, then timed runs (median kept)
SETTLE_S = 0.05  # pause after each epoch: a finished peer's spinning threads go idle
PREDICT_CALLS = 1000  # --predict: batch-1 calls whose median is the latency
COLD_PAIRS = 2  # --cold-start: fastnn / PyTorch whole-process pairs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fastnn bench`` options."""
    parser.description = (
        "Quick benchmark: per batch size, one MNIST-MLP training run per system, one epoch "
        "of each per round in a rotating order. The systems: the GEMM floor (only the "
        "matrix products of an epoch, the practical hardware limit), fastnn per backend, "
        "and the peers (PyTorch, JAX, scikit-learn), each in a process of its own with its "
        "own defaults (skipped, with the reason, when not installed). Each epoch is divided "
        "by the floor's epoch of the same round; the median ratio over the rounds and its "
        "quartiles are reported, the first round apart. Then the tutorial nets (xor, "
        "moons). The CPU and every BLAS are printed above the table, with a warning if "
        "OpenBLAS is pinned below the CPU. For careful numbers: python -m pytest bench/ "
        "--benchmark-only.")
    parser.add_argument("--batch", type=types.int_list, default=DEFAULT_BATCHES,
                        metavar="B,...", help="MNIST batch sizes (default 32,128,1024)")
    parser.add_argument("--backends", type=types.backend_list, default=DEFAULT_BACKENDS,
                        metavar="NAME,...", help="backends to time (default numpy,numba)")
    parser.add_argument("--peers", type=types.peer_list, default=tuple(PEERS),
                        metavar="NAME,...", help=f"peer libraries to time, or 'none' "
                                                 f"(default {','.join(PEERS)})")
    parser.add_argument("--epochs", type=types.epochs, default=DEFAULT_EPOCHS, metavar="E",
                        help=f"epochs of each MNIST run, one per round; the first round "
                             f"is reported apart (default {DEFAULT_EPOCHS})")
    parser.add_argument("--samples", type=positive_int, default=None, metavar="N",
                        help="use the first N MNIST training images (default all 60,000)")
    parser.add_argument("--threads", type=positive_int, default=DEFAULT_THREADS,
                        help=f"threads for numba, BLAS and the peers (default "
                             f"{DEFAULT_THREADS})")
    parser.add_argument("--json", metavar="PATH",
                        help="also write every number and the machine info here as JSON")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--time-to-accuracy", action="store_true",
                      help="instead: seconds of training until the test accuracy reaches "
                           "--target with the 'fastnn train mnist' recipe, per backend "
                           "and per peer (torch, jax) running the same recipe, each seed "
                           "in a fresh process; --batch and --epochs come from the recipe")
    mode.add_argument("--predict", action="store_true",
                      help="instead: predict_proba of the MNIST net (trained one epoch; "
                           "the same weights everywhere) at batch 1 (median of --calls "
                           "calls) and 10,000 (median of 5), fastnn per backend against "
                           "ONNX Runtime, PyTorch eager and scikit-learn, each in a "
                           "process of its own")
    mode.add_argument("--cold-start", action="store_true",
                      help="instead: compile budgets, whole processes: 'fastnn train "
                           "mnist' with an empty numba cache against a PyTorch script of "
                           "the same recipe (--pairs pairs, alternating); a net of a new "
                           "depth, activation and loss with a warm cache (first fit minus "
                           "a second); 'fastnn info --compile' with an empty cache")
    parser.add_argument("--seeds", type=types.seed_list, default=TTA_SEEDS, metavar="S,...",
                        help="seeds of --time-to-accuracy (default 0,1,2,3,4)")
    parser.add_argument("--target", type=types.fraction, default=None, metavar="ACC",
                        help="test accuracy of --time-to-accuracy (default the mnist "
                             "tutorial's, 0.98)")
    parser.add_argument("--calls", type=positive_int, default=PREDICT_CALLS,
                        metavar="N", help=f"batch-1 calls of --predict (default "
                                          f"{PREDICT_CALLS})")
    parser.add_argument("--pairs", type=positive_int, default=COLD_PAIRS, metavar="N",
                        help=f"fastnn / PyTorch process pairs of --cold-start (default "
                             f"{COLD_PAIRS})")


def run(args: argparse.Namespace) -> int:
    """Run what the options ask for, print the table, write ``--json``; return 0."""
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise FileNotFoundError(f"--json: directory {str(Path(args.json).parent)!r} does not "
                                "exist")
    fnn.set_num_threads(args.threads)
    threads = fnn.thread_info()["requested"]  # capped at the CPU count
    if args.time_to_accuracy:
        return _run_time_to_accuracy(args, threads)
    if args.predict:
        from . import predict
        return _write(args, predict.run(args, threads))
    if args.cold_start:
        from . import cold_start
        return _write(args, cold_start.run(args, threads))
    return _run_rounds(args, threads)


def _write(args: argparse.Namespace, document: dict) -> int:
    """Write ``document`` with the machine info to ``--json``, if asked; return 0."""
    if args.json:
        document = {"machine": machine_info(), "load_average_1min": os.getloadavg()[0],
                    **document}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


class _Floor:
    """The GEMM floor as a system of the rounds."""

    name = FLOOR

    def __init__(self, batch: int, n: int):
        self._runner = gemm_floor_runner(batch, n)

    def epoch(self) -> float:
        start = time.perf_counter()
        self._runner()
        return time.perf_counter() - start


def _start_peers(names, batch: int, n: int, epochs: int, threads: int):
    """({name: running PeerProcess}, {name: note row} of those skipped or failed)."""
    running, notes = {}, {}
    for name in names:
        try:
            peer = PeerProcess(name, PEERS[name], peer_argv(batch, n, epochs, threads))
        except PeerFailed as exc:
            notes[name] = f"failed: {exc}"
            continue
        if "skipped" in peer.ready:
            peer.close()
            notes[name] = f"skipped: {peer.ready['skipped']}"
        else:
            running[name] = peer
    for name, note in notes.items():
        say(f"{name} batch {batch}: {note}")
    return running, notes


def _mnist_rows(args, threads, X, y, test, peer_blas, peer_libraries) -> list[dict]:
    """The interleaved rounds of every batch size: one row per system and batch; each
    peer's BLAS goes into ``peer_blas`` (a line) and ``peer_libraries`` (its entries)."""
    n, rows = len(X), []
    for batch in args.batch:
        own = [runs.FastnnRun(backend, batch, X, y) for backend in args.backends]
        peers, notes = _start_peers(args.peers, batch, n, args.epochs, threads)
        for name, peer in peers.items():
            peer_blas[name] = blas.describe_peer_blas(peer.ready)
            peer_libraries[name] = blas.peer_libraries(name, peer.ready)
        systems = [_Floor(batch, n), *own, *peers.values()]
        try:
            outcomes = run_rounds(systems, args.epochs, settle=SETTLE_S,
                                  say=lambda text, b=batch: say(f"batch {b} {text}"))
        finally:
            finals = {}
            for name, peer in peers.items():
                try:
                    finals[name] = peer.finish()
                except PeerFailed as exc:
                    finals[name] = {"error": str(exc)}
        accuracy = {fit.name: fit.accuracy(*test) for fit in own}
        for name, outcome in outcomes.items():
            row = {"workload": MNIST_WORKLOAD, "backend": name, "batch": batch, "samples": n,
                   "rounds": len(outcome.ratios), **outcome.summary()}
            if "seconds" in row:
                row["samples_per_s"] = n / row["seconds"]
            if "q1" in row:
                row["ratio_spread"] = f"{row['q1']:.2f}-{row['q3']:.2f}"
            final = finals.get(name, {})
            if name in accuracy:
                row["test_accuracy"] = accuracy[name]
            elif "test_accuracy" in final:
                row.update(test_accuracy=final["test_accuracy"],
                           note=f"{name} {final['version']}")
            if outcome.error or "error" in final:
                row["note"] = f"failed: {outcome.error or final['error']}"
            rows.append(row)
        rows += [{"workload": MNIST_WORKLOAD, "backend": name, "batch": batch, "note": note}
                 for name, note in notes.items()]
    return rows


def _tutorial_rows(backends) -> list[dict]:
    """The tutorial nets, alternating between backends, the median of REPEATS runs."""
    rows = []
    for name in runs.TUTORIALS:
        runners = {backend: runs.tutorial_runner(name, backend) for backend in backends}
        for backend, (median, times) in time_interleaved(runners, WARMUP, REPEATS).items():
            rows.append({"workload": name, "backend": backend, "batch": None,
                         "seconds": median, "times": times})
            say(f"{name} {backend}: {median:.4f} s")
    return rows


def _run_rounds(args: argparse.Namespace, threads: int) -> int:
    """``fastnn bench``: the rounds, the tutorial nets, the report and the table."""
    X, y = load_mnist_train(args.samples)
    cpu, libraries = blas.cpu_info(), blas.blas_libraries()
    warnings = blas.pinned_warnings(cpu, libraries)
    print(f"fastnn bench: {len(X):,} MNIST samples, {args.epochs} epochs per run (one per "
          f"round, rotating order), {threads} threads, backends {', '.join(args.backends)}, "
          f"peers {', '.join(args.peers) or 'none'}", file=sys.stderr, flush=True)
    for line in warnings:
        print(line, file=sys.stderr, flush=True)
    warn_if_busy()
    peer_blas, peer_libraries = {}, {}
    rows = _mnist_rows(args, threads, X, y, load_mnist_test(), peer_blas, peer_libraries)
    rows += _tutorial_rows(args.backends)
    warnings = blas.pinned_warnings(cpu, [*libraries, *(entry for entries in
                                                        peer_libraries.values()
                                                        for entry in entries)])
    for line in [*warnings, *blas.format_report(cpu, libraries, peer_blas)]:
        print(line)
    print(format_table(add_ratios(rows)))
    settings = {"samples": len(X), "epochs": args.epochs, "threads": threads,
                "batches": list(args.batch), "backends": list(args.backends),
                "peers": list(args.peers), "order": "rotating", "settle_s": SETTLE_S,
                "tutorial_warmup": WARMUP, "tutorial_repeats": REPEATS}
    return _write(args, {"settings": settings, "results": rows,
                         "blas": {"cpu": cpu, "libraries": libraries, "peers": peer_blas,
                                  "warnings": warnings}})


def _run_time_to_accuracy(args: argparse.Namespace, threads: int) -> int:
    """``fastnn bench --time-to-accuracy``: run, print the table, write ``--json``."""
    from fastnn.problems import PROBLEMS

    target = PROBLEMS["mnist"].threshold if args.target is None else args.target
    entries = tta_entries(args.backends, args.peers)
    print(f"fastnn bench --time-to-accuracy: target {target:.2%}, seeds "
          f"{','.join(map(str, args.seeds))}, {threads} threads, recipe "
          f"{' '.join(recipe_argv())}" + (f", first {args.samples:,} training images"
                                          if args.samples else ""),
          file=sys.stderr, flush=True)
    warn_if_busy()
    reports = time_to_accuracy(entries, args.seeds, target, threads, args.samples)
    rows = tta_rows(reports, {name: note for name, note in TTA_LEFT_OUT.items()
                              if name in args.peers})
    print(format_tta_table(rows, target))
    settings = {"target": target, "seeds": list(args.seeds), "threads": threads,
                "samples": args.samples, "recipe": recipe_argv(),
                "backends": list(args.backends), "peers": list(args.peers)}
    results = [{**r, "seconds": None} if r.get("seconds") == math.inf else r
               for r in rows]  # strict JSON has no Infinity: null, as per_seed has
    return _write(args, {"settings": settings, "results": results})
