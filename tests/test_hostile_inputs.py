"""The bad-input catalogue of docs/trust.md: each hostile or messy file gets a clear outcome naming file, row
and problem. Boundary-file cases already covered in test_boundaries_load.py are listed in docs/trust.md
and only their upload path is checked here.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import duckdb
import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import box

from atlas.importing import check_file_size, import_file
from boundaries.load import load_areas
from geo.schema import BNG, BoundaryError, InputError
from ingest import read_incident_file
from store import Store

TODAY = dt.date(2024, 6, 15)


@pytest.fixture(scope="module")
def lsoa() -> list[str]:
    return load_areas("lsoa")["code"].head(3).tolist()


@pytest.fixture(scope="module")
def inside() -> tuple[float, float, float, float]:
    """(lon, lat, easting, northing) of a point well inside the first LSOA."""
    areas = load_areas("lsoa").head(1)
    p = areas.geometry.representative_point()
    ll = p.to_crs("EPSG:4326").iloc[0]
    return ll.x, ll.y, p.iloc[0].x, p.iloc[0].y


def put(tmp_path: Path, data: bytes | str, name: str = "f.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def imp(path: Path, **kw):
    kw.setdefault("today", TODAY)
    return read_incident_file(path, **kw)


def rejected(res) -> dict[int, str]:
    return dict(zip(res.report.rejected["row_number"], res.report.rejected["reason"]))


# ---------------------------------------------------------------------------- whole-file problems


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"hostile\.csv: the file is empty"),
        (b"area_code,period,count\n", r"hostile\.csv: has a header row but no data rows \(columns: 'area_code'"),
        (b"area_code:period:count\nE01011949:2023-01:3\n", r"hostile\.csv: only one column was found.*delimiter"),
        (b"area_code,period,count\nE01011949,2023-01,3\nE01011950,2023-01,4,7\n",
         r"hostile\.csv: is not well-formed delimited text: data row 2 has 4 fields but the header has 3"),
    ],
    ids=["empty", "header-only", "wrong-delimiter", "ragged-row"],
)
def test_unreadable_files_name_file_and_problem(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        imp(put(tmp_path, data, "hostile.csv"))


def test_quoted_commas_stay_in_their_field(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f'area_code,period,category,count\n{lsoa[0]},2023-01,"Assault, common",3\n'))
    assert res.counts["category"].tolist() == ["Assault, common"] and res.counts["count"].tolist() == [3]


def test_mixed_utf8_and_cp1252_rows_decode_each_and_name_the_rows(tmp_path: Path, lsoa) -> None:
    data = (f"area_code,period,category,count\n{lsoa[0]},2023-01,Café,3\n".encode()
            + f"{lsoa[1]},2023-01,Café,4\n".encode("cp1252")
            + f"{lsoa[2]},2023-01,Café,5\n".encode())
    res = imp(put(tmp_path, data, "mixed.csv"))
    assert res.counts["category"].tolist() == ["Café"] * 3  # not "CafÃ©" for the UTF-8 rows
    assert any(n.startswith("encoding: mixed: UTF-8, except data rows 2 read as Windows-1252") for n in res.report.notes)


def test_plain_cp1252_file_still_reads_as_windows_1252(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code,period,category,count\n{lsoa[0]},2023-01,Café £,3\n".encode("cp1252")))
    assert res.counts["category"].tolist() == ["Café £"]
    assert "encoding: Windows-1252 (the file is not valid UTF-8)" in res.report.notes


def test_size_cap_refuses_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "huge.csv"
    with open(big, "wb") as fh:
        fh.write(b"area_code,period,count\n")
        fh.truncate(200 * 2**20 + 1)  # sparse: no 200 MB written
    monkeypatch.setattr("atlas.importing.read_incident_file", lambda *a, **k: pytest.fail("file was parsed"))
    with pytest.raises(InputError, match=r"huge\.csv: is 200 MB, above the 200 MB limit.*ATLAS_MAX_FILE_MB"):
        import_file(Store(), big, "ds")
    assert Store().datasets().empty
    monkeypatch.setenv("ATLAS_MAX_FILE_MB", "0.001")
    with pytest.raises(InputError, match=r"upload\.csv: is 0 MB, above the 0 MB limit"):
        check_file_size(put(tmp_path, b"x" * 2000), "upload.csv")
    check_file_size(big, limit=300 * 2**20)  # under a raised cap: no error


def test_size_cap_applies_to_app_uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lsoa) -> None:
    from atlas.uploads import ImportOptions, handle_import

    monkeypatch.setenv("ATLAS_MAX_FILE_MB", "0.0001")  # ~105 bytes
    data = ("area_code,period,count\n" + f"{lsoa[0]},2023-01,3\n" * 10).encode()
    with pytest.raises(InputError, match=r"^my upload\.csv: is 0 MB, above the 0 MB limit"):
        handle_import(data, "my upload.csv", ImportOptions(dataset="up"))


# ---------------------------------------------------------------------------- dates


def test_excel_serial_dates_are_read_and_noted(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code,date,count\n{lsoa[0]},45000,3\n{lsoa[1]},45031,2\n"))
    assert res.counts["period"].tolist() == ["2023-03", "2023-04"]  # 45000 = 2023-03-15
    assert "2 Excel date serial numbers read as dates" in res.report.notes


def test_xlsx_serial_number_in_a_date_column(tmp_path: Path, lsoa) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["area_code", "date", "count"])
    ws.append([lsoa[0], 45000, 3])  # a date cell that lost its format: a bare serial
    ws.append([lsoa[1], dt.datetime(2023, 4, 2), 2])
    buf = io.BytesIO()
    wb.save(buf)
    res = imp(put(tmp_path, buf.getvalue(), "dates.xlsx"))
    assert res.counts["period"].tolist() == ["2023-03", "2023-04"]


def test_ambiguous_day_month_dates_are_rejected_until_a_format_is_given(tmp_path: Path, lsoa) -> None:
    p = put(tmp_path, f"area_code,date,count\n{lsoa[0]},03/04/2019,3\n{lsoa[1]},04/05/2019,2\n")
    res = imp(p)
    assert rejected(res) == {1: "ambiguous date", 2: "ambiguous date"}
    assert imp(p, date_format="dd/mm/yyyy").counts["period"].tolist() == ["2019-04", "2019-05"]
    assert imp(p, date_format="mm/dd/yyyy").counts["period"].tolist() == ["2019-03", "2019-04"]
    # one day above 12 settles the order for the whole column, and the report says so
    res = imp(put(tmp_path, f"area_code,date,count\n{lsoa[0]},03/04/2019,3\n{lsoa[1]},14/05/2019,2\n", "g.csv"))
    assert res.counts["period"].tolist() == ["2019-04", "2019-05"]
    assert any("dd/mm/yyyy" in n for n in res.report.notes)


# ---------------------------------------------------------------------------- coordinates


def test_coordinate_mix_ups_are_rejected_with_their_reason(tmp_path: Path, inside) -> None:
    lon, lat, e, n = inside
    rows = [
        f"{lat},{lon},2023-01-05",  # fine
        f"{lon},{lat},2023-01-05",  # swapped
        f"{n},{e},2023-01-05",  # BNG metres in lat/lon columns
        "51.5007,-0.1246,2023-01-05",  # Westminster: outside the boundaries
        f"{lat},,2023-01-05",
    ]
    res = imp(put(tmp_path, "latitude,longitude,date\n" + "\n".join(rows) + "\n"))
    assert rejected(res) == {
        2: "longitude and latitude look swapped",
        3: "coordinates look like easting/northing in longitude/latitude columns",
        4: "point outside the boundaries",
        5: "missing coordinates",
    }
    assert res.counts["count"].sum() == 1
    res = imp(put(tmp_path, f"easting,northing,date\n{e},{n},2023-01-05\n{lon},{lat},2023-01-05\n"
                  f"{n},{e},2023-01-05\n", "en.csv"))
    assert rejected(res) == {2: "coordinates look like longitude/latitude in easting/northing columns",
                             3: "easting and northing look swapped"}


# ---------------------------------------------------------------------------- codes and counts


def test_codes_with_spaces_and_lower_case_are_normalised(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code,period,count\n {lsoa[0].lower()} ,2023-01,3\n{lsoa[1][:3]} {lsoa[1][3:]},2023-01,1\n"))
    assert res.counts["area_code"].tolist() == lsoa[:2]
    assert "2 area codes normalised (spaces removed, upper-cased)" in res.report.notes


def test_codes_from_another_vintage_get_a_hint(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code,period,count\nE01035123,2023-01,3\n{lsoa[0]},2023-01,2\nXYZ,2023-01,1\n"))
    assert rejected(res) == {1: "unknown area code", 3: "unknown area code"}
    hint = [n for n in res.report.notes if "another vintage" in n]
    assert len(hint) == 1 and "1 unknown area codes look like lsoa codes" in hint[0] and "E01035123" in hint[0]
    assert "XYZ" not in hint[0]


@pytest.mark.parametrize(
    ("cell", "reason"),
    [("-1", "negative count"), ("2.5", "non-integer count"), ("1e3", "non-integer count"),
     ("NaN", "non-integer count"), ("inf", "non-integer count"), ("1000001", "count too large"),
     ("99999999999999999999999", "count too large"), ("three", "non-integer count")],
)
def test_bad_counts_are_rejected_with_their_reason(tmp_path: Path, lsoa, cell: str, reason: str) -> None:
    res = imp(put(tmp_path, f"area_code,period,count\n{lsoa[0]},2023-01,{cell}\n{lsoa[1]},2023-01,4\n"))
    assert rejected(res) == {1: reason}
    assert res.counts["count"].tolist() == [4]


def test_duplicate_rows_keep_the_first_and_reject_the_rest(tmp_path: Path, lsoa, inside) -> None:
    res = imp(put(tmp_path, f"area_code,period,count\n{lsoa[0]},2023-01,1\n{lsoa[0]},2023-01,1\n{lsoa[0]},2023-01,9\n"))
    assert rejected(res) == {2: "duplicate key", 3: "duplicate key"} and res.counts["count"].tolist() == [1]
    lon, lat, _, _ = inside
    res = imp(put(tmp_path, f"id,latitude,longitude,date\nA1,{lat},{lon},2023-01-05\nA1,{lat},{lon},2023-01-05\n", "r.csv"))
    assert rejected(res) == {2: "duplicate key"} and res.counts["count"].tolist() == [1]


# ---------------------------------------------------------------------------- formula injection


def test_formula_cells_are_escaped_in_rejected_rows_and_analysis_exports(tmp_path: Path, lsoa) -> None:
    from atlas.cli import main

    text = (f"area_code,period,category,count\n{lsoa[0]},2023-01,=HYPERLINK(\"http://evil\"),7\n"
            f"=HYPERLINK(\"http://evil\"),2023-01,DA,3\n")
    summary = import_file(Store(), put(tmp_path, text), "inj", rejected_out=tmp_path / "rej.csv")
    rej = pd.read_csv(tmp_path / "rej.csv", dtype=str)
    assert rej["area_code"].tolist() == ["'=HYPERLINK(\"http://evil\")"]
    assert summary.rows_accepted == 1
    out = tmp_path / "rates.csv"
    assert main(["rates", "--dataset", "inj", "--level", "lsoa", "--grain", "month", "--out", str(out),
                 "--category", '=HYPERLINK("http://evil")']) == 0
    table = pd.read_csv(out, dtype=str)
    assert set(table["category"]) == {"'=HYPERLINK(\"http://evil\")"}
    assert not table.apply(lambda c: c.str.startswith("=", na=False)).any().any()


def test_export_escaping_keeps_numbers() -> None:
    from ingest.report import escape_formula_text

    t = pd.DataFrame({"name": ["=1+1", "-x", "@a", "ok", "-3"], "change": [-3.0, 1, 2, 3, 4]})
    out = escape_formula_text(t)
    assert out["name"].tolist() == ["'=1+1", "'-x", "'@a", "ok", "-3"]
    assert out["change"].tolist() == [-3.0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------- personal data never kept


def test_records_keep_no_personal_columns_in_the_store(tmp_path: Path, inside, atlas_home: Path) -> None:
    lon, lat, _, _ = inside
    text = ("name,dob,date_of_birth,notes,latitude,longitude,date,crime_ref\n"
            f"Johnathan Smithers,1980-01-02,02/01/1980,Hit him with a kettle,{lat},{lon},2023-01-05,REF-998877\n"
            f"Maryanne Quixote,1975-03-04,04/03/1975,Neighbour heard screaming,{lat},{lon},2023-02-11,REF-998878\n")
    summary = import_file(Store(), put(tmp_path, text, "records.csv"), "private", kind="records")
    assert summary.status == "imported" and summary.rows_accepted == 2
    rep = summary.report
    assert rep.dropped_columns == ["name", "dob", "date_of_birth", "notes", "latitude", "longitude", "crime_ref"]
    assert rep.kind == "records"
    periods = Store().counts("private")["period"].tolist()
    assert periods == ["2023-01", "2023-02"]  # the incident date, never the date of birth
    secrets = ["Johnathan", "Smithers", "Maryanne", "kettle", "screaming", "1980", "1975", "REF-9988", f"{lat:.5f}"]
    con = duckdb.connect(str(atlas_home / "atlas.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        dump = "\n".join(con.execute(f'select * from "{t}"').df().to_csv() for t in tables)
    finally:
        con.close()
    assert tables and "private" in dump
    raw = (atlas_home / "atlas.duckdb").read_bytes()
    for s in secrets:
        assert s not in dump, s
        assert s.encode() not in raw, s


def test_a_date_of_birth_column_is_never_taken_as_the_period(tmp_path: Path, inside) -> None:
    lon, lat, _, _ = inside
    p = put(tmp_path, f"latitude,longitude,date_of_birth\n{lat},{lon},1980-01-02\n")
    with pytest.raises(InputError, match=r"f\.csv: no period column found for a records file"):
        imp(p, kind="records")


# ---------------------------------------------------------------------------- population and boundary uploads


def test_population_file_with_zero_and_missing_population(tmp_path: Path, atlas_home: Path) -> None:
    from boundaries.population import add_population, population_table
    from boundaries.registry import register_boundary_set

    wards = load_areas("ward", lad_codes=["E06000005"])
    gpkg = tmp_path / "darl.gpkg"
    wards[["code", "name", "geometry"]].to_file(gpkg)
    bs, _ = register_boundary_set(gpkg, "darl", "ward")
    codes = wards["code"].tolist()
    pop = pd.DataFrame({"code": codes, "population": [0] + [1000] * (len(codes) - 1)})
    pop.to_csv(tmp_path / "pop.csv", index=False)
    table = add_population(tmp_path / "pop.csv", bs)
    assert table["population_total"].tolist()[0] == 0  # a zero is a real value (rates for it are blank)
    pop["population"] = pop["population"].astype(str).where(pop.index != 2, "")
    pop.to_csv(tmp_path / "pop2.csv", index=False)
    with pytest.raises(InputError, match=r"pop2\.csv: population_total is missing or not a number in data rows 3"):
        add_population(tmp_path / "pop2.csv", bs)
    assert population_table("ward", bs)["population_total"].tolist()[0] == 0  # old file kept


def test_zipped_shapefile_without_prj_upload_names_the_upload(tmp_path: Path) -> None:
    from atlas.uploads import BoundaryOptions, handle_boundaries

    gdf = gpd.GeoDataFrame({"code": ["E05000001"], "name": ["A"]}, geometry=[box(420000, 530000, 421000, 531000)], crs=BNG)
    gdf.to_file(tmp_path / "areas.shp")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for ext in ("shp", "shx", "dbf"):
            zf.write(tmp_path / f"areas.{ext}", f"areas.{ext}")
    with pytest.raises(BoundaryError, match=r"my areas\.zip: areas\.shp has no \.prj file"):
        handle_boundaries(buf.getvalue(), "my areas.zip", BoundaryOptions(name="mine", level="ward"))
