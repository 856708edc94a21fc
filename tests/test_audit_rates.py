"""Audit: known-answer tests for rates, intervals, funnel limits, concentration and the change test.

Each expected value is derived independently of the module under test: published tables (Garwood
1936 exact Poisson limits as tabulated in the PHE/OHID technical guide), hand formulas, or scipy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import change, concentration, intervals, rates, trend


# ---------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("count", "lower", "upper"),
    [  # exact 95% limits of a Poisson count (standard tables, e.g. PHE technical guide / Garwood 1936)
        (0, 0.0, 3.689),
        (1, 0.0253, 5.572),
        (2, 0.2422, 7.225),
        (5, 1.6235, 11.668),
        (9, 4.1154, 17.085),
    ],
)
def test_exact_poisson_limits_match_published_table(count, lower, upper):
    lo, hi = intervals.poisson_interval(np.array([count]), 0.95)
    assert lo[0] == pytest.approx(lower, abs=6e-4)
    assert hi[0] == pytest.approx(upper, abs=6e-4)


def test_byar_from_ten_events_by_hand():
    # PHE switches from exact to Byar's method at 10 events (PHEindicatormethods::phe_rate notes).
    o, z = 100.0, stats.norm.ppf(0.975)
    by_hand = (o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3,
               (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3)
    lo, hi = intervals.poisson_interval(np.array([9.0, 10.0, 100.0]), 0.95)
    assert (lo[2], hi[2]) == pytest.approx(by_hand, rel=1e-12)
    assert (lo[2], hi[2]) == pytest.approx((81.364, 121.627), abs=0.01)  # close to exact 81.36/121.63
    assert lo[0] == pytest.approx(stats.chi2.ppf(0.025, 18) / 2)  # 9 events: exact
    assert lo[1] != pytest.approx(stats.chi2.ppf(0.025, 20) / 2, abs=1e-4)  # 10 events: Byar


def test_rate_interval_scales_by_population_and_blanks_zero_population():
    lo, hi = intervals.rate_interval(np.array([5, 5]), np.array([1000.0, 0.0]), 0.95)
    assert lo[0] == pytest.approx(1.6235, abs=1e-3) and hi[0] == pytest.approx(11.668, abs=1e-3)
    assert np.isnan(lo[1]) and np.isnan(hi[1])


def test_wilson_interval_by_hand():
    lo, hi = intervals.wilson_interval([0, 5, 10], [10, 10, 10])
    z = stats.norm.ppf(0.975)
    # 0 of 10: upper = (z^2/2n + z sqrt(z^2/4n^2)) / (1 + z^2/n) = z^2/n / (1 + z^2/n)
    assert hi[0] == pytest.approx((z**2 / 10) / (1 + z**2 / 10), rel=1e-12)
    assert (lo[1], hi[1]) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert lo[0] == 0 and hi[2] == 1


# ---------------------------------------------------------------------------- rates


def test_whole_area_rate_is_pooled_not_mean_of_rates():
    t = pd.DataFrame({"area_code": ["a", "b", "c"], "period": "p", "count": [10, 30, 7],
                      "population": [1000.0, 5000.0, 0.0]})
    whole = rates.overall_rate(rates.add_rates(t))
    # area c has no population: left out of numerator and denominator
    assert whole["rate_per_1000"].iloc[0] == pytest.approx(40 / 6000 * 1000)


def test_funnel_limits_match_spiegelhalter_interpolation():
    ref_rate = 16.0
    pops = np.array([200.0, 1000.0, 5000.0, 20000.0])
    got = rates.funnel_limits(ref_rate, pops)
    for i, n in enumerate(pops):
        e = ref_rate * n / 1000
        for col, p in (("lower_95", 0.025), ("upper_95", 0.975), ("lower_998", 0.001), ("upper_998", 0.999)):
            r = stats.poisson.ppf(p, e)
            f_r, f_r1 = stats.poisson.cdf(r, e), stats.poisson.cdf(r - 1, e)
            expected = max(r - (f_r - p) / (f_r - f_r1), 0.0) / n * 1000  # Spiegelhalter 2005, A.1.1
            assert got[col].iloc[i] == pytest.approx(expected, rel=1e-12)
    # limits narrow towards the reference rate as the population grows
    assert (np.diff(got["upper_95"]) < 0).all() and got["upper_95"].iloc[-1] > ref_rate > got["lower_95"].iloc[-1]


# ---------------------------------------------------------------------------- change test


def test_exact_conditional_poisson_test_equals_scipy_binomtest():
    rng = np.random.default_rng(7)
    n = rng.integers(0, 200, 400)
    k = np.array([rng.integers(0, m + 1) for m in n])
    p = rng.choice([0.5, 1 / 3, 0.1, 0.9, 0.73], 400)
    got = change.binom_test_two_sided(k, n, p)
    expected = [stats.binomtest(int(a), int(b), float(c)).pvalue if b > 0 else 1.0 for a, b, c in zip(k, n, p)]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-13)


def test_period_change_months_override_gives_equal_rates_no_change():
    # 120 incidents in 12 months then 60 in the 6 months the data covers: the same monthly rate.
    t = pd.DataFrame({"area_code": ["a", "a"], "period": ["2022/23", "2023/24"], "grain": "fy",
                      "count": [120, 60], "population": [1000.0, 1000.0]})
    whole = change.period_change(t, "2022/23", "2023/24")
    assert whole["change_label"].iloc[0] == "significant decrease"  # as if both years were whole
    fair = change.period_change(t, "2022/23", "2023/24", months={"2023/24": 6})
    assert fair["p_value"].iloc[0] == pytest.approx(stats.binomtest(60, 180, 6 / 18).pvalue)
    assert fair["change_label"].iloc[0] == "no significant change"


# ---------------------------------------------------------------------------- Mann-Kendall


def test_mann_kendall_matches_brute_force_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(60, 10)).astype(float)
    got = trend.mann_kendall(x)
    n = x.shape[1]
    for i in range(len(x)):
        s = sum(np.sign(x[i, j] - x[i, k]) for k in range(n) for j in range(k + 1, n))
        _, t = np.unique(x[i], return_counts=True)
        var = (n * (n - 1) * (2 * n + 5) - (t * (t - 1) * (2 * t + 5)).sum()) / 18
        z = (s - np.sign(s)) / np.sqrt(var) if var > 0 else 0.0
        assert got.s[i] == s and got.var_s[i] == pytest.approx(var)
        assert got.z[i] == pytest.approx(z) and got.p[i] == pytest.approx(2 * stats.norm.sf(abs(z)))
        assert got.tau[i] == pytest.approx(stats.kendalltau(np.arange(n), x[i]).statistic)


# ---------------------------------------------------------------------------- concentration


def test_gini_equals_mean_absolute_difference_formulas():
    rng = np.random.default_rng(0)
    c = rng.poisson(5, 40).astype(float)
    p = rng.integers(500, 3000, 40).astype(float)
    t = rates.add_rates(pd.DataFrame({"area_code": [f"A{i:02d}" for i in range(40)], "period": "x",
                                      "count": c, "population": p}))
    g_areas = concentration.gini_coefficient(t, "areas")["gini"].iloc[0]
    assert g_areas == pytest.approx(np.abs(c[:, None] - c[None, :]).mean() / (2 * c.mean()))
    r = c / p
    rbar = (p * r).sum() / p.sum()
    weighted = (p[:, None] * p[None, :] * np.abs(r[:, None] - r[None, :])).sum() / (2 * p.sum() ** 2 * rbar)
    assert concentration.gini_coefficient(t, "population")["gini"].iloc[0] == pytest.approx(weighted)
    top = concentration.top_area_share(t, (0.1,), ("count",))["top_count_share"].iloc[0]
    assert top == pytest.approx(np.sort(c)[::-1][:4].sum() / c.sum())
