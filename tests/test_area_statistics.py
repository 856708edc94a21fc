"""Smoothed, rolling, concentration and global Moran services and their commands, on the demo data."""

from __future__ import annotations

import io
from pathlib import Path

import esda
import numpy as np
import pandas as pd
import pytest

from analysis.hotspots import HotspotParams
from atlas.analyses import area_weights, rates_table
from atlas.area_statistics import concentration_table, global_moran_table, rolling_rates_table, smoothed_rates_table
from atlas.cli import main
from demo.dataset import DEMO_DATASET
from store import Store

DURHAM = "E06000047"


@pytest.fixture
def demo(demo_store: Path) -> Store:
    """The session's demo store (tests/conftest.py); these services only read it."""
    return Store(demo_store)


def test_rolling_12_months_equals_the_sum_of_the_twelve_months(demo):
    roll = rolling_rates_table(demo, DEMO_DATASET, "lad", area_filter=DURHAM)
    monthly = rates_table(demo, DEMO_DATASET, "lad", "month", area_filter=DURHAM)
    months = monthly.set_index("period")["count"]
    last = roll[roll["period"] == "2025-03"].iloc[0]
    assert last["count"] == months.loc["2024-04":"2025-03"].sum()
    assert last["rate_per_1000"] == pytest.approx(last["count"] / 530094 * 1000)
    assert roll["period"].iloc[0] == "2020-03"  # first complete window: 2019-04 .. 2020-03
    assert len(roll) == 72 - 11


def test_smoothed_rates_shrink_towards_the_whole_area_rate(demo):
    t = smoothed_rates_table(demo, DEMO_DATASET, "lsoa", "fy", period="2024/25", area_filter=DURHAM)
    whole = t["count"].sum() / t["population"].sum() * 1000
    crude_spread = (t["rate_per_1000"] - whole).abs()
    eb_spread = (t["eb_rate_per_1000"] - whole).abs()
    assert (eb_spread <= crude_spread + 1e-9).all()  # EB never moves a rate away from the prior mean
    np.testing.assert_allclose(t["excess_risk"], t["rate_per_1000"] / whole, rtol=1e-9)
    np.testing.assert_allclose(t["share_ratio"], t["excess_risk"], rtol=1e-9)
    assert set(t["funnel_position_998"].dropna()) <= {"above", "inside", "below"}
    assert t["repeat_share"].between(0, 1).all()


def test_concentration_top_shares_and_gini_by_hand(demo):
    c = concentration_table(demo, DEMO_DATASET, "lsoa", "fy", period="2024/25", area_filter=DURHAM)
    rates = rates_table(demo, DEMO_DATASET, "lsoa", "fy", period="2024/25", area_filter=DURHAM)
    counts = np.sort(rates["count"].to_numpy())[::-1]
    k = int(np.floor(0.1 * len(counts) + 0.5))
    assert c["top_10pct_share_by_count"].iloc[0] == pytest.approx(counts[:k].sum() / counts.sum())
    # Gini of counts across areas: mean absolute difference / (2 x mean).
    x = counts.astype(float)
    gini = np.abs(x[:, None] - x[None, :]).mean() / (2 * x.mean())
    assert c["gini_counts_across_areas"].iloc[0] == pytest.approx(gini, rel=1e-9)


def test_global_moran_equals_esda(demo):
    t = global_moran_table(demo, DEMO_DATASET, "lsoa", "fy", period="2024/25", area_filter=DURHAM,
                           params=HotspotParams(permutations=99))
    rates = rates_table(demo, DEMO_DATASET, "lsoa", "fy", period="2024/25", area_filter=DURHAM)
    weights, _ = area_weights("ons2011-ne-medway", "lsoa", (DURHAM,), "queen")
    y = rates.set_index("area_code")["count"].reindex(weights.codes).to_numpy(dtype=float)
    w = weights.libpysal
    w.transform = "R"
    assert t["moran_i"].iloc[0] == pytest.approx(esda.Moran(y, w, permutations=0).I, abs=1e-12)


def test_commands_write_csv(demo, capsys, monkeypatch):
    monkeypatch.setenv("ATLAS_STORE", str(demo.path))
    for cmd, extra in [("smoothed", ["--period", "2024/25"]), ("rolling", []), ("concentration", []),
                       ("moran", ["--permutations", "9"])]:
        code = main([cmd, "--dataset", DEMO_DATASET, "--level", "ward", "--area-filter", DURHAM, *extra])
        out = capsys.readouterr().out
        assert code == 0, cmd
        table = pd.read_csv(io.StringIO(out))
        assert len(table) > 0 and "period" in table.columns
    code = main(["smoothed", "--dataset", DEMO_DATASET, "--level", "lsoa", "--publication", "--period", "2024/25"])
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    small = table["count"] == "<5"
    assert small.any() and table.loc[small, "eb_rate_per_1000"].isna().all()


def test_compare_reports_hot_spot_transitions_consistent_with_gi_bins(demo):
    from atlas.analyses import compare_table, hotspots_table

    params = HotspotParams(permutations=99, seed=7)
    t = compare_table(demo, DEMO_DATASET, "lsoa", "fy", "2024/25", "2023/24", area_filter=DURHAM, params=params)
    gi = hotspots_table(demo, DEMO_DATASET, "lsoa", "fy", area_filter=DURHAM, params=params)
    to = gi[gi["period"] == "2024/25"].set_index("area_code")["gi_bin"]
    assert (t.set_index("area_code")["gi_bin_to"] == to.reindex(t["area_code"])).all()
    became = t[t["hot_spot_transition"] == "became hot"]
    assert ((became["gi_bin_from"] == 0) & (became["gi_bin_to"] > 0)).all()
    assert set(t["hot_spot_transition"]) <= {"stayed hot", "became hot", "stopped being hot", "stayed cold",
                                             "became cold", "stopped being cold", "hot to cold", "cold to hot",
                                             "not significant"}
