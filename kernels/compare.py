"""Comparing two backends' results: the pass/fail test, the report, the assertions.

Used by the check backend, ``fastnn check`` and the equivalence tests; the tolerances
themselves come from ``tolerances.py``.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def compare(got, ref, atol=0.0, rtol=0.0, max_report: int = 5) -> dict:
    """Compare ``got`` with ``ref`` elementwise: ``|got - ref| <= atol + rtol * |ref|``.

    atol and rtol may be arrays broadcasting against ref. Identical values (including equal
    infinities and NaN against NaN) always pass; a NaN on one side only never does.
    Returns ``ok``, ``max_abs`` and ``max_rel`` (over all elements, inf for a lone NaN),
    ``headroom`` (max of |diff| / allowed: how much of the tolerance was used), ``n_bad``,
    and ``mismatches``: the first ``max_report`` failing (index, got, ref, allowed).
    """
    got, ref = np.asarray(got), np.asarray(ref)
    if got.shape != ref.shape:
        return {"ok": False, "max_abs": math.inf, "max_rel": math.inf, "headroom": math.inf,
                "n_bad": max(got.size, ref.size),
                "mismatches": [], "shape": (got.shape, ref.shape)}
    g, r = _f64(got), _f64(ref)
    allowed = np.broadcast_to(_f64(atol) + _f64(rtol) * np.abs(r), r.shape)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        same = (g == r) | (np.isnan(g) & np.isnan(r))
        diff = np.where(same, 0.0, np.abs(g - r))
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = np.where(diff == 0, 0.0, diff / np.abs(r))
        bad = diff > allowed
        used = np.where(diff == 0, 0.0, diff / allowed)
    idx = np.argwhere(bad)[:max_report]
    mismatches = [(tuple(int(i) for i in ix), g[tuple(ix)].item(), r[tuple(ix)].item(),
                   allowed[tuple(ix)].item()) for ix in idx]
    return {"ok": not bad.any(), "max_abs": float(diff.max(initial=0.0)),
            "max_rel": float(rel.max(initial=0.0)), "headroom": float(used.max(initial=0.0)),
            "n_bad": int(bad.sum()), "mismatches": mismatches}


def report(name: str, result: dict) -> str:
    """A one-paragraph description of a :func:`compare` result."""
    if "shape" in result:
        got, ref = result["shape"]
        return f"{name}: shape {got} differs from the reference's {ref}"
    lines = [f"{name}: {result['n_bad']} element(s) out of tolerance; max abs error "
             f"{result['max_abs']:.3e}, max rel error {result['max_rel']:.3e}, "
             f"{result['headroom']:.3g}x the allowed difference at worst"]
    lines += [f"  at {ix}: got {g!r}, ref {r!r}, |diff| {abs(g - r):.3e} > allowed {a:.3e}"
              for ix, g, r, a in result["mismatches"]]
    return "\n".join(lines)


def assert_close(name: str, got, ref, atol=0.0, rtol=0.0) -> dict:
    """Raise AssertionError (with :func:`report`) unless ``compare(...)['ok']``."""
    result = compare(got, ref, atol, rtol)
    if not result["ok"]:
        raise AssertionError(report(name, result))
    return result


def assert_equal(name: str, got, ref) -> dict:
    """Exact equality (integers, counts, bit-identical reproducibility), with the report."""
    return assert_close(name, got, ref, 0.0, 0.0)
