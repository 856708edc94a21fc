"""Analysis services on a small stored dataset: Darlington LSOA months with planted patterns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from analysis.hotspots import HotspotParams
from analysis.periods import period_range
from analysis.priority import PriorityWeights
from atlas import analyses
from boundaries.hierarchy import parent_map
from boundaries.load import load_areas
from boundaries.population import population_table
from boundaries.registry import DEFAULT_SET, register_boundary_set
from geo.schema import AtlasError
from store import NewDataset, Store

DARLINGTON = "E06000005"
HOT_WARD = "E05001571"  # North Road: x4 in every month ...
CLUSTER = {HOT_WARD: 4, "E05001572": 3, "E05001560": 3}  # ... with two neighbours at x3 (Gi* needs a cluster)
RISING_WARD = "E05001565"  # Hummersknott: x3 in the last financial year only
MONTHS = period_range("2021-04", "2024-03", "month")  # three financial years
DATASET = "Test Darlington"


@dataclass
class FakeReport:
    """Stand-in for ingest.ImportReport (what Store.commit_import reads)."""

    file_name: str
    sha256: str
    kind: str = "counts"
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    reasons: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"file_name": self.file_name, "sha256": self.sha256, "kind": self.kind,
                "rows_read": self.rows_read, "rows_accepted": self.rows_accepted,
                "rows_rejected": self.rows_rejected, "reasons": self.reasons}


@dataclass
class FakeResult:
    counts: pd.DataFrame
    report: FakeReport


def darlington_counts(months: list[str] = MONTHS, level: str = "lsoa") -> pd.DataFrame:
    """Deterministic monthly counts: about 16 per 1,000 a year, split into two categories."""
    areas = load_areas(level, DEFAULT_SET, lad_codes=[DARLINGTON])[["code"]]
    pop = population_table(level).set_index("code")["population_total"]
    ward = parent_map("lsoa", "ward").reindex(areas["code"]).to_numpy() if level == "lsoa" else areas["code"].to_numpy()
    base = np.maximum(1, np.round(pop.reindex(areas["code"]).to_numpy() * 16 / 1000 / 12)).astype(int)
    base = base * pd.Series(ward).map(CLUSTER).fillna(1).to_numpy(dtype=int)
    rows = []
    for m in months:
        c = np.where((ward == RISING_WARD) & (m >= "2023-04"), base * 3, base)
        violence = c // 2
        for cat, values in (("Violence", violence), ("Other", c - violence)):
            rows.append(pd.DataFrame({"area_code": areas["code"].to_numpy(), "level": level, "period": m,
                                      "grain": "month", "category": cat, "count": values,
                                      "repeat_count": values // 3}))
    df = pd.concat(rows, ignore_index=True)
    df = df[df["count"] > 0].reset_index(drop=True)
    df["count"] = df["count"].astype("int64")
    df["repeat_count"] = df["repeat_count"].astype("Int64")
    return df


def store_dataset(counts: pd.DataFrame, name: str = DATASET, boundary_set: str = DEFAULT_SET) -> Store:
    """A store (at $ATLAS_STORE) holding ``counts`` as dataset ``name``."""
    store = Store()
    sha = hashlib.sha256(pd.util.hash_pandas_object(counts, index=False).values.tobytes()).hexdigest()
    report = FakeReport(f"{name}.csv", sha, rows_read=len(counts), rows_accepted=len(counts))
    store.commit_import(name, FakeResult(counts, report), create=NewDataset(boundary_set))
    return store


@pytest.fixture
def store() -> Store:
    return store_dataset(darlington_counts())


def ward_totals(counts: pd.DataFrame, months: list[str]) -> pd.Series:
    sub = counts[counts["period"].isin(months)]
    return sub.groupby(sub["area_code"].map(parent_map("lsoa", "ward")))["count"].sum()


# ---------------------------------------------------------------------------- rates


def test_rates_equal_count_over_population_times_1000(store):
    table = analyses.rates_table(store, DATASET, "ward", "fy")
    assert len(table) == 24 * 3  # every Darlington ward x 3 financial years (coverage: the one LAD with data)
    assert any("Darlington" in n for n in table.attrs["notes"])
    pop = population_table("ward").set_index("code")["population_total"]
    fy = [m for m in MONTHS if "2022-04" <= m <= "2023-03"]
    expected = ward_totals(darlington_counts(), fy)
    row = table[(table["area_code"] == HOT_WARD) & (table["period"] == "2022/23")].iloc[0]
    assert row["count"] == expected[HOT_WARD]
    assert row["population"] == pop[HOT_WARD]
    assert row["rate_per_1000"] == pytest.approx(expected[HOT_WARD] / pop[HOT_WARD] * 1000)
    assert row["rate_lower_95"] < row["rate_per_1000"] < row["rate_upper_95"]
    assert row["area_name"] == "North Road"
    whole = expected.sum() / pop.reindex(expected.index).sum() * 1000
    assert row["whole_area_rate"] == pytest.approx(whole)
    assert row["rate_ratio"] == pytest.approx(row["rate_per_1000"] / whole)
    assert row["compared_to_whole_area"] == "higher"
    one = table[table["period"] == "2022/23"]
    assert one["incident_share"].sum() == pytest.approx(1.0)


def test_rates_one_period_one_category_and_denominator(store):
    all_cats = analyses.rates_table(store, DATASET, "ward", "fy", period="2023/24")
    violence = analyses.rates_table(store, DATASET, "ward", "fy", period="2023/24", category="Violence")
    assert set(all_cats["period"]) == {"2023/24"} and len(all_cats) == 24
    assert set(violence["category"]) == {"Violence"} and set(all_cats["category"]) == {"All"}
    assert violence["count"].sum() < all_cats["count"].sum()
    female = analyses.rates_table(store, DATASET, "ward", "fy", period="2023/24", denominator="female16plus")
    pop = population_table("ward").set_index("code")["population_16_plus_female"]
    r = female.set_index("area_code").loc[HOT_WARD]
    assert r["rate_per_1000"] == pytest.approx(r["count"] / pop[HOT_WARD] * 1000)
    assert set(female["denominator"]) == {"female16plus"}


def test_grid_is_completed_with_zeros_over_areas_and_periods():
    counts = darlington_counts()
    # Drop one ward entirely, and every row of 2022-06 (a gap month inside the range).
    gone = parent_map("lsoa", "ward").reindex(counts["area_code"]).to_numpy() == "E05001576"
    counts = counts[~gone & (counts["period"] != "2022-06")]
    store = store_dataset(counts)
    table = analyses.rates_table(store, DATASET, "ward", "month")
    assert len(table) == 24 * 36
    assert table.loc[table["area_code"] == "E05001576", "count"].eq(0).all()
    assert table.loc[table["period"] == "2022-06", "count"].eq(0).all()
    assert table["period"].iloc[:3].tolist() == ["2021-04", "2021-05", "2021-06"]  # chronological per area


def test_area_filter_limits_areas_and_names_the_reference():
    store = store_dataset(darlington_counts())
    table = analyses.rates_table(store, DATASET, "lsoa", "fy", period="2021/22", area_filter="e06000005")
    assert len(table) == 65 and set(table["lad_code"]) == {DARLINGTON}
    with pytest.raises(AtlasError, match="E06000099"):
        analyses.rates_table(store, DATASET, "ward", "fy", area_filter="E06000099")


def test_partial_period_is_noted(store):
    table = analyses.rates_table(store, DATASET, "ward", "year")
    notes = " | ".join(table.attrs["notes"])
    assert "period 2021 is only partly covered by the data (9 of 12 months)" in notes
    assert "period 2024 is only partly covered by the data (3 of 12 months)" in notes


# ---------------------------------------------------------------------------- errors


def test_clear_errors_for_period_grain_level_category(store):
    with pytest.raises(AtlasError, match=r"period '2030/31' is not in dataset .* runs 2021/22 \.\. 2023/24"):
        analyses.rates_table(store, DATASET, "ward", "fy", period="2030/31")
    with pytest.raises(AtlasError, match="not a valid fy label"):
        analyses.rates_table(store, DATASET, "ward", "fy", period="2023-24x")
    with pytest.raises(AtlasError, match="unknown period grain 'week'"):
        analyses.rates_table(store, DATASET, "ward", "week")
    with pytest.raises(AtlasError, match="unknown level 'county'"):
        analyses.rates_table(store, DATASET, "county", "fy")
    with pytest.raises(AtlasError, match="no category 'Arson'.*Other, Violence"):
        analyses.rates_table(store, DATASET, "ward", "fy", category="Arson")
    with pytest.raises(AtlasError, match="unknown denominator"):
        analyses.rates_table(store, DATASET, "ward", "fy", denominator="adults")
    with pytest.raises(AtlasError, match="no dataset named 'Nope'"):
        analyses.rates_table(store, "Nope", "ward", "fy")
    with pytest.raises(AtlasError, match="unknown weights method"):
        analyses.hotspots_table(store, DATASET, "ward", "fy", weights_method="triangle")
    with pytest.raises(AtlasError, match="unknown statistic"):
        analyses.hotspots_table(store, DATASET, "ward", "fy", statistic="geary")


@pytest.fixture
def user_ward_set(tmp_path) -> str:
    """A user-registered boundary set of Darlington wards: one level, no population."""
    path = tmp_path / "darlington_wards.gpkg"
    load_areas("ward", lad_codes=[DARLINGTON])[["code", "name", "geometry"]].to_file(path, layer="wards")
    register_boundary_set(path, "darlington-wards", "ward")
    return "darlington-wards"


def test_user_set_without_population_gives_blank_rates_and_a_note(user_ward_set):
    store = store_dataset(darlington_counts(level="ward"), name="User wards", boundary_set=user_ward_set)
    table = analyses.rates_table(store, "User wards", "ward", "fy")
    assert len(table) == 24 * 3
    assert table["rate_per_1000"].isna().all() and table["population"].isna().all()
    assert set(table["rate_note"]) == {analyses.NO_POPULATION_NOTE}
    assert any(analyses.NO_POPULATION_NOTE in n for n in table.attrs["notes"])
    assert table["count"].sum() == darlington_counts(level="ward")["count"].sum()
    # Hot spots on counts still work; the rate statistic says why it cannot run.
    hot = analyses.hotspots_table(store, "User wards", "ward", "fy", params=HotspotParams(permutations=99))
    assert (hot.loc[hot["area_code"] == HOT_WARD, "gi_bin_uncorrected"] > 0).all()
    with pytest.raises(AtlasError, match="needs population"):
        analyses.hotspots_table(store, "User wards", "ward", "fy", statistic="local_moran_rate")
    with pytest.raises(AtlasError, match="has no 'lsoa' level"):
        analyses.rates_table(store, "User wards", "lsoa", "fy")


# ---------------------------------------------------------------------------- hot spots


def test_weights_built_once_per_set_level_filter_method():
    analyses._cached_weights.cache_clear()
    w1, r1 = analyses.area_weights(DEFAULT_SET, "ward", (DARLINGTON,), "queen")
    w2, _ = analyses.area_weights(DEFAULT_SET, "ward", (DARLINGTON,), "queen")
    assert w1 is w2 and w1.n == 24 and r1.method_used == "queen"
    assert analyses._cached_weights.cache_info().hits == 1
    w3, _ = analyses.area_weights(DEFAULT_SET, "ward", (DARLINGTON,), "rook")
    assert w3 is not w1


def test_hotspots_flag_the_planted_ward_and_are_reproducible(store):
    params = HotspotParams(permutations=199, seed=7)
    a = analyses.hotspots_table(store, DATASET, "ward", "fy", params=params)
    b = analyses.hotspots_table(store, DATASET, "ward", "fy", params=params)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 24 * 3
    hot = a[a["area_code"] == HOT_WARD]
    assert (hot["gi_bin_uncorrected"] > 0).all() and (hot["gi_z"] > 2).all()
    # The default FDR across 24 wards leaves no hot spot (North Road: p 0.009 -> 0.23); without it, North Road.
    assert (a["gi_bin"] == 0).all() and a["gi_p_adjusted"].min() == pytest.approx(0.2253, abs=1e-4)
    plain = analyses.hotspots_table(store, DATASET, "ward", "fy", params=HotspotParams(permutations=199, seed=7,
                                                                                       gi_correction="none"))
    assert plain.loc[plain["area_code"] == HOT_WARD, "gi_label"].str.startswith("Hot spot").all()
    one = analyses.hotspots_table(store, DATASET, "ward", "fy", period="2022/23", params=params)
    pd.testing.assert_frame_equal(one, a[a["period"] == "2022/23"].reset_index(drop=True))
    lisa = analyses.hotspots_table(store, DATASET, "ward", "fy", statistic="local_moran_rate", params=params)
    assert {"lisa_i", "lisa_p", "lisa_label"} <= set(lisa.columns) and "gi_z" not in lisa.columns


def test_emerging_finds_a_persistent_hot_spot(store):
    table = analyses.emerging_table(store, DATASET, "ward", "quarter")
    assert len(table) == 24 and table["n_periods"].eq(12).all()
    row = table.set_index("area_code").loc[HOT_WARD]
    assert row["ehsa_category"] == "Persistent Hot Spot"
    assert row["total_count"] == ward_totals(darlington_counts(), MONTHS)[HOT_WARD]
    early = analyses.emerging_table(store, DATASET, "ward", "quarter", period="2022-Q4")
    assert early["last_period"].eq("2022-Q4").all() and early["n_periods"].eq(7).all()


# ---------------------------------------------------------------------------- compare, priority, seed


def test_compare_reports_the_rise(store):
    table = analyses.compare_table(store, DATASET, "ward", "fy", period="2023/24", against="2022/23")
    row = table.set_index("area_code").loc[RISING_WARD]
    assert row["period_from"] == "2022/23" and row["period_to"] == "2023/24"
    assert row["pct_change"] == pytest.approx(200.0)
    assert row["change_label"] == "significant increase"
    assert table.set_index("area_code").loc[HOT_WARD, "change_label"] == "no significant change"
    with pytest.raises(AtlasError, match="two different periods"):
        analyses.compare_table(store, DATASET, "ward", "fy", period="2023/24", against="2023/24")


def test_priority_ranks_planted_wards_first_with_reasons(store):
    table = analyses.priority_table(store, DATASET, "ward", "fy", params=HotspotParams(permutations=99))
    assert len(table) == 24 and table["period"].eq("2023/24").all()
    assert table["rank"].tolist() == list(range(1, 25))
    top = table.set_index("area_code")
    assert table["area_code"].iloc[0] == HOT_WARD
    # The default Gi* bins (FDR across 24 wards) flag no hot spot here, so no area gets hot spot credit.
    assert table["hotspot_score"].eq(0).all()
    assert table["gi_inference"].eq(HotspotParams().gi_method()).all() and "false discovery" in table["gi_inference"][0]
    assert top.loc[HOT_WARD, "reasons"] == "rate 2.9x the Darlington rate; 16% of all incidents"
    assert top.loc[RISING_WARD, "rank"] == 2 and top.loc[RISING_WARD, "trend_score"] == 1
    # Without the correction (ArcGIS's Hot Spot Analysis default) North Road is hot in every year, and the
    # rising ward falls behind the two high-rate hot spots next to it (Harrowgate Hill 2.1x, Northgate 2.0x).
    plain = analyses.priority_table(store, DATASET, "ward", "fy",
                                    params=HotspotParams(permutations=99, gi_correction="none")).set_index("area_code")
    assert plain.loc[HOT_WARD, "rank"] == 1 and plain.loc[HOT_WARD, "reasons"] == (
        "hot in 3 of the last 3 periods; rate 2.9x the Darlington rate; 16% of all incidents"
    )
    assert plain.loc[RISING_WARD, "rank"] == 4 and plain.loc[RISING_WARD, "hotspot_score"] == 0
    assert plain["gi_inference"].str.endswith("no multiple-testing correction").all()
    assert "up 200% on last year" in top.loc[RISING_WARD, "reasons"]
    assert top.loc[RISING_WARD, "change_status"] in ("new", "escalating")
    # Only three periods: EHSA is left out and the note says so.
    assert any("emerging hot spot category left out" in n for n in table.attrs["notes"])
    trend_only = analyses.priority_table(store, DATASET, "ward", "fy", params=HotspotParams(permutations=99),
                                         weights=PriorityWeights(rate=0, volume=0, hotspot=0, trend=1))
    assert trend_only["area_code"].iloc[0] == RISING_WARD


def test_priority_of_an_earlier_period_compares_with_the_one_before(store):
    table = analyses.priority_table(store, DATASET, "ward", "fy", period="2021/22",
                                    params=HotspotParams(permutations=99))
    assert table["change_status"].isna().all()
    assert any("no earlier period" in n for n in table.attrs["notes"])


def test_seed_rates_three_financial_years_ranked(store):
    table = analyses.seed_rates(store, DATASET, level="ward")
    assert table.columns.tolist() == [
        "area_code", "area_name", "population", "denominator", "count_2021_22", "rate_2021_22", "count_2022_23",
        "rate_2022_23", "count_2023_24", "rate_2023_24", "pct_change_2021_22_to_2023_24", "rank",
    ]
    assert len(table) == 24 and table["rank"].iloc[0] == 1
    row = table.set_index("area_code").loc[RISING_WARD]
    assert row["pct_change_2021_22_to_2023_24"] == pytest.approx(200.0)
    assert row["rate_2023_24"] == pytest.approx(row["count_2023_24"] / row["population"] * 1000)
    two = analyses.seed_rates(store, DATASET, level="ward", last_fy="2022/23")
    assert "count_2023_24" not in two.columns and "count_2021_22" in two.columns
    assert any("only 2 financial years" in n for n in two.attrs["notes"])
    with pytest.raises(AtlasError, match="at least two financial years"):
        analyses.seed_rates(store, DATASET, level="ward", last_fy="2021/22")
