"""The synthetic demo data: determinism, geometry, calibration and planted patterns."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from demo import _inputs, model
from demo.calibration import (
    deprivation_gradient,
    gi_star_hot_counts,
    pattern_rates,
    repeat_shares,
    seasonal_index,
    yearly_totals,
)
from demo.dataset import DEMO_DATASET, ensure_demo_dataset
from demo.generator import DEFAULT_SEED, RECORD_COLUMNS, TRUTH_COLUMN, generate_demo_records
from demo.model import CATEGORY_SHARES, MONTHS, PLANTED_PATTERNS, demo_expected_rates
from geo.schema import BNG, CODE, LAD_CODE, SYNTHETIC_LABEL, StoreError, data_dir
from store import Store

DURHAM, DARLINGTON = "E06000047", "E06000005"
FYS = ["2019/20", "2020/21", "2021/22", "2022/23", "2023/24", "2024/25"]


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    return generate_demo_records()


@pytest.fixture(scope="module")
def lsoas() -> gpd.GeoDataFrame:
    """Every LSOA of the shipped file, read independently of the generator's own loader."""
    return gpd.read_file(data_dir() / "boundaries" / "north_east_and_medway.gpkg", layer="lsoa")


# ---------------------------------------------------------------- determinism and shape
def test_same_seed_gives_identical_records(records: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_demo_records(DEFAULT_SEED), records)


def test_different_seed_gives_different_records(records: pd.DataFrame) -> None:
    other = generate_demo_records(DEFAULT_SEED + 1)
    assert len(other) != len(records) or not other["easting"].equals(records["easting"])
    # ...but the same model: totals agree within sampling noise (~0.5% sd).
    assert abs(len(other) / len(records) - 1) < 0.03


def test_records_have_the_documented_columns_and_values(records: pd.DataFrame) -> None:
    assert list(records.columns) == ["incident_id", *[c for c in RECORD_COLUMNS if c != "incident_id"], TRUTH_COLUMN]
    assert records["incident_id"].is_unique
    assert records["incident_id"].iloc[0] == "DEMO-000001"
    assert set(records["repeat_victim"]) == {"Y", "N"}
    assert set(records["category"]) == set(CATEGORY_SHARES)
    assert records["easting"].dtype == "int64" and records["northing"].dtype == "int64"
    dates = pd.to_datetime(records["date"], format="%Y-%m-%d")  # raises on any malformed date
    assert dates.min() >= pd.Timestamp("2019-04-01") and dates.max() <= pd.Timestamp("2025-03-31")
    assert sorted(records["date"].str.slice(0, 7).unique()) == list(MONTHS)
    assert len(MONTHS) == 72
    assert dates.is_monotonic_increasing


def test_every_point_lies_inside_its_own_lsoa_and_no_other(records: pd.DataFrame, lsoas: gpd.GeoDataFrame) -> None:
    points = shapely.points(records["easting"].to_numpy(float), records["northing"].to_numpy(float))
    tree = shapely.STRtree(lsoas.geometry.to_numpy())
    point_idx, lsoa_idx = tree.query(points, predicate="within")
    hits = np.bincount(point_idx, minlength=len(records))
    assert (hits == 1).all(), f"{(hits == 0).sum()} points outside every LSOA, {(hits > 1).sum()} in two"
    found = lsoas[CODE].to_numpy()[lsoa_idx[np.argsort(point_idx)]]
    assert (found == records[TRUTH_COLUMN].to_numpy()).all()


def test_covers_all_389_lsoas_of_the_two_districts(records: pd.DataFrame, lsoas: gpd.GeoDataFrame) -> None:
    demo = lsoas[lsoas[LAD_CODE].isin([DURHAM, DARLINGTON])]
    assert (demo[LAD_CODE] == DURHAM).sum() == 324 and (demo[LAD_CODE] == DARLINGTON).sum() == 65
    assert set(records[TRUTH_COLUMN]) == set(demo[CODE])


def test_generation_is_fast_from_cold_caches() -> None:
    for cached in (_inputs.demo_areas, model.intensity_cube, model.repeat_probabilities):
        cached.cache_clear()
    start = time.perf_counter()
    generate_demo_records(7)
    assert time.perf_counter() - start < 3.0


# ---------------------------------------------------------------- calibration
def test_county_durham_totals_in_band_every_financial_year(records: pd.DataFrame) -> None:
    totals = yearly_totals(records)
    durham = totals[totals["district"] == "County Durham"].set_index("fy")
    assert list(durham.index) == FYS
    assert durham["incidents"].between(7_900, 8_900).all(), durham
    assert durham["rate_per_1000"].mean() == pytest.approx(16.0, abs=0.5)  # 8,400 / 530,094 residents


