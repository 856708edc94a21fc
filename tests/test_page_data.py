"""Data page: the upload handlers called directly, and the page itself through AppTest."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from boundaries.registry import DEFAULT_SET, get_boundary_set
from geo.schema import PROJECT_ROOT, WGS84, BoundaryError, InputError, StoreError
from views import _cache
from atlas.uploads import (
    BoundaryOptions,
    ImportOptions,
    boundary_columns,
    boundary_layers,
    handle_boundaries,
    handle_import,
    handle_localities,
    locality_summary,
)
from store import Store

PAGE = str(PROJECT_ROOT / "views" / "data.py")
GPKG = PROJECT_ROOT / "data" / "boundaries" / "north_east_and_medway.gpkg"
DEMO = "Demo: County Durham & Darlington (synthetic)"
# Two good rows (3 + 5 incidents), an unknown area whose code a spreadsheet would run as a formula,
# and a negative count.
COUNTS_CSV = (
    b"area_code,period,count\n"
    b"E01020590,2024-04,3\n"
    b"E01020591,2024-04,5\n"
    b"=cmd|x,2024-04,2\n"
    b"E01020592,2024-04,-1\n"
)


@pytest.fixture
def store(demo_store: Path, atlas_home: Path) -> Store:
    """A private copy of the demo store at this test's ATLAS_STORE."""
    shutil.copy(demo_store, atlas_home / "atlas.duckdb")
    return Store(atlas_home / "atlas.duckdb")


@pytest.fixture
def page(store: Store) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: AppTest, first_column: str) -> pd.DataFrame:
    (df,) = [d.value for d in at.dataframe if d.value.columns[0] == first_column]
    return df


def _metric(at: AppTest, label: str) -> str:
    (m,) = [m for m in at.metric if m.label == label]
    return m.value


# ---------------------------------------------------------------------------------------- handlers


def test_import_reports_rows_reasons_and_escaped_rejected_csv(store: Store, atlas_home: Path):
    done = handle_import(COUNTS_CSV, "my counts.csv", ImportOptions("My counts", boundary_set=DEFAULT_SET))
    s, r = done.summary, done.summary.report
    assert (s.status, s.rows_added) == ("imported", 2)
    assert r.file_name == "my counts.csv" and r.kind == "counts"  # the user's name, not the temp file's
    assert (r.rows_read, r.rows_accepted, r.rows_rejected) == (4, 2, 2)
    assert sum(r.reasons.values()) == 2
    rejected = pd.read_csv(io.BytesIO(done.rejected_csv), dtype=str)
    assert rejected["row_number"].tolist() == ["3", "4"]
    assert rejected["area_code"].tolist() == ["'=cmd|x", "E01020592"]  # formula cell escaped
    assert not (atlas_home / "rejected").exists()  # the original rows are handed back, not kept
    row = store.dataset("My counts")
    assert (row["total_count"], row["synthetic"], row["boundary_set"]) == (8, False, DEFAULT_SET)
    log = store.import_log("My counts")
    assert log["file_name"].tolist() == ["my counts.csv"]

    again = handle_import(COUNTS_CSV, "my counts.csv", ImportOptions("My counts"))
    assert (again.summary.status, again.summary.rows_added) == ("already imported", 0)
    assert store.dataset("My counts")["total_count"] == 8


def test_import_errors_name_the_users_file(store: Store):
    with pytest.raises(InputError, match=r"^odd\.csv: .*no recognisable columns"):
        handle_import(b"foo,bar\n1,2\n", "odd.csv", ImportOptions("New"))
    with pytest.raises(StoreError, match="contains"):
        handle_import(COUNTS_CSV, "c.csv", ImportOptions("bad/name"))
    assert store.datasets()["name"].tolist() == [DEMO]


def test_store_key_changes_on_import_and_delete(store: Store):
    k0 = _cache.store_key()
    handle_import(COUNTS_CSV, "c.csv", ImportOptions("Mine"))
    k1 = _cache.store_key()
    store.delete_dataset("Mine")
    k2 = _cache.store_key()
    assert k0[0] == k1[0] == k2[0] == str(store.path.resolve())
    assert len({k0[1], k1[1], k2[1]}) == 3  # every write gives the cached tables a new key


def _wards_upload(tmp_path: Path, suffix: str, columns: dict[str, str]) -> bytes:
    wards = gpd.read_file(GPKG, layer="wards")
    wards = wards[wards["lad_code"] == "E06000005"].rename(columns=columns).to_crs(WGS84)  # Darlington
    path = tmp_path / f"w{suffix}"
    wards.to_file(path)
    return path.read_bytes()


