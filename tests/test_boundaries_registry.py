"""Registry of boundary sets: shipped metadata, registering user files, population for user sets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from boundaries.hierarchy import lsoa_lookup, parent_map, set_localities
from boundaries.load import load_areas
from boundaries.population import POPULATION_COLUMNS, add_population, imd_table, population_table
from boundaries.registry import (
    DEFAULT_SET,
    BoundarySet,
    get_boundary_set,
    list_boundary_sets,
    register_boundary_set,
    remove_boundary_set,
)
from geo.schema import WGS84, AtlasError, BoundaryError, InputError

DARLINGTON = "E06000005"


@pytest.fixture
def darlington_geojson(tmp_path: Path) -> Path:
    """Darlington's 24 shipped wards as a WGS84 GeoJSON with ONS column names."""
    w = load_areas("ward", lad_codes=[DARLINGTON])
    w = w.rename(columns={"code": "WD13CD", "name": "WD13NM", "lad_code": "LAD13CD", "lad_name": "LAD13NM"})
    path = tmp_path / "darlington_wards.geojson"
    w.to_crs(WGS84).to_file(path)
    return path


@pytest.fixture
def darlington(darlington_geojson: Path) -> BoundarySet:
    bs, _ = register_boundary_set(darlington_geojson, "darlington-wards", "ward", vintage="WD13")
    return bs


def _population_csv(path: Path, codes: list[str], values: list[object] | None = None) -> Path:
    values = values if values is not None else [1000 + i for i in range(len(codes))]
    pd.DataFrame({"code": codes, "population": values}).to_csv(path, index=False)
    return path


def test_shipped_set_records_levels_vintage_and_source():
    bs = get_boundary_set(DEFAULT_SET)
    assert bs.shipped and bs.path.is_file()
    assert bs.levels == ("lsoa", "msoa", "ward", "locality", "lad")
    assert [(i.level, i.n_areas) for i in bs.level_info if i.n_areas] == [("lsoa", 904), ("msoa", 193), ("ward", 191), ("lad", 7)]
    assert "WD13" in bs.level("ward").vintage and "December 2013" in bs.level("ward").vintage
    assert bs.level("lsoa").vintage == "LSOA 2011"
    assert "example localities, not an official geography" in bs.source
    assert "martinjc/UK-GeoJSON" in bs.source
    assert [s.name for s in list_boundary_sets()] == [DEFAULT_SET]
    hash(bs)  # usable as a cache key


def test_register_round_trip(darlington_geojson, atlas_home):
    bs, report = register_boundary_set(darlington_geojson, "darlington-wards", "ward", vintage="WD13")
    assert report.reprojected_from == "EPSG:4326" and report.n_features == 24
    assert (bs.name, bs.levels, bs.shipped, bs.vintage) == ("darlington-wards", ("ward",), False, "WD13")
    assert bs.path == atlas_home / "boundaries" / "darlington-wards.parquet" and bs.path.is_file()
    registry = json.loads((atlas_home / "boundaries" / "registry.json").read_text())
    assert registry["sets"]["darlington-wards"]["code_col"] == "WD13CD"
    assert [s.name for s in list_boundary_sets()] == [DEFAULT_SET, "darlington-wards"]
    assert get_boundary_set("darlington-wards") == bs

    got = load_areas("ward", "darlington-wards")
    shipped = load_areas("ward", lad_codes=[DARLINGTON])
    assert got["code"].tolist() == shipped["code"].tolist()
    assert got["name"].tolist() == shipped["name"].tolist()
    assert set(got["lad_code"]) == {DARLINGTON}  # LAD13CD carried over
    np.testing.assert_allclose(got.area.to_numpy(), shipped.area.to_numpy(), rtol=1e-6)
    assert len(load_areas("ward", "darlington-wards", lad_codes=[DARLINGTON])) == 24


def test_user_set_has_only_its_level(darlington):
    pm = parent_map("ward", "ward", darlington)
    assert len(pm) == 24 and (pm.index == pm.to_numpy()).all()
    with pytest.raises(AtlasError, match=r"'darlington-wards' \(user-registered\) has no 'lad' level; it has: ward"):
        parent_map("ward", "lad", darlington)
    with pytest.raises(AtlasError, match="holds only the level it was registered with"):
        load_areas("lsoa", "darlington-wards")
    with pytest.raises(AtlasError, match="no 'lsoa' level"):
        lsoa_lookup("darlington-wards")
    with pytest.raises(AtlasError, match="no 'locality' level"):
        set_localities("darlington-wards", "unused.csv")
    assert imd_table("darlington-wards").empty


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "has space", ".hidden", "-dash", "x" * 65, "naïve"])
def test_unsafe_names_are_refused(darlington_geojson, atlas_home, name):
    with pytest.raises(BoundaryError, match="invalid boundary set name"):
        register_boundary_set(darlington_geojson, name, "ward")
    assert not (atlas_home / "boundaries").exists()
    assert not (atlas_home.parent / "evil.parquet").exists()


def test_shipped_name_cannot_be_overwritten_or_removed(darlington_geojson):
    with pytest.raises(BoundaryError, match="shipped boundary set and cannot be overwritten"):
        register_boundary_set(darlington_geojson, DEFAULT_SET, "ward")
    with pytest.raises(BoundaryError, match="cannot be removed"):
        remove_boundary_set(DEFAULT_SET)


