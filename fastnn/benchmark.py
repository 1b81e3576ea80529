"""Benchmark workloads and the ``fastnn bench`` command.

The workloads are shared by ``bench/`` (pytest-benchmark, saved JSON) and ``fastnn bench``
(a quick table):

- MNIST-MLP, :func:`mnist_run`: 784-256-128-10 ReLU, softmax cross-entropy, SGD lr 0.05
  momentum 0.9, shuffled, float32, for E epochs of ONE ongoing run, as a user trains:
  one public ``model.fit(X, y, epochs=E, ...)`` call (so including fit's input
  validation), the optimizer state carried from epoch to epoch. Per-epoch seconds come
  from ``history["samples_per_s"]``; they are real per-epoch times because ``fit`` runs
  MNIST-sized data one epoch per backend call (a chunk of several epochs would report
  the chunk's mean for each). The first epoch (compiling, or loading numba's cache,
  and cold caches) is reported apart; the steady number is the median of epochs 2..E;
- the peers, :func:`run_peer`: the same run in PyTorch eager, JAX (one jitted step) and
  scikit-learn, each a script of ``fastnn.peers`` in a fresh process of its own, with
  its library's own defaults and T threads, reporting the same first and steady
  numbers (inside fastnn's process PyTorch ran 2x slower, beside fastnn's thread pools);
- the GEMM floor, :func:`gemm_floor_runner`: only the eight float32 matrix products of
  each training step (three forward, three weight gradients, two input gradients)
  through numpy's BLAS into preallocated outputs, for the same ceil(N/B) steps with a
  partial last batch: the practical hardware limit of an epoch. It is timed in this
  process, one warm-up then REPEATS runs before the batch size's backends and peers and
  REPEATS after them, the median of all reported;
- the tutorial nets, :func:`tutorial_runner`: XOR and two moons, full-batch gradient
  descent for 10,000 and 20,000 iterations through ``fit``; per-call overhead dominates.
  One warm-up and three timed runs alternating between backends (see
  :func:`time_interleaved`), the median reported.

- time to accuracy, :func:`time_to_accuracy` (``fastnn bench --time-to-accuracy``): the
  ``fastnn train mnist`` recipe (``fastnn.problems``: its batch, epochs, SGD with Nesterov
  momentum, weight decay and one-cycle schedule, He-normal ReLU layers, zero biases) in
  fastnn (per backend) and in PyTorch and JAX running the same recipe, every (peer, seed)
  in a fresh process. The clock runs from the start of training (the first epoch's
  compiling or cache loading included, as a user's first fit pays it) to the end of the
  first epoch whose test accuracy reaches the target; it stops while the test set is
  scored after each epoch. Per peer: the median over the seeds (a seed that never reaches
  the target counts as infinitely slow), each seed's seconds and epochs, and the ratio to
  the fastest other library. scikit-learn is left out: its SGD cannot follow a per-step
  schedule.

Ratios, for the same workload and batch: ``x GEMM floor`` = steady seconds / the floor's
seconds (1.0 is the hardware limit); ``vs numpy`` and ``vs torch`` = their seconds /
these seconds (speed-ups). pytest-benchmark cannot put one test's result into another's
``extra_info``, so ``bench/`` prints this table at the end of its run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import fastnn as fnn
from fastnn._args import int_at_least, positive_int
from fastnn.datasets import load_mnist, logic_gate, make_moons

MNIST_SIZES = (784, 256, 128, 10)
MNIST_LR, MNIST_MOMENTUM = 0.05, 0.9
MNIST_WORKLOAD = "mnist-epoch"
FLOOR = "gemm-floor"  # the "backend" name of the GEMM floor rows
DEFAULT_BATCHES = (32, 128, 1024)
DEFAULT_BACKENDS = ("numpy", "numba")
DEFAULT_THREADS = 2
DEFAULT_EPOCHS = 4  # of one run: the first apart, the median of the other three
WARMUP, REPEATS = 1, 3  # fastnn bench: untimed runs, then timed runs whose median counts
SAMPLES_ENV = "FASTNN_BENCH_SAMPLES"
PEERS = {"torch": "fastnn.peers.torch_mlp", "jax": "fastnn.peers.jax_mlp",
         "sklearn": "fastnn.peers.sklearn_mlp"}
ROW_ORDER = (FLOOR, "numpy", "numba", "check", *PEERS)
FASTNN_PEER = "fastnn.peers.fastnn_mlp"  # fastnn run as a peer: time to accuracy
TTA_SEEDS = (0, 1, 2, 3, 4)
TTA_LEFT_OUT = {"sklearn": "left out: MLPClassifier's SGD cannot follow a per-step "
                           "learning-rate schedule (constant, invscaling or adaptive only)"}


@dataclass(frozen=True)
class Tutorial:
    """A tutorial net: MLP sizes and hidden activation, softmax-CE, full-batch SGD."""

    sizes: tuple[int, ...]
    activation: str
    iterations: int
    lr: float
    weight_decay: float
    data: Callable[[], tuple[np.ndarray, np.ndarray]]


TUTORIALS = {
    "xor": Tutorial((2, 4, 2), "relu", 10_000, lr=0.1, weight_decay=0.0,
                    data=lambda: logic_gate("xor")),
    "moons": Tutorial((2, 3, 2), "tanh", 20_000, lr=1.0, weight_decay=1e-3,
                      data=lambda: make_moons(200, noise=0.2, seed=0)),
}


# -- workloads --------------------------------------------------------------------------

def load_mnist_train(samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST training set: X float32 (n, 784), y int64 (n,); the first ``samples`` rows."""
    (X, y), _ = load_mnist()
    return X[:samples], y[:samples]


