"""This checkout's training speed against another checkout's, in one process, alternating.

    python bench/versus_checkout.py ../old --backend numpy --batch 32 --rounds 12

Separate processes cannot compare two versions on this kind of machine: a shared VM's
speed can change by 1.8x within seconds, so two runs a minute apart differ by more than
the versions do. Here both versions live in one process and train in turns: each round
runs one epoch (``fit(epochs=1)``, the optimizer state carried from round to round) of
each version, in alternating order, on the same MNIST arrays; the ratio of every round's
two epochs cancels the machine's drift. The other checkout is copied to a temporary
directory as the package ``fastnn_other`` (its ``kernels/`` inside it, as installing does)
with its imports of ``fastnn`` renamed, so it must be a fastnn source tree of the same
layout (0.1.0 and later). The numba backend is best compared in separate processes: each
version would load its own compiled kernels and thread settings into this one. As in
``fastnn bench``'s rounds (``fastnn.benchmark.interleave``), the order changes from round
to round (here it alternates), so neither version always runs right after the other.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fastnn
from fastnn.benchmark.workload import MNIST_LR, MNIST_MOMENTUM, MNIST_SIZES, load_mnist_train

OTHER = "fastnn_other"
IMPORTS = re.compile(r"\b(import|from) fastnn\b|([\"'])fastnn\.")


def load_other(checkout: Path, into: Path):
    """The fastnn package of ``checkout``, imported as ``fastnn_other``."""
    package = into / OTHER
    shutil.copytree(checkout / "fastnn", package)
    shutil.copytree(checkout / "kernels", package / "kernels")
    for source in package.rglob("*.py"):
        text = source.read_text()
        source.write_text(IMPORTS.sub(
            lambda m: f"{m[1]} {OTHER}" if m[1] else f"{m[2]}{OTHER}.", text))
    sys.path.insert(0, str(into))
    return importlib.import_module(OTHER)


def epoch_runner(lib, backend: str, batch: int, X, y):
    """One more epoch of one ongoing run of ``fastnn bench``'s MNIST-MLP workload, built by
    library ``lib``, per call."""
    model = lib.MLP(MNIST_SIZES, activation="relu", seed=0)
    optimizer = lib.SGD(lr=MNIST_LR, momentum=MNIST_MOMENTUM)

    def epoch():
        with lib.use_backend(backend):
            model.fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer, verbose=0)

    return epoch


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="the other fastnn source tree")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds, after one warm-up")
    parser.add_argument("--samples", type=int, default=None,
                        help="train on the first N MNIST images (default all 60,000)")
    args = parser.parse_args(argv)
    X, y = load_mnist_train(args.samples)
    with tempfile.TemporaryDirectory() as tmp:
        other = load_other(args.checkout.resolve(), Path(tmp))
        for lib in (fastnn, other):
            lib.set_num_threads(2)
        runs = {"this": epoch_runner(fastnn, args.backend, args.batch, X, y),
                "other": epoch_runner(other, args.backend, args.batch, X, y)}
        times = {name: [] for name in runs}
        for round_ in range(args.rounds + 1):
            order = list(runs) if round_ % 2 else list(runs)[::-1]
            for name in order:
                start = time.perf_counter()
                runs[name]()
                if round_:
                    times[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times["this"], times["other"])]
    print(f"{args.backend}, batch {args.batch}, {args.rounds} rounds of one epoch each")
    for name, ts in times.items():
        print(f"  {name:5s} median {statistics.median(ts):.3f} s per epoch, "
              f"fastest {min(ts):.3f} s")
    q1, q3 = np.percentile(ratios, [25, 75])
    print(f"  this / other, round by round: median {statistics.median(ratios):.3f} "
          f"(quartiles {q1:.3f}-{q3:.3f}), this slower in {sum(r > 1 for r in ratios)} "
          f"of {len(ratios)}")


if __name__ == "__main__":
    main()
