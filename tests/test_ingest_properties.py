"""Property tests of the importers: any generated file either imports with conservation or raises InputError.

Files vary in columns (known roles, junk, duplicates), cell values (good, bad, formulas, unicode),
encodings (UTF-8, UTF-8 BOM, Windows-1252, UTF-16), delimiters and line endings. Nothing else may be
raised, and what is imported must add up: rows read = accepted + rejected, and the counts (counts
files) or records (records files) accepted are exactly what the output holds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boundaries.load import load_areas
from geo.schema import InputError
from ingest import read_incident_file
from ingest.reader import read_table
from ingest.report import COUNTS_COLUMNS

TODAY = dt.date(2024, 6, 15)
_LSOA = load_areas("lsoa")
_CODES = _LSOA["code"].head(4).tolist()
_PT = _LSOA.head(3).geometry.representative_point()
_LL = _PT.to_crs("EPSG:4326")

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
_CELLS = {
    "area_code": st.sampled_from(_CODES + [c.lower() + " " for c in _CODES] + ["E01035123", "", "=A1", "E05001482"]),
    "period": st.sampled_from(["2023-01", "2023-02", "2023/24", "Jan 2023", "45000", "03/04/2019", "2099-01", "", "x"]),
    "count": st.sampled_from(["0", "3", "12", "1,204", "7.0", "-1", "2.5", "", "NaN", "1e99", "Ω"]),
    "category": st.sampled_from(["DA", "Café", "Stalking, harassment", "=HYPERLINK(\"x\")", "", "🙂"]),
    "latitude": st.sampled_from([f"{y:.6f}" for y in _LL.y] + ["", "abc", "542000", "-1.5", "91"]),
    "longitude": st.sampled_from([f"{x:.6f}" for x in _LL.x] + ["", "54.7", "427000", "181"]),
    "date": st.sampled_from(["2023-01-05", "05/01/2023", "2023-02", "2030-01-01", "", "31/02/2023", "45000"]),
    "id": st.sampled_from(["A1", "A2", "A3", ""]),
}
_ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "utf-16"]


def _quote(cell: str, sep: str) -> str:
    if any(ch in cell for ch in (sep, '"', "\n")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def incident_file(draw, roles: tuple[str, ...]) -> tuple[bytes, str]:
    cols = list(draw(st.permutations(roles)))
    cols += draw(st.lists(st.sampled_from(["notes", "", "x", "name", "count"]), max_size=2))
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    rows = []
    for _ in range(draw(st.integers(0, 10))):
        cells = [draw(_CELLS[c] if c in _CELLS and draw(st.integers(0, 7)) else _TEXT) for c in cols]
        if draw(st.integers(0, 12)) == 0:
            cells = cells[: draw(st.integers(0, len(cells)))]  # a short row
        rows.append(sep.join(_quote(c, sep) for c in cells))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = sep.join(cols) + eol + eol.join(rows) + draw(st.sampled_from(["", eol]))
    enc = draw(st.sampled_from(_ENCODINGS))
    try:
        data = text.encode(enc)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    return data, enc


def _check(path: Path, kind: str) -> None:
    try:
        res = read_incident_file(path, kind=kind, today=TODAY)
    except InputError as exc:
        assert str(exc).startswith(path.name), str(exc)
        return
    rep = res.report
    assert rep.rows_read == rep.rows_accepted + rep.rows_rejected
    assert len(rep.rejected) == rep.rows_rejected == sum(rep.reasons.values())
    assert list(res.counts.columns) == list(COUNTS_COLUMNS)
    assert (res.counts["count"] >= 0).all()
    assert not res.counts.duplicated(["area_code", "period", "category"]).any()
    raw = read_table(path)
    assert rep.rows_read == len(raw.frame)
    accepted = ~np.isin(raw.row_number, rep.rejected["row_number"].to_numpy())
    if kind == "records":
        assert int(res.counts["count"].sum()) == rep.rows_accepted  # one record = one incident
    else:
        col = next(c for c in raw.frame.columns if c.strip().lower() == "count")
        cells = raw.frame.loc[accepted, col].str.strip().str.replace(",", "", regex=False)
        assert len(res.counts) == rep.rows_accepted
        assert int(pd.to_numeric(cells).astype("int64").sum()) == int(res.counts["count"].sum())
    assert set(res.counts["area_code"]) <= set(_LSOA["code"]) | set(load_areas("ward")["code"])


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(f=incident_file(("area_code", "period", "count", "category")))
def test_counts_files_conserve_or_raise_input_error(tmp_path: Path, f: tuple[bytes, str]) -> None:
    p = tmp_path / "gen.csv"
    p.write_bytes(f[0])
    _check(p, "counts")


@_SETTINGS
@given(f=incident_file(("latitude", "longitude", "date", "category", "id")))
def test_records_files_conserve_or_raise_input_error(tmp_path: Path, f: tuple[bytes, str]) -> None:
    p = tmp_path / "gen.csv"
    p.write_bytes(f[0])
    _check(p, "records")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "junk.csv"
    p.write_bytes(data)
    for kind in (None, "counts", "records"):
        try:
            read_incident_file(p, kind=kind, today=TODAY)
        except InputError as exc:
            assert str(exc).startswith("junk.csv")
