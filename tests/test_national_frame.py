"""The integer-coded data path (store/coded.py, analysis/cube.py, load_frame) equals the old tidy path.

The reference below is the frame builder as it was before issue 11, kept verbatim in spirit: tidy
string tables through ``analysis.rollup.roll_up`` and ``complete_grid``, ``Series.isin`` scoping.
Every frame built the new way (on the demo store, on hand-made mixed-source data and on a sample
of the national England data) must give the same grid, notes, scope and periods.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cube import CodedCounts, roll_up_cells
from analysis.periods import period_range, period_sort_key
from analysis.rollup import complete_grid, roll_up
from atlas import analyses
from atlas.importing import import_file
from boundaries.load import load_area_table, load_areas
from boundaries.population import add_population
from boundaries.registry import DEFAULT_SET, register_boundary_set
from geo.schema import (
    ALL_CATEGORIES, AREA_CODE, CATEGORY, CODE, COUNT, GRAIN, GRAINS, LAD_CODE, LAD_NAME, LEVEL, LEVELS, PERIOD,
    REPEAT_COUNT, AtlasError,
)
from store import Store
from store.coded import read_coded_counts


@dataclass
class Reference:
    counts: pd.DataFrame
    notes: list[str]
    lad_codes: tuple[str, ...] | None
    periods: list[str]


def _old_sum_categories(counts: pd.DataFrame, label: str) -> pd.DataFrame:
    g = counts.assign(_known=counts[REPEAT_COUNT].notna()).groupby([AREA_CODE, LEVEL, PERIOD, GRAIN], sort=True)
    out = g.agg(**{COUNT: (COUNT, "sum"), REPEAT_COUNT: (REPEAT_COUNT, "sum"), "_known": ("_known", "sum")})
    out[REPEAT_COUNT] = out[REPEAT_COUNT].astype("Int64").mask(out["_known"] == 0)
    out = out.drop(columns="_known").reset_index()
    out[CATEGORY] = label
    return out


def old_frame(stored: pd.DataFrame, bs_name: str, level: str, grain: str, area_filter: str | None = None,
              category: str | None = None) -> Reference:
    """The pre-issue-11 builder: string tables, roll_up, isin scoping, complete_grid."""
    counts = stored if category is None else stored[stored[CATEGORY] == category]
    notes: list[str] = []
    rolled = roll_up(counts, level, grain, boundary_set=bs_name)
    for _, row in rolled.excluded_summary().iterrows():
        notes.append(f"{row['rows']} stored rows ({row[COUNT]} incidents) left out: {row['reason']}")
    summed = _old_sum_categories(rolled.counts, category or ALL_CATEGORIES)
    all_areas = load_areas(level, bs_name)
    if area_filter is None:
        unknown = ~summed[AREA_CODE].isin(all_areas[CODE])
        if unknown.any():
            notes.append(
                f"{int(unknown.sum())} rows ({int(summed.loc[unknown, COUNT].sum())} incidents) left out: "
                f"area codes not in {level} of boundary set {bs_name!r}"
            )
    lad_codes: tuple[str, ...] | None
    if area_filter is not None:
        lad_codes = (area_filter,)
    else:
        lads = all_areas[LAD_CODE]
        with_data = summed.loc[summed[COUNT] > 0, AREA_CODE]
        covered = sorted(set(lads[all_areas[CODE].isin(with_data)].dropna()))
        if lads.isna().all() or not covered or set(covered) == set(lads.dropna()):
            lad_codes = None
        else:
            names = all_areas.loc[lads.isin(covered), LAD_NAME].dropna().unique().tolist()
            notes.append(f"areas limited to the local authorities with incidents in the data: {', '.join(sorted(names))}")
            lad_codes = tuple(covered)
    areas = load_areas(level, bs_name, lad_codes=list(lad_codes)) if lad_codes is not None else all_areas
    codes = areas[CODE].astype(str).tolist()
    uniq = pd.unique(summed[PERIOD].astype(str))
    keys = period_sort_key(list(uniq), grain)
    periods = period_range(uniq[int(np.argmin(keys))], uniq[int(np.argmax(keys))], grain)
    inside = summed[summed[AREA_CODE].isin(codes)]
    label = category or ALL_CATEGORIES
    grid = complete_grid(inside, codes, periods, categories=[label], level=level, grain=grain)
    grid = grid[grid[AREA_CODE].isin(codes) & grid[PERIOD].isin(periods)]
    order = pd.Index(periods).get_indexer(grid[PERIOD])
    grid = grid.assign(_o=order).sort_values([AREA_CODE, "_o"], kind="stable").drop(columns="_o")
    return Reference(grid.reset_index(drop=True), notes, lad_codes, periods)


def assert_same_frame(store: Store, dataset: str, level: str, grain: str, area_filter: str | None = None,
                      category: str | None = None) -> analyses.AnalysisFrame:
    info = store.dataset(dataset)
    ref = old_frame(store.counts(dataset), str(info["boundary_set"]), level, grain, area_filter, category)
    analyses.frame_cache.clear()
    f = analyses.load_frame(store, dataset, level, grain, area_filter=area_filter, category=category)
    pd.testing.assert_frame_equal(f.counts, ref.counts)
    partial = [n for n in f.notes if n.startswith("period ")]  # partial-period notes: unchanged code, not rebuilt here
    assert [n for n in f.notes if n not in partial] == ref.notes
    assert f.lad_codes == ref.lad_codes and list(f.periods) == ref.periods
    assert f.cube.shape == (len(f.areas), len(f.periods))
    np.testing.assert_array_equal(f.cube.ravel(), ref.counts[COUNT].to_numpy())
    return f


@pytest.fixture(autouse=True)
def _fresh_cache():
    analyses.frame_cache.clear()
    yield
    analyses.frame_cache.clear()


@pytest.mark.parametrize("level", LEVELS)
def test_demo_frames_equal_the_old_path_at_every_level_and_grain(demo_store, demo_dataset, level):
    store = Store(demo_store)
    for grain in GRAINS:
        assert_same_frame(store, demo_dataset[0], level, grain)


def test_demo_frames_equal_the_old_path_for_a_category_and_an_authority(demo_store, demo_dataset):
    store = Store(demo_store)
    category = sorted(store.counts(demo_dataset[0])[CATEGORY].unique())[0]
    for level, grain in (("lsoa", "month"), ("ward", "fy"), ("msoa", "quarter")):
        assert_same_frame(store, demo_dataset[0], level, grain, category=category)
        assert_same_frame(store, demo_dataset[0], level, grain, area_filter="E06000005")
        assert_same_frame(store, demo_dataset[0], level, grain, area_filter="E06000047", category=category)


def _write(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_mixed_sources_unknown_codes_and_repeat_counts_equal_the_old_path(tmp_path):
    """LSOA months overlapping ward quarters, codes outside the set, coarser rows, partly known repeats."""
    lsoas = load_areas("lsoa", DEFAULT_SET, lad_codes=["E06000005"])[CODE].tolist()[:6]
    wards = load_areas("ward", DEFAULT_SET, lad_codes=["E06000047"])[CODE].tolist()[:3]
    months = [f"2023-{m:02d}" for m in range(1, 13)]
    rng = np.random.default_rng(7)
    rows = [{"area_code": c, "period": m, "category": cat, "count": int(rng.integers(0, 5)),
             "repeat_count": int(rng.integers(0, 2)) if cat == "A" else ""}
            for c in lsoas for m in months for cat in ("A", "B") if rng.random() < 0.7]
    store = Store()
    import_file(store, _write(tmp_path / "lsoa.csv", rows), "mixed", rejected_out=tmp_path / "r1.csv")
    # Ward quarters, one of which contains the LSOA months above (overlap), and an authority-level year.
    ward_rows = [{"area_code": w, "period": q, "category": "A", "count": 7} for w in wards for q in ("2023-Q1", "2023-Q4")]
    ward_rows.append({"area_code": "E06000005", "period": "2023", "category": "A", "count": 40})
    import_file(store, _write(tmp_path / "wards.csv", ward_rows), "mixed", rejected_out=tmp_path / "r2.csv")
    for level in ("lsoa", "ward", "lad"):
        for grain in ("month", "quarter", "year"):
            for category in (None, "A", "B"):
                try:
                    f = assert_same_frame(store, "mixed", level, grain, category=category)
                except AtlasError:  # both paths find nothing to show for this selection
                    stored = store.counts("mixed")
                    stored = stored if category is None else stored[stored[CATEGORY] == category]
                    assert roll_up(stored, level, grain).counts.empty
                    continue
                if category != "B":
                    assert f.counts[REPEAT_COUNT].notna().any()


class TidyOnlyStore:
    """A store that can only hand over its tidy counts (the path for stores without a DuckDB file)."""

    def __init__(self, counts: pd.DataFrame, boundary_set: str = DEFAULT_SET):
        self._counts, self._bs = counts, boundary_set

    def dataset(self, name: str) -> dict:
        return {"name": name, "boundary_set": self._bs}

    def counts(self, name: str) -> pd.DataFrame:
        return self._counts.copy()


def test_rows_the_boundaries_do_not_know_are_reported_as_before():
    """Codes outside the set, unknown levels and grains, non-nesting grains: same exclusions and notes."""
    lsoas = load_areas("lsoa", DEFAULT_SET, lad_codes=["E06000001"])[CODE].tolist()[:4]
    rows = [(c, "lsoa", "2023-05", "month", "All", 3, pd.NA) for c in lsoas]
    rows += [
        ("E01999999", "lsoa", "2023-05", "month", "All", 5, 1),  # not in the set
        (lsoas[0], "beat", "2023-05", "month", "All", 2, pd.NA),  # unknown level
        (lsoas[1], "lsoa", "2023-05", "fortnight", "All", 2, pd.NA),  # unknown grain
        (lsoas[2], "lsoa", "2023/24", "fy", "All", 9, pd.NA),  # fy does not fit in months
        ("E06000001", "lad", "2023-06", "month", "All", 4, 2),  # coarser than lsoa
    ]
    tidy = pd.DataFrame(rows, columns=[AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY, COUNT, REPEAT_COUNT])
    tidy[REPEAT_COUNT] = tidy[REPEAT_COUNT].astype("Int64")
    store = TidyOnlyStore(tidy)
    for level, grain in (("lsoa", "month"), ("ward", "quarter"), ("lad", "fy")):
        f = assert_same_frame(store, "fake", level, grain)
        assert any("left out" in n for n in f.notes)


def test_a_category_with_a_shorter_span_keeps_its_own_periods(tmp_path):
    """One source at the target level and grain, but category B covers fewer months than the dataset."""
    lsoas = load_areas("lsoa", DEFAULT_SET, lad_codes=["E06000001"])[CODE].tolist()[:5]
    rows = [{"area_code": c, "period": f"2023-{m:02d}", "category": "A", "count": 2} for c in lsoas for m in range(1, 13)]
    rows += [{"area_code": c, "period": f"2023-{m:02d}", "category": "B", "count": 1} for c in lsoas[:2] for m in (4, 5, 6)]
    store = Store()
    import_file(store, _write(tmp_path / "spans.csv", rows), "spans", rejected_out=tmp_path / "r.csv")
    for category in ("A", "B", None):
        f = assert_same_frame(store, "spans", "lsoa", "month", category=category)
        assert (f.periods[0], f.periods[-1]) == (("2023-04", "2023-06") if category == "B" else ("2023-01", "2023-12"))


def test_coded_read_equals_coding_the_tidy_read(demo_store, demo_dataset):
    store = Store(demo_store)
    bs_name, direct = read_coded_counts(store, demo_dataset[0])
    assert bs_name == demo_dataset[1]
    via = CodedCounts.from_frame(store.counts(demo_dataset[0]))
    key = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY]
    a = direct.to_frame().sort_values(key, ignore_index=True)
    b = via.to_frame().sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    assert len(direct) == len(store.counts(demo_dataset[0]))


def test_cells_conserve_every_stored_incident(demo_store, demo_dataset):
    _, coded = read_coded_counts(Store(demo_store), demo_dataset[0])
    for level in LEVELS:
        cells = roll_up_cells(coded, level, "quarter", boundary_set=demo_dataset[1])
        assert cells.count.sum() + cells.excluded[COUNT].sum() == coded.count.sum()


def test_rates_of_one_period_equal_that_period_of_all(demo_store, demo_dataset, monkeypatch):
    """A national frame computes the asked periods on their own: same rows as filtering every period."""
    store = Store(demo_store)
    f = analyses.load_frame(store, demo_dataset[0], "lsoa", "month")
    every = analyses._compute_rates(f)
    monkeypatch.setattr(analyses, "_SMALL_FRAME", 0)  # as for a national frame
    for periods in ([f.periods[-1]], [f.periods[0], f.periods[5]]):
        alone = analyses._rates(f, periods)
        pd.testing.assert_frame_equal(alone, every[every[PERIOD].isin(periods)].reset_index(drop=True))


def test_area_table_equals_the_areas_without_geometry(tmp_path, shared_data):
    for level in LEVELS:
        full = load_areas(level)
        pd.testing.assert_frame_equal(load_area_table(level), pd.DataFrame(full.drop(columns="geometry")))
    register_boundary_set(shared_data / "boundaries" / "england_lsoa_2011.parquet", "england", "lsoa")
    got = load_area_table("lsoa", "england", lad_codes=["E06000047", "E07000110"])
    want = pd.DataFrame(load_areas("lsoa", "england", lad_codes=["E06000047", "E07000110"]).drop(columns="geometry"))
    pd.testing.assert_frame_equal(got, want)
    lads = pd.read_parquet(shared_data / "boundaries" / "england_lsoa_2011.parquet", columns=["lad_code"])["lad_code"]
    assert len(got) == int(lads.isin(["E06000047", "E07000110"]).sum()) and (got[LAD_CODE] == "E06000047").sum() == 324


@pytest.mark.slow
def test_a_national_sample_equals_the_old_path(tmp_path, shared_data):
    """All English LSOAs registered; counts for a sample of 3,000 LSOAs x 24 months with gaps and zeros."""
    bs, _ = register_boundary_set(shared_data / "boundaries" / "england_lsoa_2011.parquet", "england", "lsoa")
    pop = pd.read_csv(shared_data / "population" / "lsoa_population.csv", dtype={"lsoa_code": str})
    pop_csv = tmp_path / "pop.csv"
    pop.rename(columns={"lsoa_code": "code"})[["code", "population_total"]].to_csv(pop_csv, index=False)
    add_population(pop_csv, "england")
    codes = load_area_table("lsoa", "england")[CODE].to_numpy()
    rng = np.random.default_rng(11)
    sample = rng.choice(codes, 3_000, replace=False)
    months = [str(np.datetime64("2022-04", "M") + k) for k in range(24)]
    grid = pd.DataFrame({"area_code": np.repeat(sample, 24), "period": np.tile(months, sample.size),
                         "count": rng.poisson(1.2, sample.size * 24)})
    grid = grid[rng.random(len(grid)) < 0.8]  # missing rows become explicit zeros
    store = Store()
    import_file(store, _write(tmp_path / "national.csv", grid.to_dict("records")), "national", boundary_set="england",
                rejected_out=tmp_path / "rej.csv")
    for grain in ("month", "quarter", "fy"):
        f = assert_same_frame(store, "national", "lsoa", grain)
        assert f.cube.sum() == grid["count"].sum()
    # The services read the cube: emerging and one-period tables agree with tables built from the old grid.
    f = analyses.load_frame(store, "national", "lsoa", "month")
    ref = old_frame(store.counts("national"), "england", "lsoa", "month")
    from analysis.emerging import emerging_hotspots
    from analysis.rollup import count_matrix

    weights, _ = analyses.area_weights("england", "lsoa", f.lad_codes)
    cube = count_matrix(ref.counts, f.codes, ref.periods).astype(float)
    want = emerging_hotspots(cube, f.codes, ref.periods, weights)
    got = analyses.emerging_table(store, "national", "lsoa", "month")
    pd.testing.assert_frame_equal(got[want.columns].reset_index(drop=True), want.reset_index(drop=True))


def _old_rates(f: analyses.AnalysisFrame) -> pd.DataFrame:
    """The rates table as built before issue 11: merge areas and map population and whole-area rate by key."""
    from analysis.rates import COMPARED, INCIDENT_SHARE, RATE_PER_1000, add_rates, compare_to_reference, overall_rate
    from geo.schema import POPULATION

    t = f.counts.merge(f.areas, on=AREA_CODE, how="left")
    t[POPULATION] = t[AREA_CODE].map(f.population).astype(float)
    t[analyses.DENOMINATOR] = f.denominator
    t = add_rates(t)
    whole = overall_rate(t[[PERIOD, COUNT, POPULATION]]).set_index(PERIOD)
    t[analyses.WHOLE_AREA_RATE] = t[PERIOD].map(whole[RATE_PER_1000]).astype(float)
    t = compare_to_reference(t, whole[RATE_PER_1000]).rename(columns={COMPARED: analyses.COMPARED_TO_WHOLE_AREA})
    with np.errstate(divide="ignore", invalid="ignore"):
        t[analyses.RATE_RATIO] = t[RATE_PER_1000] / t[analyses.WHOLE_AREA_RATE].where(t[analyses.WHOLE_AREA_RATE] > 0)
    totals = t.groupby(PERIOD)[COUNT].transform("sum").astype(float)
    t[INCIDENT_SHARE] = t[COUNT] / totals.where(totals > 0)
    return t


@pytest.mark.parametrize("level", LEVELS)
def test_rates_equal_the_old_merge_path_and_leave_the_frame_alone(demo_store, demo_dataset, level):
    store = Store(demo_store)
    for grain, area_filter in (("month", None), ("fy", "E06000047"), ("quarter", None)):
        f = analyses.load_frame(store, demo_dataset[0], level, grain, area_filter=area_filter)
        columns = list(f.counts.columns)
        want = _old_rates(f)
        pd.testing.assert_frame_equal(analyses._compute_rates(f), want)
        some = [f.periods[-1], f.periods[0]]
        pd.testing.assert_frame_equal(analyses._compute_rates(f, some), want[want[PERIOD].isin(some)].reset_index(drop=True))
        assert list(f.counts.columns) == columns  # the frame's own grid gained no column
