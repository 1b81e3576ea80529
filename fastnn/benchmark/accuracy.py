"""Time to accuracy (``fastnn bench --time-to-accuracy``): seconds of training to a test
accuracy, with the ``fastnn train mnist`` recipe.

The recipe (``fastnn.problems``: its batch, epochs, SGD with Nesterov momentum, weight
decay and one-cycle schedule, He-normal ReLU layers, zero biases) runs in fastnn (per
backend) and in PyTorch and JAX running the same recipe, every (contender, seed) in a
fresh process. The clock runs from the start of training (the first epoch's compiling or
cache loading included, as a user's first fit pays it) to the end of the first epoch whose
test accuracy reaches the target; it stops while the test set is scored after each epoch.
Per contender: the median over the seeds (a seed that never reaches the target counts as
infinitely slow), each seed's seconds and epochs, and the ratio to the fastest other
library. scikit-learn is left out: its SGD cannot follow a per-step schedule.
"""

from __future__ import annotations

import math
import statistics

from .processes import FASTNN_PEER, PEERS, run_module
from .tables import say

TTA_SEEDS = (0, 1, 2, 3, 4)
TTA_LEFT_OUT = {"sklearn": "left out: MLPClassifier's SGD cannot follow a per-step "
                           "learning-rate schedule (constant, invscaling or adaptive only)"}


def recipe_argv(problem=None) -> list[str]:
    """The peer options that run ``problem``'s recipe (default: ``fastnn train mnist``'s,
    from ``fastnn.problems``): batch, epochs, learning rate or one-cycle schedule,
    momentum, Nesterov, weight decay, fastnn's initialisation."""
    from fastnn.problems import PROBLEMS
    from fastnn.schedules import OneCycle

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
            say(f"{label} seed {seed}: " + (
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
