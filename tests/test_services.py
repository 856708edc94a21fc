"""The services importer (ingest.services): every row accepted or rejected with file, row and problem.

Rows are numbered as a spreadsheet shows them (the header is row 1). A property test writes random
messy files and checks rows read = accepted + rejected, or a clean InputError naming the file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.points import to_crs_xy
from geo.schema import BNG, WGS84, InputError
from ingest.services import (
    EASTING, MESSAGE, NORTHING, PROBLEM, ROW, SERVICE_NAME, SERVICE_TYPE, SERVICES_REASONS, TYPE_KEY,
    read_services, read_services_bytes, rejected_csv,
)


def _write(tmp_path: Path, text: str, name: str = "services.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_rows_bng(tmp_path: Path):
    path = _write(tmp_path, "Name,Service Type,Easting,Northing\nHaven,Refuge,427000,542000\n"
                            "Reach, outreach ,428000.5,520000\n")
    res = read_services(path)
    assert (res.rows_read, res.rows_accepted, res.rows_rejected) == (2, 2, 0)
    assert res.services[SERVICE_NAME].tolist() == ["Haven", "Reach"]
    assert res.services[SERVICE_TYPE].tolist() == ["Refuge", "outreach"]  # stripped, spelling kept
    assert res.services[[EASTING, NORTHING]].to_numpy().tolist() == [[427000, 542000], [428000.5, 520000]]
    assert res.services[ROW].tolist() == [2, 3]


def test_type_labels_merge_by_case_and_spacing_showing_the_first_spelling(tmp_path: Path):
    path = _write(tmp_path, "type,easting,northing\nGP  safeguarding lead,427000,542000\n"
                            "gp safeguarding LEAD ,427100,542000\nIDVA,427000,542100\n")
    res = read_services(path)
    assert res.services[TYPE_KEY].tolist() == ["gp safeguarding lead", "gp safeguarding lead", "idva"]
    assert res.services[SERVICE_TYPE].tolist() == ["GP safeguarding lead", "GP safeguarding lead", "IDVA"]
    assert any("merged" in n for n in res.notes)
    assert res.services[SERVICE_NAME].tolist() == ["", "", ""]  # name is optional


def test_lon_lat_converted_to_bng(tmp_path: Path):
    e, n = 427520.0, 542110.0
    lon, lat = to_crs_xy(np.array([e]), np.array([n]), BNG, WGS84)
    path = _write(tmp_path, f"latitude,longitude,type\n{lat[0]:.7f},{lon[0]:.7f},Refuge\n")
    res = read_services(path)
    assert res.services[[EASTING, NORTHING]].to_numpy()[0].tolist() == pytest.approx([e, n], abs=0.05)
    assert any("WGS84" in note for note in res.notes)


def test_every_problem_is_rejected_with_file_row_and_problem(tmp_path: Path):
    rows = [
        "name,type,easting,northing",
        "ok,Refuge,427000,542000",           # row 2: accepted
        "no type,,427000,542000",           # 3
        "no coords,IDVA,,542000",           # 4
        "text,IDVA,12a,542000",             # 5
        "degrees,IDVA,-1.5,54.7",           # 6
        "far,IDVA,900000,1400000",          # 7
        "negative,IDVA,-5000,542000",       # 8
        f"long,{'x' * 201},427000,542000",  # 9
        "swapped,IDVA,1200000,400000",      # 10
    ]
    path = _write(tmp_path, "\n".join(rows) + "\n", "my services.csv")
    res = read_services(path)
    assert res.rows_read == 9 == res.rows_accepted + res.rows_rejected
    assert res.rows_accepted == 1
    rej = res.rejected.set_index(ROW)
    assert rej.index.tolist() == [3, 4, 5, 6, 7, 8, 9, 10]
    assert rej.loc[3, PROBLEM] == "missing service type"
    assert rej.loc[4, PROBLEM] == "missing coordinates"
    assert rej.loc[5, PROBLEM] == "coordinates are not numbers"
    assert rej.loc[6, PROBLEM] == "coordinates look like longitude/latitude in easting/northing columns"
    assert rej.loc[7, PROBLEM] == rej.loc[8, PROBLEM] == "coordinates out of range"
    assert rej.loc[9, PROBLEM] == "service type longer than 200 characters"
    assert rej.loc[10, PROBLEM] == "easting and northing look swapped"
    assert rej.loc[3, MESSAGE] == "my services.csv, row 3: missing service type"
    assert rej.loc[5, MESSAGE] == "my services.csv, row 5: coordinates are not numbers (easting 12a, northing 542000)"
    assert all(m.startswith("my services.csv, row ") for m in rej[MESSAGE])
    assert rej.loc[3, "name"] == "no type"  # the original cells follow
    assert res.reasons["coordinates out of range"] == 2
    assert "9 rows read, 1 services accepted, 8 rejected" in res.summary()


def test_lon_lat_outside_great_britain(tmp_path: Path):
    path = _write(tmp_path, "type,lon,lat\nRefuge,-1.57,54.77\nRefuge,2.35,48.85\nRefuge,-6.3,53.35\n"
                            "Refuge,54.77,-1.57\nRefuge,-1.5,91\n")
    res = read_services(path)
    rej = res.rejected.set_index(ROW)[PROBLEM]
    assert res.rows_accepted == 2  # Durham and Dublin
    assert rej[3] == SERVICES_REASONS["outside_gb"]  # Paris
    # A known limit (docs/services.md): the check is a box around Great Britain plus the National Grid's
    # extent, so Dublin (on the grid, inside the box) is accepted; it would be far from every area anyway.
    assert 4 not in rej.index
    assert rej[5] == "longitude and latitude look swapped"
    assert rej[6] == "coordinates out of range"


def test_blank_lines_are_not_rows_and_numbering_follows_the_file(tmp_path: Path):
    path = _write(tmp_path, "type,easting,northing\nRefuge,427000,542000\n,,\nIDVA,,\n")
    res = read_services(path)
    # The wholly empty row is ignored (noted), as for incident files; the next row keeps its number.
    assert res.rows_read == 2 and res.rejected[ROW].tolist() == [4]


def test_easting_northing_preferred_when_both_systems_present(tmp_path: Path):
    path = _write(tmp_path, "type,easting,northing,lon,lat\nRefuge,427000,542000,0,0\n")
    res = read_services(path)
    assert res.rows_accepted == 1 and any("easting/northing used" in n for n in res.notes)


@pytest.mark.parametrize("header, problem", [
    ("name,easting,northing", "no service type column"),
    ("type,name", "need easting and northing"),
    ("type,easting", "need easting and northing"),
    ("type,kind,easting,northing", None),  # 'type' wins over 'kind' by priority: no error
])
def test_header_problems_are_input_errors(tmp_path: Path, header: str, problem: str | None):
    path = _write(tmp_path, header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    if problem is None:
        read_services(path)
        return
    with pytest.raises(InputError, match=problem) as err:
        read_services(path)
    assert str(err.value).startswith("services.csv")


def test_uploaded_bytes_and_rejected_download_are_neutralised():
    data = ('name,type,easting,northing\n"=HYPERLINK(""http://x"",""y"")",Refuge,427000,542000\n'
            '@SUM(1+1),,427000,542000\n+1,=cmd,-3,542000\n').encode()
    res = read_services_bytes(data, "up.csv")
    assert res.services[SERVICE_NAME].tolist() == ['=HYPERLINK("http://x","y")']  # nothing escaped at parse time
    text = rejected_csv(res).decode("utf-8")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'@SUM(1+1)" in cells and "'=cmd" in cells and "'-3" in cells and "'+1" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


def test_shipped_demo_services_are_synthetic_on_a_1km_grid_and_reproducible(tmp_path: Path):
    from demo.services import GRID_M, demo_services_path, generate_demo_services, write_demo_services_csv

    shipped = demo_services_path()
    assert "synthetic" in shipped.name
    assert write_demo_services_csv(tmp_path / "again.csv").read_bytes() == shipped.read_bytes()  # seeded
    res = read_services(shipped)
    assert res.rows_rejected == 0 and res.rows_accepted == len(generate_demo_services())
    assert (res.services[EASTING] % GRID_M == GRID_M / 2).all() and (res.services[NORTHING] % GRID_M == GRID_M / 2).all()
    assert res.services[SERVICE_NAME].str.startswith("Synthetic ").all()
    assert pd.read_csv(shipped)["note"].str.startswith("synthetic demo data").all()
    assert set(res.services[SERVICE_TYPE]) == {"Refuge", "Outreach", "IDVA", "GP safeguarding lead"}


# ---------------------------------------------------------------------------- property: conservation

_CELLS = {
    "type": st.sampled_from(["Refuge", " refuge", "IDVA", "", "  ", "=cmd", "GP safeguarding lead", "x" * 201, "🙂"]),
    "name": st.sampled_from(["A", "", "=HYPERLINK(\"x\")", "Café", "a,b", "\"q\""]),
    "easting": st.sampled_from(["427000", "427000.5", "", "abc", "-1.5", "800000", "-3", "1e9", "NaN", "inf"]),
    "northing": st.sampled_from(["542000", "", "54.7", "1300001", "x", "0", "1,000"]),
    "lon": st.sampled_from(["-1.57", "", "181", "542000", "54.7", "2.5", "-9.5"]),
    "lat": st.sampled_from(["54.77", "", "91", "-1.57", "49.6", "61.5", "abc"]),
}
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=6)


@st.composite
def services_file(draw) -> bytes:
    roles = draw(st.sampled_from([("type", "easting", "northing"), ("name", "type", "lon", "lat"),
                                  ("type", "easting", "northing", "lon", "lat"), ("name", "easting")]))
    cols = list(draw(st.permutations(roles))) + draw(st.lists(st.sampled_from(["notes", "x", ""]), max_size=2))
    sep = draw(st.sampled_from([",", ";", "\t"]))
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        cells = [draw(_CELLS[c] if c in _CELLS and draw(st.integers(0, 6)) else _TEXT) for c in cols]
        if draw(st.integers(0, 10)) == 0:
            cells = cells[: draw(st.integers(0, len(cells)))]
        rows.append(sep.join('"' + c.replace('"', '""') + '"' if any(ch in c for ch in (sep, '"')) else c
                             for c in cells))
    text = sep.join(cols) + "\n" + "\n".join(rows) + "\n"
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(services_file())
def test_rows_in_equal_accepted_plus_rejected_for_messy_files(data: bytes):
    try:
        res = read_services_bytes(data, "messy.csv")
    except InputError as exc:
        assert str(exc).startswith("messy.csv"), str(exc)
        return
    assert res.rows_read == res.rows_accepted + res.rows_rejected
    assert sum(res.reasons.values()) == res.rows_rejected
    assert res.rejected[MESSAGE].str.match(r"messy\.csv, row \d+: ").all()
    # Spreadsheet row numbers: each row once, none the header.
    rows = [*res.services[ROW].tolist(), *res.rejected[ROW].tolist()]
    assert len(set(rows)) == len(rows) and min(rows, default=2) >= 2
    ok = res.services
    assert ok[SERVICE_TYPE].str.strip().ne("").all()
    assert ((ok[EASTING] >= 0) & (ok[EASTING] <= 700_000) & (ok[NORTHING] >= 0) & (ok[NORTHING] <= 1_300_000)).all()
