"""Compile budgets (``fastnn bench --cold-start``, ``bench/test_cold_start.py``), each
measured on whole processes in one run:

- **empty cache**: ``fastnn train mnist`` as a whole process with ``NUMBA_CACHE_DIR``
  pointing at a new empty directory (for that child only; it wins over fastnn's own cache
  folder, ``kernels/numba_backend/config.py``), against a plain PyTorch script of the same
  recipe (``fastnn.peers.torch_mlp`` with ``accuracy.recipe_argv()``: import, the same
  bundled MNIST files, 4 epochs of the one-cycle SGD recipe, evaluate), alternating, the
  pair's order alternating too: seconds and the median ratio (budget 1.5x, goal 1.0x);
- **warm cache, new net**: once the cache holds only what ``fastnn train mnist`` compiled
  (784-256-128-10 ReLU, softmax cross-entropy), a fresh process fits a net of a new depth,
  activation and loss (:data:`NEW_NET`), on the same inputs (uint8 pixels scaled by the
  model, as ``fastnn train mnist`` feeds them: other input types are other compiled
  signatures): its first ``fit`` minus a second identical one (a fresh model, same
  seed), the backend imported before either; and the numba cache
  misses (compiles) and hits (loads) during the first (budget 1 s, nothing compiled);
- **``fastnn info --compile``** with an empty cache, whole process (budget 45 s).

Children get ``FASTNN_NUM_THREADS`` set to the thread count; nothing is changed in this
process's environment. ``python -m fastnn.benchmark.cold_start`` is the child of
the second figure (it prints one JSON line).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .accuracy import recipe_argv
from .processes import PEERS
from .tables import say
from .workload import MNIST_LR, MNIST_MOMENTUM

TRAIN_RATIO_BUDGET = 1.5  # fastnn train mnist / PyTorch, empty cache (goal 1.0)
NEW_NET_BUDGET_S = 1.0  # first fit minus second, warm cache
INFO_COMPILE_BUDGET_S = 45.0  # fastnn info --compile, empty cache
NEW_NET = {"sizes": (784, 64, 32, 16, 10), "activation": "tanh", "loss": "sigmoid_bce"}
NEW_NET_SAMPLES, NEW_NET_BATCH = 4096, 128


def numba_cache_stats() -> dict:
    """{"hits", "misses"} summed over the numba backend's compiled functions, and
    "missed": {name: misses} of each: the one place that knows where they are listed
    (adapt it if the backend's layout changes)."""
    from fastnn.kernels.numba_backend.warmup import DISPATCHERS

    missed = {name: sum(d.stats.cache_misses.values()) for name, d in DISPATCHERS.items()}
    return {"hits": sum(sum(d.stats.cache_hits.values()) for d in DISPATCHERS.values()),
            "misses": sum(missed.values()), "missed": missed}


def child_env(threads: int, cache_dir: Path | None = None) -> dict:
    """This process's environment plus the child's thread count and, for fastnn's
    children, its numba cache directory."""
    env = {**os.environ, "FASTNN_NUM_THREADS": str(threads)}
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return env


def timed_process(argv: list[str], env: dict) -> tuple[float, str]:
    """Run ``argv`` to its end; (wall seconds, stdout). RuntimeError if it fails."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{' '.join(argv[:4])} ...: exit status {done.returncode}: {last}")
    return seconds, done.stdout


def fastnn_train_mnist(threads: int, cache_dir: Path) -> float:
    """Seconds of ``fastnn train mnist`` (numba) as a whole process on ``cache_dir``."""
    return timed_process([sys.executable, "-m", "fastnn", "train", "mnist", "--backend",
                          "numba"], child_env(threads, cache_dir))[0]


def torch_train_mnist(threads: int) -> float | None:
    """Seconds of the PyTorch script of the same recipe as a whole process; None if
    torch is not installed."""
    seconds, out = timed_process([sys.executable, "-m", PEERS["torch"], *recipe_argv(),
                                  "--threads", str(threads)], child_env(threads))
    return None if '"skipped"' in out else seconds


def figure(name: str, value: float | None, budget: float, unit: str, **extra) -> dict:
    """One budget line: value against budget, PASS or MISS (or not measured)."""
    result = "not measured" if value is None else "PASS" if value <= budget else "MISS"
    return {"name": name, "value": value, "budget": budget, "unit": unit, "result": result,
            **extra}


def train_versus_torch(threads: int, pairs: int, workdir: Path) -> dict:
    """The empty-cache figure over ``pairs`` alternating pairs; each fastnn run gets a new
    cache directory in ``workdir``, and the last one is kept there (``cache_dir``) for
    :func:`new_net_warm`."""
    fastnn_s, torch_s = [], []
    for pair in range(pairs):
        cache_dir = workdir / f"cache-{pair}"
        runs = [("fastnn", lambda d=cache_dir: fastnn_train_mnist(threads, d)),
                ("torch", lambda: torch_train_mnist(threads))]
        for name, run in runs[::-1] if pair % 2 else runs:
            seconds = run()
            (fastnn_s if name == "fastnn" else torch_s).append(seconds)
            say(f"pair {pair + 1}: {name} " + ("skipped (torch is not installed)"
                                               if seconds is None else f"{seconds:.2f} s"))
        if pair < pairs - 1:
            shutil.rmtree(cache_dir, ignore_errors=True)
    ratios = [f / t for f, t in zip(fastnn_s, torch_s) if t]
    return figure("fastnn train mnist / PyTorch script, empty numba cache",
                  statistics.median(ratios) if ratios else None, TRAIN_RATIO_BUDGET, "x",
                  fastnn_s=fastnn_s, torch_s=torch_s, ratios=ratios, goal=1.0,
                  cache_dir=str(cache_dir))


def new_net_child(samples: int = NEW_NET_SAMPLES) -> dict:
    """In this (fresh) process: the first and a second identical fit of NEW_NET."""
    import fastnn as fnn
    from fastnn.problems import PROBLEMS

    mnist = PROBLEMS["mnist"]  # its data as `fastnn train mnist` feeds it: uint8, scaled
    (X, y), _ = mnist.load()
    X, y = X[:samples], y[:samples]
    targets = (y if NEW_NET["loss"] == "softmax_cross_entropy" else
               np.eye(NEW_NET["sizes"][-1], dtype=np.float32)[y])  # one-hot for the others
    start = time.perf_counter()
    fnn.set_backend("numba")
    fnn.get_backend()
    backend_s = time.perf_counter() - start

    def fit() -> float:
        model = fnn.MLP(NEW_NET["sizes"], activation=NEW_NET["activation"],
                        loss=NEW_NET["loss"], seed=0, input_scale=mnist.input_scale)
        optimizer = fnn.SGD(lr=MNIST_LR, momentum=MNIST_MOMENTUM)
        start = time.perf_counter()
        model.fit(X, targets, epochs=1, batch_size=NEW_NET_BATCH, optimizer=optimizer,
                  verbose=0)
        return time.perf_counter() - start

    before = numba_cache_stats()
    first = fit()
    after = numba_cache_stats()
    second = fit()
    return {"backend_load_s": backend_s, "first_fit_s": first, "second_fit_s": second,
            "compiled": after["misses"] - before["misses"],
            "compiled_kernels": sorted(name for name, n in after["missed"].items()
                                       if n > before["missed"].get(name, 0)),
            "loaded": after["hits"] - before["hits"]}


def new_net_warm(threads: int, cache_dir: Path | None) -> dict:
    """The warm-cache figure, the child run on ``cache_dir`` (None: fastnn's own cache)."""
    _, out = timed_process([sys.executable, "-m", __name__],
                           child_env(threads, cache_dir))
    child = json.loads(out.strip().splitlines()[-1])
    sizes = "-".join(map(str, NEW_NET["sizes"]))
    return figure(f"new net {sizes} {NEW_NET['activation']} {NEW_NET['loss']}, warm cache: "
                  f"first fit - second", child["first_fit_s"] - child["second_fit_s"],
                  NEW_NET_BUDGET_S, "s", **child)


def info_compile(threads: int) -> dict:
    """The ``fastnn info --compile`` figure, on a new empty cache."""
    with tempfile.TemporaryDirectory(prefix="fastnn-cold-") as tmp:
        seconds, out = timed_process([sys.executable, "-m", "fastnn", "info", "--compile"],
                                     child_env(threads, Path(tmp)))
    kernels = next((line for line in out.splitlines() if line.startswith("numba kernels")),
                   "")
    return figure("fastnn info --compile, empty numba cache", seconds, INFO_COMPILE_BUDGET_S,
                  "s", kernels=kernels)


def format_figures(figures: list[dict]) -> str:
    """One line per figure: name, value, budget, PASS/MISS, and the details."""
    lines = []
    width = max(len(f["name"]) for f in figures)
    for f in figures:
        value = "-" if f["value"] is None else f"{f['value']:.2f}{f['unit']}"
        lines.append(f"{f['name']:<{width}}  {value:>8}  budget <= {f['budget']:g}"
                     f"{f['unit']}  {f['result']}  {_details(f)}".rstrip())
    return "\n".join(lines)


def _details(f: dict) -> str:
    if "fastnn_s" in f:
        return (f"fastnn {' '.join(f'{s:.1f}' for s in f['fastnn_s'])} s, PyTorch "
                f"{' '.join('-' if s is None else f'{s:.1f}' for s in f['torch_s'])} s; "
                f"goal {f['goal']:g}x")
    if "compiled" in f:
        names = f.get("compiled_kernels")
        return (f"first {f['first_fit_s']:.2f} s, second {f['second_fit_s']:.2f} s; "
                f"{f['compiled']} compiled" + (f" ({', '.join(names)})" if names else "") +
                f", {f['loaded']} loaded from the cache; backend import "
                f"{f['backend_load_s']:.2f} s (not counted)")
    return f.get("kernels", "")


def run(args: argparse.Namespace, threads: int) -> dict:
    """All three figures, printed; the JSON document."""
    print(f"fastnn bench --cold-start: {args.pairs} pair(s), {threads} threads",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="fastnn-cold-") as tmp:
        figures = [train_versus_torch(threads, args.pairs, Path(tmp))]
        figures.append(new_net_warm(threads, Path(figures[0]["cache_dir"])))
    figures.append(info_compile(threads))
    print(format_figures(figures))
    return {"settings": {"threads": threads, "pairs": args.pairs, "new_net": NEW_NET},
            "results": figures}


if __name__ == "__main__":
    print(json.dumps(new_net_child()), flush=True)