def test_darlington_rate_similar_or_slightly_higher(records: pd.DataFrame) -> None:
    rate = yearly_totals(records).groupby("district")["rate_per_1000"].mean()
    assert rate["County Durham"] * 0.98 <= rate["Darlington"] <= rate["County Durham"] * 1.25


def test_expected_intensity_hits_the_district_targets() -> None:
    expected = demo_expected_rates()
    years = len(MONTHS) / 12
    by_lad = expected.groupby(LAD_CODE)["expected_count"].sum() / years
    assert by_lad[DURHAM] == pytest.approx(8_400, rel=1e-9)
    assert by_lad[DARLINGTON] == pytest.approx(17.5 * 106_803 / 1_000, rel=1e-9)
    assert len(expected) == 389 * 72 and (expected["expected_count"] > 0).all()


def test_sampled_counts_follow_the_intensity(records: pd.DataFrame) -> None:
    expected = demo_expected_rates().groupby("area_code")["expected_count"].sum()
    observed = records[TRUTH_COLUMN].value_counts().reindex(expected.index, fill_value=0)
    assert np.corrcoef(observed, expected)[0, 1] > 0.97
    # Total within 4 sd of negative-binomial noise (var = mu + mu^2 / k per cell).
    mu = model.intensity_cube()[2]
    sd = np.sqrt((mu + mu**2 / model.NB_SHAPE).sum())
    assert abs(len(records) - mu.sum()) < 4 * sd


def test_rate_rises_with_deprivation_quintile(records: pd.DataFrame) -> None:
    quintile = deprivation_gradient(records, bins="quintile")["rate_per_1000_a_year"]
    assert list(quintile.index) == [1, 2, 3, 4, 5]
    assert quintile.is_monotonic_decreasing, quintile  # quintile 1 = most deprived
    decile = deprivation_gradient(records)["rate_per_1000_a_year"]
    assert 3.0 <= decile.loc[1] / decile.loc[10] <= 4.5


def test_repeat_share_about_forty_percent_varying_a_little(records: pd.DataFrame) -> None:
    shares = repeat_shares(records)
    assert 0.37 <= shares["Both"] <= 0.43
    assert shares.drop("Both").between(0.35, 0.45).all()
    p = model.repeat_probabilities()
    assert 0.02 < p.std() < 0.06  # varies by area, a little


def test_category_mix_matches_the_documented_shares(records: pd.DataFrame) -> None:
    observed = records["category"].value_counts(normalize=True)
    for category, share in CATEGORY_SHARES.items():
        assert observed[category] == pytest.approx(share, abs=0.01)


def test_summer_and_december_above_the_mean_month(records: pd.DataFrame) -> None:
    index = seasonal_index(records)
    assert (index[[6, 7, 8, 12]] > 1.0).all(), index
    assert index[2] < 0.92  # February trough


def test_christmas_and_new_year_days_busier_than_the_month(records: pd.DataFrame) -> None:
    per_day = records["date"].value_counts()
    december = per_day[per_day.index.str.slice(5, 7) == "12"].mean()
    holidays = per_day[per_day.index.str.slice(5, 10).isin(["12-25", "12-26", "01-01"])].mean()
    assert holidays > 1.2 * december


# ---------------------------------------------------------------- planted patterns
def test_planted_clusters_are_contiguous_demo_lsoas(lsoas: gpd.GeoDataFrame) -> None:
    by_code = lsoas.set_index(CODE)
    for name, codes in PLANTED_PATTERNS.items():
        assert by_code.loc[codes, LAD_CODE].isin([DURHAM, DARLINGTON]).all()
        geoms = by_code.loc[codes].geometry.to_numpy()
        touching = shapely.intersects(geoms[:, None], geoms[None, :])
        reached = {0}
        for _ in codes:  # breadth-first closure over the small adjacency matrix
            reached |= set(np.flatnonzero(touching[sorted(reached)].any(axis=0)))
        assert reached == set(range(len(codes))), f"{name} cluster is not contiguous"
    all_codes = [c for codes in PLANTED_PATTERNS.values() for c in codes]
    assert len(all_codes) == len(set(all_codes))


def test_planted_cluster_rates_behave_as_designed(records: pd.DataFrame) -> None:
    rates = pattern_rates(records)
    persistent = rates.loc[("persistent", "cluster")] / rates.loc[("persistent", "rest of district")]
    assert (persistent > 1.8).all(), persistent
    emerging = rates.loc[("emerging", "cluster")]
    assert emerging[["2023/24", "2024/25"]].mean() > 2 * emerging[FYS[:4]].mean()
    assert emerging["2024/25"] > emerging["2023/24"] > emerging["2022/23"]
    assert emerging["2024/25"] > 1.8 * rates.loc[("emerging", "rest of district"), "2024/25"]
    fading = rates.loc[("fading", "cluster")]
    assert fading["2019/20"] > 2.2 * fading[FYS[3:]].mean()
    assert fading["2019/20"] > 1.8 * rates.loc[("fading", "rest of district"), "2019/20"]


