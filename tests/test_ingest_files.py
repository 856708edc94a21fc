"""Reading incident files: encodings, delimiters, gzip, XLSX, bad files, the report and its CSV."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from boundaries.load import load_areas
from geo.schema import InputError
from ingest import read_incident_file

TODAY = dt.date(2024, 6, 15)


@pytest.fixture(scope="module")
def lsoa() -> list[str]:
    return load_areas("lsoa")["code"].head(3).tolist()


def put(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def imp(path: Path, **kw):
    kw.setdefault("today", TODAY)
    return read_incident_file(path, **kw)


@pytest.mark.parametrize(
    "encoding,bom,note",
    [
        ("utf-8", b"", "encoding: UTF-8"),
        ("utf-8", b"\xef\xbb\xbf", "encoding: UTF-8 with BOM"),
        ("cp1252", b"", "encoding: Windows-1252 (the file is not valid UTF-8)"),
        ("utf-16-le", b"\xff\xfe", "encoding: UTF-16"),
    ],
)
def test_encodings(tmp_path: Path, lsoa, encoding: str, bom: bytes, note: str) -> None:
    text = f"area_code,period,category,count\r\n{lsoa[0]},2023-01,Café £ crime,4\r\n"
    res = imp(put(tmp_path, bom + text.encode(encoding)))
    assert res.counts["category"].tolist() == ["Café £ crime"]
    assert res.counts.columns[0] == "area_code"  # a BOM must not stick to the first header
    assert note in res.report.notes


def test_undecodable_bytes_raise(tmp_path: Path) -> None:
    # 0x81 is undefined in Windows-1252 and invalid UTF-8.
    with pytest.raises(InputError, match=r"f.csv: is neither UTF-8 nor Windows-1252"):
        imp(put(tmp_path, b"area_code,period,count\nE01,\x81\x81,3\n"))


@pytest.mark.parametrize("sep,name", [(";", "semicolon"), ("\t", "tab"), ("|", "pipe"), (",", None)])
def test_delimiters(tmp_path: Path, lsoa, sep: str, name: str | None) -> None:
    rows = [["area_code", "period", "count"], [lsoa[0], "2023-01", "3"], [lsoa[1], "2023-01", "4"]]
    res = imp(put(tmp_path, "\n".join(sep.join(r) for r in rows).encode()))
    assert res.counts["count"].tolist() == [3, 4]
    assert (f"delimiter: {name}" in res.report.notes) == (name is not None)


def test_quoted_fields_with_delimiters_and_newlines(tmp_path: Path, lsoa) -> None:
    text = f'area_code,period,category,count\n{lsoa[0]},2023-01,"Violence, with\nnewline",3\n{lsoa[1]},2023-01,B,1\n'
    res = imp(put(tmp_path, text.encode()))
    assert res.counts["category"].tolist() == ["Violence, with\nnewline", "B"]


def test_gzip_csv_and_sha256_of_file_bytes(tmp_path: Path, lsoa) -> None:
    data = gzip.compress(f"area_code,period,count\n{lsoa[0]},2023-01,3\n".encode())
    p = put(tmp_path, data, "c.csv.gz")
    res = imp(p)
    assert res.counts["count"].tolist() == [3]
    assert res.report.sha256 == hashlib.sha256(data).hexdigest()
    assert "file was gzip-compressed" in res.report.notes
    assert res.report.file_name == "c.csv.gz"
    assert imp(p, source_name="upload.csv.gz").report.file_name == "upload.csv.gz"


def test_blank_lines_keep_row_numbers_of_the_file(tmp_path: Path, lsoa) -> None:
    text = f"area_code,period,count\n{lsoa[0]},2023-01,3\n\n{lsoa[1]},2023-01,-4\n\n\n"
    res = imp(put(tmp_path, text.encode()))
    assert res.report.rows_read == 2
    assert res.report.rejected["row_number"].tolist() == [3]  # the blank data row 2 still counts
    assert "1 empty row ignored (data row 2)" in res.report.notes


def _xlsx(path: Path, rows: list[list[object]], sheets: dict[str, list[list[object]]] | None = None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    for r in rows:
        ws.append(r)
    for name, more in (sheets or {}).items():
        other = wb.create_sheet(name)
        for r in more:
            other.append(r)
    wb.save(path)
    return path


def test_xlsx_with_date_cells_serials_and_numbers(tmp_path: Path, lsoa) -> None:
    p = _xlsx(
        tmp_path / "x.xlsx",
        [
            [None],  # an empty first row: the header is the first row with content
            ["Area Code", "Date", "Category", "Count"],
            [lsoa[0], dt.datetime(2023, 4, 1), "DA", 5],
            [lsoa[1], 45047, "DA", 6.0],  # 45047 = Excel serial for 2023-05-01
            [lsoa[2], dt.date(2023, 6, 30), "DA", 7.5],
        ],
    )
    res = imp(p)
    assert res.counts["period"].tolist() == ["2023-04", "2023-05"]
    assert res.counts["count"].tolist() == [5, 6]
    assert res.report.reasons == {"non-integer count": 1}
    assert res.report.rejected["Count"].tolist() == ["7.5"]
    assert any("Excel date serial" in n for n in res.report.notes)
    assert "sheet: 'Data' (first of 1)" in res.report.notes


def test_xlsx_named_sheet(tmp_path: Path, lsoa) -> None:
    p = _xlsx(tmp_path / "y.xlsx", [["notes"], ["nothing here"]],
              {"Counts": [["lsoa_code", "month", "n"], [lsoa[0], "2023-02", 2]]})
    res = imp(p, sheet="Counts")
    assert res.counts["count"].tolist() == [2]
    with pytest.raises(InputError, match=r"y.xlsx: has no sheet 'Nope'; sheets: Data, Counts"):
        imp(p, sheet="Nope")
    with pytest.raises(InputError, match="only one column"):
        imp(p)


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file is empty"),
        (b"area_code,period,count\n", "header row but no data rows"),
        (b"area_code,period,count\n,,\n", "header row but no data rows"),
        (b"area_code:period:count\nE01:2023-01:3\n", "only one column"),
        (b"a,b,c\n1,2,3\n", r"no recognisable columns: saw 'a', 'b', 'c'; expected"),
        (b"area_code,period,count\nE01012304,2023-01,3,9,9\n", "not well-formed"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"PK\x03\x04garbage", "not a readable XLSX"),
        (b"\xd0\xcf\x11\xe0old", "old binary Excel"),
        (b"\x1f\x8bnot gzip", "not a valid gzip"),
    ],
)
def test_bad_files_raise_input_error_naming_the_file(tmp_path: Path, data: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        imp(put(tmp_path, data, "bad.csv"))
    assert info.value.file == "bad.csv"
    assert str(info.value).startswith("bad.csv")


def test_missing_file_and_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.csv: file not found"):
        imp(tmp_path / "nope.csv")
    p = put(tmp_path, b"a,b\n1,2\n")
    with pytest.raises(InputError, match="unknown kind 'xyz'"):
        imp(p, kind="xyz")
    with pytest.raises(InputError, match="not a police.uk street-level file"):
        imp(p, kind="policeuk")


def test_report_dict_and_rejected_csv_escape_formulas(tmp_path: Path, lsoa) -> None:
    text = (
        f"area_code,period,category,count,=note\n{lsoa[0]},2023-01,DA,3,ok\n"
        f"=HYPERLINK(\"x\"),2023-01,+cmd,1,@SUM(A1)\n{lsoa[1]},2023-01,-x,-2,\n"
    )
    res = imp(put(tmp_path, text.encode()), kind="counts")
    d = res.report.to_dict()
    assert {k: d[k] for k in ("rows_read", "rows_accepted", "rows_rejected", "rejected_file")} == {
        "rows_read": 3, "rows_accepted": 1, "rows_rejected": 2, "rejected_file": None}
    assert d["reasons"] == {"unknown area code": 1, "negative count": 1}
    assert d["dropped_columns"] == ["=note"]
    json.dumps(d)  # JSON-ready
    out = res.report.write_rejected(tmp_path / "out" / "rejected.csv")
    assert res.report.to_dict()["rejected_file"] == str(out)
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back.columns.tolist() == ["row_number", "reason", "area_code", "period", "category", "count", "'=note"]
    assert back["area_code"].tolist() == ["'=HYPERLINK(\"x\")", lsoa[1]]
    assert back["category"].tolist() == ["'+cmd", "'-x"]
    assert back["count"].tolist() == ["1", "'-2"]
    assert back["'=note"].tolist() == ["'@SUM(A1)", ""]
    assert back["row_number"].tolist() == ["2", "3"]
    # The in-memory rejected frame keeps the original text.
    assert res.report.rejected["category"].tolist() == ["+cmd", "-x"]


def test_two_candidate_columns_for_one_role_is_an_error(tmp_path: Path, lsoa) -> None:
    p = put(tmp_path, f"area_code,period,Count,count \n{lsoa[0]},2023-01,1,2\n".encode())
    with pytest.raises(InputError, match=r"several columns could be the count: 'Count', 'count'"):
        imp(p)