def samples_from_env() -> int | None:
    """``$FASTNN_BENCH_SAMPLES`` as a positive int, or None (all samples) if unset."""
    value = os.environ.get(SAMPLES_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SAMPLES_ENV} must be a positive integer, got {value!r}")
    return int(value)


def load_mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test set: X float32 (10000, 784), y int64 (10000,)."""
    return load_mnist()[1]


def mnist_run(backend: str, batch: int, X: np.ndarray, y: np.ndarray, epochs: int,
              seed: int = 0) -> tuple[list[float], fnn.Sequential]:
    """Train a fresh MNIST-MLP on ``backend`` for ``epochs`` epochs of one ``model.fit``
    call; return (wall seconds of each epoch, the trained model).

    X float32 (n, 784), y int64 (n,). The seconds are ``n / history["samples_per_s"]``:
    per epoch as long as fit runs one epoch per backend call (the training loop does for
    MNIST-sized data), else each epoch of a chunk gets the chunk's mean.
    """
    model = fnn.MLP(MNIST_SIZES, activation="relu", seed=seed)
    optimizer = fnn.SGD(lr=MNIST_LR, momentum=MNIST_MOMENTUM)
    with fnn.use_backend(backend):
        history = model.fit(X, y, epochs=epochs, batch_size=batch, optimizer=optimizer,
                            verbose=0)
    return [len(X) / rate for rate in history["samples_per_s"]], model


def epoch_summary(epoch_seconds: list[float]) -> dict:
    """{"epoch_seconds", "first_epoch_s", "seconds": median of epochs 2..E (the steady
    number; absent if E = 1)} of one run's per-epoch wall seconds."""
    summary = {"epoch_seconds": list(epoch_seconds), "first_epoch_s": epoch_seconds[0]}
    if len(epoch_seconds) > 1:
        summary["seconds"] = statistics.median(epoch_seconds[1:])
    return summary


def run_peer(name: str, batch: int, samples: int | None, epochs: int,
             threads: int = DEFAULT_THREADS, timeout: float | None = None) -> dict:
    """Run peer ``name`` (a key of PEERS) in a fresh Python process, with this process's
    environment (fastnn keeps its thread settings out of it); its JSON report.

    The report has peer, version, batch, samples, epoch_seconds, first_epoch_s,
    steady_epoch_s and test_accuracy (see ``fastnn.peers``), or ``skipped`` (its library is
    missing) or ``error`` (the process failed: its exit status and last stderr line).
    """
    argv = ["--batch", str(batch), "--epochs", str(epochs), "--threads", str(threads)]
    if samples is not None:
        argv += ["--samples", str(samples)]
    return run_module(name, PEERS[name], argv, timeout)


def run_module(name: str, module: str, argv: list[str], timeout: float | None = None) -> dict:
    """``python -m module *argv`` in a fresh process with this process's environment; the
    last JSON line it prints, or ``{"peer": name, "error": ...}``."""
    try:
        done = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True,
                              text=True, env=dict(os.environ), timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"peer": name, "error": f"timed out after {timeout:g} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"peer": name, "error": f"exit status {done.returncode}: {last}"}
    return json.loads(lines[-1])