def test_register_boundaries_reprojects_and_reports(tmp_path: Path):
    data = _wards_upload(tmp_path, ".geojson", {"code": "WD13CD", "name": "WD13NM"})
    bs, report = handle_boundaries(data, "darlington wards.geojson", BoundaryOptions("darlo", "ward", vintage="WD13"))
    assert (bs.name, bs.levels, bs.vintage) == ("darlo", ("ward",), "WD13")
    assert report.n_features == 24 and report.file == "darlington wards.geojson"
    assert (report.code_col, report.name_col) == ("WD13CD", "WD13NM")
    assert report.reprojected_from is not None and "4326" in report.reprojected_from
    assert get_boundary_set("darlo").level("ward").n_areas == 24


def test_code_column_choice_when_detection_fails(tmp_path: Path):
    data = _wards_upload(tmp_path, ".geojson", {"code": "ref", "name": "label"})
    assert {"ref", "label"} <= set(boundary_columns(data, "odd.geojson", None))
    with pytest.raises(BoundaryError, match=r"odd\.geojson: could not find the ward code column"):
        handle_boundaries(data, "odd.geojson", BoundaryOptions("odd", "ward"))
    _, report = handle_boundaries(data, "odd.geojson", BoundaryOptions("odd", "ward", code_col="ref", name_col="label"))
    assert (report.n_features, report.code_col, report.name_col) == (24, "ref", "label")


def test_geopackage_layers_are_listed_and_one_is_chosen():
    data = GPKG.read_bytes()
    assert set(boundary_layers(data, "ne.gpkg")) == {"wards", "lsoa", "msoa"}
    assert boundary_layers(data, "ne.geojson") == []
    with pytest.raises(BoundaryError, match="ne.gpkg: holds 3 layers"):
        handle_boundaries(data, "ne.gpkg", BoundaryOptions("ne", "msoa"))
    _, report = handle_boundaries(data, "ne.gpkg", BoundaryOptions("ne", "msoa", layer="msoa"))
    assert (report.layer, report.n_features) == ("msoa", 193)


def test_localities_upload_counts_wards_and_reset():
    example = locality_summary(DEFAULT_SET)
    durham = example[example["Local authority"] == "County Durham"]
    assert (len(durham), durham["Wards"].sum()) == (12, 63)
    csv = b"ward_code,locality\nE05009068,North Patch\nE05009046,North Patch\nE05009038,Other Patch\n"
    got = handle_localities(csv, "patches.csv", DEFAULT_SET)
    wards = dict(zip(got["Locality"], got["Wards"]))
    assert (wards["North Patch"], wards["Other Patch"]) == (2, 1)
    assert wards["County Durham"] == 60  # unlisted wards form one locality per authority
    with pytest.raises(InputError, match=r"^bad\.csv: unknown ward codes"):
        handle_localities(b"ward_code,locality\nE99999999,X\n", "bad.csv", DEFAULT_SET)
    from boundaries.hierarchy import reset_localities

    reset_localities(DEFAULT_SET)
    pd.testing.assert_frame_equal(locality_summary(DEFAULT_SET), example)


# -------------------------------------------------------------------------------------------- page


def test_page_lists_demo_dataset_as_synthetic(page: AppTest, store: Store):
    table = _table(page, "Dataset")
    assert table["Dataset"].tolist() == [DEMO]
    assert table["Synthetic"].tolist() == [True]
    assert table["Incidents"].iloc[0] == store.dataset(DEMO)["total_count"] > 0
    assert _table(page, "import_id")["dataset"].tolist() == [DEMO]
    assert any("synthetic demo data" in c.value for c in page.caption)


def test_page_import_through_uploader_shows_report_and_download(page: AppTest, store: Store):
    page.file_uploader(key="data_upload").set_value(("my counts.csv", COUNTS_CSV, "text/csv"))
    page.radio(key="data_target_mode").set_value("New dataset")
    page.run()
    page.text_input(key="data_new_name").set_value("Uploaded")
    page.button(key="data_import").click()
    page.run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert store.dataset("Uploaded")["total_count"] == 8
    assert (_metric(page, "Rows read"), _metric(page, "Rows accepted"), _metric(page, "Rows rejected")) == ("4", "2", "2")
    assert _table(page, "Reason")["Rows"].sum() == 2
    assert page.get("download_button")[0].proto.label.startswith("Download the 2 rejected rows")
    assert "Uploaded" in _table(page, "Dataset")["Dataset"].tolist()  # the list reflects the new store


