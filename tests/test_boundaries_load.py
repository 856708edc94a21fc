"""Reading user boundary files (formats, column detection, CRS, geometry checks) and loading shipped levels."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from libpysal.graph import Graph
from shapely.geometry import Point, Polygon, box

from boundaries.load import AREA_COLUMNS, load_areas, read_boundary_file
from boundaries.validate import detect_columns
from geo.schema import BNG, WGS84, AtlasError, BoundaryError

DURHAM = "E06000047"
DARLINGTON = "E06000005"


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    """The shipped wards with ONS-style source column names, as a user would download them."""
    w = load_areas("ward")
    return w.rename(columns={"code": "WD13CD", "name": "WD13NM", "lad_code": "LAD13CD", "lad_name": "LAD13NM"})


def _write_shapefile_zip(gdf: gpd.GeoDataFrame, folder: Path, parts: tuple[str, ...] = ("shp", "shx", "dbf", "prj")) -> Path:
    """Write a shapefile and zip the chosen sidecar files."""
    shp = folder / "wards.shp"
    gdf.to_file(shp)
    out = folder / "wards.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for ext in parts:
            zf.write(shp.with_suffix(f".{ext}"), f"wards.{ext}")
    return out


def _write_without_crs(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write a file with no CRS (the writer warns about exactly that, which is the point)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if path.suffix == ".parquet":
            gdf.set_crs(None, allow_override=True).to_parquet(path)
        else:
            gdf.set_crs(None, allow_override=True).to_file(path)


def _assert_same_areas(got: gpd.GeoDataFrame, expected: gpd.GeoDataFrame, rtol: float = 1e-9) -> None:
    """Same codes, names, authorities and areas (in EPSG:27700)."""
    exp = expected.sort_values("WD13CD", ignore_index=True)
    assert got.crs == BNG
    assert list(got.columns) == AREA_COLUMNS
    assert got["code"].tolist() == exp["WD13CD"].tolist()
    assert got["name"].tolist() == exp["WD13NM"].tolist()
    assert got["lad_code"].tolist() == exp["LAD13CD"].tolist()
    np.testing.assert_allclose(got.area.to_numpy(), exp.area.to_numpy(), rtol=rtol)


# --- formats round trip -----------------------------------------------------------------------------------------


def test_geojson_round_trip_is_reprojected_from_wgs84(wards, tmp_path):
    path = tmp_path / "wards.geojson"
    wards.to_crs(WGS84).to_file(path)
    got, report = read_boundary_file(path, level="ward")
    _assert_same_areas(got, wards, rtol=1e-6)
    assert report.reprojected_from == "EPSG:4326"
    assert (report.code_col, report.name_col, report.n_features) == ("WD13CD", "WD13NM", 191)
    assert report.repaired_codes == []


def test_geopackage_round_trip_keeps_bng(wards, tmp_path):
    path = tmp_path / "wards.gpkg"
    wards.to_file(path, layer="my_wards")
    got, report = read_boundary_file(path, level="ward")
    _assert_same_areas(got, wards)
    assert report.reprojected_from is None
    assert report.layer == "my_wards"


def test_zipped_shapefile_round_trip(wards, tmp_path):
    path = _write_shapefile_zip(wards, tmp_path)
    got, report = read_boundary_file(path, level="ward")
    _assert_same_areas(got, wards)
    assert report.layer == "wards"
    assert report.reprojected_from is None  # an ESRI .prj for BNG is recognised as EPSG:27700


def test_geoparquet_round_trip(wards, tmp_path):
    path = tmp_path / "wards.parquet"
    wards.to_parquet(path)
    got, _ = read_boundary_file(path, level="ward")
    _assert_same_areas(got, wards)


def test_geopackage_layer_chosen_among_several(wards, tmp_path):
    path = tmp_path / "two.gpkg"
    wards.to_file(path, layer="wards")
    wards.iloc[:5].to_file(path, layer="few")
    got, report = read_boundary_file(path, layer="few", level="ward")
    assert len(got) == 5 and report.layer == "few"


def test_codes_are_stripped_upper_case_strings(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"WD13CD": [" e05000001 ", "E05000002"], "WD13NM": ["A", "B"]},
        geometry=[box(420000, 530000, 421000, 531000), box(421000, 530000, 422000, 531000)],
        crs=BNG,
    )
    path = tmp_path / "w.gpkg"
    gdf.to_file(path)
    got, _ = read_boundary_file(path)
    assert got["code"].tolist() == ["E05000001", "E05000002"]
    assert got["lad_code"].isna().all()


# --- column detection -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "level", "expected"),
    [
        (["WD13CD", "WD13NM", "LAD13CD", "LAD13NM"], "ward", ("WD13CD", "WD13NM", "LAD13CD", "LAD13NM")),
        (["lsoa11cd", "lsoa11nm"], None, ("lsoa11cd", "lsoa11nm", None, None)),
        (["MSOA21CD", "MSOA21NM", "LAD22CD"], "msoa", ("MSOA21CD", "MSOA21NM", "LAD22CD", None)),
        (["LAD19CD", "LAD19NM"], None, ("LAD19CD", "LAD19NM", None, None)),
        (["code", "name", "lad_code"], None, ("code", "name", "lad_code", None)),
    ],
)
def test_code_and_name_columns_are_detected(columns, level, expected):
    cols = detect_columns(columns, "f.gpkg", level=level)
    assert (cols.code, cols.name, cols.lad_code, cols.lad_name) == expected


def test_explicit_columns_win_and_missing_ones_are_named():
    cols = detect_columns(["ID", "LABEL", "WD13CD"], "f.gpkg", code_col="id", name_col="label")
    assert (cols.code, cols.name) == ("ID", "LABEL")
    with pytest.raises(BoundaryError, match=r"code column 'ref' not found; columns seen: ID, LABEL"):
        detect_columns(["ID", "LABEL"], "f.gpkg", code_col="ref")


def test_ambiguous_code_columns_list_the_candidates():
    with pytest.raises(BoundaryError, match=r"several candidates \(WD13CD, LSOA11CD\).*columns seen: WD13CD, LSOA11CD"):
        detect_columns(["WD13CD", "LSOA11CD"], "f.gpkg")


def test_undetectable_code_column_lists_columns_seen(tmp_path):
    gdf = gpd.GeoDataFrame({"id": [1], "label": ["x"]}, geometry=[box(420000, 530000, 421000, 531000)], crs=BNG)
    path = tmp_path / "odd.gpkg"
    gdf.to_file(path)
    with pytest.raises(BoundaryError, match=r"odd\.gpkg: could not find the area code column.*columns seen: id, label"):
        read_boundary_file(path)
    got, report = read_boundary_file(path, code_col="id", name_col="label")
    assert got["code"].tolist() == ["1"] and report.code_col == "id"


# --- errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_missing_crs_is_refused_naming_the_file(wards, tmp_path, suffix):
    path = tmp_path / f"nocrs{suffix}"
    _write_without_crs(wards.iloc[:3], path)
    with pytest.raises(BoundaryError, match=rf"nocrs\{suffix}: no coordinate reference system"):
        read_boundary_file(path, level="ward")


def test_zip_without_prj_is_missing_crs(wards, tmp_path):
    path = _write_shapefile_zip(wards.iloc[:3], tmp_path, parts=("shp", "shx", "dbf"))
    with pytest.raises(BoundaryError, match=r"wards\.zip: wards\.shp has no \.prj file.*CRS"):
        read_boundary_file(path, level="ward")


def test_geojson_with_grid_metres_but_no_crs_is_refused(wards, tmp_path):
    path = tmp_path / "bng.geojson"
    _write_without_crs(wards.iloc[:3], path)  # GeoJSON means WGS84, but these are BNG metres
    with pytest.raises(BoundaryError, match=r"bng\.geojson: .*EPSG:4326.*look projected"):
        read_boundary_file(path, level="ward")


def test_duplicate_codes_are_named(wards, tmp_path):
    dup = wards.iloc[:3].copy()
    dup.loc[dup.index[2], "WD13CD"] = " " + dup["WD13CD"].iloc[0].lower()  # same code after normalising
    path = tmp_path / "dup.gpkg"
    dup.to_file(path)
    with pytest.raises(BoundaryError, match=rf"dup\.gpkg: duplicate codes in WD13CD: {wards['WD13CD'].iloc[0]}"):
        read_boundary_file(path, level="ward")


def test_empty_geometry_is_named(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"code": ["E05000001", "E05000002"], "name": ["A", "B"]},
        geometry=[box(420000, 530000, 421000, 531000), Polygon()],
        crs=BNG,
    )
    path = tmp_path / "empty.parquet"
    gdf.to_parquet(path)
    with pytest.raises(BoundaryError, match=r"empty\.parquet: empty or missing geometry for codes E05000002"):
        read_boundary_file(path)


def test_points_layer_is_refused(tmp_path):
    gdf = gpd.GeoDataFrame({"code": ["P1", "P2"]}, geometry=[Point(420000, 530000), Point(421000, 531000)], crs=BNG)
    path = tmp_path / "points.gpkg"
    gdf.to_file(path)
    with pytest.raises(BoundaryError, match=r"points\.gpkg: areas must be polygons, found Point for codes P1, P2"):
        read_boundary_file(path)


def test_multi_layer_geopackage_without_layer_lists_layers(wards, tmp_path):
    path = tmp_path / "multi.gpkg"
    wards.iloc[:2].to_file(path, layer="wards_2013")
    wards.iloc[:2].to_file(path, layer="wards_2023")
    with pytest.raises(BoundaryError, match=r"multi\.gpkg: holds 2 layers.*wards_2013 \(MultiPolygon\), wards_2023"):
        read_boundary_file(path)
    with pytest.raises(BoundaryError, match=r"no layer 'nope'; layers: wards_2013"):
        read_boundary_file(path, layer="nope")


def test_bowtie_polygon_is_repaired_and_reported(tmp_path):
    x, y = 420000, 530000
    bowtie = Polygon([(x, y), (x + 1000, y + 1000), (x + 1000, y), (x, y + 1000), (x, y)])
    gdf = gpd.GeoDataFrame(
        {"WD13CD": ["E05000001", "E05000002"], "WD13NM": ["Square", "Bowtie"]},
        geometry=[box(x - 2000, y, x - 1000, y + 1000), bowtie],
        crs=BNG,
    )
    path = tmp_path / "bowtie.gpkg"
    gdf.to_file(path)
    got, report = read_boundary_file(path)
    assert report.repaired_codes == ["E05000002"]
    assert any("make_valid" in n for n in report.notes)
    assert got.is_valid.all()
    repaired = got.set_index("code").geometry["E05000002"]
    assert repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(500_000)  # two triangles of a quarter square kilometre each


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "areas.csv").write_text("code\nA\n")
    with pytest.raises(BoundaryError, match=r"areas\.csv: unsupported file type \.csv"):
        read_boundary_file(tmp_path / "areas.csv")
    with pytest.raises(BoundaryError, match="file not found"):
        read_boundary_file(tmp_path / "nope.gpkg")


def test_zip_without_shapefile_lists_members(tmp_path):
    path = tmp_path / "notes.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(BoundaryError, match=r"notes\.zip: the zip holds no \.shp file; it holds readme\.txt"):
        read_boundary_file(path)


# --- shipped levels ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "n"), [("lsoa", 904), ("msoa", 193), ("ward", 191), ("lad", 7), ("locality", 18)])
def test_shipped_level_counts(level, n):
    areas = load_areas(level)
    assert len(areas) == n
    assert list(areas.columns) == AREA_COLUMNS
    assert areas.crs == BNG
    assert areas["code"].is_unique and areas["code"].is_monotonic_increasing
    assert areas.is_valid.all()


def test_county_durham_filter():
    assert len(load_areas("lsoa", lad_codes=[DURHAM])) == 324
    assert len(load_areas("ward", lad_codes=DURHAM)) == 63
    both = load_areas("msoa", lad_codes=[DURHAM, DARLINGTON])
    assert set(both["lad_code"]) == {DURHAM, DARLINGTON} and len(both) == 66 + 15


def test_lads_are_dissolved_lsoas():
    lads = load_areas("lad").set_index("code")
    lsoa = load_areas("lsoa")
    assert lads.loc[DURHAM, "name"] == "County Durham"
    np.testing.assert_allclose(lads.area.sort_index(), lsoa.groupby("lad_code").apply(lambda g: g.area.sum()).sort_index(), rtol=1e-6)


def test_unknown_lad_and_level_are_refused():
    with pytest.raises(AtlasError, match=r"E09999999 are not in ward"):
        load_areas("ward", lad_codes=["E09999999"])
    with pytest.raises(AtlasError, match=r"unknown level 'county'"):
        load_areas("county")


def test_returned_frames_are_copies():
    first = load_areas("ward")
    first.loc[0, "name"] = "changed"
    assert load_areas("ward").loc[0, "name"] != "changed"


def test_exact_contiguity_breaks_at_authority_borders_fuzzy_joins_them():
    """SOURCES.md geometry note: LSOA edges coincide only within a local authority."""
    lsoa = load_areas("lsoa")
    exact = Graph.build_contiguity(lsoa, rook=False)
    assert exact.n_components == 9
    assert len(exact.isolates) == 0
    # Every exact component lies inside a single authority (Stockton and Medway split in two by rivers).
    per_component = pd.crosstab(exact.component_labels.to_numpy(), lsoa["lad_code"].to_numpy())
    assert ((per_component > 0).sum(axis=1) == 1).all()
    # A 5 m buffer bridges the unshared authority borders; the Tees and Medway estuaries stay gaps.
    fuzzy = Graph.build_fuzzy_contiguity(lsoa, buffer=5)
    assert fuzzy.n_components == 4
    assert fuzzy.cardinalities.mean() > exact.cardinalities.mean()
