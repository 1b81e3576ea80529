"""Output: the ratio columns, aligned text tables, progress lines.

Ratios, for the same workload and batch: ``x GEMM floor`` = seconds / the floor's seconds
(1.0 is the hardware limit; in ``fastnn bench``'s rounds, the median of the per-round
ratios, with its quartiles beside it); ``vs numpy`` and ``vs torch`` = their seconds /
these seconds (speed-ups). pytest-benchmark cannot put one test's result into another's
``extra_info``, so ``bench/`` prints this table at the end of its run.
"""

from __future__ import annotations

import sys

from .floor import FLOOR
from .processes import PEERS
from .workload import MNIST_WORKLOAD

ROW_ORDER = (FLOOR, "numpy", "numba", "check", *PEERS)


def add_ratios(rows: list[dict]) -> list[dict]:
    """Sort rows and add ``x_gemm_floor``, ``vs_numpy``, ``vs_torch`` where the reference
    row (same workload and batch) exists and the row has none yet. Rows need workload,
    backend, batch, and seconds unless they are a skipped or failed peer's (a ``note``)."""
    seconds = {(r["workload"], r["batch"], r["backend"]): r["seconds"]
               for r in rows if "seconds" in r}
    for r in rows:
        if "seconds" not in r:
            continue
        for key, ref_backend in (("x_gemm_floor", FLOOR), ("vs_numpy", "numpy"),
                                 ("vs_torch", "torch")):
            ref = seconds.get((r["workload"], r["batch"], ref_backend))
            if ref and key not in r:
                r[key] = r["seconds"] / ref if ref_backend == FLOOR else ref / r["seconds"]
    order = {name: i for i, name in enumerate(ROW_ORDER)}
    rows.sort(key=lambda r: (r["workload"] != MNIST_WORKLOAD, r["workload"], r["batch"] or 0,
                             order.get(r["backend"], len(order))))
    return rows


_TEXT_COLUMNS = ("workload", "backend", "ratio_spread", "note")


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table: blank where a number does not apply, columns
    that apply to no row left out."""
    columns = [("workload", "workload", "{}"), ("backend", "backend", "{}"),
               ("batch", "batch", "{}"), ("samples_per_s", "samples/s", "{:,.0f}"),
               ("first_epoch_s", "1st epoch s", "{:.3f}"), ("seconds", "steady s", "{:.4f}"),
               ("x_gemm_floor", "x GEMM floor", "{:.2f}"),
               ("ratio_spread", "floor q1-q3", "{}"), ("vs_numpy", "vs numpy", "{:.2f}x"),
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


def say(text: str) -> None:
    """A progress line on stderr."""
    print(f"  {text}", file=sys.stderr, flush=True)