def test_page_import_error_is_shown_naming_the_file(page: AppTest):
    page.file_uploader(key="data_upload").set_value(("odd.csv", b"foo,bar\n1,2\n", "text/csv"))
    page.run()
    page.button(key="data_import").click()
    page.run()
    assert not page.exception
    assert any(e.value.startswith("odd.csv: ") for e in page.error)


def test_page_delete_needs_confirmation(page: AppTest, store: Store):
    handle_import(COUNTS_CSV, "c.csv", ImportOptions("Spare"))
    page.run()
    page.selectbox(key="data_delete_target").set_value("Spare")
    page.button(key="data_delete").click()
    page.run()
    assert any("Spare" in w.value and "cannot be undone" in w.value for w in page.warning)
    assert "Spare" in store.datasets()["name"].tolist()  # nothing deleted yet

    page.button(key="data_delete_cancel").click()
    page.run()
    assert "Spare" in store.datasets()["name"].tolist()
    assert not any("cannot be undone" in w.value for w in page.warning)

    page.button(key="data_delete").click()
    page.run()
    page.button(key="data_delete_confirm").click()
    page.run()
    assert not page.exception
    assert store.datasets()["name"].tolist() == [DEMO]
    assert _table(page, "Dataset")["Dataset"].tolist() == [DEMO]
    assert any("Deleted dataset 'Spare'" in s.value for s in page.success)


def test_data_page_through_the_app_router(store: Store):
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.header] == ["Data"]
    assert _table(at, "Dataset")["Dataset"].tolist() == [DEMO]


def test_page_registers_a_geopackage_layer(page: AppTest):
    page.file_uploader(key="data_boundary_upload").set_value(("ne.gpkg", GPKG.read_bytes(), "application/geopackage+sqlite3"))
    page.run()
    assert set(page.selectbox(key="data_boundary_layer").options) == {"wards", "lsoa", "msoa"}
    page.selectbox(key="data_boundary_layer").set_value("msoa")
    page.selectbox(key="data_boundary_level").set_value("msoa")
    page.text_input(key="data_boundary_name").set_value("my-msoa")
    page.button(key="data_boundary_register").click()
    page.run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert any("Registered **my-msoa** (msoa): 193 areas from ne.gpkg, layer msoa" in s.value for s in page.success)
    assert get_boundary_set("my-msoa").levels == ("msoa",)


def _set_localities(page: AppTest, upload: tuple[str, bytes, str]) -> None:
    """Upload a localities file on the Data page and press "set"; the page must show no error."""
    page.file_uploader(key="data_localities_upload").set_value(upload)
    page.run()
    page.button(key="data_localities_set_btn").click()
    page.run()
    assert not page.exception and not page.error, [e.value for e in page.error]


def test_page_localities_upload_and_reset(page: AppTest):
    csv = b"ward_code,locality\nE05009068,North Patch\nE05009046,North Patch\n"
    _set_localities(page, ("patches.csv", csv, "text/csv"))
    wards = dict(zip(*_table(page, "Locality")[["Locality", "Wards"]].T.values))
    assert (wards["North Patch"], wards["County Durham"]) == (2, 61)
    assert any("now come from patches.csv" in s.value for s in page.success)
    page.button(key="data_localities_reset").click()
    page.run()
    assert "North Patch" not in _table(page, "Locality")["Locality"].tolist()
    assert _table(page, "Locality")["Wards"].sum() == 191


def test_page_localities_accepts_an_xlsx_workbook(page: AppTest, atlas_home):
    import io

    from boundaries.hierarchy import localities_path

    buf = io.BytesIO()
    # a workbook as a user saves it: other column order, an extra column, a blank row
    pd.DataFrame({"notes": ["x", None, "y"], "Locality": ["North Patch", None, "North Patch"],
                  "Ward_Code": ["e05009068", None, "E05009046"]}).to_excel(buf, index=False)
    _set_localities(page, ("patches.xlsx", buf.getvalue(),
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    wards = dict(zip(*_table(page, "Locality")[["Locality", "Wards"]].T.values))
    assert (wards["North Patch"], wards["County Durham"]) == (2, 61)
    # kept as the validated pairs, in CSV
    assert localities_path("ons2011-ne-medway").read_text() == (
        "ward_code,locality\nE05009068,North Patch\nE05009046,North Patch\n")
