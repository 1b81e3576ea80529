"""Test accuracy of the ``fastnn train mnist`` recipe over seeds, per backend.

    python bench/recipe_seeds.py [--seeds 0-9] [--backends numba,numpy] [--jobs 2]
                                 [--results bench/recipe_seeds.json]

Run AFTER the recipe was chosen (``bench/recipe_search.py``, on held-out training rows):
this is the one look at the test set. Each (backend, seed) trains the problem's model on
all 60,000 training images exactly as ``fastnn train mnist --seed S`` does
(``Problem.fit`` with its defaults) and scores the 10,000 test images after every epoch
(the last one is the result). Prints a row per seed and the min / median / max per
backend, and how many seeds reach the tutorial's target. ``--results`` keeps each run as a
JSON line; a rerun skips the runs already there. ``--jobs J``: J single-threaded workers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import statistics
import sys
from pathlib import Path


def run_one(job) -> dict:
    """Train (backend, seed) with the mnist problem's recipe; per-epoch test accuracy."""
    backend, seed, threads = job
    import time

    import fastnn as fnn
    from fastnn.problems import PROBLEMS

    fnn.set_num_threads(threads)
    problem = PROBLEMS["mnist"]
    train, test = problem.load()
    model = problem.build(seed=seed)
    start = time.perf_counter()
    with fnn.use_backend(backend):
        history = problem.fit(model, train, validation_data=test)
        accuracy = problem.score(model, test)
    return {"backend": backend, "seed": seed, "test_accuracy": accuracy,
            "epoch_test_accuracy": list(history["val_accuracy"]),
            "recipe": repr(problem.optimizer(problem.lr)), "epochs": problem.epochs,
            "batch": problem.batch_size, "seconds": time.perf_counter() - start}


def seed_range(text: str) -> list[int]:
    """``0-9`` or ``0,3,5``."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(part) for part in text.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seed_range, default=list(range(10)))
    parser.add_argument("--backends", default="numba,numpy")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--results", default="bench/recipe_seeds.json")
    args = parser.parse_args(argv)
    from fastnn.problems import PROBLEMS

    problem = PROBLEMS["mnist"]
    recipe = repr(problem.optimizer(problem.lr))
    backends = args.backends.split(",")
    path = Path(args.results)
    old = ([json.loads(line) for line in path.read_text().splitlines() if line.strip()]
           if path.exists() else [])
    old = [r for r in old if r["recipe"] == recipe and r["epochs"] == problem.epochs
           and r["batch"] == problem.batch_size]  # runs of another recipe do not count
    done = {(r["backend"], r["seed"]) for r in old}
    threads = 1 if args.jobs > 1 else 2
    jobs = [(b, s, threads) for s, b in itertools.product(args.seeds, backends)
            if (b, s) not in done]
    print(f"{len(jobs)} runs to do, {len(done)} done", file=sys.stderr, flush=True)
    with path.open("a") as out:
        if args.jobs > 1:
            pool = multiprocessing.get_context("spawn").Pool(args.jobs)
            results = pool.imap_unordered(run_one, jobs)
        else:
            pool, results = None, map(run_one, jobs)
        for r in results:
            out.write(json.dumps(r) + "\n")
            out.flush()
            old.append(r)
            print(f"  {r['backend']} seed {r['seed']}: {r['test_accuracy']:.4f} "
                  f"({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
        if pool is not None:
            pool.close()
            pool.join()

    runs = {(r["backend"], r["seed"]): r for r in old}
    print(f"mnist recipe: {problem.epochs} epochs, batch {problem.batch_size}, {recipe}; "
          f"test accuracy after training on all 60,000 images")
    print(f"{'seed':>4}  " + "  ".join(f"{b:>7}" for b in backends)
          + "  per-epoch test accuracy (" + ", ".join(backends) + ")")
    for seed in args.seeds:
        cells = [runs.get((b, seed)) for b in backends]
        print(f"{seed:>4}  " + "  ".join(f"{c['test_accuracy']:>7.4f}" if c else f"{'-':>7}"
                                         for c in cells) + "  "
              + " | ".join(" ".join(f"{a:.4f}" for a in c["epoch_test_accuracy"])
                           for c in cells if c))
    for b in backends:
        accs = [runs[(b, s)]["test_accuracy"] for s in args.seeds if (b, s) in runs]
        if accs:
            hits = sum(a >= problem.threshold for a in accs)
            print(f"{b}: min {min(accs):.4f}  median {statistics.median(accs):.4f}  max "
                  f"{max(accs):.4f}  ({hits}/{len(accs)} seeds >= {problem.threshold:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
