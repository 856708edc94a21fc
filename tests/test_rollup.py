"""analysis.rollup: level/grain roll-ups conserve counts, zeros are explicit, matrices are ordered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from analysis.rollup import RollupResult, complete_grid, count_matrix, empty_counts, roll_up
from geo.schema import AREA_CODE, CATEGORY, COUNT, GRAIN, LEVEL, PERIOD, REPEAT_COUNT, AtlasError, data_dir

KEY = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY]

# Hand-made hierarchy: 6 LSOAs in 3 wards in 2 LADs.
LSOA_WARD = pd.Series({"L1": "W1", "L2": "W1", "L3": "W2", "L4": "W2", "L5": "W3", "L6": "W3"})
WARD_LAD = pd.Series({"W1": "A", "W2": "A", "W3": "B"})
LSOA_LAD = LSOA_WARD.map(WARD_LAD)


def rows(*tuples: tuple) -> pd.DataFrame:
    """(area, level, period, grain, count, repeat) tuples -> counts, category All."""
    df = pd.DataFrame(tuples, columns=[AREA_CODE, LEVEL, PERIOD, GRAIN, COUNT, REPEAT_COUNT])
    df[CATEGORY] = "All"
    df[REPEAT_COUNT] = df[REPEAT_COUNT].astype("Int64")
    return df


def monthly(areas: list[str], months: list[str], level: str = "lsoa", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, p = np.meshgrid(areas, months, indexing="ij")
    c = rng.integers(0, 30, a.size)
    return pd.DataFrame({
        AREA_CODE: a.ravel(), LEVEL: level, PERIOD: p.ravel(), GRAIN: "month", CATEGORY: "All",
        COUNT: c, REPEAT_COUNT: pd.array(rng.integers(0, 5, a.size), dtype="Int64"),
    })


def total(res: RollupResult) -> int:
    return int(res.counts[COUNT].sum() + res.excluded[COUNT].sum())


MONTHS = ["2019-03", "2019-04", "2019-05", "2019-06", "2019-07"]


def test_lsoa_months_to_ward_quarters_known_sums() -> None:
    df = rows(
        ("L1", "lsoa", "2019-04", "month", 2, 1),
        ("L2", "lsoa", "2019-05", "month", 3, 0),
        ("L1", "lsoa", "2019-07", "month", 4, 2),
        ("L3", "lsoa", "2019-04", "month", 5, 1),
    )
    res = roll_up(df, "ward", "quarter", parent_map=LSOA_WARD)
    got = res.counts.set_index([AREA_CODE, PERIOD])[COUNT].to_dict()
    assert got == {("W1", "2019-Q2"): 5, ("W1", "2019-Q3"): 4, ("W2", "2019-Q2"): 5}
    assert set(res.counts[LEVEL]) == {"ward"} and set(res.counts[GRAIN]) == {"quarter"}
    assert res.counts.loc[(res.counts[AREA_CODE] == "W1") & (res.counts[PERIOD] == "2019-Q2"), REPEAT_COUNT].item() == 1
    assert res.excluded.empty
    assert list(res.counts.columns) == [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY, COUNT, REPEAT_COUNT]
    assert res.counts[COUNT].dtype == "int64" and res.counts[REPEAT_COUNT].dtype == "Int64"


def test_financial_quarters_and_years() -> None:
    df = rows(("L1", "lsoa", "2019-03", "month", 1, 0), ("L1", "lsoa", "2019-04", "month", 10, 0),
              ("L1", "lsoa", "2020-03", "month", 100, 0))
    fq = roll_up(df, "lsoa", "fyquarter").counts.set_index(PERIOD)[COUNT].to_dict()
    assert fq == {"2018/19-Q4": 1, "2019/20-Q1": 10, "2019/20-Q4": 100}
    fy = roll_up(df, "lsoa", "fy").counts.set_index(PERIOD)[COUNT].to_dict()
    assert fy == {"2018/19": 1, "2019/20": 110}
    yr = roll_up(df, "lsoa", "year").counts.set_index(PERIOD)[COUNT].to_dict()
    assert yr == {"2019": 11, "2020": 100}


def test_repeat_count_na_only_when_all_contributions_unknown() -> None:
    df = rows(
        ("L1", "lsoa", "2019-04", "month", 2, None),
        ("L2", "lsoa", "2019-04", "month", 3, 2),
        ("L3", "lsoa", "2019-04", "month", 4, None),
        ("L4", "lsoa", "2019-04", "month", 1, None),
    )
    out = roll_up(df, "ward", "month", parent_map=LSOA_WARD).counts.set_index(AREA_CODE)
    assert out.loc["W1", REPEAT_COUNT] == 2  # known values summed, unknown skipped
    assert pd.isna(out.loc["W2", REPEAT_COUNT])  # nothing known stays unknown
    assert out.loc["W2", COUNT] == 5


def test_rows_at_target_pass_through_and_coarser_rows_are_excluded_not_split() -> None:
    df = rows(
        ("W1", "ward", "2019-04", "month", 7, 1),
        ("A", "lad", "2019-04", "month", 50, 3),
        ("L5", "lsoa", "2019-05", "month", 2, 0),
    )
    res = roll_up(df, "ward", "month", parent_map=LSOA_WARD)
    assert res.counts.set_index(AREA_CODE)[COUNT].to_dict() == {"W1": 7, "W3": 2}
    assert len(res.excluded) == 1
    ex = res.excluded.iloc[0]
    assert ex[AREA_CODE] == "A" and ex[COUNT] == 50 and "coarser than ward" in ex["reason"]
    assert total(res) == 59


def test_grain_that_does_not_nest_is_excluded_with_reason() -> None:
    df = rows(("L1", "lsoa", "2019/20", "fy", 9, 0), ("L1", "lsoa", "2019-04", "month", 1, 0),
              ("L2", "lsoa", "2019", "year", 4, 0))
    res = roll_up(df, "lsoa", "quarter")
    assert res.counts[COUNT].tolist() == [1]
    reasons = dict(zip(res.excluded[PERIOD], res.excluded["reason"]))
    assert "fy periods do not fit inside quarter" in reasons["2019/20"]
    assert "year periods do not fit inside quarter" in reasons["2019"]
    summary = res.excluded_summary()
    assert summary["rows"].sum() == 2 and summary[COUNT].sum() == 13


def test_codes_missing_from_lookup_are_excluded() -> None:
    df = rows(("L1", "lsoa", "2019-04", "month", 2, 0), ("LX", "lsoa", "2019-04", "month", 3, 0))
    res = roll_up(df, "ward", "month", parent_map=LSOA_WARD)
    assert res.counts[COUNT].tolist() == [2]
    assert res.excluded[AREA_CODE].tolist() == ["LX"]
    assert res.excluded["reason"].iloc[0] == "area code not in the lsoa->ward lookup"


def test_mixed_sources_do_not_double_count() -> None:
    # LSOA months and ward quarters both cover W1 in 2019-Q2: keep the finer LSOA months.
    df = rows(
        ("L1", "lsoa", "2019-04", "month", 2, 0),
        ("L2", "lsoa", "2019-06", "month", 3, 0),
        ("W1", "ward", "2019-Q2", "quarter", 5, 0),   # overlaps: excluded
        ("W1", "ward", "2019-Q3", "quarter", 8, 0),   # no LSOA data then: kept
        ("W2", "ward", "2019-Q2", "quarter", 4, 0),   # another ward: kept
    )
    res = roll_up(df, "ward", "quarter", parent_map=LSOA_WARD)
    got = res.counts.set_index([AREA_CODE, PERIOD])[COUNT].to_dict()
    assert got == {("W1", "2019-Q2"): 5, ("W1", "2019-Q3"): 8, ("W2", "2019-Q2"): 4}
    assert res.excluded[[AREA_CODE, PERIOD]].values.tolist() == [["W1", "2019-Q2"]]
    assert "would double count" in res.excluded["reason"].iloc[0]
    assert total(res) == 22


def test_parent_maps_per_level_dict() -> None:
    df = pd.concat([rows(("L1", "lsoa", "2019-04", "month", 2, 0)), rows(("W3", "ward", "2019-05", "month", 3, 0))])
    res = roll_up(df, "lad", "month", parent_map={"lsoa": LSOA_LAD, "ward": WARD_LAD})
    assert res.counts.set_index(AREA_CODE)[COUNT].to_dict() == {"A": 2, "B": 3}
    missing = roll_up(df, "lad", "month", parent_map={"lsoa": LSOA_LAD})
    assert missing.excluded[AREA_CODE].tolist() == ["W3"]
    assert "no ward->lad lookup given" in missing.excluded["reason"].iloc[0]


def test_bad_target_is_an_error() -> None:
    with pytest.raises(AtlasError, match="unknown level 'county'"):
        roll_up(monthly(["L1"], MONTHS), "county", "month")
    with pytest.raises(AtlasError, match="unknown period grain 'week'"):
        roll_up(monthly(["L1"], MONTHS), "lsoa", "week")
    with pytest.raises(AtlasError, match="lacks column"):
        roll_up(monthly(["L1"], MONTHS).drop(columns=[PERIOD]), "lsoa", "month")


def test_empty_counts_roll_up_to_empty() -> None:
    res = roll_up(empty_counts(), "ward", "quarter", parent_map=LSOA_WARD)
    assert res.counts.empty and res.excluded.empty
    assert res.counts[COUNT].dtype == "int64"


def test_chained_roll_up_equals_direct_and_conserves_totals() -> None:
    df = monthly(list(LSOA_WARD.index), MONTHS, seed=3)
    via_ward = roll_up(roll_up(df, "ward", "month", LSOA_WARD).counts, "lad", "quarter", WARD_LAD)
    direct = roll_up(df, "lad", "quarter", LSOA_LAD)
    pd.testing.assert_frame_equal(via_ward.counts, direct.counts)
    assert direct.counts[COUNT].sum() == df[COUNT].sum()
    assert direct.counts[REPEAT_COUNT].sum() == df[REPEAT_COUNT].sum()


@settings(max_examples=25, deadline=None)
@given(
    counts=hs.lists(hs.integers(0, 50), min_size=1, max_size=30),
    seed=hs.integers(0, 2**32 - 1),
    grain=hs.sampled_from(["month", "quarter", "fyquarter", "fy", "year"]),
)
def test_row_order_irrelevant_and_totals_conserved(counts: list[int], seed: int, grain: str) -> None:
    rng = np.random.default_rng(seed)
    n = len(counts)
    df = pd.DataFrame({
        AREA_CODE: rng.choice(list(LSOA_WARD.index) + ["LX"], n),
        LEVEL: "lsoa",
        PERIOD: [f"{y}-{m:02d}" for y, m in zip(rng.integers(2018, 2021, n), rng.integers(1, 13, n))],
        GRAIN: "month",
        CATEGORY: rng.choice(["All", "Violence"], n),
        COUNT: counts,
        REPEAT_COUNT: pd.array(rng.integers(0, 3, n), dtype="Int64"),
    }).drop_duplicates(KEY)
    res = roll_up(df, "ward", grain, LSOA_WARD)
    assert total(res) == df[COUNT].sum()
    shuffled = roll_up(df.sample(frac=1, random_state=seed % 1000), "ward", grain, LSOA_WARD)
    pd.testing.assert_frame_equal(res.counts, shuffled.counts)
    pd.testing.assert_frame_equal(res.excluded, shuffled.excluded)


# ------------------------------------------------------------------ real shipped lookups
def test_real_lsoa_to_ward_to_lad_equals_lsoa_to_lad() -> None:
    lookup = pd.read_csv(data_dir() / "lookups" / "lsoa_to_ward.csv", dtype=str)
    lsoa_ward = lookup.set_index("lsoa_code")["ward_code"]
    ward_lad = lookup.drop_duplicates("ward_code").set_index("ward_code")["lad_code"]
    lsoa_lad = lookup.set_index("lsoa_code")["lad_code"]
    df = monthly(lookup["lsoa_code"].tolist(), MONTHS, seed=11)
    via_ward = roll_up(roll_up(df, "ward", "month", lsoa_ward).counts, "lad", "fy", ward_lad)
    direct = roll_up(df, "lad", "fy", lsoa_lad)
    pd.testing.assert_frame_equal(via_ward.counts, direct.counts)
    assert direct.counts[COUNT].sum() == df[COUNT].sum() and direct.excluded.empty
    assert direct.counts[AREA_CODE].nunique() == lookup["lad_code"].nunique()


def test_default_lookup_comes_from_boundaries_hierarchy() -> None:
    hierarchy = pytest.importorskip("boundaries.hierarchy")
    pm = hierarchy.parent_map("lsoa", "msoa")
    df = monthly(pm.index[:40].tolist(), ["2019-04"], seed=2)
    res = roll_up(df, "msoa", "month")  # no explicit map: boundaries.hierarchy is used
    expected = df.assign(**{AREA_CODE: df[AREA_CODE].map(pm)}).groupby(AREA_CODE)[COUNT].sum()
    assert res.counts.set_index(AREA_CODE)[COUNT].to_dict() == expected.to_dict()
    # msoa and ward do not nest: reported, not split, not raised.
    bad = roll_up(df.assign(**{LEVEL: "msoa", AREA_CODE: df[AREA_CODE].map(pm)}).drop_duplicates(KEY), "ward", "month")
    assert bad.counts.empty and bad.excluded["reason"].str.startswith("cannot roll msoa up to ward").all()


# ------------------------------------------------------------------ complete_grid / count_matrix
def test_complete_grid_adds_explicit_zeros() -> None:
    df = rows(("W1", "ward", "2019-04", "month", 3, 1), ("W9", "ward", "2019-04", "month", 2, 0))
    out = complete_grid(df, ["W1", "W2"], ["2019-04", "2019-05"])
    got = out.set_index([AREA_CODE, PERIOD])[[COUNT, REPEAT_COUNT]]
    assert len(out) == 5  # 2 x 2 grid + the W9 row outside it, kept
    assert got.loc[("W1", "2019-04")].tolist() == [3, 1]
    assert got.loc[("W2", "2019-05")].tolist() == [0, 0]
    assert got.loc[("W9", "2019-04"), COUNT] == 2
    assert out[COUNT].sum() == df[COUNT].sum()
    assert set(out[LEVEL]) == {"ward"} and set(out[GRAIN]) == {"month"}


def test_complete_grid_categories_and_unknown_repeats() -> None:
    df = rows(("W1", "ward", "2019-04", "month", 3, None)).assign(**{CATEGORY: "Violence"})
    out = complete_grid(df, ["W1", "W2"], ["2019-04"], categories=["Violence", "Other"])
    assert len(out) == 4
    assert out[REPEAT_COUNT].isna().all()  # the data has no repeat flag: zeros do not invent one
    empty = complete_grid(empty_counts(), ["W1"], ["2019-Q1"], level="ward", grain="quarter")
    assert empty[[AREA_CODE, PERIOD, CATEGORY, COUNT]].values.tolist() == [["W1", "2019-Q1", "All", 0]]
    with pytest.raises(AtlasError, match="name the level"):
        complete_grid(empty_counts(), ["W1"], ["2019-Q1"])
    mixed = pd.concat([df, df.assign(**{GRAIN: "quarter", PERIOD: "2019-Q2"})])
    with pytest.raises(AtlasError, match="several grains"):
        complete_grid(mixed, ["W1"], ["2019-04"])


def test_count_matrix_follows_given_orders() -> None:
    df = rows(("W1", "ward", "2019-04", "month", 3, 0), ("W2", "ward", "2019-05", "month", 7, 0),
              ("W3", "ward", "2019-05", "month", 9, 0))
    m = count_matrix(df, ["W2", "W1"], ["2019-05", "2019-04", "2019-06"])
    np.testing.assert_array_equal(m, [[7, 0, 0], [0, 3, 0]])
    assert m.dtype == np.int64
    with pytest.raises(AtlasError, match="several categories"):
        count_matrix(pd.concat([df, df.assign(**{CATEGORY: "X"})]), ["W1"], ["2019-04"])


def test_default_set_matches_boundaries_registry() -> None:
    registry = pytest.importorskip("boundaries.registry")
    from analysis import rollup

    assert rollup.DEFAULT_SET == registry.DEFAULT_SET
