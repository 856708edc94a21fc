"""The scipy.special stand-ins for scipy.stats give the same numbers as scipy.stats itself.

analysis/ avoids importing scipy.stats (~0.4 s) on the app's first page by calling the special
functions scipy.stats calls underneath. These tests compare them with scipy.stats (the reference,
imported here only) over grids with the edge cases: zero and huge counts, probabilities at and near
0 and 1, NaN and infinities. The comparison is exact (assert_array_equal, NaN == NaN), stricter than
the 1e-12 relative the change was allowed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.hotspots import bh_adjust
from analysis.intervals import chi2_ppf, exact_poisson_interval, norm_ppf, norm_sf, z_value
from analysis.rates import poisson_cdf, poisson_ppf

ROOT = Path(__file__).resolve().parents[1]
TINY = [0.0, 5e-324, 1e-300, 1e-100, 1e-20, 1e-12, 1e-8, 1e-4, 0.001, 0.01, 0.025, 0.05, 0.1]
PROBS = np.array(sorted({*TINY, 0.5, 0.3, 0.7, *(1 - np.array(TINY)), 1 - 1e-16, 1.0}))
COUNTS = np.array([0, 1, 2, 3, 5, 9, 10, 11, 50, 99.5, 100, 1e3, 12345, 1e5, 1e6, 1e7, 1e9])
MEANS = np.r_[0.0, 1e-12, 1e-6, 0.01, 0.3, 1.0, 2.5, COUNTS[1:], 3.7e4]


def _same(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))  # exact; NaNs must match too


def test_norm_ppf_matches_scipy_stats() -> None:
    q = np.r_[PROBS, -0.1, 1.1, np.nan]
    _same(norm_ppf(q), stats.norm.ppf(q))
    for conf in (0.8, 0.9, 0.95, 0.99, 0.998, 0.999999):
        assert z_value(conf) == float(stats.norm.ppf(0.5 + conf / 2))


def test_norm_sf_matches_scipy_stats() -> None:
    x = np.r_[np.linspace(-40, 40, 2001), 0.0, -0.0, 1e-300, 1.959963984540054, 38.5, 1e3, np.inf, -np.inf, np.nan]
    _same(norm_sf(x), stats.norm.sf(x))
    _same(2.0 * norm_sf(np.abs(x)), 2.0 * stats.norm.sf(np.abs(x)))  # the two-sided p in hotspots/trend


def test_chi2_ppf_matches_scipy_stats() -> None:
    q, df = np.meshgrid(np.r_[PROBS, -0.5, 1.5, np.nan], np.r_[2 * COUNTS, 2 * COUNTS + 2, 0.5, -2, np.nan, np.inf])
    with np.errstate(invalid="ignore"):
        _same(chi2_ppf(q, df), stats.chi2.ppf(q, df))


def test_exact_poisson_interval_matches_scipy_stats() -> None:
    """The Garwood limits as the module used to compute them, with scipy.stats.chi2."""
    o = np.r_[COUNTS, np.nan]
    for conf in (0.95, 0.998):
        alpha = 1 - conf
        with np.errstate(invalid="ignore"):
            lower = np.where(o > 0, stats.chi2.ppf(alpha / 2, 2 * np.where(o > 0, o, 1)) / 2, 0.0)
            upper = stats.chi2.ppf(1 - alpha / 2, 2 * (o + 1)) / 2
        lo, hi = exact_poisson_interval(o, conf)
        _same(lo, np.where(np.isnan(o), np.nan, lower))
        _same(hi, np.where(np.isnan(o), np.nan, upper))


def test_poisson_cdf_matches_scipy_stats() -> None:
    k = np.r_[-np.inf, -2, -1, -0.5, 0, 0.5, 1, 2, 7.9, COUNTS, 2e9, np.inf, np.nan]
    kk, mm = np.meshgrid(k, np.r_[MEANS, -1.0, np.nan, np.inf])
    with np.errstate(invalid="ignore"):
        _same(poisson_cdf(kk, mm), stats.poisson.cdf(kk, mm))


def test_poisson_ppf_matches_scipy_stats() -> None:
    qq, mm = np.meshgrid(np.r_[PROBS, 0.001, 0.025, 0.975, 0.999, -0.1, 1.1, np.nan], np.r_[MEANS, -1.0, np.nan, np.inf])
    with np.errstate(invalid="ignore"):
        _same(poisson_ppf(qq, mm), stats.poisson.ppf(qq, mm))


@settings(max_examples=300, deadline=None)
@given(
    q=st.floats(min_value=0, max_value=1),
    mu=st.one_of(st.floats(min_value=0, max_value=1e7), st.integers(min_value=0, max_value=10**6).map(float)),
)
def test_property_poisson_funnel_quantities(q: float, mu: float) -> None:
    """What the funnel limits evaluate: r = ppf(q, mu), then cdf(r) and cdf(r - 1)."""
    r = poisson_ppf(q, mu)
    assert r == stats.poisson.ppf(q, mu) or (np.isnan(r) and np.isnan(stats.poisson.ppf(q, mu)))
    for k in (r, r - 1):
        want = stats.poisson.cdf(k, mu)
        assert poisson_cdf(k, mu) == want or (np.isnan(want) and np.isnan(poisson_cdf(k, mu)))


@settings(max_examples=300, deadline=None)
@given(
    q=st.floats(min_value=0, max_value=1),
    df=st.one_of(st.floats(min_value=1e-3, max_value=1e7), st.integers(min_value=1, max_value=10**6).map(float)),
)
def test_property_chi2_ppf(q: float, df: float) -> None:
    assert chi2_ppf(q, df) == stats.chi2.ppf(q, df)


P_VALUES = [
    np.array([0.01, 0.04, 0.03, 0.2, 0.5, 0.9, 1.0, 0.0]),
    np.array([0.05, 0.05, 0.05, 0.01, 0.01]),  # ties
    np.array([0.3]),
    np.array([0.0, 0.0]),
    np.random.default_rng(3).uniform(0, 1, 1000),
    np.random.default_rng(4).beta(0.2, 3.0, 777),  # many small p, as with real hot spots
]


@pytest.mark.parametrize("p", P_VALUES, ids=range(len(P_VALUES)))
def test_bh_adjust_matches_scipy_stats(p: np.ndarray) -> None:
    _same(bh_adjust(p), stats.false_discovery_control(p, method="bh"))


@settings(max_examples=300, deadline=None)
@given(p=st.lists(st.one_of(st.floats(min_value=0, max_value=1), st.sampled_from([0.0, 0.01, 0.05, 1.0])), min_size=1))
def test_property_bh_adjust(p: list[float]) -> None:
    arr = np.asarray(p, dtype=float)
    _same(bh_adjust(arr), stats.false_discovery_control(arr, method="bh"))


def test_first_page_imports_stay_light() -> None:
    """The modules the first page imports no longer load scipy.stats, mapclassify, sklearn or matplotlib."""
    code = (
        "import sys, geo.classify, analysis.rates, analysis.intervals, analysis.hotspots, analysis.change,"
        " analysis.trend;"
        "print(sorted(m for m in ('mapclassify', 'sklearn', 'matplotlib', 'scipy.stats') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
