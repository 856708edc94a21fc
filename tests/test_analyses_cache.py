"""The per-process frame cache of atlas.analyses: same frame for the same selection of an unchanged
store, a fresh one after any write, identical results with and without it, and callers cannot corrupt it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from analysis.hotspots import HotspotParams
from analysis.periods import first_month_index, labels_from_month_index, months_in, months_per_period, period_range
from atlas import analyses, area_statistics
from atlas.importing import import_file
from boundaries.load import load_areas
from boundaries.population import add_population
from boundaries.registry import DEFAULT_SET, register_boundary_set
from geo.schema import AtlasError
from store import Store

DARLINGTON = "E06000005"
DATASET = "Cache test"
MONTHS = period_range("2021-04", "2023-03", "month")  # two financial years
FAST = HotspotParams(permutations=99)


@pytest.fixture(autouse=True)
def empty_cache():
    analyses.frame_cache.clear()
    yield
    analyses.frame_cache.clear()


def _counts_csv(path: Path, months: list[str], seed: int, level: str = "lsoa", per_area: float = 1.5) -> Path:
    """A counts CSV of Darlington areas x ``months`` (two categories, Poisson counts, zero rows dropped)."""
    codes = load_areas(level, DEFAULT_SET, lad_codes=[DARLINGTON])["code"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    rows = [pd.DataFrame({"area_code": codes, "period": m, "category": cat, "count": rng.poisson(per_area, len(codes))})
            for m in months for cat in ("Violence", "Other")]
    df = pd.concat(rows, ignore_index=True)
    df[df["count"] > 0].to_csv(path, index=False)
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store()
    import_file(s, _counts_csv(tmp_path / "first.csv", MONTHS, seed=1), DATASET, rejected_out=tmp_path / "rej.csv")
    return s


class UncachedStore:
    """A store without cache_token (like the fakes in other tests): never cached."""

    def __init__(self, store: Store):
        self._store = store

    def dataset(self, name: str) -> dict:
        return self._store.dataset(name)

    def counts(self, name: str) -> pd.DataFrame:
        return self._store.counts(name)


def _snapshot(f: analyses.AnalysisFrame) -> tuple:
    return f.counts.copy(), f.areas.copy(), None if f.population is None else f.population.copy()


# ---------------------------------------------------------------------------- hits


def test_second_call_returns_the_same_frame_without_reading_the_store(store, monkeypatch):
    first = analyses.load_frame(store, DATASET, "ward", "fy", "e06000005 ")
    snapshot = _snapshot(first)

    def no_read(*args, **kwargs):
        raise AssertionError("the store was read again")

    monkeypatch.setattr(Store, "counts", no_read)
    monkeypatch.setattr(Store, "dataset", no_read)
    second = analyses.load_frame(store, DATASET, "ward", "fy", DARLINGTON)  # filter normalised before keying
    assert second is first
    pd.testing.assert_frame_equal(second.counts, snapshot[0])
    assert int(second.counts["count"].sum()) > 0
    # A new selection of the same dataset reuses the stored counts too (no store read), but is a new frame.
    other = analyses.load_frame(store, DATASET, "lsoa", "month", DARLINGTON)
    assert other is not first and other.counts["count"].sum() == first.counts["count"].sum()


def test_rates_are_computed_once_per_frame(store, monkeypatch):
    one = analyses.rates_table(store, DATASET, "ward", "fy")
    monkeypatch.setattr(analyses, "_compute_rates", lambda f: pytest.fail("rates recomputed"))
    two = analyses.rates_table(store, DATASET, "ward", "fy")
    pd.testing.assert_frame_equal(one, two)
    assert two.attrs["notes"] == one.attrs["notes"]


def test_the_cache_is_bounded(store, monkeypatch):
    monkeypatch.setattr(analyses.frame_cache, "maxsize", 2)
    first = analyses.load_frame(store, DATASET, "ward", "fy")
    analyses.load_frame(store, DATASET, "ward", "quarter")
    analyses.load_frame(store, DATASET, "ward", "month")
    assert len(analyses.frame_cache) == 2
    assert analyses.load_frame(store, DATASET, "ward", "fy") is not first  # evicted, least recently used


def test_stores_without_a_cache_token_are_not_cached(store):
    fake = UncachedStore(store)
    one = analyses.load_frame(fake, DATASET, "ward", "fy")
    two = analyses.load_frame(fake, DATASET, "ward", "fy")
    assert one is not two and len(analyses.frame_cache) == 0
    pd.testing.assert_frame_equal(one.counts, two.counts)


# ---------------------------------------------------------------------------- invalidation


def test_cache_token_changes_with_every_write(store, tmp_path):
    token = store.cache_token()
    assert token is not None and token[0] == str(store.path.resolve())
    assert store.cache_token() == token
    store.create_dataset("Another", DEFAULT_SET)
    assert store.cache_token() != token
    gone = Store(tmp_path / "gone.duckdb")
    os.remove(gone.path)
    assert gone.cache_token() is None


def test_an_import_gives_a_fresh_frame_with_the_new_data(store, tmp_path):
    before = analyses.load_frame(store, DATASET, "ward", "fy")
    old_rates = analyses.rates_table(store, DATASET, "ward", "fy")
    later = period_range("2023-04", "2024-03", "month")
    summary = import_file(store, _counts_csv(tmp_path / "second.csv", later, seed=2), DATASET,
                          rejected_out=tmp_path / "rej2.csv")
    added = int(pd.read_csv(tmp_path / "second.csv")["count"].sum())
    assert summary.status == "imported"
    after = analyses.load_frame(store, DATASET, "ward", "fy")
    assert after is not before
    assert after.periods == ("2021/22", "2022/23", "2023/24") and before.periods == ("2021/22", "2022/23")
    assert int(after.counts["count"].sum()) == int(before.counts["count"].sum()) + added
    new_rates = analyses.rates_table(store, DATASET, "ward", "fy")
    assert len(new_rates) == len(old_rates) // 2 * 3  # 24 wards x 3 years instead of x 2


def test_deleting_the_dataset_is_seen(store):
    analyses.load_frame(store, DATASET, "ward", "fy")
    store.delete_dataset(DATASET)
    with pytest.raises(AtlasError, match="no dataset named 'Cache test'"):
        analyses.load_frame(store, DATASET, "ward", "fy")


def test_adding_population_to_a_user_set_gives_fresh_rates(tmp_path):
    """The store is unchanged, but the population file the frame read is new: the frame must be too."""
    path = tmp_path / "wards.gpkg"
    wards = load_areas("ward", lad_codes=[DARLINGTON])
    wards[["code", "name", "geometry"]].to_file(path, layer="wards")
    register_boundary_set(path, "cache-wards", "ward")
    store = Store()
    import_file(store, _counts_csv(tmp_path / "w.csv", MONTHS, seed=3, level="ward"), "Wards",
                boundary_set="cache-wards", rejected_out=tmp_path / "rej.csv")
    blank = analyses.rates_table(store, "Wards", "ward", "fy")
    assert blank["rate_per_1000"].isna().all()
    pd.DataFrame({"code": wards["code"], "population": 5000}).to_csv(tmp_path / "pop.csv", index=False)
    add_population(tmp_path / "pop.csv", "cache-wards")
    rated = analyses.rates_table(store, "Wards", "ward", "fy")
    assert np.allclose(rated["rate_per_1000"], rated["count"] / 5000 * 1000)


# ---------------------------------------------------------------------------- same results


def test_results_are_identical_with_and_without_the_cache_even_after_callers_mutate_them(store):
    def both() -> tuple[pd.DataFrame, pd.DataFrame]:
        return (analyses.rates_table(store, DATASET, "lsoa", "quarter"),
                analyses.hotspots_table(store, DATASET, "lsoa", "quarter", params=FAST))

    cached_rates, cached_hot = both()
    # Callers scribble on what they were given, including the memoised rates table itself.
    cached_rates.loc[0, "count"] = 10_000
    cached_rates["rate_per_1000"] = -1.0
    cached_hot.drop(columns=["gi_z"], inplace=True)
    raw = analyses._rates(analyses.load_frame(store, DATASET, "lsoa", "quarter"))
    raw.loc[raw.index[:5], "count"] = -7
    raw["whole_area_rate"] = 0.0
    again_rates, again_hot = both()

    analyses.frame_cache.clear()
    fresh_rates, fresh_hot = both()
    uncached = UncachedStore(store)
    plain_rates = analyses.rates_table(uncached, DATASET, "lsoa", "quarter")
    plain_hot = analyses.hotspots_table(uncached, DATASET, "lsoa", "quarter", params=FAST)
    for got in (again_rates, fresh_rates):
        pd.testing.assert_frame_equal(got, plain_rates)
        assert got.attrs == plain_rates.attrs
    for got in (again_hot, fresh_hot):
        pd.testing.assert_frame_equal(got, plain_hot)
        assert got.attrs == plain_hot.attrs
    assert (plain_rates["count"] >= 0).all() and plain_rates["rate_per_1000"].ge(0).all()


def test_services_leave_the_cached_frame_unchanged(store):
    args = (store, DATASET, "ward", "quarter")
    f = analyses.load_frame(*args)
    counts, areas, population = _snapshot(f)
    analyses.rates_table(*args)
    for statistic in analyses.STATISTICS:
        analyses.hotspots_table(*args, statistic=statistic, params=FAST)
    analyses.emerging_table(*args)
    analyses.compare_table(*args, period="2022-Q4", against="2022-Q3", params=FAST)
    analyses.priority_table(*args, params=FAST)
    area_statistics.smoothed_rates_table(*args)
    area_statistics.concentration_table(*args)
    area_statistics.global_moran_table(*args, params=FAST)
    area_statistics.rolling_rates_table(store, DATASET, "ward")
    analyses.seed_rates(store, DATASET, level="ward", n_years=2)
    assert analyses.load_frame(*args) is f
    pd.testing.assert_frame_equal(f.counts, counts)
    pd.testing.assert_frame_equal(f.areas, areas)
    pd.testing.assert_series_equal(f.population, population)
    pd.testing.assert_frame_equal(analyses._rates(f), analyses._compute_rates(f))


# ---------------------------------------------------------------------------- partly covered periods


def _stored(periods_by_grain: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(p, g) for g, ps in periods_by_grain.items() for p in ps]
    return pd.DataFrame(rows, columns=["period", "grain"])


@pytest.mark.parametrize(("stored", "grain", "periods", "expected"), [
    # Data May 2021 .. Feb 2023 in months: the first and last financial years miss a month each.
    ({"month": period_range("2021-05", "2023-02", "month")}, "fy", ["2021/22", "2022/23"], [11, 11]),
    # ... at year grain: 2021 from May (8 months), 2023 only Jan-Feb.
    ({"month": period_range("2021-05", "2023-02", "month")}, "year", ["2021", "2022", "2023"], [8, 12, 2]),
    # Calendar quarters stored (2021-Q2 .. 2022-Q1 = Apr 2021 .. Mar 2022) viewed by financial quarter: whole.
    ({"quarter": ["2021-Q2", "2021-Q4", "2022-Q1"]}, "fyquarter", period_range("2021/22-Q1", "2021/22-Q4", "fyquarter"),
     [3, 3, 3, 3]),
    # Mixed stored grains: the span runs from the earliest month of any grain to the latest of any.
    ({"month": ["2021-06"], "quarter": ["2021-Q4"]}, "quarter", ["2021-Q2", "2021-Q3", "2021-Q4"], [1, 3, 3]),
    # Data inside one month of a quarter; the range can reach periods the data does not touch.
    ({"month": ["2022-02"]}, "quarter", ["2021-Q4", "2022-Q1", "2022-Q2"], [0, 1, 0]),
    # Unknown stored grains are ignored; with none left every period counts as whole.
    ({"week": ["2022-W01"]}, "fy", ["2021/22", "2022/23"], [12, 12]),
])
def test_months_covered_known_answers(stored, grain, periods, expected):
    assert analyses._months_covered(_stored(stored), periods, grain) == expected


def test_partial_first_and_last_periods_are_noted_with_their_months(tmp_path):
    store = Store()
    import_file(store, _counts_csv(tmp_path / "p.csv", period_range("2021-06", "2023-01", "month"), seed=4),
                DATASET, rejected_out=tmp_path / "rej.csv")
    f = analyses.load_frame(store, DATASET, "ward", "fyquarter")
    assert f.periods[0] == "2021/22-Q1" and f.periods[-1] == "2022/23-Q4"
    assert f.months_covered[0] == 1 and f.months_covered[-1] == 1 and set(f.months_covered[1:-1]) == {3}
    assert sorted(n for n in f.notes if "partly covered" in n) == [
        "period 2021/22-Q1 is only partly covered by the data (1 of 3 months)",
        "period 2022/23-Q4 is only partly covered by the data (1 of 3 months)",
    ]


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(2018 * 12, 2022 * 12), length=st.integers(1, 40),
    coarse=st.sampled_from(["quarter", "fy", "year"]), coarse_at=st.integers(-24, 60),
    grain=st.sampled_from(["month", "quarter", "fyquarter", "fy", "year"]),
)
def test_months_covered_equals_counting_months_one_by_one(first, length, coarse, coarse_at, grain):
    """Property: the vectorised count equals listing each period's months and keeping those in the data's span."""
    months = labels_from_month_index(np.arange(first, first + length), "month").tolist()
    extra = labels_from_month_index(np.array([first + coarse_at]), coarse).tolist()
    stored = _stored({"month": months, coarse: extra})
    span_lo = min(first, int(first_month_index(extra, coarse)[0]))
    span_hi = max(first + length - 1, int(first_month_index(extra, coarse)[0]) + months_per_period(coarse) - 1)
    lo_label = labels_from_month_index(np.array([span_lo]), grain).iloc[0]
    hi_label = labels_from_month_index(np.array([span_hi]), grain).iloc[0]
    periods = period_range(lo_label, hi_label, grain)
    expected = [sum(span_lo <= m <= span_hi for m in first_month_index(months_in(p, grain), "month")) for p in periods]
    assert analyses._months_covered(stored, periods, grain) == expected
