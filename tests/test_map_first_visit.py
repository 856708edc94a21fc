"""What a first Map explorer visit computes is what it computed before (views/_cache): one period's rates
table equals that period's rows of the whole table, and the class breaks of count and rate taken from the
analysis frame in one pass equal those of every period's values of the rates table, for every scheme."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.classify import SCHEMES, classify

LEVELS_GRAINS = [("lsoa", "month", None, "total"), ("ward", "quarter", "E06000047", "16plus"),
                 ("msoa", "fy", None, "total")]


@pytest.fixture
def store_key(demo_store: Path, atlas_home: Path):
    shutil.copy(demo_store, atlas_home / "atlas.duckdb")
    from views import _cache

    for f in (_cache._shared_rates, _cache._period_table, _cache.rates, _cache.map_classes, _cache.measure_values):
        f.clear()
    return _cache.store_key()


def _selection(demo_dataset, level, grain, area, denominator):
    from views._frame import Selection

    name, bset = demo_dataset
    return Selection(name, bset, level, grain, area, denominator, None)


@pytest.mark.parametrize("level, grain, area, denominator", LEVELS_GRAINS)
def test_one_period_table_equals_that_periods_rows_of_the_whole_table(store_key, demo_dataset, level, grain, area,
                                                                      denominator):
    from views import _cache

    sel = _selection(demo_dataset, level, grain, area, denominator)
    whole = _cache.rates(store_key, sel)
    for period in pd.unique(whole["period"])[[0, -1]]:
        one = _cache.period_rates(store_key, sel, period)
        pd.testing.assert_frame_equal(one, whole[whole["period"] == period].reset_index(drop=True), check_exact=True)
        assert one.attrs == whole.attrs


@pytest.mark.parametrize("level, grain, area, denominator", LEVELS_GRAINS)
@pytest.mark.parametrize("measure", ["count", "rate"])
def test_class_breaks_from_the_frame_equal_those_of_every_periods_rates(store_key, demo_dataset, level, grain, area,
                                                                         denominator, measure):
    from views import _cache

    sel = _selection(demo_dataset, level, grain, area, denominator)
    reference = _cache._measure_values(store_key, sel, measure, "")[_cache.VALUE]
    fast = _cache._all_period_values(store_key, sel, measure)
    pd.testing.assert_series_equal(fast, reference.rename(_cache.VALUE), check_exact=True, check_dtype=True)
    for scheme in SCHEMES:
        for k in (3, 5, 7):
            breaks = (5.0, 10.0) if scheme == "fixed" else None
            assert _cache.map_classes(store_key, sel, measure, scheme, k, breaks) == classify(reference, scheme, k, breaks)


def test_rates_without_population_give_the_same_breaks(store_key, demo_dataset, monkeypatch):
    """No population: every rate is missing, in both paths."""
    from atlas import analyses
    from views import _cache

    sel = _selection(demo_dataset, "lsoa", "month", None, "total")
    real = analyses.load_frame

    def without_population(*args, **kwargs):
        import dataclasses

        return dataclasses.replace(real(*args, **kwargs), population=None)

    monkeypatch.setattr(analyses, "load_frame", without_population)
    fast = _cache._all_period_values(store_key, sel, "rate")
    assert fast.isna().all() and len(fast) > 0
    assert np.isnan(fast.to_numpy()).all()


@pytest.mark.parametrize("level, grain, area, denominator", LEVELS_GRAINS)
def test_the_outlines_cover_the_areas_of_the_rates_table(store_key, demo_dataset, level, grain, area, denominator):
    from views import _cache

    sel = _selection(demo_dataset, level, grain, area, denominator)
    codes = _cache.rates(store_key, sel)["area_code"].unique()
    assert list(_cache._selection_codes(store_key, sel)) == list(codes)
    _cache.selection_areas.clear()
    assert list(_cache.selection_areas(store_key, sel)["code"].astype(str)) == sorted(
        codes, key=list(_cache.areas(level, sel.boundary_set)["code"].astype(str)).index)


@pytest.mark.parametrize("level, grain", [("lsoa", "month"), ("ward", "fy"), ("lad", "quarter")])
def test_the_area_filter_offers_the_authorities_with_incidents_in_the_order_of_their_areas(store_key, demo_dataset,
                                                                                          level, grain):
    """lad_options from the frame: the authorities of the areas with a positive count in the stored rows, as the
    unfiltered analysis keeps them (checked here from the tidy stored counts and the boundary table)."""
    from analysis.periods import can_convert
    from boundaries.hierarchy import parent_map
    from boundaries.load import load_area_table
    from store import Store
    from views import _cache

    name, bset = demo_dataset
    stored = Store(store_key[0]).counts(name)
    stored = stored[stored["count"] > 0]
    assert stored["grain"].map(lambda g: can_convert(g, grain)).all()
    table = load_area_table(level, bset)
    codes = stored[stored["level"] == "lsoa"]["area_code"].astype(str)
    if level != "lsoa":
        codes = codes.map(parent_map("lsoa", level, bset))
    lads_with_incidents = set(table.loc[table["code"].isin(set(codes)), "lad_code"])
    expected = table[table["lad_code"].isin(lads_with_incidents)].drop_duplicates("lad_code")
    _cache.lad_options.clear()
    got = _cache.lad_options(store_key, name, bset, level, grain)
    assert list(got.items()) == list(zip(expected["lad_code"], expected["lad_name"]))
    assert set(got) == {"E06000047", "E06000005"}  # County Durham and Darlington: the demo's two authorities
