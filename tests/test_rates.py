"""Rates per 1,000, rolling years, benchmarking, funnel limits and shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, poisson

from analysis.rates import (
    NO_POPULATION,
    ROLLING_12_GRAIN,
    compare_to_reference,
    flag_funnel,
    funnel_limits,
    overall_rate,
    rate_per_1000,
    rolling_12_months,
    share_of_incidents,
)
from geo.schema import AtlasError, DENOMINATORS, data_dir


@pytest.fixture(scope="module")
def darlington_population() -> pd.DataFrame:
    """The shipped mid-2019 LSOA population for Darlington, in the population_table layout."""
    pop = pd.read_csv(data_dir() / "population" / "lsoa_population_mid2019.csv", dtype={"lsoa_code": str})
    pop = pop[pop["lad_name_2019"] == "Darlington"].rename(columns={"lsoa_code": "code"})
    return pop[["code", *DENOMINATORS.values()]].reset_index(drop=True)


@pytest.fixture()
def counts(darlington_population: pd.DataFrame) -> pd.DataFrame:
    codes = darlington_population["code"]
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "area_code": codes,
        "level": "lsoa",
        "period": "2019/20",
        "grain": "fy",
        "category": "All",
        "count": rng.poisson(15, len(codes)).astype(np.int64),
        "repeat_count": pd.array(rng.integers(0, 5, len(codes)), dtype="Int64"),
    })


def test_rate_is_count_per_1000_of_the_chosen_denominator(counts, darlington_population):
    for name, column in DENOMINATORS.items():
        rates = rate_per_1000(counts, darlington_population, denominator=name)
        pop = darlington_population.set_index("code")[column]
        expected = counts["count"].to_numpy() / pop.loc[counts["area_code"]].to_numpy() * 1000
        np.testing.assert_allclose(rates["rate_per_1000"], expected)
        np.testing.assert_array_equal(rates["population"], pop.loc[counts["area_code"]].to_numpy())
    by_column = rate_per_1000(counts, darlington_population, denominator="population_16_plus")
    by_name = rate_per_1000(counts, darlington_population, denominator="16plus")
    pd.testing.assert_frame_equal(by_column, by_name)


def test_rate_output_keeps_count_columns_and_adds_interval_columns(counts, darlington_population):
    rates = rate_per_1000(counts, darlington_population)
    assert list(rates.columns) == [
        *counts.columns, "population", "rate_per_1000", "rate_lower_95", "rate_upper_95",
        "rate_lower_998", "rate_upper_998", "rate_note",
    ]
    assert (rates["rate_lower_998"] <= rates["rate_lower_95"]).all()
    assert (rates["rate_lower_95"] <= rates["rate_per_1000"]).all()
    assert (rates["rate_per_1000"] <= rates["rate_upper_95"]).all()
    assert (rates["rate_upper_95"] <= rates["rate_upper_998"]).all()
    assert rates["rate_note"].isna().all()


def test_small_counts_use_exact_limits_and_zero_count_has_zero_lower_limit():
    counts = pd.DataFrame({"area_code": ["A", "B"], "period": "2019", "count": [0, 4]})
    pop = pd.DataFrame({"code": ["A", "B"], "population_total": [500.0, 2000.0]})
    rates = rate_per_1000(counts, pop)
    assert rates["rate_lower_95"].iloc[0] == 0.0
    assert rates["rate_upper_95"].iloc[0] == pytest.approx(chi2.ppf(0.975, 2) / 2 / 500 * 1000)
    assert rates["rate_lower_998"].iloc[1] == pytest.approx(chi2.ppf(0.001, 8) / 2 / 2000 * 1000)
    assert rates["rate_upper_998"].iloc[1] == pytest.approx(chi2.ppf(0.999, 10) / 2 / 2000 * 1000)


def test_zero_or_missing_population_gives_nan_rate_with_note_never_inf(counts, darlington_population):
    pop = darlington_population.copy()
    pop.loc[0, "population_total"] = 0
    pop = pop.drop(index=1)
    rates = rate_per_1000(counts, pop)
    numeric = rates.filter(like="rate_").drop(columns="rate_note").to_numpy()
    assert not np.isinf(numeric).any()
    flagged = rates["area_code"].isin(darlington_population["code"].iloc[:2])
    assert rates.loc[flagged, "rate_per_1000"].isna().all()
    assert rates.loc[flagged, "rate_upper_95"].isna().all()
    assert (rates.loc[flagged, "rate_note"] == NO_POPULATION).all()
    assert rates.loc[~flagged, "rate_note"].isna().all()
    assert rates.loc[~flagged, "rate_per_1000"].notna().all()


def test_row_order_does_not_change_rates(counts, darlington_population):
    rates = rate_per_1000(counts, darlington_population)
    shuffled = rate_per_1000(counts.sample(frac=1, random_state=3), darlington_population)
    pd.testing.assert_frame_equal(shuffled.sort_index(), rates)


def test_bad_population_tables_are_refused(counts, darlington_population):
    with pytest.raises(AtlasError, match="unknown denominator"):
        rate_per_1000(counts, darlington_population, denominator="adults")
    doubled = pd.concat([darlington_population, darlington_population.head(1)])
    with pytest.raises(AtlasError, match="duplicate codes"):
        rate_per_1000(counts, doubled)
    with pytest.raises(AtlasError, match="missing columns"):
        rate_per_1000(counts, darlington_population.drop(columns="population_total"))


def test_overall_rate_sums_counts_and_populations_with_population(counts, darlington_population):
    rates = rate_per_1000(counts, darlington_population)
    rates.loc[0, "population"] = np.nan  # an area without population drops out of both sums
    whole = overall_rate(rates)
    assert len(whole) == 1
    kept = rates.iloc[1:]
    assert whole["count"].iloc[0] == kept["count"].sum()
    assert whole["rate_per_1000"].iloc[0] == pytest.approx(kept["count"].sum() / kept["population"].sum() * 1000)


def _monthly(values: dict[str, list[int]], start: str = "2019-01") -> pd.DataFrame:
    months = pd.period_range(start, periods=len(next(iter(values.values()))), freq="M").strftime("%Y-%m")
    rows = [
        {"area_code": code, "level": "lsoa", "period": m, "grain": "month", "category": "All", "count": c,
         "repeat_count": pd.NA if c == 99 else 1}
        for code, series in values.items() for m, c in zip(months, series)
    ]
    return pd.DataFrame(rows).astype({"count": "int64", "repeat_count": "Int64"})


def test_rolling_12_months_sums_complete_windows_ending_each_month():
    counts = _monthly({"A": list(range(1, 15)), "B": [2] * 14})
    rolled = rolling_12_months(counts)
    a = rolled[rolled["area_code"] == "A"]
    assert a["period"].tolist() == ["2019-12", "2020-01", "2020-02"]
    assert a["count"].tolist() == [sum(range(1, 13)), sum(range(2, 14)), sum(range(3, 15))]
    assert (rolled.loc[rolled["area_code"] == "B", "count"] == 24).all()
    assert (rolled["grain"] == ROLLING_12_GRAIN).all()
    assert rolled["repeat_count"].tolist() == [12] * 6


def test_rolling_12_months_treats_missing_rows_as_zero_and_missing_repeat_flags_as_unknown():
    counts = _monthly({"A": [1] * 13, "B": [1] * 13})
    counts = counts[~((counts["area_code"] == "A") & (counts["period"] == "2019-06"))]
    counts.loc[(counts["area_code"] == "B") & (counts["period"] == "2020-01"), "repeat_count"] = pd.NA
    rolled = rolling_12_months(counts).set_index(["area_code", "period"])
    assert rolled.loc[("A", "2019-12"), "count"] == 11
    assert rolled.loc[("A", "2020-01"), "count"] == 11
    assert rolled.loc[("B", "2019-12"), "repeat_count"] == 12
    assert pd.isna(rolled.loc[("B", "2020-01"), "repeat_count"])


def test_rolling_12_months_refuses_short_or_non_monthly_tables():
    with pytest.raises(AtlasError, match="at least 12 months"):
        rolling_12_months(_monthly({"A": [1] * 11}))
    quarterly = _monthly({"A": [1] * 12}).assign(grain="quarter")
    with pytest.raises(AtlasError, match="monthly counts"):
        rolling_12_months(quarterly)


def _rates_with_limits(lower: list[float], upper: list[float]) -> pd.DataFrame:
    return pd.DataFrame({
        "area_code": [f"A{i}" for i in range(len(lower))], "period": "2019/20",
        "rate_lower_95": lower, "rate_upper_95": upper,
    })


def test_compare_to_reference_uses_whether_the_interval_contains_the_reference():
    rates = _rates_with_limits([11.0, 9.0, 5.0, 10.0, np.nan], [14.0, 12.0, 9.5, 13.0, np.nan])
    out = compare_to_reference(rates, 10.0)
    assert out["compared_to_reference"].tolist()[:4] == ["higher", "similar", "lower", "similar"]
    assert pd.isna(out["compared_to_reference"].iloc[4])


def test_compare_to_reference_with_reference_interval_needs_non_overlap():
    rates = _rates_with_limits([11.0, 12.5, 5.0], [14.0, 15.0, 9.5])
    out = compare_to_reference(rates, 10.0, reference_lower=9.0, reference_upper=12.0)
    assert out["compared_to_reference"].tolist() == ["similar", "higher", "similar"]
    with pytest.raises(AtlasError, match="both"):
        compare_to_reference(rates, 10.0, reference_lower=9.0)


def test_compare_to_reference_looks_up_reference_by_period():
    rates = pd.concat([_rates_with_limits([11.0], [14.0]), _rates_with_limits([11.0], [14.0]).assign(period="2020/21")])
    out = compare_to_reference(rates, pd.Series({"2019/20": 10.0, "2020/21": 12.0}))
    assert out["compared_to_reference"].tolist() == ["higher", "similar"]
    with pytest.raises(AtlasError, match="no reference value"):
        compare_to_reference(rates, pd.Series({"2019/20": 10.0}))


def _spiegelhalter_limit(p: float, expected: float) -> float:
    """Appendix A.1.1 of Spiegelhalter (2005), written out step by step."""
    r = 0
    while poisson.cdf(r, expected) < p:
        r += 1
    f_r, f_r1 = poisson.cdf(r, expected), poisson.cdf(r - 1, expected)
    alpha = (f_r - p) / (f_r - f_r1)
    return max(r - alpha, 0.0)


def test_funnel_limits_match_spiegelhalter_interpolated_poisson_quantiles():
    populations = [150.0, 800.0, 1500.0, 4000.0, 12000.0]
    reference = 12.5
    limits = funnel_limits(reference, populations)
    assert list(limits.columns) == ["population", "expected_count", "lower_95", "upper_95", "lower_998", "upper_998"]
    for row in limits.itertuples():
        e = reference * row.population / 1000
        assert row.expected_count == pytest.approx(e)
        assert row.upper_95 == pytest.approx(_spiegelhalter_limit(0.975, e) / row.population * 1000)
        assert row.lower_95 == pytest.approx(_spiegelhalter_limit(0.025, e) / row.population * 1000)
        assert row.upper_998 == pytest.approx(_spiegelhalter_limit(0.999, e) / row.population * 1000)
        assert row.lower_998 == pytest.approx(_spiegelhalter_limit(0.001, e) / row.population * 1000)


def test_funnel_limits_narrow_towards_the_normal_approximation_for_large_populations():
    limits = funnel_limits(10.0, [1e3, 1e4, 1e5, 1e7])
    width = limits["upper_95"] - limits["lower_95"]
    assert width.is_monotonic_decreasing
    big = limits.iloc[-1]
    half_width = 1.959964 * np.sqrt(10.0 / 1000 / 1e7) * 1000
    assert big["upper_95"] == pytest.approx(10.0 + half_width, rel=1e-3)
    assert big["lower_95"] == pytest.approx(10.0 - half_width, rel=1e-3)


def test_flag_funnel_marks_areas_outside_the_limits():
    rates = pd.DataFrame({"area_code": ["hi", "mid", "lo", "none"], "count": [40, 10, 1, 3],
                          "population": [1000.0, 1000.0, 1000.0, np.nan]})
    rates["rate_per_1000"] = rates["count"] / rates["population"] * 1000
    out = flag_funnel(rates, 10.0)
    assert out["funnel_position_95"].tolist()[:3] == ["above", "inside", "below"]
    assert out["funnel_position_998"].tolist()[:3] == ["above", "inside", "below"]
    assert out["funnel_position_95"].isna().iloc[3]


def test_share_of_incidents_compares_incident_and_population_shares_per_period():
    rates = pd.DataFrame({
        "area_code": ["A", "B", "C", "A", "B", "C"], "period": ["p1"] * 3 + ["p2"] * 3,
        "count": [10, 30, 60, 0, 0, 5], "population": [500.0, 500.0, 1000.0, 500.0, 0.0, 1500.0],
    })
    out = share_of_incidents(rates)
    np.testing.assert_allclose(out["incident_share"], [0.1, 0.3, 0.6, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(out["population_share"], [0.25, 0.25, 0.5, 0.25, np.nan, 0.75])
    np.testing.assert_allclose(out["share_ratio"], [0.4, 1.2, 1.2, 0.0, np.nan, 4 / 3])


def test_rates_from_shipped_population_conserve_the_whole_area_rate_across_levels():
    """Integration: LSOA counts rolled up to wards give the same whole-area rate (boundaries.population)."""
    from analysis.rollup import roll_up
    from boundaries.population import population_table

    lsoa_pop = population_table("lsoa")
    rng = np.random.default_rng(5)
    counts = pd.DataFrame({
        "area_code": lsoa_pop["code"], "level": "lsoa", "period": "2019-04", "grain": "month",
        "category": "All", "count": rng.poisson(3, len(lsoa_pop)).astype(np.int64),
        "repeat_count": pd.array([pd.NA] * len(lsoa_pop), dtype="Int64"),
    })
    lsoa_rates = rate_per_1000(counts, lsoa_pop, denominator="18plus")
    ward_rates = rate_per_1000(roll_up(counts, "ward", "month").counts, population_table("ward"), denominator="18plus")
    assert ward_rates["rate_note"].isna().all()
    assert ward_rates["count"].sum() == counts["count"].sum()
    lsoa_whole, ward_whole = overall_rate(lsoa_rates), overall_rate(ward_rates)
    assert ward_whole["rate_per_1000"].iloc[0] == pytest.approx(lsoa_whole["rate_per_1000"].iloc[0], rel=1e-12)
