"""Benchmark workloads and the ``fastnn bench`` command.

The workloads are shared by ``bench/`` (pytest-benchmark: many rounds, saved JSON) and
``fastnn bench`` (a quick table: one warm-up and three timed runs per configuration, the
median reported; the runs of one batch size's floor and backends alternate, round by
round, see :func:`time_interleaved`). Each ``*_runner`` builds everything up front and
returns a callable that runs exactly the timed work:

- MNIST-MLP, :func:`mnist_epoch_runner`: one epoch of 784-256-128-10 ReLU, softmax
  cross-entropy, SGD lr 0.05 momentum 0.9, shuffled, float32, through the public
  ``model.fit(X, y, epochs=1, ...)`` (so including fit's input validation);
- the GEMM floor, :func:`gemm_floor_runner`: only the eight float32 matrix products of
  each training step (three forward, three weight gradients, two input gradients)
  through numpy's BLAS into preallocated outputs, for the same ceil(N/B) steps with a
  partial last batch: the practical hardware limit of an epoch;
- the tutorial nets, :func:`tutorial_runner`: XOR and two moons, full-batch gradient
  descent for 10,000 and 20,000 iterations through ``fit``; per-call overhead dominates;
- the PyTorch eager CPU peer, :func:`torch_epoch_runner`, when torch is installed.

Ratios, from medians of the same workload and batch: ``x GEMM floor`` = seconds / the
floor's seconds (1.0 is the hardware limit); ``vs numpy`` and ``vs torch`` = their
seconds / these seconds (speed-ups). pytest-benchmark cannot put one test's result into
another's ``extra_info``, so ``bench/`` prints this table at the end of its run, and from
its saved JSON a ratio is ``median`` of a benchmark over ``median`` of ``test_gemm_floor``
in the same group (``mnist-epoch-b{B}``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import fastnn as fnn
from fastnn.cli import _positive_int
from fastnn.datasets import load_mnist, logic_gate, make_moons

MNIST_SIZES = (784, 256, 128, 10)
MNIST_LR, MNIST_MOMENTUM = 0.05, 0.9
MNIST_WORKLOAD = "mnist-epoch"
FLOOR = "gemm-floor"  # the "backend" name of the GEMM floor rows
DEFAULT_BATCHES = (32, 128, 1024)
DEFAULT_BACKENDS = ("numpy", "numba")
DEFAULT_THREADS = 2
WARMUP, REPEATS = 1, 3  # fastnn bench: untimed runs, then timed runs whose median counts
SAMPLES_ENV = "FASTNN_BENCH_SAMPLES"
ROW_ORDER = (FLOOR, "numpy", "numba", "check", "torch")


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


def mnist_epoch_runner(backend: str, batch: int, X: np.ndarray, y: np.ndarray,
                       seed: int = 0) -> Callable[[], None]:
    """A callable running one MNIST-MLP epoch of ``model.fit`` on ``backend``.

    X float32 (n, 784), y int64 (n,). The model is built here, once; each call continues
    training it for one epoch (fit starts a fresh optimizer state each call).
    """
    model = fnn.MLP(MNIST_SIZES, activation="relu", seed=seed)
    optimizer = fnn.SGD(lr=MNIST_LR, momentum=MNIST_MOMENTUM)

    def epoch():
        with fnn.use_backend(backend):
            model.fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer, verbose=0)

    return epoch


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


def torch_epoch_runner(batch: int, X: np.ndarray, y: np.ndarray, threads: int = DEFAULT_THREADS,
                       seed: int = 0) -> Callable[[], None] | None:
    """A callable running one MNIST-MLP epoch in PyTorch eager mode; None without torch.

    Same model, loss, SGD momentum 0.9, float32 and shuffling (a permutation each epoch,
    batches gathered by index); ``torch.set_num_threads(threads)``.
    """
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    layers = []
    for i, o in zip(MNIST_SIZES[:-1], MNIST_SIZES[1:]):
        layers += [torch.nn.Linear(i, o), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.SGD(model.parameters(), lr=MNIST_LR, momentum=MNIST_MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    rng = np.random.default_rng(seed)

    def epoch():
        order = torch.from_numpy(rng.permutation(len(X_t)))
        for start in range(0, len(X_t), batch):
            idx = order[start:start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(X_t[idx]), y_t[idx]).backward()
            optimizer.step()

    return epoch


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
    row (same workload and batch) exists. Rows need workload, backend, batch, seconds."""
    seconds = {(r["workload"], r["batch"], r["backend"]): r["seconds"] for r in rows}
    for r in rows:
        for key, ref_backend in (("x_gemm_floor", FLOOR), ("vs_numpy", "numpy"),
                                 ("vs_torch", "torch")):
            ref = seconds.get((r["workload"], r["batch"], ref_backend))
            if ref:
                r[key] = r["seconds"] / ref if ref_backend == FLOOR else ref / r["seconds"]
    order = {name: i for i, name in enumerate(ROW_ORDER)}
    rows.sort(key=lambda r: (r["workload"] != MNIST_WORKLOAD, r["workload"], r["batch"] or 0,
                             order.get(r["backend"], len(order))))
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table: blank where a number does not apply, columns
    that apply to no row left out."""
    columns = [("workload", "workload", "{}"), ("backend", "backend", "{}"),
               ("batch", "batch", "{}"), ("samples_per_s", "samples/s", "{:,.0f}"),
               ("seconds", "s/run", "{:.4f}"), ("x_gemm_floor", "x GEMM floor", "{:.2f}"),
               ("vs_numpy", "vs numpy", "{:.2f}x"), ("vs_torch", "vs torch", "{:.2f}x")]
    columns = [c for c in columns if c[0] == "batch" or any(c[0] in r for r in rows)]
    cells = [[title for _, title, _ in columns]]
    for r in rows:
        batch = "full" if r["batch"] is None else r["batch"]
        cells.append([fmt.format(batch if key == "batch" else r[key]) if key in r else ""
                      for key, _, fmt in columns])
    widths = [max(len(row[j]) for row in cells) for j in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(row, widths))).rstrip()
                     for row in cells)


def machine_info() -> dict:
    """Versions, CPU count, numba threads and threading layer, BLAS: for saved results."""
    import numba
    info = {"fastnn": fnn.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "numpy": np.__version__, "numpy_blas": _numpy_blas(), "numba": numba.__version__,
            "numba_threading_layer_config": numba.config.THREADING_LAYER,
            "threads": fnn.thread_info()}
    try:
        info["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        info["torch"] = None
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
        return tuple(_positive_int(part) for part in text.split(","))
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fastnn bench`` options."""
    parser.description = (
        "Quick benchmark: MNIST-MLP epochs per backend and batch size against the GEMM floor "
        "(only the matrix products of an epoch, the practical hardware limit) and PyTorch "
        "if installed, then the tutorial nets (xor, moons). One warm-up and three timed runs "
        "per row, the median reported; the floor and backends of a batch size run in "
        "alternating rounds, so their ratios come from the same moments. For careful "
        "numbers: python -m pytest bench/ --benchmark-only.")
    parser.add_argument("--batch", type=_int_list, default=DEFAULT_BATCHES, metavar="B,...",
                        help="MNIST batch sizes (default 32,128,1024)")
    parser.add_argument("--backends", type=_backend_list, default=DEFAULT_BACKENDS,
                        metavar="NAME,...", help="backends to time (default numpy,numba)")
    parser.add_argument("--samples", type=_positive_int, default=None, metavar="N",
                        help="use the first N MNIST training images (default all 60,000)")
    parser.add_argument("--threads", type=_positive_int, default=DEFAULT_THREADS,
                        help=f"threads for numba, BLAS and torch (default {DEFAULT_THREADS})")
    parser.add_argument("--json", metavar="PATH",
                        help="also write every number and the machine info here as JSON")


