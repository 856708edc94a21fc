"""Display outlines cached on disk (geo.display_cache, $ATLAS_HOME/cache/display): read back equal to the built
ones (table with dtypes, outlines text, bounds, key); the map's outlines for a user boundary set come from
it in a new process; a replaced boundary file, other areas or another builder get new outlines; a broken
file is rebuilt, never trusted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from atlas.importing import import_file
from boundaries.load import load_areas
from boundaries.registry import DEFAULT_SET, get_boundary_set, register_boundary_set
from geo import display_cache
from geo.display_areas import DisplayAreas, display_areas
from store import Store

LADS = ["E06000001", "E06000005"]  # Hartlepool, Darlington
SET = "mine"
DATASET = "outline cache"


def _same(a: DisplayAreas, b: DisplayAreas) -> None:
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    assert list(a.table.dtypes) == list(b.table.dtypes)
    assert a.outlines == b.outlines and a.bounds == b.bounds and a.key == b.key


def _files() -> list:
    d = display_cache.cache_dir()
    return sorted(d.glob("*.npz")) if d.exists() else []


@pytest.fixture
def user_set(register_lsoa_set):
    return register_lsoa_set(SET, LADS)[0]


def _key(codes, tolerance=None):
    bs = get_boundary_set(SET)
    return display_cache.cache_key((repr(bs), display_cache.file_version(bs.path)), "lsoa", codes, tolerance)


def test_saved_outlines_load_equal_to_the_built_ones(user_set):
    built = display_areas(load_areas("lsoa", SET))
    key = _key(list(built.table["code"]))
    assert display_cache.cached(key, lambda: built) is built
    assert len(_files()) == 1
    read = display_cache.cached(key, lambda: pytest.fail("rebuilt instead of read from disk"))
    assert read is not built
    _same(read, built)


def test_a_broken_or_foreign_file_is_rebuilt_not_trusted(user_set):
    built = display_areas(load_areas("lsoa", SET))
    key = _key(list(built.table["code"]))
    path = display_cache.cache_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an npz")
    assert display_cache.cached(key, lambda: built) is built
    _same(display_cache.load(path, key), built)
    other = _key(list(built.table["code"])[:-1])
    assert display_cache.load(path, other) is None  # written for another key: not used


def test_replacing_the_boundary_file_or_other_areas_or_builder_give_new_outlines(user_set, monkeypatch):
    areas = load_areas("lsoa", SET)
    codes = list(areas["code"].astype(str))
    first = _key(codes)
    assert _key(codes[:-1]) != first and _key(codes[::-1]) != first and _key(codes, 50.0) != first
    moved = areas.copy()
    moved.geometry = moved.geometry.translate(500, 0)  # same codes, other outlines
    moved[["code", "name", "lad_code", "lad_name", "geometry"]].to_file(user_set, layer="lsoa", mode="w")
    register_boundary_set(user_set, SET, "lsoa", replace=True)
    assert _key(codes) != first
    display_cache._builder_digest.cache_clear()
    before = _key(codes)
    monkeypatch.setattr(display_cache, "_builder_digest", lambda: "another builder")
    assert _key(codes) != before


def test_the_map_outlines_of_a_user_set_come_from_the_disk_cache_and_follow_the_file(tmp_path, user_set, monkeypatch):
    """views/_cache.display_areas: built and written once, then read (a new process: caches cleared); a
    replaced boundary file gives outlines of the new file."""
    from views import _cache
    from views._frame import Selection

    codes = load_areas("lsoa", SET)["code"].astype(str).to_numpy()
    rng = np.random.default_rng(1)
    pd.DataFrame({"area_code": np.repeat(codes, 2), "period": np.tile(["2023-01", "2023-02"], len(codes)),
                  "count": rng.poisson(2.0, 2 * len(codes))}).to_csv(tmp_path / "counts.csv", index=False)
    import_file(Store(), tmp_path / "counts.csv", DATASET, boundary_set=SET, rejected_out=tmp_path / "rej.csv")
    sel = Selection(DATASET, SET, "lsoa", "month", None, "total", None)

    def fresh() -> DisplayAreas:
        _cache.display_areas.clear()
        _cache.selection_areas.clear()
        _cache.areas.clear()
        return _cache.display_areas(_cache.store_key(), sel)

    built = fresh()
    _same(built, display_areas(_cache.selection_areas(_cache.store_key(), sel)))
    assert len(_files()) == 1
    with monkeypatch.context() as m:
        m.setattr("geo.display_areas.display_areas", lambda *a, **k: pytest.fail("rebuilt"))
        _same(fresh(), built)

    moved = load_areas("lsoa", SET)
    moved.geometry = moved.geometry.translate(800, 0)
    moved[["code", "name", "lad_code", "lad_name", "geometry"]].to_file(user_set, layer="lsoa", mode="w")
    register_boundary_set(user_set, SET, "lsoa", replace=True)
    again = fresh()
    assert again.outlines != built.outlines and again.bounds != built.bounds
    _same(again, display_areas(_cache.selection_areas(_cache.store_key(), sel)))
    assert len(_files()) == 2


def _simplify_checking_the_whole_set_first(areas, tolerance_m):
    """simplify_for_display as it was before the neighbouring-pair probe (the reference)."""
    import geopandas as gpd
    import shapely

    from geo.schema import BNG, LAD_CODE

    out = areas.to_crs(BNG) if not areas.crs.equals(BNG) else areas.copy()
    geoms = out.geometry.to_numpy()
    if shapely.coverage_is_valid(geoms):
        groups = [np.arange(len(out))]
    elif LAD_CODE in out.columns:
        groups = list(pd.Series(np.arange(len(out))).groupby(out[LAD_CODE].to_numpy()).indices.values())
    else:
        groups = [np.arange(len(out))]
    simplified = geoms.copy()
    for idx in groups:
        part = geoms[idx]
        simplified[idx] = (shapely.coverage_simplify(part, tolerance_m) if shapely.coverage_is_valid(part)
                           else shapely.simplify(part, tolerance_m, preserve_topology=True))
    out.geometry = gpd.GeoSeries(simplified, index=out.index, crs=BNG)
    return out


@pytest.mark.parametrize("level, lads", [("lsoa", None), ("lsoa", LADS), ("ward", None), ("msoa", None)])
def test_the_pair_probe_simplifies_exactly_as_checking_the_whole_set(level, lads):
    """LSOAs are one coverage per LAD only (the probe proves the whole set is not); wards are one coverage."""
    import shapely

    from geo.display_areas import _some_pair_not_a_coverage, simplify_for_display

    areas = load_areas(level, DEFAULT_SET, lad_codes=lads)
    new, old = simplify_for_display(areas, 40.0), _simplify_checking_the_whole_set_first(areas, 40.0)
    assert bool(shapely.equals_exact(new.geometry.to_numpy(), old.geometry.to_numpy(), tolerance=0).all())
    groups = list(pd.Series(np.arange(len(areas))).groupby(areas["lad_code"].to_numpy()).indices.values())
    if bool(shapely.coverage_is_valid(areas.geometry.to_numpy())):
        assert not _some_pair_not_a_coverage(areas.geometry.to_numpy(), groups)
