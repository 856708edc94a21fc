"""Equality checks run before any timing is reported: a mismatch aborts the benchmark.

Statistics are compared to 1e-9 (relative to max(1, |reference|)). Permutation p-values cannot be
equal across implementations (different random draws), so they must agree within the reference's
own seed-to-seed spread: mean |ours - ref(seed A)| <= SPREAD_FACTOR * mean |ref(seed A) - ref(seed B)|
(plus a small absolute slack for tiny problems where the spread is near zero).
"""

from __future__ import annotations

import numpy as np

STAT_TOL = 1e-9
SPREAD_FACTOR = 1.5
SPREAD_SLACK = 2e-3


class BenchmarkMismatch(AssertionError):
    """Our result differs from the reference implementation's: timings would be meaningless."""


def check_close(label: str, ours, reference, tol: float = STAT_TOL) -> float:
    """Raise BenchmarkMismatch unless every value agrees to ``tol`` (NaN must match NaN); return max error."""
    a = np.asarray(ours, dtype=float).ravel()
    b = np.asarray(reference, dtype=float).ravel()
    if a.shape != b.shape:
        raise BenchmarkMismatch(f"{label}: shapes differ, ours {a.shape} vs reference {b.shape}")
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a != nan_b).any():
        i = int(np.flatnonzero(nan_a != nan_b)[0])
        raise BenchmarkMismatch(f"{label}: NaN pattern differs (first at position {i}: ours {a[i]}, reference {b[i]})")
    ok = ~nan_a
    err = np.abs(a[ok] - b[ok]) / np.maximum(1.0, np.abs(b[ok]))
    worst = float(err.max()) if err.size else 0.0
    if worst > tol:
        i = int(np.flatnonzero(ok)[int(err.argmax())])
        raise BenchmarkMismatch(
            f"{label}: values differ by up to {worst:.3g} (> {tol:g}); first worst at position {i}: "
            f"ours {a[i]!r}, reference {b[i]!r}"
        )
    return worst


def check_p_spread(
    label: str,
    ours,
    ref_a,
    ref_b,
    factor: float = SPREAD_FACTOR,
    slack: float = SPREAD_SLACK,
    yardstick: tuple | None = None,
    ours_b=None,
) -> str:
    """Raise BenchmarkMismatch unless ours-vs-ref(A) p differences are within the ref's A-vs-B spread.

    ``yardstick`` = (p seed A, p seed B) of another implementation replaces (ref_a, ref_b) as the
    measure of seed-to-seed spread (pygeoda's ``seed`` barely changes its draws, so its own spread is ~0).
    ``ours_b`` (ours with another seed): the spread is then the larger of ours' and the reference's, since
    our one shared permutation table makes our Monte Carlo error common to all areas of a cardinality.
    """
    a, ra, rb = (np.asarray(v, dtype=float).ravel() for v in (ours, ref_a, ref_b))
    if yardstick is not None:
        ya, yb = (np.asarray(v, dtype=float).ravel() for v in yardstick)
        ok_y = np.isfinite(ya) & np.isfinite(yb)
        seed_override = float(np.abs(ya[ok_y] - yb[ok_y]).mean()) if ok_y.any() else 0.0
    if not a.shape == ra.shape == rb.shape:
        raise BenchmarkMismatch(f"{label}: p-value shapes differ: {a.shape}, {ra.shape}, {rb.shape}")
    ok = np.isfinite(a) & np.isfinite(ra) & np.isfinite(rb)
    if (np.isfinite(a) != np.isfinite(ra)).any():
        raise BenchmarkMismatch(f"{label}: p-values are missing in one implementation but not the other")
    ours_vs = float(np.abs(a[ok] - ra[ok]).mean()) if ok.any() else 0.0
    seed_vs = float(np.abs(ra[ok] - rb[ok]).mean()) if ok.any() else 0.0
    if yardstick is not None:
        seed_vs = seed_override
    own = ""
    if ours_b is not None:
        b2 = np.asarray(ours_b, dtype=float).ravel()
        ok_b = np.isfinite(a) & np.isfinite(b2)
        own_vs = float(np.abs(a[ok_b] - b2[ok_b]).mean()) if ok_b.any() else 0.0
        own = f", ours seed-to-seed {own_vs:.4f}"
        seed_vs = max(seed_vs, own_vs)
    if ours_vs > factor * seed_vs + slack:
        raise BenchmarkMismatch(
            f"{label}: mean |p ours - p reference| = {ours_vs:.4f} exceeds {factor:g} x the reference's own "
            f"seed-to-seed spread {seed_vs:.4f} (+{slack:g}): the permutation inference disagrees"
        )
    return f"{label} mean|dp| {ours_vs:.4f} vs seed spread {seed_vs:.4f}{own}"


def folded_p_with_ties(observed, sims, rel_tol: float = 1e-9) -> np.ndarray:
    """esda's folded pseudo p from kept simulations (n x P), counting float-rounded ties as extreme.

    With integer counts many permuted neighbour sums tie the observed one exactly; esda computes the
    observed and permuted statistics by different arithmetic, so some exact ties land 1 ulp below
    and are not counted. Re-scoring esda's own draws with a relative tolerance (as ours does) isolates
    the random-draw difference that the spread check is about.
    """
    obs = np.asarray(observed, dtype=float)[:, None]
    s = np.asarray(sims, dtype=float)
    mu = s.mean(axis=1, keepdims=True)
    tol = rel_tol * (np.abs(s).max(axis=1, keepdims=True) + np.abs(obs))
    count = (np.abs(s - mu) >= np.abs(obs - mu) - tol).sum(axis=1)
    return (count + 1.0) / (s.shape[1] + 1.0)
