"""Poisson, rate and Wilson intervals against published and independently computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2, norm

from analysis.intervals import (
    byar_interval,
    exact_poisson_interval,
    poisson_interval,
    rate_interval,
    wilson_interval,
    z_value,
)
from geo.schema import AtlasError


def test_exact_interval_of_zero_count_is_0_to_3_689():
    lower, upper = exact_poisson_interval(0)
    assert lower == 0.0
    assert upper == pytest.approx(3.689, abs=5e-4)


def test_exact_interval_of_five_matches_phe_worked_example():
    lower, upper = exact_poisson_interval(5)
    assert (float(lower), float(upper)) == pytest.approx((1.623, 11.668), abs=5e-4)


def test_byar_interval_of_100_matches_hand_calculation():
    lower, upper = byar_interval(100)
    assert (float(lower), float(upper)) == pytest.approx((81.36, 121.63), abs=0.01)


def test_exact_limits_match_chi_square_quantiles_over_a_sweep_of_counts():
    counts = np.arange(0, 400)
    for conf in (0.95, 0.998):
        a = 1 - conf
        lower, upper = exact_poisson_interval(counts, conf)
        expected_upper = chi2.ppf(1 - a / 2, 2 * counts + 2) / 2
        expected_lower = np.array([0.0] + [chi2.ppf(a / 2, 2 * o) / 2 for o in counts[1:]])
        np.testing.assert_allclose(lower, expected_lower, rtol=1e-12)
        np.testing.assert_allclose(upper, expected_upper, rtol=1e-12)


def test_byar_limits_match_formula_and_approach_exact_limits():
    counts = np.arange(10, 2000, 7).astype(float)
    z = norm.ppf(0.999)
    lower, upper = byar_interval(counts, 0.998)
    np.testing.assert_allclose(lower, counts * (1 - 1 / (9 * counts) - z / (3 * np.sqrt(counts))) ** 3)
    o1 = counts + 1
    np.testing.assert_allclose(upper, o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3)
    el, eu = exact_poisson_interval(counts, 0.998)
    # Byar's approximation is within 1% of the exact limits from 100 events on.
    big = counts >= 100
    np.testing.assert_allclose(lower[big], el[big], rtol=0.01)
    np.testing.assert_allclose(upper[big], eu[big], rtol=0.01)


def test_poisson_interval_switches_from_exact_to_byar_at_ten_events():
    lower, upper = poisson_interval(np.array([9, 10]))
    el, eu = exact_poisson_interval(9)
    bl, bu = byar_interval(10)
    assert lower[0] == el and upper[0] == eu
    assert lower[1] == bl and upper[1] == bu
    assert lower[1] != exact_poisson_interval(10)[0]


def test_missing_counts_give_nan_limits_and_negative_counts_are_refused():
    lower, upper = poisson_interval(pd.Series([3, None], dtype="Int64"))
    assert np.isnan(lower[1]) and np.isnan(upper[1]) and upper[0] > 3
    with pytest.raises(AtlasError, match="counts must be >= 0"):
        poisson_interval([1, -2])


def test_rate_interval_is_count_interval_over_population_and_nan_without_population():
    lower, upper = rate_interval([5, 5, 5], [2000, 0, np.nan])
    assert lower[0] == pytest.approx(1.623486 / 2, rel=1e-5)
    assert upper[0] == pytest.approx(11.668332 / 2, rel=1e-5)
    assert np.isnan(lower[1:]).all() and np.isnan(upper[1:]).all()
    assert not np.isinf(upper).any()


def test_z_values_for_the_two_confidence_levels():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.998) == pytest.approx(3.090232, abs=1e-6)
    with pytest.raises(AtlasError):
        z_value(95)


def test_wilson_interval_matches_newcombe_1998_examples():
    # Newcombe (1998) Stat Med 17:857, Table I: 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605;
    # 0/20 -> 0-0.1611; 1/29 -> 0.0061-0.1718.
    lower, upper = wilson_interval([81, 15, 0, 1], [263, 148, 20, 29])
    np.testing.assert_allclose(lower, [0.2553, 0.0624, 0.0, 0.0061], atol=5e-5)
    np.testing.assert_allclose(upper, [0.3662, 0.1605, 0.1611, 0.1718], atol=5e-5)


def test_wilson_interval_is_nan_without_trials():
    lower, upper = wilson_interval([0], [0])
    assert np.isnan(lower[0]) and np.isnan(upper[0])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_observed_proportion(pair):
    x, n = pair
    lower, upper = wilson_interval(x, n, 0.998)
    assert 0.0 <= lower <= x / n + 1e-12 <= upper + 2e-12 <= 1.0 + 2e-12


def test_a_long_array_gets_the_same_limits_as_each_count_alone():
    """Long arrays compute each distinct count once (analysis.intervals.poisson_interval): same values."""
    import numpy as np

    from analysis.intervals import poisson_interval

    rng = np.random.default_rng(5)
    counts = np.concatenate([rng.poisson(4, 3000).astype(float), [np.nan, 0.0, 9.0, 10.0, 250_000.0]])
    lower, upper = poisson_interval(counts, 0.998)
    alone = [poisson_interval(counts[i:i + 1], 0.998) for i in range(counts.size)]
    np.testing.assert_array_equal(lower, np.concatenate([a[0] for a in alone]))
    np.testing.assert_array_equal(upper, np.concatenate([a[1] for a in alone]))
    assert lower.shape == counts.shape and np.isnan(lower[3000]) and lower[3001] == 0.0
