"""geo.classify: numpy quantiles / equal interval give mapclassify's bins and classes exactly.

mapclassify is the independent implementation here (geo.classify no longer imports it for these
schemes); every comparison is exact (no tolerance), bins *and* each value's class.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import mapclassify
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.classify import classify, equal_interval_bins, quantile_bins

ROOT = Path(__file__).resolve().parents[1]
MC = {"quantiles": mapclassify.Quantiles, "equal_interval": mapclassify.EqualInterval}


def _mapclassify(y: np.ndarray, scheme: str, k: int) -> mapclassify.classifiers.MapClassifier:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Not enough unique values", category=UserWarning)
        return MC[scheme](y, k=k)


def _check_same(values: np.ndarray, scheme: str, k: int) -> None:
    """classify(values) has mapclassify's bins and puts every finite value in mapclassify's class."""
    y = np.asarray(values, dtype=float)
    finite = y[np.isfinite(y)]
    got = classify(values, scheme, k)
    k_eff = min(k, len(np.unique(finite)))
    if k_eff < 2:  # one class: mapclassify refuses (EqualInterval) or is trivial; nothing to compare
        assert got.bins == ((float(finite.max()),) if len(finite) else ())
        return
    mc = _mapclassify(finite, scheme, k_eff)
    mc_bins = np.asarray(mc.bins, dtype=float)
    # Bit-identical bounds (array_equal, not allclose).
    np.testing.assert_array_equal(np.asarray(got.bins), np.unique(mc_bins))
    assert got.lowest == finite.min()
    if len(np.unique(mc_bins)) == len(mc_bins):  # duplicated cuts would give mapclassify an empty class
        cls = got.assign(values)
        np.testing.assert_array_equal(cls[np.isfinite(y)], mc.yb)
        assert (cls[~np.isfinite(y)] == -1).all()
        np.testing.assert_array_equal(np.bincount(cls[cls >= 0], minlength=got.k), mc.counts)


RNG = np.random.default_rng(7)
CASES = {
    "uniform": RNG.uniform(0, 100, 317),
    "skewed rates": RNG.lognormal(1.0, 1.2, 500),
    "poisson counts": RNG.poisson(3.0, 400).astype(float),
    "mostly zeros": np.r_[np.zeros(90), RNG.poisson(2.0, 15)].astype(float),
    "two values": np.r_[np.zeros(10), np.ones(3)],
    "three values": np.array([1.0, 1, 1, 2, 2, 5]),
    "arange 1000": np.arange(1000.0),
    "tiny": np.array([0.1, 0.2]),
    "negative": RNG.normal(0, 5, 77),
    "large": RNG.uniform(1e6, 1e9, 50),
    "nan and inf": np.r_[RNG.uniform(0, 10, 40), np.nan, np.inf, -np.inf, np.nan],
}


@pytest.mark.parametrize("scheme", ["quantiles", "equal_interval"])
@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 7, 9, 10])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_mapclassify(case: str, k: int, scheme: str) -> None:
    _check_same(CASES[case], scheme, k)


@pytest.mark.parametrize("k", range(2, 41))
def test_quantile_percentiles_follow_mapclassify_arange(k: int) -> None:
    """k = 3, 6, 7, 29, ... are where arange and linspace percentiles differ in the last bit (or count)."""
    y = RNG.uniform(0, 1, 101)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Not enough unique values", category=UserWarning)
        np.testing.assert_array_equal(quantile_bins(y, k), mapclassify.Quantiles(y, k=k).bins)
    np.testing.assert_array_equal(equal_interval_bins(y, k), mapclassify.EqualInterval(y, k=k).bins)


def test_known_quantiles_and_ties() -> None:
    """Hand-checked values: percentiles interpolate, tied bounds merge to fewer classes."""
    np.testing.assert_array_equal(quantile_bins(np.arange(1000.0), 4), [249.75, 499.5, 749.25, 999.0])
    # mapclassify's doc shows [333, 666, 999]; the float percentile 33.33..% lands one ulp above.
    np.testing.assert_allclose(quantile_bins(np.arange(1000.0), 3), [333.0, 666.0, 999.0], rtol=1e-15)
    c = classify(np.r_[np.zeros(8), [1.0, 2.0, 3.0, 4.0]], "quantiles", 5)
    # Order-statistic positions 2.2, 4.4, 6.6 are all 0; 8.8 -> 1 + 0.8*(2-1); 11 -> 4.
    assert c.bins == pytest.approx((0.0, 1.8, 4.0), rel=1e-15)
    assert c.assign(np.array([0.0, 0.1, 1.8, 2.0, np.nan])).tolist() == [0, 1, 1, 2, -1]
    e = classify(np.array([0.0, 10.0]), "equal_interval", 4)  # two distinct values -> k = 2
    assert e.bins == (5.0, 10.0)


finite_values = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 0.5, 3.0]),  # heavy ties, like counts
    # Subnormal ranges make mapclassify's EqualInterval divide by zero (see test_subnormal_range_...).
    st.floats(min_value=-1e4, max_value=1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False),
    st.integers(min_value=0, max_value=50).map(float),
)
values_with_gaps = st.lists(st.one_of(finite_values, st.just(float("nan"))), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=values_with_gaps, k=st.integers(min_value=2, max_value=7), scheme=st.sampled_from(list(MC)))
def test_property_matches_mapclassify(values: list[float], k: int, scheme: str) -> None:
    _check_same(np.asarray(values, dtype=float), scheme, k)


@settings(max_examples=60, deadline=None)
@given(value=finite_values, n=st.integers(min_value=1, max_value=20), k=st.integers(min_value=2, max_value=7))
def test_property_constant_values_one_class(value: float, n: int, k: int) -> None:
    c = classify(np.full(n, value), "quantiles", k)
    assert c.bins == (value,) and c.lowest == value
    assert (c.assign(np.full(n, value)) == 0).all()


def test_subnormal_range_gives_one_class_not_a_crash() -> None:
    """[0, 5e-324] has two distinct values but a width that underflows to 0 (mapclassify raises)."""
    c = classify(np.array([0.0, 5e-324]), "equal_interval", 2)
    assert c.bins == (5e-324,) and c.assign(np.array([0.0, 5e-324])).tolist() == [0, 0]


def test_natural_breaks_still_uses_mapclassify() -> None:
    y = np.r_[np.zeros(20), np.full(20, 10.0), np.full(20, 50.0)]
    assert classify(y, "natural_breaks", 3).bins == (0.0, 10.0, 50.0)


def test_import_does_not_load_mapclassify() -> None:
    """The first page imports geo.classify; mapclassify (scipy.stats, pyplot, sklearn) must stay unloaded."""
    code = (
        "import sys, geo.classify; geo.classify.classify([1, 2, 3, 4], 'quantiles', 3);"
        "geo.classify.classify([1, 2, 3, 4], 'equal_interval', 3);"
        "print(sorted(m for m in ('mapclassify', 'sklearn', 'matplotlib', 'scipy.stats') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
