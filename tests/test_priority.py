"""Priority scores: hand-built inputs with known rankings, scores and reasons text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.priority import (
    NOTHING_STANDS_OUT,
    PriorityWeights,
    compare_priority,
    priority_scores,
)
from geo.schema import AtlasError


def five_areas() -> pd.DataFrame:
    """A: high rate, busiest, persistent hot spot; B: tripled since last year; C: sporadic hot spot; D, E quiet."""
    return pd.DataFrame({
        "area_code": ["A", "B", "C", "D", "E"],
        "area_name": ["Alpha", "Bravo", "Charlie", "Delta", "Echo"],
        "count": [60, 20, 20, 20, 5],
        "population": [1000, 1000, 1000, 2000, 1000],
        "hot_recent": [4, 0, 2, 0, 0],
        "n_recent": [4, 4, 4, 4, 4],
        "ehsa_category": ["Persistent Hot Spot", "No Pattern Detected", "Sporadic Hot Spot",
                          "No Pattern Detected", "Cold Spot"],
        "count_last_year": [60, 5, 20, 20, 5],
    })


def test_known_ranking_scores_and_reasons():
    out = priority_scores(five_areas(), reference_label="the county")
    assert out["area_code"].tolist() == ["A", "B", "C", "D", "E"]
    assert out["rank"].tolist() == [1, 2, 3, 4, 5]
    whole = 125 / 6000
    rr_a = 0.06 / whole
    # Default weights rate 3, volume 2, hotspot 3, trend 2 (sum 10).
    expected = [
        (3 * (rr_a - 1) / 2 + 2 * 1.0 + 3 * 1.0) / 10,  # A: hotspot (1 + 1) / 2 = 1, no change on last year
        (2 * (20 / 60) + 2 * 1.0) / 10,  # B: up 300%, significant -> trend 1
        (2 * (20 / 60) + 3 * 0.5) / 10,  # C: hotspot (2/4 + 0.5) / 2
        (2 * (20 / 60)) / 10,
        (2 * (5 / 60)) / 10,
    ]
    np.testing.assert_allclose(out["score"], expected)
    np.testing.assert_allclose(out.loc[0, "rate_ratio"], rr_a)
    assert out["reasons"].tolist() == [
        "persistent hot spot, hot in 4 of the last 4 periods; rate 2.9x the county; 48% of all incidents",
        "up 300% on last year; 16% of all incidents",
        "sporadic hot spot, hot in 2 of the last 4 periods; 16% of all incidents",
        "16% of all incidents",
        NOTHING_STANDS_OUT,  # 4% of all incidents: volume score 5/60 < 0.25
    ]
    assert out["trend_score"].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert out.loc[1, "change_p_value"] < 0.01


def test_components_are_0_to_1_and_score_recomputes_from_columns():
    out = priority_scores(five_areas(), PriorityWeights(rate=1, volume=2, hotspot=0.5, trend=4, deprivation=0))
    comps = ["rate", "volume", "hotspot", "trend"]
    for c in comps:
        assert out[f"{c}_score"].between(0, 1).all()
    num = sum(out[f"{c}_score"] * out[f"{c}_weight"] for c in comps)
    den = sum(out[f"{c}_weight"] for c in comps)
    np.testing.assert_allclose(out["score"], num / den)


def test_weights_change_the_ranking():
    trend_only = priority_scores(five_areas(), PriorityWeights(rate=0, volume=0, hotspot=0, trend=1))
    assert trend_only["area_code"].iloc[0] == "B"
    assert trend_only["reasons"].iloc[0] == "up 300% on last year"
    hot_only = priority_scores(five_areas(), PriorityWeights(rate=0, volume=0, hotspot=1, trend=0))
    assert hot_only["area_code"].tolist()[:2] == ["A", "C"]


def test_weights_are_hashable_and_validated():
    assert hash(PriorityWeights()) == hash(PriorityWeights())
    assert {PriorityWeights(): 1}[PriorityWeights(rate=3.0)] == 1
    with pytest.raises(AtlasError, match=">= 0"):
        PriorityWeights(rate=-1)
    with pytest.raises(AtlasError, match="above 0"):
        PriorityWeights(rate=0, volume=0, hotspot=0, trend=0, deprivation=0)


def test_ties_broken_by_count_then_code():
    df = pd.DataFrame({"area_code": ["Z", "Y", "X"], "count": [10, 10, 10], "population": [100, 100, 100]})
    out = priority_scores(df, PriorityWeights(rate=1, volume=1, hotspot=0, trend=0))
    assert out["area_code"].tolist() == ["X", "Y", "Z"]
    assert out["rank"].tolist() == [1, 2, 3]


def test_no_population_drops_the_rate_component_with_a_note():
    df = five_areas().drop(columns=["population"])
    out = priority_scores(df)
    assert out["rate_score"].isna().all() and (out["rate_weight"] == 0).all()
    assert any("no population" in n for n in out.attrs["notes"])
    a = out.set_index("area_code").loc["A"]
    np.testing.assert_allclose(a["score"], (2 * 1.0 + 3 * 1.0) / 7)  # volume 2 + hotspot 3 + trend 2
    assert "rate" not in a["reasons"]


def test_missing_optional_inputs_are_left_out():
    df = pd.DataFrame({"area_code": ["A", "B"], "count": [30, 10], "population": [1000, 1000]})
    out = priority_scores(df)
    notes = " | ".join(out.attrs["notes"])
    assert "hot spot component left out" in notes and "trend component left out" in notes
    np.testing.assert_allclose(out["score"].iloc[0], (3 * 0.25 + 2 * 1.0) / 5)  # rr 1.5 -> rate score 0.25
    assert out["rate_ratio"].iloc[0] == pytest.approx(1.5)
    # The output schema does not depend on which optional inputs were given.
    full = priority_scores(five_areas())
    assert set(out.columns) == set(full.columns) - {"area_name"}
    assert out["ehsa_category"].isna().all() and out["count_last_year"].isna().all()


def test_trend_counts_only_significant_rises():
    df = pd.DataFrame({
        "area_code": ["up", "flat-ish", "down", "from-zero"],
        "count": [40, 12, 5, 10],
        "count_last_year": [20, 10, 30, 0],
    })
    out = priority_scores(df, PriorityWeights(rate=0, volume=0, hotspot=0, trend=1)).set_index("area_code")
    assert out.loc["up", "trend_score"] == pytest.approx(1.0)  # +100% (p ~ 0.007) capped at 1
    assert out.loc["flat-ish", "trend_score"] == 0.0  # +20%, not significant
    assert out.loc["down", "trend_score"] == 0.0
    assert out.loc["from-zero", "trend_score"] == 1.0
    assert out.loc["from-zero", "reasons"] == "up from none last year"
    assert np.isnan(out.loc["from-zero", "pct_change_on_last_year"])


def test_partial_rise_scales_linearly():
    df = pd.DataFrame({"area_code": ["a"], "count": [1250], "count_last_year": [1000]})
    out = priority_scores(df, PriorityWeights(rate=0, volume=0, hotspot=0, trend=1))
    assert out["trend_score"].iloc[0] == pytest.approx(25 / 50)
    assert out["reasons"].iloc[0] == "up 25% on last year"


def test_deprivation_percentile_and_reason():
    df = pd.DataFrame({"area_code": ["a", "b", "c"], "count": [1, 1, 1], "imd_score": [10.0, 45.4, 30.0]})
    out = priority_scores(df, PriorityWeights(rate=0, volume=0, hotspot=0, trend=0, deprivation=1))
    assert out["area_code"].tolist() == ["b", "c", "a"]
    assert out["deprivation_score"].tolist() == [1.0, 0.5, 0.0]
    assert out["reasons"].tolist() == ["the most deprived of these areas (IMD score 45)",
                                       "more deprived than 50% of these areas (IMD score 30)", NOTHING_STANDS_OUT]


def test_small_shares_keep_one_decimal():
    df = pd.DataFrame({"area_code": [f"a{i}" for i in range(30)], "count": [40] + [30] * 29})
    out = priority_scores(df, PriorityWeights(rate=0, volume=1, hotspot=0, trend=0))
    assert out["reasons"].iloc[0] == "4.4% of all incidents"  # 40 / 910


def test_duplicate_areas_refused():
    df = pd.DataFrame({"area_code": ["a", "a"], "count": [1, 2]})
    with pytest.raises(AtlasError, match="one row per area"):
        priority_scores(df)


def test_change_status_new_escalating_easing_steady():
    cur = pd.DataFrame({"area_code": ["a", "b", "c", "d", "e"], "rank": [1, 2, 3, 4, 5],
                        "score": [0.9, 0.7, 0.6, 0.3, 0.1]})
    prev = pd.DataFrame({"area_code": ["a", "b", "d", "c", "e"], "rank": [1, 2, 3, 4, 5],
                         "score": [0.8, 0.72, 0.65, 0.5, 0.2]})
    out = compare_priority(cur, prev, top_n=3).set_index("area_code")
    # a: listed both, +0.1 -> escalating; b: listed both, -0.02 -> steady; c: listed now only -> new;
    # d: listed before only -> easing; e: never listed -> steady.
    assert out["change_status"].to_dict() == {"a": "escalating", "b": "steady", "c": "new", "d": "easing",
                                              "e": "steady"}
    assert out.loc["c", "previous_rank"] == 4
    assert out.loc["a", "score_change"] == pytest.approx(0.1)


def test_change_status_easing_when_score_falls_and_new_when_absent():
    cur = pd.DataFrame({"area_code": ["a", "z"], "rank": [1, 2], "score": [0.5, 0.4]})
    prev = pd.DataFrame({"area_code": ["a"], "rank": [1], "score": [0.7]})
    out = compare_priority(cur, prev, top_n=5).set_index("area_code")
    assert out.loc["a", "change_status"] == "easing"
    assert out.loc["z", "change_status"] == "new"
    assert pd.isna(out.loc["z", "previous_rank"])


def test_change_status_blank_without_previous():
    cur = pd.DataFrame({"area_code": ["a"], "rank": [1], "score": [0.5]})
    out = compare_priority(cur, None)
    assert out["change_status"].isna().all()
