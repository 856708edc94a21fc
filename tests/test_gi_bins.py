"""Gi* bins from the analytical z with FDR (ArcGIS Find Hot Spots' Gi_Bin): the demo's planted hot spot is found.

Known answer: the synthetic demo plants a x3.3 excess in Bishop Auckland Town's five LSOAs in every month
(docs/demo-data.md, "Planted patterns"). The default bins are the analytical z's two-sided p after a
Benjamini-Hochberg false discovery rate across each period's areas. At LSOA level, where it is planted, the
cluster is a hot spot after FDR in every year. At ward level the ward is hot by itself while its neighbours
are ordinary: z 2.46 in 2024/25 (p 0.014), which the conditional-permutation p (the area's own count held
fixed) calls not significant (p 0.15) and FDR across 63 wards raises to 0.29; ``gi_bin_uncorrected`` keeps
its 95% bin. The z, p and FDR values are checked against esda, scipy.stats.norm and
scipy.stats.false_discovery_control.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis import _esda_compat as ec
from analysis.hotspots import GI_LABELS, HotspotParams
from atlas import analyses
from demo.model import PLANTED_PATTERNS
from store import Store

DURHAM = "E06000047"
WARD = "Bishop Auckland Town"
FDR_WORDS = "Gi* bins from analytical z-score, false discovery rate (Benjamini-Hochberg) across the areas of each period"


@pytest.fixture(scope="module")
def tables(demo_store: Path, demo_dataset: tuple[str, str]) -> dict[str, object]:
    store, name = Store(demo_store), demo_dataset[0]

    def gi(level: str = "ward", **params):
        return analyses.hotspots_table(store, name, level, "fy", area_filter=DURHAM, statistic="gi_star",
                                       params=HotspotParams(**params))

    return {"default": gi(), "none": gi(gi_correction="none"), "permutation": gi(gi_inference="permutation"),
            "lsoa": gi("lsoa"), "store": store, "name": name}


def test_default_is_z_with_fdr_and_says_so() -> None:
    params = HotspotParams()
    assert (params.gi_inference, params.gi_correction) == ("analytical", "fdr")
    assert params.gi_method() == FDR_WORDS


def test_planted_lsoas_are_hot_spots_after_fdr_every_year(tables) -> None:
    t = tables["lsoa"]
    assert t["area_code"].nunique() == 324 and t["gi_inference"].eq(FDR_WORDS).all()
    mine = t[t["area_code"].isin(PLANTED_PATTERNS["persistent"])]
    bins = mine.pivot(index="area_code", columns="period", values="gi_bin")
    assert bins.shape == (5, 6)
    # At least three of the five planted LSOAs are hot spots after FDR in every year; none is ever cold.
    assert (bins > 0).sum().min() >= 3 and (bins >= 0).all().all()
    assert bins.loc["E01020872"].tolist() == [3, 3, 3, 2, 3, 3]
    # They are among few: FDR keeps the map to 9-16 hot LSOAs of 324 a year.
    per_year = t[t["gi_bin"] > 0].groupby("period").size()
    assert per_year.tolist() == [10, 15, 10, 9, 13, 16]
    assert int((bins > 0).sum().sum()) == 26  # of 30 planted LSOA-years


def test_planted_ward_before_and_after_fdr(tables) -> None:
    t = tables["default"]
    mine = t[t["area_name"] == WARD].set_index("period")
    assert len(mine) == 6 and (mine["gi_z"] > 2.4).all()
    assert mine.loc["2024/25", "gi_z"] == pytest.approx(2.4593, abs=1e-4)
    assert mine.loc["2024/25", "gi_p_adjusted"] == pytest.approx(0.2924, abs=1e-3)
    # After FDR across County Durham's 63 wards: hot in four of six years, not in the last two.
    assert t["area_code"].nunique() == 63
    assert mine["gi_bin"].tolist() == [1, 1, 2, 1, 0, 0]
    assert mine.loc["2024/25", "gi_label"] == "Not significant"
    # Before correction it is hot every year, and the table keeps that bin.
    assert mine["gi_bin_uncorrected"].tolist() == [3, 3, 3, 3, 3, 2]
    plain = tables["none"]
    np.testing.assert_array_equal(plain["gi_bin"], t["gi_bin_uncorrected"])
    np.testing.assert_array_equal(plain["gi_bin"], plain["gi_bin_uncorrected"])
    assert (t["gi_bin"].abs() <= t["gi_bin_uncorrected"].abs()).all()
    assert plain["gi_inference"].iloc[0] == "Gi* bins from analytical z-score, no multiple-testing correction"
    # The permutation p is kept as a column: it misses the latest year even before correction.
    assert mine.loc["2024/25", "gi_p_sim"] > 0.10


def test_permutation_inference_is_an_option_and_says_so(tables) -> None:
    t = tables["permutation"]
    mine = t[t["area_name"] == WARD].set_index("period")
    assert mine.loc["2024/25", "gi_bin"] == 0
    np.testing.assert_array_equal(t["gi_p"], t["gi_p_sim"])
    np.testing.assert_array_equal(t["gi_p_sim"], tables["default"]["gi_p_sim"])  # same seed, same draws
    assert t["gi_inference"].iloc[0] == ("Gi* bins from 999 conditional permutations, false discovery rate "
                                         "(Benjamini-Hochberg) across the areas of each period")


@pytest.mark.parametrize("which", ["default", "lsoa"])
def test_z_p_fdr_and_bins_equal_independent_implementations(tables, which: str) -> None:
    t = tables[which]
    store, name = tables["store"], tables["name"]
    level = "ward" if which == "default" else "lsoa"
    weights, _ = analyses.area_weights(store.dataset(name)["boundary_set"], level, (DURHAM,))
    for period, rows in t.groupby("period"):
        rows = rows.set_index("area_code").loc[list(weights.codes)]
        ref = ec.esda_local_gstar(rows["count"].to_numpy(dtype=float), weights.libpysal, 0)
        np.testing.assert_allclose(rows["gi_z"], ref["gi_z"], atol=1e-9, err_msg=period)
        p = 2 * stats.norm.sf(np.abs(ref["gi_z"]))
        np.testing.assert_allclose(rows["gi_p"], p, rtol=1e-9, atol=1e-15)
        q = stats.false_discovery_control(p, method="bh")
        np.testing.assert_allclose(rows["gi_p_adjusted"], q, rtol=1e-9, atol=1e-15)
        # ArcGIS's Gi_Bin: 99/95/90% two-sided confidence after FDR, signed by z.
        level_of = np.select([q <= 0.01, q <= 0.05, q <= 0.10], [3, 2, 1], 0) * np.sign(ref["gi_z"])
        np.testing.assert_array_equal(rows["gi_bin"], level_of)
        raw = np.select([p <= 0.01, p <= 0.05, p <= 0.10], [3, 2, 1], 0) * np.sign(ref["gi_z"])
        np.testing.assert_array_equal(rows["gi_bin_uncorrected"], raw)
        assert (rows["gi_label"] == rows["gi_bin"].map(GI_LABELS)).all()