def test_gi_star_flags_the_planted_clusters_when_elevated(records: pd.DataFrame) -> None:
    flagged = gi_star_hot_counts(records)  # cluster members with Gi* z > 1.96, by financial year
    assert list(flagged.columns) == FYS
    assert (flagged.loc["persistent"] >= 3).all(), flagged
    assert flagged.loc["emerging", "2024/25"] >= 3 and (flagged.loc["emerging", FYS[:4]] <= 1).all(), flagged
    assert flagged.loc["fading", "2019/20"] >= 2 and (flagged.loc["fading", FYS[3:]] == 0).all(), flagged


def test_demo_inputs_are_in_british_national_grid() -> None:
    areas = _inputs.demo_areas()
    assert areas.crs == BNG and len(areas) == 389
    assert areas["population_total"].groupby(areas[LAD_CODE]).sum().to_dict() == {DARLINGTON: 106_803, DURHAM: 530_094}


# ---------------------------------------------------------------- the demo dataset in a store
def test_ensure_demo_dataset_imports_every_record_once(records: pd.DataFrame) -> None:
    store = Store()
    assert ensure_demo_dataset(store) == DEMO_DATASET
    meta = store.dataset(DEMO_DATASET)
    assert meta["synthetic"] is True
    assert SYNTHETIC_LABEL in meta["description"]
    assert f"generate_demo_records(seed={DEFAULT_SEED})" in meta["description"]
    counts = store.counts(DEMO_DATASET)
    assert counts["count"].sum() == len(records)  # conservation through the real importer
    assert counts["repeat_count"].sum() == (records["repeat_victim"] == "Y").sum()
    lsoa = counts[counts["level"] == "lsoa"]
    stored = lsoa.groupby("area_code")["count"].sum()
    generated = records[TRUTH_COLUMN].value_counts()
    # The importer's own point-in-polygon puts every point in the LSOA it was drawn in.
    pd.testing.assert_series_equal(stored.sort_index(), generated.sort_index(), check_names=False, check_dtype=False)
    # Idempotent: a second call finds the dataset and imports nothing.
    assert ensure_demo_dataset(store) == DEMO_DATASET
    assert store.dataset(DEMO_DATASET)["n_imports"] == 1
    assert store.counts(DEMO_DATASET)["count"].sum() == len(records)


class _FakeStore:
    """Just enough of store.Store for ensure_demo_dataset's branches."""

    def __init__(self, synthetic: bool, n_imports: int):
        self.rows = pd.DataFrame({"name": [DEMO_DATASET], "synthetic": [synthetic], "n_imports": [n_imports]})
        self.calls: list[str] = []

    def datasets(self) -> pd.DataFrame:
        return self.rows

    def find_dataset(self, name: str) -> dict | None:
        row = self.rows[self.rows["name"].str.lower() == name.lower()]
        return None if row.empty else {"name": str(row["name"].iloc[0]), "synthetic": bool(row["synthetic"].iloc[0]),
                                       "n_imports": int(row["n_imports"].iloc[0])}

    def create_dataset(self, *args: object, **kwargs: object) -> str:
        self.calls.append("create")
        return DEMO_DATASET

    def commit_import(self, dataset: str, result: object) -> None:
        self.calls.append("commit")
        self.result = result


def test_ensure_demo_dataset_refuses_a_real_dataset_with_the_demo_name() -> None:
    with pytest.raises(StoreError, match="not marked synthetic"):
        ensure_demo_dataset(_FakeStore(synthetic=False, n_imports=1))  # type: ignore[arg-type]


def test_ensure_demo_dataset_leaves_a_filled_demo_alone() -> None:
    fake = _FakeStore(synthetic=True, n_imports=1)
    assert ensure_demo_dataset(fake) == DEMO_DATASET  # type: ignore[arg-type]
    assert fake.calls == []


def test_ensure_demo_dataset_completes_an_empty_demo(records: pd.DataFrame) -> None:
    fake = _FakeStore(synthetic=True, n_imports=0)  # e.g. a crash between create and commit
    ensure_demo_dataset(fake)  # type: ignore[arg-type]
    assert fake.calls == ["commit"]
    assert fake.result.report.rows_read == len(records) and fake.result.report.rows_rejected == 0
    assert fake.result.counts["count"].sum() == len(records)
