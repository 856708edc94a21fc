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


# ---------------------------------------------------------------------------- issue 12: more hostile files
# Each message names the file, the data row (or feature, or is about the whole file) and the problem.


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), r"^picture\.csv: is a PNG image, not a CSV or XLSX file$"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", r"^picture\.csv: is a PDF document"),
        (_zip({"data.csv": b"area_code,period,count\n"}),
         r"^picture\.csv: is a zip archive, not a CSV or XLSX file \(it holds data\.csv\); unzip it"),
        (_zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}),
         r"^picture\.csv: is an OpenDocument spreadsheet \(\.ods\)"),
        (b"area_code,period,count\nE01011949,2023-01,3\nE01011950,2023-01,Caf\xff\x81,4\n",
         r"^picture\.csv: is neither UTF-8 nor Windows-1252 text: data row 2 holds the byte 0x81"),
        (b"area_code,period,count\nE01011949,2023-01,3\nE01011950,2023-01,\x004\n",
         r"^picture\.csv: contains NUL bytes \(the first in data row 2\)"),
        (b'area_code,period,count\nE01011949,2023-01,3\n"E01011950,2023-01,4\nE01011951,2023-01,5\n',
         r"^picture\.csv: is not well-formed delimited text: data row 2 opens a quote \(\"\) that is never closed"),
        (b"Incidents by area 2023\narea_code,period,count\nE01011949,2023-01,3\n",
         r"^picture\.csv: .*data row 1 has 3 fields but the header has 1; the first line, 'Incidents by area 2023', has "
         r"one field: if it is a title, delete it"),
    ],
    ids=["png", "pdf", "zip", "ods", "invalid-byte", "nul", "unclosed-quote", "title-line"],
)
def test_not_csv_and_damaged_text_name_the_file_row_and_problem(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        imp(put(tmp_path, data, "picture.csv"))


def test_header_repeated_mid_file_is_rejected_as_such(tmp_path: Path, lsoa) -> None:
    head = "area_code,period,category,count\n"
    res = imp(put(tmp_path, head + f"{lsoa[0]},2023-01,DA,3\n" + head + f"{lsoa[1]},2023-01,DA,4\n"))
    assert rejected(res) == {2: "repeated header row"}  # not "non-integer count"
    assert res.report.rows_read == 3 and res.counts["count"].tolist() == [3, 4]


def test_blank_line_in_the_middle_is_noted_with_its_row_and_keeps_numbering(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code,period,count\n{lsoa[0]},2023-01,3\n\n  \n{lsoa[1]},2023-01,x\n"))
    assert "2 empty rows ignored (data rows 2, 3)" in res.report.notes
    assert rejected(res) == {4: "non-integer count"}


@pytest.mark.parametrize("kind", ["counts", "records"])
def test_row_with_fewer_fields_is_rejected_not_read_shifted(tmp_path: Path, lsoa, inside, kind: str) -> None:
    if kind == "counts":
        text = f"area_code,period,category,count\n{lsoa[0]},2023-01,DA,3\n{lsoa[1]},2023-01,4\n"
    else:
        lon, lat, _, _ = inside
        text = f"latitude,longitude,date,category\n{lat},{lon},2023-01-05,DA\n{lat},{lon},2023-01-05\n{lat}\n"
    res = imp(put(tmp_path, text))
    # Row 2's "4" would otherwise be read as its category: the row is rejected for what it is.
    want = {2: "fewer fields than the header"} if kind == "counts" else {2: "fewer fields than the header",
                                                                           3: "fewer fields than the header"}
    assert rejected(res) == want
    assert res.report.rows_read == res.report.rows_accepted + res.report.rows_rejected


def test_row_short_only_of_unused_columns_is_read(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code,period,count,notes\n{lsoa[0]},2023-01,3,fine\n{lsoa[1]},2023-01,4\n"))
    assert rejected(res) == {} and res.counts["count"].tolist() == [3, 4]


def test_semicolon_file_with_a_comma_row_is_rejected_by_row(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code;period;count\n{lsoa[0]};2023-01;3\n{lsoa[1]},2023-02,4\n"))
    assert rejected(res) == {2: "fewer fields than the header"}


def test_duplicate_column_names_are_refused_naming_the_columns(tmp_path: Path, lsoa) -> None:
    with pytest.raises(InputError, match=r"^f\.csv: the header names 2 columns 'count' \(columns 3 and 4\), so it "
                                         r"is not clear which holds the count"):
        imp(put(tmp_path, f"area_code,period,count,count\n{lsoa[0]},2023-01,3,4\n"))
    # a repeated name the import does not use is harmless (both copies are dropped and listed)
    res = imp(put(tmp_path, f"area_code,period,count,note,note\n{lsoa[0]},2023-01,3,a,b\n", "g.csv"))
    assert res.report.rows_accepted == 1 and res.report.dropped_columns == ["note", "note.1"]


@pytest.mark.parametrize(
    ("header", "message"),
    [("area_code,period,Count,count ", r"several columns could be the count: 'Count', 'count' \(their names differ "
                                       r"only in case, spaces or punctuation\)"),
     ("Area_Code,area code,period,count", r"several columns could be the area code: 'Area_Code', 'area code'")],
)
def test_columns_differing_only_by_case_or_space(tmp_path: Path, lsoa, header: str, message: str) -> None:
    with pytest.raises(InputError, match=r"^f\.csv: " + message):
        imp(put(tmp_path, f"{header}\n{lsoa[0]},{lsoa[1]},2023-01,3\n"))


@pytest.mark.parametrize(
    ("period", "reason"),
    [("2024-13", "invalid month (not 01-12)"), ("2024-00", "invalid month (not 01-12)"),
     ("2024-Q5", "invalid quarter (not Q1-Q4)"), ("2023/24-Q5", "invalid quarter (not Q1-Q4)"),
     ("2024/26", "financial year not two consecutive years (e.g. 2024/25)"),
     ("FY2023-2025", "financial year not two consecutive years (e.g. 2024/25)"),
     ("2030-01", "future date"), ("1899-05", "date before 1970"), ("1066-10-14", "date before 1970"),
     ("1900-01-01", "date before 1970"), ("Spring", "unparseable period")],
)
def test_bad_period_formats_get_a_precise_reason(tmp_path: Path, lsoa, period: str, reason: str) -> None:
    res = imp(put(tmp_path, f"area_code,period,count\n{lsoa[0]},{period},3\n{lsoa[1]},2023-01,4\n"))
    assert rejected(res) == {1: reason}
    assert res.counts["count"].tolist() == [4]


def test_counts_file_mixing_grains_keeps_the_main_grain(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code,period,count\n{lsoa[0]},2023-01,3\n{lsoa[1]},2023-01,1\n"
                            f"{lsoa[1]},2023-Q1,4\n{lsoa[2]},2023/24,4\n"))
    assert rejected(res) == {3: "mixed period grain", 4: "mixed period grain"}
    assert "periods are months; rows at other grains rejected" in res.report.notes


def test_blank_category_or_code_names_the_blank_field_and_rows(tmp_path: Path, lsoa) -> None:
    res = imp(put(tmp_path, f"area_code,period,category,count\n{lsoa[0]},2023-01,DA,3\n{lsoa[1]},2023-01,,4\n"
                            f",2023-01,DA,2\nNaN,2023-01,DA,1\n"))
    assert rejected(res) == {2: "missing required field", 3: "missing required field", 4: "unknown area code"}
    assert "missing required field: area code blank in data row 3; category blank in data row 2" in res.report.notes


def test_one_megabyte_cell_is_rejected_in_a_used_column_and_ignored_elsewhere(tmp_path: Path, lsoa) -> None:
    big = "x" * (1 << 20)
    res = imp(put(tmp_path, f"area_code,period,category,count,notes\n{lsoa[0]},2023-01,{big},3,\n"
                            f"{lsoa[1]},2023-01,DA,4,{big}\n{big},2023-01,DA,5,\n"))
    assert rejected(res) == {1: "category longer than 200 characters", 3: "unknown area code"}
    assert res.counts["count"].tolist() == [4]


def _xlsx(tmp_path: Path, sheets: dict[str, list[list]], name: str = "book.xlsx", merge: str | None = None) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
        if merge:
            ws.merge_cells(merge)
    wb.save(tmp_path / name)
    return tmp_path / name


def test_xlsx_empty_first_sheet_uses_the_next_sheet_with_data(tmp_path: Path, lsoa) -> None:
    p = _xlsx(tmp_path, {"Cover": [], "Data": [["area_code", "period", "count"], [lsoa[0], "2023-01", 3]]})
    res = imp(p)
    assert res.counts["count"].tolist() == [3]
    assert "sheet: 'Data' (the sheets before it, 'Cover', are empty)" in res.report.notes


def test_xlsx_with_several_sheets_says_which_was_read(tmp_path: Path, lsoa) -> None:
    p = _xlsx(tmp_path, {"Notes": [["Prepared by the analyst"]], "Data": [["area_code", "period", "count"]]})
    with pytest.raises(InputError, match=r"^book\.xlsx: has a header row but no data rows .*only the first sheet "
                                         r"with data is read: choose one with `atlas import --sheet NAME`, move it "
                                         r"first or save it as CSV"):
        imp(p)
    p = _xlsx(tmp_path, {"Notes": [["a", "b"], [1, 2]], "Data": [["area_code", "period", "count"]]}, "b2.xlsx")
    with pytest.raises(InputError, match=r"^b2\.xlsx: no recognisable columns.*this workbook has 2 sheets "
                                         r"\('Notes', 'Data'\)"):
        imp(p)


def test_xlsx_title_row_and_merged_header_cells(tmp_path: Path, lsoa) -> None:
    p = _xlsx(tmp_path, {"S": [["Incidents by area", None, None], ["area_code", "period", "count"],
                               [lsoa[0], "2023-01", 3]]}, merge="A1:C1")
    res = imp(p)
    assert res.counts["count"].tolist() == [3]
    assert "1 title row above the header skipped: 'Incidents by area'" in res.report.notes
    # "Counts" merged over two columns of values: only one would be read, so the file is refused
    p = _xlsx(tmp_path, {"S": [["area_code", "period", "Counts", None], [lsoa[0], "2023-01", 3, 4]]}, "m.xlsx",
              merge="C1:D1")
    with pytest.raises(InputError, match=r"^m\.xlsx: column 4 has values but no name, next to the count column "
                                         r"'Counts' \(column 3\): is 'Counts' a header cell merged across both"):
        imp(p)


def test_xlsx_every_sheet_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^book\.xlsx: every sheet is empty \(sheets: 'A', 'B'\)"):
        imp(_xlsx(tmp_path, {"A": [], "B": []}))


def test_damaged_xlsx_message_has_no_internal_detail(tmp_path: Path) -> None:
    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"not xml"})
    with pytest.raises(InputError, match=r"^d\.xlsx: is not a readable XLSX workbook \(damaged or not really "
                                         r"\.xlsx\); open it in Excel and save it again") as err:
        imp(put(tmp_path, data, "d.xlsx"))
    assert "Error" not in str(err.value) and "<" not in str(err.value)


def test_upload_of_a_renamed_picture_names_the_upload(tmp_path: Path) -> None:
    from atlas.uploads import ImportOptions, handle_import

    with pytest.raises(InputError, match=r"^holiday\.csv: is a JPEG image, not a CSV or XLSX file"):
        handle_import(b"\xff\xd8\xff\xe0\x00\x10JFIF", "holiday.csv", ImportOptions(dataset="up"))


# ---------------------------------------------------------------------------- boundaries, population, localities


def _areas(codes: list[str], geoms: list | None = None, crs: str = BNG) -> gpd.GeoDataFrame:
    geoms = geoms or [box(420000 + i * 1000, 530000, 421000 + i * 1000, 531000) for i in range(len(codes))]
    return gpd.GeoDataFrame({"code": codes, "name": [f"A{i}" for i in range(len(codes))]}, geometry=geoms, crs=crs)


def test_boundary_problems_name_the_feature(tmp_path: Path) -> None:
    from boundaries.registry import register_boundary_set
    from shapely.geometry import Point, Polygon

    cases = {
        "dup.gpkg": (_areas(["E05000001", "E05000002", "e05000001 "]),
                     r"dup\.gpkg: duplicate codes in code: E05000001 \(features 1, 3, counted from 1"),
        "blank.gpkg": (_areas(["E05000001", ""]), r"blank\.gpkg: blank code in feature 2 \(counted from 1"),
        "empty.gpkg": (_areas(["E05000001", "E05000002"], [box(420000, 530000, 421000, 531000), Polygon()]),
                       r"empty\.gpkg: empty or missing geometry for codes E05000002 \(feature 2, counted from 1"),
        "point.gpkg": (_areas(["E05000001", "E05000002"], [box(420000, 530000, 421000, 531000), Point(1, 1)]),
                       r"point\.gpkg: areas must be polygons, found Point for codes E05000002 \(feature 2,"),
    }
    for name, (gdf, message) in cases.items():
        gdf.to_file(tmp_path / name)
        with pytest.raises(BoundaryError, match="^" + message):
            register_boundary_set(tmp_path / name, "s", "ward")


def test_boundary_degrees_labelled_as_british_national_grid(tmp_path: Path) -> None:
    from boundaries.registry import register_boundary_set

    gdf = _areas(["E05000001"]).to_crs("EPSG:4326").set_crs(BNG, allow_override=True)
    gdf.to_file(tmp_path / "deg.gpkg")
    with pytest.raises(BoundaryError, match=r"^deg\.gpkg: the file says its CRS is EPSG:27700 \(metres\) but every "
                                            r"coordinate lies within .* which look like longitude/latitude degrees"):
        register_boundary_set(tmp_path / "deg.gpkg", "deg", "ward")


def test_boundary_file_that_is_not_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from boundaries.registry import register_boundary_set

    with pytest.raises(BoundaryError, match=r"^pic\.gpkg: is a PNG image, not a boundary file$"):
        register_boundary_set(put(tmp_path, b"\x89PNG\r\n\x1a\n" + b"0" * 64, "pic.gpkg"), "p", "ward")
    with pytest.raises(BoundaryError, match=r"^junk\.geojson: cannot be read as a boundary file: it is not in a "
                                            r"format that can be read") as err:
        register_boundary_set(put(tmp_path, "hello, not json", "junk.geojson"), "j", "ward")
    assert "DRIVER" not in str(err.value) and str(tmp_path) not in str(err.value)
    _areas(["E05000001"]).to_file(tmp_path / "big.gpkg")
    monkeypatch.setenv("ATLAS_MAX_BOUNDARY_MB", "0.01")
    with pytest.raises(BoundaryError, match=r"^big\.gpkg: is 0 MB, above the 0 MB limit for a boundary file.*"
                                            r"ATLAS_MAX_BOUNDARY_MB"):
        register_boundary_set(tmp_path / "big.gpkg", "big", "ward")


def test_boundary_codes_colliding_with_another_set_are_noted(tmp_path: Path) -> None:
    from boundaries.registry import register_boundary_set

    wards = load_areas("ward").head(3)
    wards[["code", "name", "geometry"]].to_file(tmp_path / "copy.gpkg")
    _, report = register_boundary_set(tmp_path / "copy.gpkg", "copy", "ward")
    assert any(n.startswith("3 of its 3 codes are also ward codes of boundary set 'ons2011-ne-medway'")
               for n in report.notes)


@pytest.fixture
def user_set(tmp_path: Path):
    from boundaries.registry import register_boundary_set

    _areas(["E05000001", "E05000002"]).to_file(tmp_path / "two.gpkg")
    return register_boundary_set(tmp_path / "two.gpkg", "two", "ward")[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("code,population\nE05000001,inf\nE05000002,200\n", r"population_total is missing or not a number in data rows 1"),
        ("code,population\nE05000001,100\n\nE05000002,x\n", r"population_total is missing or not a number in data rows 3"),
        ("code,population\nE05000001,100,5\nE05000002,200\n",
         r"is not well-formed delimited text: data row 1 has 3 fields but the header has 2"),
        ("code,population\nE05000001\nE05000002,200\n", r"data row 1 has fewer fields than the header"),
        ("code,population,population\nE05000001,1,2\nE05000002,3,4\n",
         r"the header names 2 columns 'population' \(columns 2, 3\)"),
        (b"code,population\nE05000001,100\nE05000002,\x93200\x94\n", r"population_total is missing or not a number in data rows 2"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), r"is a PNG image"),
        ("", r"the file is empty"),
    ],
    ids=["inf", "blank-line", "extra-field", "short-row", "duplicate-column", "cp1252", "png", "empty"],
)
def test_population_file_messages_name_file_and_row(tmp_path: Path, user_set, data, message: str) -> None:
    from boundaries.population import add_population

    with pytest.raises(InputError, match=r"^pop\.csv: " + message):
        add_population(put(tmp_path, data, "pop.csv"), user_set)


def test_population_semicolon_file_is_read(tmp_path: Path, user_set) -> None:
    from boundaries.population import add_population

    table = add_population(put(tmp_path, "code;population\nE05000001;100\nE05000002;200\n", "pop.csv"), user_set)
    assert table["population_total"].tolist() == [100, 200]


def test_localities_file_rows_count_blank_lines(tmp_path: Path) -> None:
    from boundaries.hierarchy import load_localities

    wards = load_areas("ward")["code"].head(2).tolist()
    text = f"ward_code,locality\n{wards[0]},North\n\nE05999999,South\n"
    with pytest.raises(InputError, match=r"^loc\.csv: unknown ward codes E05999999 in data rows 3 "):
        load_localities(put(tmp_path, text, "loc.csv"))
    with pytest.raises(InputError, match=r"^loc2\.csv: is not well-formed delimited text: data row 1 has 3 fields"):
        load_localities(put(tmp_path, f"ward_code,locality\n{wards[0]},North,extra\n", "loc2.csv"))
