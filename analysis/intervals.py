"""Confidence intervals for Poisson counts, rates and proportions.

Methods follow Public Health England / OHID, "Technical guide: confidence intervals" (2018):
exact Poisson limits (Garwood 1936, via chi-square quantiles) for small counts and Byar's
approximation (Breslow & Day 1987) for larger ones; Wilson (1927) score limits for proportions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# scipy.special, not scipy.stats: the same functions scipy.stats.norm / chi2 call underneath, without
# scipy.stats' ~0.4 s import (the app's first page computes intervals). Bit-identity with
# scipy.stats is tested in tests/test_special_functions.py.
from scipy import special

from geo.schema import AtlasError

# Confidence levels used across the app, keyed by the suffix of the output columns.
CONFIDENCE_LEVELS: dict[str, float] = {"95": 0.95, "998": 0.998}
# PHE's fingertips tools switch methods by count; below this many events the exact method is used.
BYAR_MIN_COUNT = 10

ArrayLike = np.ndarray | pd.Series | list[float] | float | int


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile for a confidence level (0.95 -> 1.959964)."""
    _check_confidence(confidence)
    return float(norm_ppf(0.5 + confidence / 2))


def exact_poisson_interval(count: ArrayLike, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood 1936) limits for a Poisson count: chi2(a/2, 2O)/2 and chi2(1-a/2, 2O+2)/2."""
    o = _counts(count)
    alpha = 1 - _check_confidence(confidence)
    with np.errstate(invalid="ignore"):
        # chi2 with 0 degrees of freedom is undefined; the lower limit of a zero count is 0.
        lower = np.where(o > 0, chi2_ppf(alpha / 2, 2 * np.where(o > 0, o, 1)) / 2, 0.0)
        upper = chi2_ppf(1 - alpha / 2, 2 * (o + 1)) / 2
    return _keep_nan(o, lower), _keep_nan(o, upper)


def byar_interval(count: ArrayLike, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation: O(1-1/(9O)-z/(3sqrt O))^3, (O+1)(1-1/(9(O+1))+z/(3sqrt(O+1)))^3."""
    o = _counts(count)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(o > 0, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0)
    o1 = o + 1
    upper = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
    return _keep_nan(o, lower), _keep_nan(o, upper)


def poisson_interval(
    count: ArrayLike, confidence: float = 0.95, byar_min_count: int = BYAR_MIN_COUNT
) -> tuple[np.ndarray, np.ndarray]:
    """Limits for a Poisson count: exact below ``byar_min_count`` events, Byar's from there (PHE guide)."""
    o = _counts(count)
    if o.size > 1024:
        # Counts repeat (small whole numbers, tens of distinct values in a national table): the limits
        # are elementwise, so each distinct count is computed once and placed back (same values).
        uniq, inverse = np.unique(o.ravel(), return_inverse=True)
        lower, upper = poisson_interval(uniq, confidence, byar_min_count)
        return lower[inverse].reshape(o.shape), upper[inverse].reshape(o.shape)
    el, eu = exact_poisson_interval(o, confidence)
    bl, bu = byar_interval(o, confidence)
    use_exact = o < byar_min_count
    return np.where(use_exact, el, bl), np.where(use_exact, eu, bu)


def rate_interval(
    count: ArrayLike, population: ArrayLike, confidence: float = 0.95, per: float = 1000.0
) -> tuple[np.ndarray, np.ndarray]:
    """Limits for a crude rate per ``per`` people: Poisson count limits divided by the population (PHE)."""
    lower, upper = poisson_interval(count, confidence)
    pop = np.asarray(population, dtype=float)
    # A population of zero or less has no rate; NaN (never inf) is what callers test for.
    pop = np.where(pop > 0, pop, np.nan)
    return lower / pop * per, upper / pop * per


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) score interval for a proportion; NaN where there are no trials."""
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_ok = np.where(n > 0, n, np.nan)
        p = x / n_ok
        denom = 1 + z**2 / n_ok
        centre = (p + z**2 / (2 * n_ok)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n_ok + z**2 / (4 * n_ok**2))
    # Clip rounding noise so 0/n gives exactly 0 and n/n exactly 1 (audit: clipping alone left
    # n/n at 0.9999999999999999, so the exact end points are set explicitly).
    lower = np.where((x == 0) & (n > 0), 0.0, np.clip(centre - half, 0.0, 1.0))
    upper = np.where((x == n) & (n > 0), 1.0, np.clip(centre + half, 0.0, 1.0))
    return lower, upper


def norm_ppf(q: ArrayLike) -> np.ndarray:
    """Standard normal quantile, = scipy.stats.norm.ppf (which is special.ndtri; 0 -> -inf, 1 -> inf)."""
    return special.ndtri(np.asarray(q, dtype=float))


def norm_sf(x: ArrayLike) -> np.ndarray:
    """Standard normal upper tail P(Z > x), = scipy.stats.norm.sf (which is special.ndtr(-x))."""
    return special.ndtr(-np.asarray(x, dtype=float))


def chi2_ppf(q: ArrayLike, df: ArrayLike) -> np.ndarray:
    """Chi-square quantile, = scipy.stats.chi2.ppf: 2 * gammaincinv(df/2, q); NaN unless df > 0 and 0 <= q <= 1."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore"):
        # scipy.stats' own edges: q = 0 -> 0 and q = 1 -> inf (the support's ends), bad df or q -> NaN.
        inner = 2 * special.gammaincinv(df / 2, np.where((q > 0) & (q < 1), q, 0.5))
        out = np.select([q == 0, q == 1, (q > 0) & (q < 1)], [0.0, np.inf, inner], np.nan)
        out = np.where(df > 0, out, np.nan)
    return out[()] if out.ndim == 0 else out


def _counts(count: ArrayLike) -> np.ndarray:
    """Counts as a float array (missing -> NaN), rejecting negative values."""
    if isinstance(count, pd.Series):
        o = pd.to_numeric(count, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        o = np.asarray(count, dtype=float)
    if np.any(o < 0):
        raise AtlasError(f"counts must be >= 0; received {np.atleast_1d(o)[np.atleast_1d(o) < 0][:5].tolist()}")
    return o


def _keep_nan(o: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(o), np.nan, values)


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise AtlasError(f"confidence must be between 0 and 1; received {confidence!r}")
    return confidence