def gemm_floor_runner(batch: int, n_samples: int,
                      sizes: tuple[int, ...] = MNIST_SIZES) -> Callable[[], None]:
    """A callable doing only the matrix products of one epoch: the hardware floor.

    Per step of m rows (ceil(n_samples / batch) steps, the last one partial), for layers
    l = 0..L-1: forward ``a[l+1] = a[l] @ W[l]``; backward, last layer first,
    ``dW[l] = a[l].T @ d[l]`` and, except for l = 0, ``d[l-1] = d[l] @ W[l].T``: 3L - 1
    float32 products (8 for MNIST-MLP) by ``np.matmul(..., out=preallocated)``.
    """
    rng = np.random.default_rng(0)
    batch = min(batch, n_samples)

    def f32(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    W = [f32(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
    dW = [np.empty_like(w) for w in W]
    a = [f32(batch, s) for s in sizes]  # a[0] is the input batch, a[l+1] layer l's output
    d = [f32(batch, s) for s in sizes[1:]]  # d[l]: gradient of layer l's output
    full, rest = divmod(n_samples, batch)
    rows = [batch] * full + ([rest] if rest else [])
    views = {m: ([x[:m] for x in a], [g[:m] for g in d]) for m in set(rows)}
    steps = [views[m] for m in rows]

    def epoch():
        for a_m, d_m in steps:
            for l in range(len(W)):
                np.matmul(a_m[l], W[l], out=a_m[l + 1])
            for l in reversed(range(len(W))):
                np.matmul(a_m[l].T, d_m[l], out=dW[l])
                if l:
                    np.matmul(d_m[l], W[l].T, out=d_m[l - 1])

    return epoch


def tutorial_runner(name: str, backend: str, seed: int = 0) -> Callable[[], None]:
    """A callable running tutorial ``name`` (xor, moons): one full-batch ``fit`` of all
    its iterations on ``backend``; the model continues training from call to call."""
    spec = TUTORIALS[name]
    X, y = spec.data()
    X = X.astype(np.float32)
    model = fnn.MLP(spec.sizes, activation=spec.activation, seed=seed)
    optimizer = fnn.SGD(lr=spec.lr, weight_decay=spec.weight_decay)

    def run():
        with fnn.use_backend(backend):
            model.fit(X, y, epochs=spec.iterations, batch_size=None, optimizer=optimizer,
                      verbose=0)

    return run


# -- time to accuracy -------------------------------------------------------------------

def recipe_argv(problem=None) -> list[str]:
    """The peer options that run ``problem``'s recipe (default: ``fastnn train mnist``'s,
    from ``fastnn.problems``): batch, epochs, learning rate or one-cycle schedule,
    momentum, Nesterov, weight decay, fastnn's initialisation."""
    from .problems import PROBLEMS
    from .schedules import OneCycle

    problem = PROBLEMS["mnist"] if problem is None else problem
    optimizer = problem.optimizer(problem.lr)
    lr = optimizer.lr
    if isinstance(lr, OneCycle):
        if lr != OneCycle(max_lr=lr.max_lr, epochs=lr.epochs):
            raise ValueError(f"the peers run OneCycle(max_lr) with its other defaults; "
                             f"the recipe has {lr!r}")
        argv = ["--schedule", "onecycle", "--max-lr", repr(lr.max_lr)]
        epochs = problem.epochs if lr.epochs is None else lr.epochs
    elif isinstance(lr, (int, float)):
        argv, epochs = ["--schedule", "constant", "--lr", repr(float(lr))], problem.epochs
    else:
        raise ValueError(f"the peers cannot run the learning rate {lr!r}")
    argv += ["--batch", str(problem.batch_size), "--epochs", str(epochs), "--momentum",
             repr(optimizer.momentum), "--weight-decay", repr(optimizer.weight_decay),
             "--init", "he"]
    return argv + (["--nesterov"] if optimizer.nesterov else [])


def tta_entries(backends, peers) -> list[tuple[str, str, list[str]]]:
    """(label, module, extra options) of each contender: fastnn per backend, then the
    peers that can run the recipe (see TTA_LEFT_OUT)."""
    entries = [(f"fastnn {backend}", FASTNN_PEER, ["--backend", backend])
               for backend in backends]
    return entries + [(name, PEERS[name], []) for name in peers if name not in TTA_LEFT_OUT]


def time_to_accuracy(entries, seeds, target: float, threads: int, samples: int | None = None,
                     timeout: float | None = None) -> dict[str, list[dict]]:
    """Run every entry (see :func:`tta_entries`) for every seed, each in a fresh process;
    {label: [report per seed]}. Seed-major order: every contender runs seed s before any
    runs seed s + 1, so all meet the same phases of a machine whose speed drifts.

    First, untimed, each fastnn entry trains 256 images for one epoch: that fills
    numba's on-disk cache if it is empty (after an install or an edit), so the timed
    first epochs load compiled kernels, as every run after a user's first does. JAX has
    no such cache by default: it compiles in every process, inside its first epoch.
    """
    for label, module, extra in entries:
        if module == FASTNN_PEER:
            run_module(label, module, ["--samples", "256", "--epochs", "1", "--threads",
                                       str(threads), *extra], timeout)
    base = recipe_argv() + ["--target", repr(target), "--threads", str(threads)]
    if samples is not None:
        base += ["--samples", str(samples)]
    reports = {label: [] for label, _, _ in entries}
    for seed in seeds:
        for label, module, extra in entries:
            report = run_module(label, module, [*base, *extra, "--seed", str(seed)], timeout)
            report["seed"] = seed
            reports[label].append(report)
            reached = report.get("seconds_to_target")
            _say(f"{label} seed {seed}: " + (
                report.get("error") or report.get("skipped") or
                (f"{reached:.2f} s, {report['epochs_to_target']} epochs" if reached is not None
                 else f"target not reached ({report['test_accuracies']})")))
    return reports


def tta_rows(reports: dict[str, list[dict]],
             left_out: dict[str, str] = TTA_LEFT_OUT) -> list[dict]:
    """Table rows from :func:`time_to_accuracy`'s reports, plus a note row per left-out peer.

    A row has peer, seconds (median over the seeds; a seed that failed or never reached
    the target counts as inf), per_seed (seconds or None), epochs (per seed, or None),
    test_accuracy (median of each seed's last score), x_fastest (seconds / the fastest
    other library's: the fastest row not of fastnn, or of all rows if there is none),
    note. Every run failing or skipped: only peer and note.
    """
    rows = []
    for label, runs in reports.items():
        ran = [r for r in runs if "epoch_seconds" in r]
        if not ran:
            first = runs[0] if runs else {}
            rows.append({"peer": label, "note": f"skipped: {first['skipped']}" if "skipped" in
                         first else f"failed: {first.get('error', 'no report')}"})
            continue
        per_seed = [r.get("seconds_to_target") for r in runs]
        row = {"peer": label, "seeds": [r["seed"] for r in runs],
               "seconds": statistics.median(math.inf if t is None else t for t in per_seed),
               "per_seed": per_seed, "epochs": [r.get("epochs_to_target") for r in runs],
               "first_epoch_s": [r["epoch_seconds"][0] for r in ran],
               "test_accuracy": statistics.median(r["test_accuracy"] for r in ran),
               "note": f"{ran[0]['peer']} {ran[0]['version']}", "reports": runs}
        failed = [r.get("error") or r.get("skipped") for r in runs if "epoch_seconds" not in r]
        if failed:
            row["note"] += f"; {len(failed)} run(s) failed: {failed[0]}"
        rows.append(row)
    timed = [r for r in rows if math.isfinite(r.get("seconds", math.inf))]
    others = [r for r in timed if not r["peer"].startswith("fastnn")] or timed
    if others:
        fastest = min(r["seconds"] for r in others)
        for r in timed:
            r["x_fastest"] = r["seconds"] / fastest
    return rows + [{"peer": name, "note": note} for name, note in left_out.items()]


def format_tta_table(rows: list[dict], target: float) -> str:
    """The time-to-accuracy rows as an aligned text table."""
    def seconds(t):
        return "-" if t is None or not math.isfinite(t) else f"{t:.2f}"

    title = f"median s to {target:.1%}"
    cells = [["peer", title, "per seed s", "epochs", "x fastest peer", "test acc", "note"]]
    for r in rows:
        if "per_seed" not in r:
            cells.append([r["peer"], "", "", "", "", "", r["note"]])
            continue
        cells.append([r["peer"], seconds(r["seconds"]) if math.isfinite(r["seconds"]) else
                      "not reached", " ".join(seconds(t) for t in r["per_seed"]),
                      " ".join("-" if e is None else str(e) for e in r["epochs"]),
                      f"{r['x_fastest']:.2f}x" if "x_fastest" in r else "",
                      f"{r['test_accuracy']:.4f}", r["note"]])
    widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
    left = (0, 2, 3, 6)
    return "\n".join("  ".join(c.ljust(w) if j in left else c.rjust(w)
                               for j, (c, w) in enumerate(zip(row, widths))).rstrip()
                     for row in cells)


# -- timing, ratios, table --------------------------------------------------------------

def time_interleaved(fns: dict[str, Callable[[], None]], warmup: int = WARMUP,
                     repeats: int = REPEATS) -> dict[str, tuple[float, list[float]]]:
    """Run each of ``fns`` ``warmup`` times untimed, then ``repeats`` timed rounds that
    call each once, in turn; {name: (median, all times)} in s.

    Interleaving puts every configuration in the same phases of a machine whose speed
    drifts (shared hosts do, by tens of percent within minutes), so the ratios between
    them stay meaningful even when the absolute times move.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(ts), ts) for name, ts in times.items()}


def add_ratios(rows: list[dict]) -> list[dict]:
    """Sort rows and add ``x_gemm_floor``, ``vs_numpy``, ``vs_torch`` where the reference
    row (same workload and batch) exists. Rows need workload, backend, batch, and
    seconds unless they are a skipped or failed peer's (with a ``note``)."""
    seconds = {(r["workload"], r["batch"], r["backend"]): r["seconds"]
               for r in rows if "seconds" in r}
    for r in rows:
        if "seconds" not in r:
            continue
        for key, ref_backend in (("x_gemm_floor", FLOOR), ("vs_numpy", "numpy"),
                                 ("vs_torch", "torch")):
            ref = seconds.get((r["workload"], r["batch"], ref_backend))
            if ref:
                r[key] = r["seconds"] / ref if ref_backend == FLOOR else ref / r["seconds"]
    order = {name: i for i, name in enumerate(ROW_ORDER)}
    rows.sort(key=lambda r: (r["workload"] != MNIST_WORKLOAD, r["workload"], r["batch"] or 0,
                             order.get(r["backend"], len(order))))
    return rows


_TEXT_COLUMNS = ("workload", "backend", "note")


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table: blank where a number does not apply, columns
    that apply to no row left out."""
    columns = [("workload", "workload", "{}"), ("backend", "backend", "{}"),
               ("batch", "batch", "{}"), ("samples_per_s", "samples/s", "{:,.0f}"),
               ("first_epoch_s", "1st epoch s", "{:.3f}"), ("seconds", "steady s", "{:.4f}"),
               ("x_gemm_floor", "x GEMM floor", "{:.2f}"), ("vs_numpy", "vs numpy", "{:.2f}x"),
               ("vs_torch", "vs torch", "{:.2f}x"), ("test_accuracy", "test acc", "{:.4f}"),
               ("note", "note", "{}")]
    columns = [c for c in columns if c[0] == "batch" or any(c[0] in r for r in rows)]
    cells = [[title for _, title, _ in columns]]
    for r in rows:
        batch = "full" if r["batch"] is None else r["batch"]
        cells.append([fmt.format(batch if key == "batch" else r[key]) if key in r else ""
                      for key, _, fmt in columns])
    widths = [max(len(row[j]) for row in cells) for j in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) if key in _TEXT_COLUMNS else c.rjust(w)
                               for (key, _, _), c, w in zip(columns, row, widths)).rstrip()
                     for row in cells)


def machine_info() -> dict:
    """Versions, CPU count, numba threads and threading layer, BLAS: for saved results."""
    import numba
    info = {"fastnn": fnn.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "numpy": np.__version__, "numpy_blas": _numpy_blas(), "numba": numba.__version__,
            "numba_threading_layer_config": numba.config.THREADING_LAYER,
            "threads": fnn.thread_info()}
    for distribution in ("torch", "jax", "scikit-learn"):  # the peers' libraries
        try:
            info[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            info[distribution] = None
    return info


def _warn_if_busy() -> None:
    """Other busy processes make multi-threaded BLAS and numba wait on each other: say so."""
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cpus:
        print(f"  warning: load average {load:.1f} on {cpus} CPUs: other processes compete "
              "for the cores, so the numbers may be unreliable", file=sys.stderr, flush=True)


def _numpy_blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError):
        return "unknown"


# -- fastnn bench -----------------------------------------------------------------------

def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a comma list of positive integers, got {text!r}") from None


def _backend_list(text: str) -> tuple[str, ...]:
    from .kernels import BACKENDS
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in BACKENDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"must be a comma list of {', '.join(BACKENDS)}, "
                                         f"got {text!r}")
    return names


def _epochs(text: str) -> int:
    try:
        return int_at_least(2, "")(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 2 (the first "
                                         f"epoch is reported apart), got {text!r}") from None


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int_at_least(0, "")(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        seeds = ()
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"must be a comma list of distinct non-negative "
                                         f"integers, got {text!r}")
    return seeds


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def _peer_list(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "none":
        return ()
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names or any(name not in PEERS for name in names):
        raise argparse.ArgumentTypeError(f"must be a comma list of {', '.join(PEERS)}, or "
                                         f"'none', got {text!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fastnn bench`` options."""
    parser.description = (
        "Quick benchmark: per batch size, E epochs of one MNIST-MLP training run per "
        "backend (the first epoch apart, the median of the others as the steady number) "
        "against the GEMM floor (only the matrix products of an epoch, the practical "
        "hardware limit), and the same run in PyTorch, JAX and scikit-learn, each in a "
        "fresh process with its own defaults (skipped, with the reason, when not "
        "installed); then the tutorial nets (xor, moons). For careful numbers: "
        "python -m pytest bench/ --benchmark-only.")
    parser.add_argument("--batch", type=_int_list, default=DEFAULT_BATCHES, metavar="B,...",
                        help="MNIST batch sizes (default 32,128,1024)")
    parser.add_argument("--backends", type=_backend_list, default=DEFAULT_BACKENDS,
                        metavar="NAME,...", help="backends to time (default numpy,numba)")
    parser.add_argument("--peers", type=_peer_list, default=tuple(PEERS), metavar="NAME,...",
                        help=f"peer libraries to time, or 'none' (default "
                             f"{','.join(PEERS)})")
    parser.add_argument("--epochs", type=_epochs,
                        default=DEFAULT_EPOCHS, metavar="E",
                        help=f"epochs of each MNIST run (default {DEFAULT_EPOCHS})")
    parser.add_argument("--samples", type=positive_int, default=None, metavar="N",
                        help="use the first N MNIST training images (default all 60,000)")
    parser.add_argument("--threads", type=positive_int, default=DEFAULT_THREADS,
                        help=f"threads for numba, BLAS and the peers (default "
                             f"{DEFAULT_THREADS})")
    parser.add_argument("--json", metavar="PATH",
                        help="also write every number and the machine info here as JSON")
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="instead: seconds of training until the test accuracy reaches "
                             "--target with the 'fastnn train mnist' recipe, per backend "
                             "and per peer (torch, jax) running the same recipe, each seed "
                             "in a fresh process; --batch and --epochs come from the recipe")
    parser.add_argument("--seeds", type=_seed_list, default=TTA_SEEDS, metavar="S,...",
                        help="seeds of --time-to-accuracy (default 0,1,2,3,4)")
    parser.add_argument("--target", type=_fraction, default=None, metavar="ACC",
                        help="test accuracy of --time-to-accuracy (default the mnist "
                             "tutorial's, 0.98)")


def _say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _peer_row(report: dict, batch: int) -> dict:
    """A table row from a peer's JSON report (or its skip or error)."""
    name = report["peer"]
    row = {"workload": MNIST_WORKLOAD, "backend": name, "batch": batch}
    if "epoch_seconds" not in report:
        row["note"] = (f"skipped: {report['skipped']}" if "skipped" in report else
                       f"failed: {report.get('error', 'no report')}")
        _say(f"{name} batch {batch}: {row['note']}")
        return row
    row.update(epoch_summary(report["epoch_seconds"]), samples=report["samples"],
               test_accuracy=report["test_accuracy"], note=f"{name} {report['version']}",
               peer=report)
    _say(f"{name} {report['version']} batch {batch}: first epoch "
         f"{row['first_epoch_s']:.3f} s, steady {row['seconds']:.4f} s")
    return row


def run(args: argparse.Namespace) -> int:
    """Time every configuration, print the table, write ``--json``; return 0."""
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise FileNotFoundError(f"--json: directory {str(Path(args.json).parent)!r} does not "
                                "exist")
    fnn.set_num_threads(args.threads)
    threads = fnn.thread_info()["requested"]  # capped at the CPU count
    if args.time_to_accuracy:
        return _run_time_to_accuracy(args, threads)
    X, y = load_mnist_train(args.samples)
    X_test, y_test = load_mnist_test()
    n = len(X)
    rows = []

    print(f"fastnn bench: {n:,} MNIST samples, {args.epochs} epochs per run, {threads} "
          f"threads, backends {', '.join(args.backends)}, peers "
          f"{', '.join(args.peers) or 'none'}", file=sys.stderr, flush=True)
    _warn_if_busy()
    for batch in args.batch:
        floor = gemm_floor_runner(batch, n)
        floor_times = time_interleaved({FLOOR: floor}, WARMUP, REPEATS)[FLOOR][1]
        for backend in args.backends:
            epoch_seconds, model = mnist_run(backend, batch, X, y, args.epochs)
            with fnn.use_backend(backend):
                accuracy = model.evaluate(X_test, y_test)["accuracy"]
            row = {"workload": MNIST_WORKLOAD, "backend": backend, "batch": batch,
                   "samples": n, **epoch_summary(epoch_seconds), "test_accuracy": accuracy}
            rows.append(row)
            _say(f"{backend} batch {batch}: first epoch {row['first_epoch_s']:.3f} s, "
                 f"steady {row['seconds']:.4f} s")
        rows += [_peer_row(run_peer(name, batch, n, args.epochs, threads), batch)
                 for name in args.peers]
        floor_times += time_interleaved({FLOOR: floor}, 0, REPEATS)[FLOOR][1]
        rows.append({"workload": MNIST_WORKLOAD, "backend": FLOOR, "batch": batch,
                     "samples": n, "seconds": statistics.median(floor_times),
                     "times": floor_times})
        _say(f"{FLOOR} batch {batch}: {rows[-1]['seconds']:.4f} s")
    for name in TUTORIALS:
        runners = {backend: tutorial_runner(name, backend) for backend in args.backends}
        for backend, (median, times) in time_interleaved(runners, WARMUP, REPEATS).items():
            rows.append({"workload": name, "backend": backend, "batch": None,
                         "seconds": median, "times": times})
            _say(f"{name} {backend}: {median:.4f} s")
    for row in rows:
        if "samples" in row and "seconds" in row:
            row["samples_per_s"] = row["samples"] / row["seconds"]

    print(format_table(add_ratios(rows)))
    if args.json:
        settings = {"samples": n, "epochs": args.epochs, "threads": threads,
                    "batches": list(args.batch), "backends": list(args.backends),
                    "peers": list(args.peers), "warmup": WARMUP, "repeats": REPEATS}
        document = {"machine": machine_info(), "load_average_1min": os.getloadavg()[0],
                    "settings": settings, "results": rows}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _run_time_to_accuracy(args: argparse.Namespace, threads: int) -> int:
    """``fastnn bench --time-to-accuracy``: run, print the table, write ``--json``."""
    from .problems import PROBLEMS

    target = PROBLEMS["mnist"].threshold if args.target is None else args.target
    entries = tta_entries(args.backends, args.peers)
    print(f"fastnn bench --time-to-accuracy: target {target:.2%}, seeds "
          f"{','.join(map(str, args.seeds))}, {threads} threads, recipe "
          f"{' '.join(recipe_argv())}" + (f", first {args.samples:,} training images"
                                          if args.samples else ""),
          file=sys.stderr, flush=True)
    _warn_if_busy()
    reports = time_to_accuracy(entries, args.seeds, target, threads, args.samples)
    rows = tta_rows(reports, {name: note for name, note in TTA_LEFT_OUT.items()
                              if name in args.peers})
    print(format_tta_table(rows, target))
    if args.json:
        settings = {"target": target, "seeds": list(args.seeds), "threads": threads,
                    "samples": args.samples, "recipe": recipe_argv(),
                    "backends": list(args.backends), "peers": list(args.peers)}
        results = [{**r, "seconds": None} if r.get("seconds") == math.inf else r
                   for r in rows]  # strict JSON has no Infinity: null, as per_seed has
        document = {"machine": machine_info(), "load_average_1min": os.getloadavg()[0],
                    "settings": settings, "results": results}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