def test_unknown_level_and_set_are_refused(darlington_geojson):
    with pytest.raises(BoundaryError, match="unknown level 'parish'"):
        register_boundary_set(darlington_geojson, "x", "parish")
    with pytest.raises(BoundaryError, match=rf"unknown boundary set 'nope'; known sets: {DEFAULT_SET}"):
        get_boundary_set("nope")


def test_re_registering_needs_replace_and_drops_stale_population(darlington, darlington_geojson, tmp_path, atlas_home):
    codes = load_areas("ward", darlington)["code"].tolist()
    add_population(_population_csv(tmp_path / "pop.csv", codes), darlington)
    with pytest.raises(BoundaryError, match="already registered"):
        register_boundary_set(darlington_geojson, "darlington-wards", "ward")
    _, report = register_boundary_set(darlington_geojson, "darlington-wards", "ward", replace=True)
    assert any("darlington-wards.population.csv" in n for n in report.notes)
    assert population_table("ward", "darlington-wards").empty


def test_remove_deletes_files_and_entry(darlington, atlas_home):
    remove_boundary_set("darlington-wards")
    assert not darlington.path.exists()
    assert [s.name for s in list_boundary_sets()] == [DEFAULT_SET]
    with pytest.raises(BoundaryError, match="unknown boundary set 'darlington-wards'"):
        load_areas("ward", "darlington-wards")


def test_user_population_round_trip(darlington, tmp_path, atlas_home):
    assert population_table("ward", darlington).empty  # no population yet: callers report rates unavailable
    codes = load_areas("ward", darlington)["code"].tolist()
    path = tmp_path / "pop.csv"
    pd.DataFrame({"code": [c.lower() for c in codes], "population": range(100, 124), "population_16_plus": range(80, 104)}).to_csv(path, index=False)
    table = add_population(path, darlington)
    assert (atlas_home / "boundaries" / "darlington-wards.population.csv").is_file()
    assert list(table.columns) == ["code", *POPULATION_COLUMNS]
    assert table["code"].tolist() == codes
    assert table["population_total"].tolist() == list(range(100, 124))
    assert table["population_total"].dtype == "int64"
    assert table["population_18_plus"].isna().all()  # not supplied


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda df: df.assign(code=df["code"].where(df.index != 3, "E05999999")), r"codes not in boundary set 'darlington-wards': E05999999 \(data rows 4\)"),
        (lambda df: df.assign(population=df["population"].where(df.index != 5, -1)), r"population_total is negative in data rows 6"),
        (lambda df: df.assign(population=df["population"].astype(str).where(df.index != 0, "")), r"population_total is missing or not a number in data rows 1"),
        (lambda df: df.iloc[1:], r"no population for 1 areas of 'darlington-wards'"),
        (lambda df: pd.concat([df, df.iloc[[0]]]), r"codes listed more than once"),
        (lambda df: df.rename(columns={"population": "people"}), r"no population column"),
    ],
)
def test_bad_population_files_name_the_problem(darlington, tmp_path, edit, message):
    codes = load_areas("ward", darlington)["code"].tolist()
    df = pd.DataFrame({"code": codes, "population": [1000] * len(codes)})
    path = tmp_path / "bad_pop.csv"
    edit(df).to_csv(path, index=False)
    with pytest.raises(InputError, match=rf"bad_pop\.csv: {message}"):
        add_population(path, darlington)
    assert population_table("ward", darlington).empty


def test_shipped_population_cannot_be_replaced(tmp_path):
    with pytest.raises(AtlasError, match="shipped with ONS mid-2019 population"):
        add_population(_population_csv(tmp_path / "p.csv", ["E01011949"]), DEFAULT_SET)


def test_national_lsoa_set_registers_and_loads(shared_data, atlas_home):
    start = time.perf_counter()
    bs, report = register_boundary_set(shared_data / "boundaries" / "england_lsoa_2011.parquet", "england-lsoa", "lsoa", vintage="LSOA 2011")
    areas = load_areas("lsoa", "england-lsoa")
    elapsed = time.perf_counter() - start
    assert report.n_features == 32_844 and len(areas) == 32_844
    assert (report.code_col, report.name_col, report.reprojected_from) == ("code", "name", None)
    assert areas["code"].is_unique and areas.is_valid.all()
    durham = load_areas("lsoa", "england-lsoa", lad_codes=["E06000047"])
    assert durham["code"].tolist() == load_areas("lsoa", lad_codes=["E06000047"])["code"].tolist()
    lookup = lsoa_lookup(bs)
    assert len(lookup) == 32_844 and lookup["msoa_code"].isna().all()
    assert len(imd_table(bs)) == 904  # the shipped IMD file covers the 7 study authorities
    assert elapsed < 15, f"national registration took {elapsed:.1f} s; mark the test slow"


def test_registered_set_survives_a_fresh_process_view(darlington, atlas_home):
    """The registry lives on disk: reading it back gives an equal BoundarySet."""
    entry = json.loads((atlas_home / "boundaries" / "registry.json").read_text())["sets"]["darlington-wards"]
    assert entry["stored"] == "darlington-wards.parquet" and entry["n_features"] == 24
    assert gpd.read_parquet(darlington.path).crs.to_epsg() == 27700
