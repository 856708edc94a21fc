"""Top-area shares, Lorenz curves, Gini coefficients and repeat-victim shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.concentration import gini_coefficient, lorenz_curve, repeat_share, top_area_share
from geo.schema import AtlasError


def _rates(counts: list[int], populations: list[float], period: str = "2019/20") -> pd.DataFrame:
    table = pd.DataFrame({
        "area_code": [f"E{i:02d}" for i in range(len(counts))], "period": period, "category": "All",
        "count": np.asarray(counts, dtype=np.int64), "population": np.asarray(populations, dtype=float),
    })
    pop = table["population"].where(table["population"] > 0)
    table["rate_per_1000"] = table["count"] / pop * 1000
    return table


def _gini_mean_difference(values: np.ndarray, weights: np.ndarray) -> float:
    """Direct O(n^2) Gini: sum_ij w_i w_j |v_i - v_j| / (2 W^2 mean), mean weighted by w."""
    total = weights.sum()
    mean = (weights * values).sum() / total
    diffs = np.abs(values[:, None] - values[None, :]) * weights[:, None] * weights[None, :]
    return diffs.sum() / (2 * total**2 * mean)


def test_gini_of_one_area_with_all_incidents_among_four_is_three_quarters():
    rates = _rates([0, 0, 0, 10], [100.0] * 4)
    assert gini_coefficient(rates, basis="areas")["gini"].iloc[0] == pytest.approx(0.75)
    assert gini_coefficient(rates, basis="population")["gini"].iloc[0] == pytest.approx(0.75)


def test_gini_of_hand_worked_small_case():
    # counts 1, 2, 3, 4: Lorenz y = 0, .1, .3, .6, 1 at x = 0, .25, .5, .75, 1;
    # area under = .25 * (.1 + .4 + .9 + 1.6) / 2 = .375, Gini = 1 - 2 * .375 = .25.
    assert gini_coefficient(_rates([1, 2, 3, 4], [1.0] * 4), basis="areas")["gini"].iloc[0] == pytest.approx(0.25)


def test_gini_equals_the_mean_absolute_difference_formula():
    rng = np.random.default_rng(11)
    counts = rng.poisson(rng.gamma(1.5, 8, 60))
    pops = rng.uniform(800, 3000, 60).round()
    rates = _rates(counts.tolist(), pops.tolist())
    by_area = gini_coefficient(rates, basis="areas")["gini"].iloc[0]
    assert by_area == pytest.approx(_gini_mean_difference(counts.astype(float), np.ones(60)), rel=1e-12)
    by_pop = gini_coefficient(rates, basis="population")["gini"].iloc[0]
    assert by_pop == pytest.approx(_gini_mean_difference(counts / pops, pops), rel=1e-12)
    shuffled = gini_coefficient(rates.sample(frac=1, random_state=2), basis="population")["gini"].iloc[0]
    assert shuffled == pytest.approx(by_pop, rel=1e-12)


def test_gini_is_zero_for_equal_rates_and_nan_without_incidents():
    equal_rates = _rates([5, 10, 20], [500.0, 1000.0, 2000.0])
    assert gini_coefficient(equal_rates)["gini"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(gini_coefficient(_rates([0, 0], [10.0, 20.0]))["gini"].iloc[0])


def test_gini_and_lorenz_are_per_period():
    rates = pd.concat([_rates([0, 0, 0, 10], [1.0] * 4, "p1"), _rates([1, 2, 3, 4], [1.0] * 4, "p2")])
    gini = gini_coefficient(rates, basis="areas").set_index("period")["gini"]
    assert gini.to_dict() == pytest.approx({"p1": 0.75, "p2": 0.25})
    curve = lorenz_curve(rates, basis="areas")
    p2 = curve[curve["period"] == "p2"]
    np.testing.assert_allclose(p2["cumulative_base_share"], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(p2["cumulative_incident_share"], [0, 0.1, 0.3, 0.6, 1.0])
    assert p2["point"].tolist() == [0, 1, 2, 3, 4]


def test_population_lorenz_curve_orders_by_rate_and_leaves_out_areas_without_population():
    rates = _rates([30, 10, 5, 4], [1000.0, 1000.0, 2000.0, 0.0])
    curve = lorenz_curve(rates)
    assert curve["area_code"].tolist()[1:] == ["E02", "E01", "E00"]  # rates 2.5, 10, 30 per 1,000
    np.testing.assert_allclose(curve["cumulative_base_share"], [0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve["cumulative_incident_share"], [0, 5 / 45, 15 / 45, 1.0])
    assert curve["cumulative_incident_share"].is_monotonic_increasing


def test_top_area_share_by_count_and_by_rate():
    # E00 has the most incidents but a large population; E01 has the highest rate.
    counts = [50, 20, 10, 5, 5, 4, 3, 2, 1, 0]
    pops = [10000.0, 500.0] + [1000.0] * 8
    out = top_area_share(_rates(counts, pops)).set_index(["ranked_by", "top_fraction"])
    assert out.loc[("count", 0.1), "top_count"] == 50
    assert out.loc[("count", 0.1), "top_count_share"] == pytest.approx(0.5)
    assert out.loc[("rate", 0.1), "top_count"] == 20
    assert out.loc[("rate", 0.2), "top_count"] == 30  # E01 (40 per 1,000) and E02 (10 per 1,000)
    assert out.loc[("rate", 0.2), "top_population_share"] == pytest.approx(1500 / 18500)
    assert (out["n_areas"] == 10).all() and (out["total_count"] == 100).all()
    assert out.loc[("count", 0.2), "n_top_areas"] == 2


def test_top_area_share_rounds_area_numbers_and_skips_areas_without_rate():
    rates = _rates(list(range(65)), [1000.0] * 64 + [0.0])
    out = top_area_share(rates).set_index(["ranked_by", "top_fraction"])
    assert out.loc[("count", 0.1), "n_top_areas"] == 7  # 6.5 rounds up
    assert out.loc[("count", 0.2), "n_top_areas"] == 13
    assert out.loc[("count", 0.1), "top_count"] == sum(range(58, 65))
    assert out.loc[("rate", 0.1), "n_areas"] == 64  # the area without population has no rate
    assert out.loc[("rate", 0.1), "top_count"] == sum(range(58, 64))  # round(6.4) = 6 areas
    with pytest.raises(AtlasError, match="fractions"):
        top_area_share(rates, fractions=[0])


def test_repeat_share_with_wilson_interval_and_nan_without_flag():
    counts = pd.DataFrame({"area_code": ["A", "B", "C", "D"], "count": [263, 0, 5, 20],
                           "repeat_count": pd.array([81, 0, pd.NA, 0], dtype="Int64")})
    out = repeat_share(counts)
    assert out["repeat_share"].iloc[0] == pytest.approx(81 / 263)
    assert out["repeat_share_lower_95"].iloc[0] == pytest.approx(0.2553, abs=5e-5)
    assert out["repeat_share_upper_95"].iloc[0] == pytest.approx(0.3662, abs=5e-5)
    assert out[["repeat_share", "repeat_share_lower_95"]].iloc[1:3].isna().all().all()
    assert out["repeat_share"].iloc[3] == 0.0 and out["repeat_share_lower_95"].iloc[3] == 0.0
    no_flag = repeat_share(counts.drop(columns="repeat_count"))
    assert no_flag["repeat_share"].isna().all()
    assert "repeat_share_upper_998" in repeat_share(counts, confidence=0.998).columns


def test_repeat_count_above_count_is_refused():
    counts = pd.DataFrame({"area_code": ["A", "B"], "count": [3, 2], "repeat_count": pd.array([1, 4], dtype="Int64")})
    with pytest.raises(AtlasError, match="area B"):
        repeat_share(counts)