def run(args: argparse.Namespace) -> int:
    """Time every configuration, print the table, write ``--json``; return 0."""
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise FileNotFoundError(f"--json: directory {str(Path(args.json).parent)!r} does not "
                                "exist")
    fnn.set_num_threads(args.threads)
    threads = fnn.thread_info()["requested"]  # capped at the CPU count
    X, y = load_mnist_train(args.samples)
    n = len(X)
    rows = []

    def measure(workload, batch, runners, samples=None):
        """Time ``runners`` ({backend: callable}) interleaved; one row each."""
        for backend, (median, times) in time_interleaved(runners, WARMUP, REPEATS).items():
            row = {"workload": workload, "backend": backend, "batch": batch,
                   "seconds": median, "times": times}
            if samples:
                row.update(samples=samples, samples_per_s=samples / median)
            rows.append(row)
            print(f"  {workload} {backend} batch {'full' if batch is None else batch}: "
                  f"{median:.4f} s", file=sys.stderr, flush=True)

    print(f"fastnn bench: {n:,} MNIST samples, {threads} threads, backends "
          f"{', '.join(args.backends)}", file=sys.stderr, flush=True)
    _warn_if_busy()
    for batch in args.batch:
        runners = {FLOOR: gemm_floor_runner(batch, n)}
        runners.update((backend, mnist_epoch_runner(backend, batch, X, y))
                       for backend in args.backends)
        measure(MNIST_WORKLOAD, batch, runners, n)
    for name in TUTORIALS:
        measure(name, None, {backend: tutorial_runner(name, backend)
                             for backend in args.backends})
    for batch in args.batch:  # last: torch's idle worker threads must not slow the others
        runner = torch_epoch_runner(batch, X, y, threads=threads)
        if runner is None:
            print("  torch: not installed, skipped", file=sys.stderr)
            break
        measure(MNIST_WORKLOAD, batch, {"torch": runner}, n)

    print(format_table(add_ratios(rows)))
    if args.json:
        settings = {"samples": n, "threads": threads, "batches": list(args.batch),
                    "backends": list(args.backends), "warmup": WARMUP, "repeats": REPEATS}
        document = {"machine": machine_info(), "load_average_1min": os.getloadavg()[0],
                    "settings": settings, "results": rows}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
