"""Period-on-period change with the exact conditional Poisson test, and the seed table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from analysis.change import binom_test_two_sided, period_change, poisson_rate_test, safe_period_name, seed_table
from analysis.rates import rate_per_1000
from geo.schema import AtlasError


def test_vectorised_binomial_test_equals_scipy_binomtest_over_a_sweep():
    rows = [(k, n, p) for n in [*range(1, 31), 57, 250, 1200] for p in (0.5, 0.3, 1 / 3, 0.77, 0.02, 0.995)
            for k in sorted({*range(0, n + 1, max(1, n // 12)), n})]
    k, n, p = (np.array(v, dtype=float) for v in zip(*rows))
    expected = np.array([binomtest(int(a), int(b), c).pvalue for a, b, c in rows])
    np.testing.assert_allclose(binom_test_two_sided(k, n, p), expected, rtol=1e-10, atol=1e-300)


def test_binomial_test_edge_cases():
    out = binom_test_two_sided(np.array([0, 3, np.nan]), np.array([0, 6, 4]), np.array([0.5, 0.5, 0.5]))
    assert out[0] == 1.0 and out[1] == 1.0 and np.isnan(out[2])


def test_poisson_rate_test_conditions_on_the_total_with_the_exposure_ratio():
    assert poisson_rate_test(10, 30, 1, 1) == pytest.approx(binomtest(30, 40, 0.5).pvalue, rel=1e-12)
    p = poisson_rate_test(np.array([12]), np.array([25]), np.array([1800.0]), np.array([2200.0]))
    assert p[0] == pytest.approx(binomtest(25, 37, 2200 / 4000).pvalue, rel=1e-12)


@pytest.fixture()
def three_years() -> pd.DataFrame:
    counts = pd.DataFrame({
        "area_code": ["A", "B", "C", "D"] * 3,
        "level": "lsoa",
        "period": ["2022/23"] * 4 + ["2023/24"] * 4 + ["2024/25"] * 4,
        "grain": "fy",
        "category": "All",
        "count": np.array([10, 0, 50, 8, 12, 3, 20, 8, 30, 2, 60, 8], dtype=np.int64),
    })
    pop = pd.DataFrame({"code": ["A", "B", "C"], "population_total": [1000.0, 2000.0, 5000.0]})
    return rate_per_1000(counts, pop)


def test_period_change_reports_counts_rates_and_test(three_years):
    out = period_change(three_years, "2022/23", "2024/25").set_index("area_code")
    assert out.loc["A", "count_from"] == 10 and out.loc["A", "count_to"] == 30
    assert out.loc["A", "count_change"] == 20
    assert out.loc["A", "pct_change"] == pytest.approx(200.0)
    assert out.loc["A", "rate_change"] == pytest.approx(20.0)
    assert out.loc["A", "p_value"] == pytest.approx(binomtest(30, 40, 0.5).pvalue)
    assert out.loc["A", "change_label"] == "significant increase"
    assert np.isnan(out.loc["B", "pct_change"])  # % change from zero is undefined
    assert out.loc["C", "change_label"] == "no significant change"
    assert out.loc["D", "change_label"] == "no significant change" and out.loc["D", "p_value"] == 1.0
    assert np.isnan(out.loc["D", "rate_from"])  # no population, but counts are still tested
    assert set(out["period_from"]) == {"2022/23"} and set(out["period_to"]) == {"2024/25"}


def test_period_change_detects_decrease_and_counts_missing_rows_as_zero(three_years):
    table = three_years[~((three_years["area_code"] == "C") & (three_years["period"] == "2023/24"))]
    out = period_change(table, "2022/23", "2023/24").set_index("area_code")
    assert out.loc["C", "count_to"] == 0
    assert out.loc["C", "change_label"] == "significant decrease"
    assert out.loc["C", "pct_change"] == pytest.approx(-100.0)


def test_period_change_uses_exposure_months_across_grains():
    table = pd.DataFrame({
        "area_code": ["A", "A"], "period": ["2019/20", "2020-04"], "grain": ["fy", "month"],
        "count": np.array([120, 10], dtype=np.int64), "population": [1000.0, 1000.0],
    })
    out = period_change(table, "2019/20", "2020-04")
    # 10 a month both times: the exposure ratio is 1:12, so nothing changed.
    assert out["p_value"].iloc[0] == pytest.approx(binomtest(10, 130, 1 / 13).pvalue)
    assert out["change_label"].iloc[0] == "no significant change"


def test_period_change_refuses_unknown_periods(three_years):
    with pytest.raises(AtlasError, match="2030/31"):
        period_change(three_years, "2022/23", "2030/31")


def test_seed_table_puts_three_years_side_by_side_ranked_by_latest_rate(three_years):
    out = seed_table(three_years, ["2022/23", "2023/24", "2024/25"])
    assert list(out.columns) == [
        "area_code", "count_2022_23", "rate_2022_23", "count_2023_24", "rate_2023_24",
        "count_2024_25", "rate_2024_25", "pct_change_2022_23_to_2024_25", "rank",
    ]
    assert out["area_code"].tolist() == ["A", "C", "B", "D"]
    assert out["rank"].tolist()[:3] == [1, 2, 3] and pd.isna(out["rank"].iloc[3])
    a = out.set_index("area_code").loc["A"]
    assert a["rate_2024_25"] == pytest.approx(30.0) and a["count_2023_24"] == 12
    assert a["pct_change_2022_23_to_2024_25"] == pytest.approx(200.0)
    assert np.isnan(out.set_index("area_code").loc["B", "pct_change_2022_23_to_2024_25"])


def test_seed_table_needs_one_category(three_years):
    mixed = pd.concat([three_years, three_years.assign(category="Stalking")])
    with pytest.raises(AtlasError, match="one category"):
        seed_table(mixed, ["2022/23", "2024/25"])
    only = seed_table(mixed, ["2022/23", "2024/25"], category="Stalking")
    assert len(only) == 4
    with pytest.raises(AtlasError, match="at least two"):
        seed_table(three_years, ["2022/23"])


def test_safe_period_names():
    assert safe_period_name("2022/23") == "2022_23"
    assert safe_period_name("2019/20-Q1") == "2019_20_q1"
    assert safe_period_name("2019-04") == "2019_04"


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 20_000), data=st.data(),
       p=st.one_of(st.sampled_from([0.5, 1 / 3, 0.25]), st.floats(0.001, 0.999)))
def test_binomial_test_equals_scipy_binomtest_property(n: int, data, p: float):
    """scipy.special's pmf/cdf/sf (not scipy.stats') give binomtest's p-value, large n and tails included."""
    k = data.draw(st.one_of(st.integers(0, n), st.sampled_from([0, n, n // 2, round(n * p)])))
    got = binom_test_two_sided(np.array([k], float), np.array([n], float), np.array([p]))[0]
    # Below ~1e-250 the two libraries' tails underflow differently (both are 0 for any decision); above
    # it they agree to ~6e-11 relative (20,000 random cases checked when this was written).
    assert got == pytest.approx(binomtest(k, n, p).pvalue, rel=1e-9, abs=1e-250)


def test_change_test_runs_without_importing_scipy_stats():
    """The Overview's change figures use this test; scipy.stats (~0.4 s to import) must stay unloaded."""
    import subprocess
    import sys

    from geo.schema import PROJECT_ROOT

    code = ("import sys, numpy as np; from analysis.change import poisson_rate_test;"
            "print(poisson_rate_test(np.array([10.]), np.array([30.]), np.array([1.]), np.array([1.]))[0],"
            " 'scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    value, loaded = out.stdout.split()
    assert loaded == "False" and float(value) == pytest.approx(binomtest(30, 40, 0.5).pvalue, rel=1e-12)
