"""Mann-Kendall monotonic trend test, vectorised over many series (Mann 1945; Kendall 1975).

For a series ``x_1..x_n`` the statistic is ``S = sum_{i<j} sign(x_j - x_i)``. Under "no trend"
``E[S] = 0`` and, with tie groups of sizes ``t_g``,
``Var(S) = [n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18``. The test statistic uses a continuity
correction, ``Z = (S - sign(S)) / sqrt(Var(S))`` (Hirsch, Slack & Smith 1982), and the p-value is
two-sided normal. ``tau`` is Kendall's tau-b against time, ``S / sqrt(n0 (n0 - n1))`` with
``n0 = n(n-1)/2`` and ``n1 = sum_g t_g(t_g-1)/2`` (time itself has no ties); it equals tau-a when the
series has no ties, as R's ``Kendall::MannKendall`` reports.

A constant series (``Var(S) = 0``) gets ``S = Z = tau = 0`` and ``p = 1``: no evidence of a trend.
Emerging hot spot analysis runs this test on each location's Gi* z-scores (``analysis.emerging``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.intervals import norm_sf
from geo.schema import AtlasError

__all__ = ["DECREASING", "INCREASING", "NO_TREND", "MannKendall", "mann_kendall"]

INCREASING = "increasing"
DECREASING = "decreasing"
NO_TREND = "no trend"


@dataclass(frozen=True)
class MannKendall:
    """Per-series Mann-Kendall results, each an array with one value per series."""

    s: np.ndarray  # int64, the S statistic
    var_s: np.ndarray  # float64, tie-corrected variance of S
    z: np.ndarray  # float64, continuity-corrected normal score
    p: np.ndarray  # float64, two-sided p-value
    tau: np.ndarray  # float64, Kendall's tau-b against time
    direction: np.ndarray  # str: "increasing", "decreasing" or "no trend" at the given alpha


def mann_kendall(series: np.ndarray, alpha: float = 0.10, continuity: bool = True) -> MannKendall:
    """Mann-Kendall trend test of each row of ``series`` (n_series x n_times, time ascending)."""
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise AtlasError(f"Mann-Kendall needs a 2-D array (series x times); received shape {x.shape}")
    n_series, n = x.shape
    if n < 2:
        raise AtlasError(f"Mann-Kendall needs at least 2 time points; received {n}")
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise AtlasError(f"Mann-Kendall received a missing or infinite value (series {bad[0]}, time {bad[1]})")
    if not 0 < alpha < 1:
        raise AtlasError(f"alpha must be between 0 and 1; received {alpha}")

    # Time-major copy: each lag's difference is then a contiguous block, ~2x faster than area-major.
    xt = np.ascontiguousarray(x.T)
    s = np.zeros(n_series, dtype=np.int64)
    # Pairs (i, j) with j - i = lag, all areas at once; n-1 vectorised steps instead of a loop per series.
    for lag in range(1, n):
        s += np.sign(xt[lag:] - xt[:-lag]).sum(axis=0).astype(np.int64)

    tie_var, tie_pairs = _tie_terms(x)
    var_s = (n * (n - 1) * (2 * n + 5) - tie_var) / 18.0

    # Constant series have Var(S) = 0: report "no trend" rather than 0/0.
    ok = var_s > 0
    root = np.sqrt(np.where(ok, var_s, 1.0))
    numerator = s - np.sign(s) if continuity else s.astype(np.float64)
    z = np.where(ok, numerator / root, 0.0)
    p = np.where(ok, 2.0 * norm_sf(np.abs(z)), 1.0)

    n0 = n * (n - 1) / 2.0
    tau_den = np.sqrt(n0 * (n0 - tie_pairs))
    tau = np.where(tau_den > 0, s / np.where(tau_den > 0, tau_den, 1.0), 0.0)

    significant = p < alpha
    direction = np.full(n_series, NO_TREND, dtype=object)
    direction[significant & (s > 0)] = INCREASING
    direction[significant & (s < 0)] = DECREASING
    return MannKendall(s=s, var_s=var_s, z=z, p=p, tau=tau, direction=direction)


def _tie_terms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``x`` (series x times): sum t(t-1)(2t+5) and sum t(t-1)/2 over its tie groups."""
    ordered = np.sort(x, axis=1)
    repeats = ordered[:, 1:] == ordered[:, :-1]
    tie_var = np.zeros(x.shape[0])
    tie_pairs = np.zeros(x.shape[0])
    tied = repeats.any(axis=1)
    if not tied.any():
        return tie_var, tie_pairs
    # Only series with ties need group sizes; one bincount over (series, group) pairs, no per-series loop.
    sub = repeats[tied]
    m, n = sub.shape[0], x.shape[1]
    group = np.zeros((m, n), dtype=np.int64)
    group[:, 1:] = np.cumsum(~sub, axis=1)  # tie-group number of each sorted value
    sizes = np.bincount((np.arange(m)[:, None] * n + group).ravel(), minlength=m * n).reshape(m, n).astype(float)
    tie_var[tied] = (sizes * (sizes - 1) * (2 * sizes + 5)).sum(axis=1)
    tie_pairs[tied] = (sizes * (sizes - 1) / 2).sum(axis=1)
    return tie_var, tie_pairs
