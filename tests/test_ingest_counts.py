"""Counts imports: columns, levels, periods, every rejection reason, conservation and order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boundaries.load import load_areas
from geo.schema import InputError
from ingest import read_incident_file
from ingest.reader import read_table
from ingest.report import COUNTS_COLUMNS

TODAY = dt.date(2024, 6, 15)


@pytest.fixture(scope="module")
def codes() -> dict[str, list[str]]:
    return {lv: load_areas(lv)["code"].head(5).tolist() for lv in ("lsoa", "msoa", "ward", "lad")}


def write(tmp_path: Path, text: str, name: str = "counts.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


def imp(path: Path, **kw):
    kw.setdefault("today", TODAY)
    return read_incident_file(path, **kw)


def check_invariants(res) -> None:
    rep = res.report
    assert rep.rows_read == rep.rows_accepted + rep.rows_rejected
    assert len(rep.rejected) == rep.rows_rejected == sum(rep.reasons.values())
    assert list(res.counts.columns) == list(COUNTS_COLUMNS)


def test_basic_counts_file(tmp_path: Path, codes) -> None:
    a, b = codes["lsoa"][:2]
    p = write(tmp_path, f"lsoa_code,month,category,count\n{a},2023-04,DA,5\n{b},2023-04,DA,0\n{a},2023-05,Stalking,12\n")
    res = imp(p)
    check_invariants(res)
    c = res.counts
    assert res.report.kind == "counts"
    assert res.report.rows_accepted == 3 and res.report.rows_rejected == 0
    assert c["count"].tolist() == [5, 0, 12]
    assert c["area_code"].tolist() == [a, b, a]
    assert set(c["level"]) == {"lsoa"} and set(c["grain"]) == {"month"}
    assert c["period"].tolist() == ["2023-04", "2023-04", "2023-05"]
    assert str(c["count"].dtype) == "int64" and str(c["repeat_count"].dtype) == "Int64"
    assert c["repeat_count"].isna().all()
    assert res.report.dropped_columns == []
    assert len(res.report.sha256) == 64


@pytest.mark.parametrize("level,header", [("ward", "WD13CD"), ("msoa", "MSOA11CD"), ("lad", "lad_code"), ("lsoa", "LSOA11CD")])
def test_level_detected_from_codes(tmp_path: Path, codes, level: str, header: str) -> None:
    rows = "".join(f"{c},2022-Q{i % 4 + 1},{i}\n" for i, c in enumerate(codes[level]))
    res = imp(write(tmp_path, f"{header},quarter,incidents\n{rows}"))
    check_invariants(res)
    assert set(res.counts["level"]) == {level}
    assert set(res.counts["grain"]) == {"quarter"}
    assert res.counts["category"].unique().tolist() == ["All"]
    assert res.report.rows_accepted == 5


def test_codes_are_normalised_and_reported(tmp_path: Path, codes) -> None:
    a = codes["lsoa"][0]
    messy = " " + a.lower()[:4] + " " + a.lower()[4:] + " "
    res = imp(write(tmp_path, f'area_code,period,count\n"{messy}",2023-01,3\n'))
    assert res.counts["area_code"].tolist() == [a]
    assert any("normalised" in n for n in res.report.notes)


def test_financial_year_and_fy_quarter_grains(tmp_path: Path, codes) -> None:
    a, b = codes["ward"][:2]
    res = imp(write(tmp_path, f"ward_code,period,count\n{a},2019/20,4\n{b},2019/20,6\n"))
    assert res.counts["period"].tolist() == ["2019/20", "2019/20"]
    assert set(res.counts["grain"]) == {"fy"}
    res = imp(write(tmp_path, f"ward_code,period,count\n{a},2019/20-Q1,4\n"))
    assert res.counts["grain"].tolist() == ["fyquarter"]


def test_date_format_settles_slash_dates(tmp_path: Path, codes) -> None:
    a = codes["lsoa"][0]
    p = write(tmp_path, f"area_code,date,count\n{a},03/04/2019,2\n")
    res = imp(p)
    assert res.report.reasons == {"ambiguous date": 1}
    res = imp(p, date_format="dd/mm/yyyy")
    assert res.counts["period"].tolist() == ["2019-04"]
    res = imp(p, date_format="mm/dd/yyyy")
    assert res.counts["period"].tolist() == ["2019-03"]


def test_whole_decimals_and_thousands_separators_are_read_and_noted(tmp_path: Path, codes) -> None:
    a, b = codes["lsoa"][:2]
    res = imp(write(tmp_path, f'area_code,period,count\n{a},2023-01,12.0\n{b},2023-01,"1,234"\n'))
    assert res.counts["count"].tolist() == [12, 1234]
    assert any("whole decimals" in n for n in res.report.notes)
    assert any("thousands" in n for n in res.report.notes)


def test_repeat_count_column(tmp_path: Path, codes) -> None:
    a, b, c = codes["lsoa"][:3]
    res = imp(write(tmp_path, f"area_code,period,count,repeat_count\n{a},2023-01,5,2\n{b},2023-01,5,\n{c},2023-01,1,3\n"))
    assert res.counts["repeat_count"].iloc[0] == 2
    assert pd.isna(res.counts["repeat_count"].iloc[1])
    assert res.report.reasons == {"repeat count exceeds count": 1}


# One row per rejection reason; the good row first so the duplicate is the later one.
REJECTION_CASES = [
    ("{a},2023-01,DA,7", None),
    ("E01999999,2023-01,DA,1", "unknown area code"),
    ("{ward},2023-01,DA,1", "area code at another level"),
    ("{b},Spring 2023,DA,1", "unparseable period"),
    ("{b},2011-12,DA,1", "ambiguous date"),
    ("{b},2023-02-30,DA,1", "invalid date"),
    ("{b},2030-01,DA,1", "future date"),
    ("{b},2023-Q1,DA,1", "mixed period grain"),
    ("{b},2023-01,DA,-1", "negative count"),
    ("{b},2023-01,DA,2.5", "non-integer count"),
    ("{b},2023-01,DA,lots", "non-integer count"),
    ("{b},2023-01,DA,", "missing required field"),
    ("{b},2023-01,,3", "missing required field"),
    (",2023-01,DA,3", "missing required field"),
    ("{b},2023-01,DA,1000001", "count too large"),
    ("{a},2023-01,DA,9", "duplicate key"),
    ("{b},2023-01,Stalking,1000000", None),
]


def test_each_rejection_reason(tmp_path: Path, codes) -> None:
    a, b, ward = codes["lsoa"][0], codes["lsoa"][1], codes["ward"][0]
    body = "\n".join(r.format(a=a, b=b, ward=ward) for r, _ in REJECTION_CASES)
    res = imp(write(tmp_path, "area_code,month,category,count\n" + body + "\n"))
    check_invariants(res)
    rej = res.report.rejected
    expected = {i + 1: reason for i, (_, reason) in enumerate(REJECTION_CASES) if reason}
    assert dict(zip(rej["row_number"], rej["reason"])) == expected
    assert res.report.reasons["non-integer count"] == 2
    assert res.report.reasons["missing required field"] == 3
    # The rejected rows carry the original text, untouched.
    assert rej.columns.tolist() == ["row_number", "reason", "area_code", "month", "category", "count"]
    assert rej.loc[rej["reason"] == "count too large", "count"].tolist() == ["1000001"]
    assert rej.loc[rej["reason"] == "duplicate key", "count"].tolist() == ["9"]
    # The first of the duplicated keys is the one kept.
    assert res.counts["count"].tolist() == [7, 1000000]


def test_invalid_repeat_count(tmp_path: Path, codes) -> None:
    a = codes["lsoa"][0]
    res = imp(write(tmp_path, f"area_code,period,count,repeats\n{a},2023-01,5,x\n"))
    assert res.report.reasons == {"invalid repeat count": 1}


def test_conservation_and_row_order_irrelevant(tmp_path: Path, codes) -> None:
    lsoa = load_areas("lsoa")["code"].tolist()[:60]
    rows = [f"{c},2023-{m:02d},{cat},{(i * 7 + m) % 13}" for i, c in enumerate(lsoa) for m in (1, 2) for cat in ("DA", "X")]
    rows += ["E01999999,2023-01,DA,4", f"{lsoa[0]},2023-01,DA,-2"]
    p1 = write(tmp_path, "area_code,period,category,count\n" + "\n".join(rows) + "\n", "a.csv")
    p2 = write(tmp_path, "area_code,period,category,count\n" + "\n".join(rows[::-1]) + "\n", "b.csv")
    r1, r2 = imp(p1), imp(p2)
    for r in (r1, r2):
        check_invariants(r)
    accepted_sum = sum(int(r.split(",")[3]) for r in rows[:-2])
    assert int(r1.counts["count"].sum()) == accepted_sum
    key = ["area_code", "period", "category"]
    pd.testing.assert_frame_equal(
        r1.counts.sort_values(key, ignore_index=True), r2.counts.sort_values(key, ignore_index=True)
    )
    assert r1.report.reasons == r2.report.reasons == {"unknown area code": 1, "negative count": 1}


def test_semicolon_file_from_excel_with_trailing_empty_rows(tmp_path: Path, codes) -> None:
    a = codes["lsoa"][0]
    text = f"Area Code;Month;Incidents;;\r\n{a};Apr 2023;4;;\r\n;;;;\r\n;;;;\r\n"
    res = imp(write(tmp_path, text))
    assert res.counts["period"].tolist() == ["2023-04"]
    assert res.report.rows_read == 1
    assert "delimiter: semicolon" in res.report.notes


def test_both_coordinates_and_counts_need_an_explicit_kind(tmp_path: Path, codes) -> None:
    a = codes["lsoa"][0]
    p = write(tmp_path, f"area_code,period,count,easting,northing\n{a},2023-01,3,430000,515000\n")
    with pytest.raises(InputError, match="say which kind"):
        imp(p)
    res = imp(p, kind="counts")
    assert res.counts["count"].tolist() == [3]
    assert res.report.dropped_columns == ["easting", "northing"]


def test_missing_count_column_names_what_was_seen(tmp_path: Path, codes) -> None:
    p = write(tmp_path, f"area_code,period,colour\n{codes['lsoa'][0]},2023-01,red\n")
    with pytest.raises(InputError, match=r"counts.csv.*no recognisable columns.*'colour'"):
        imp(p)
    with pytest.raises(InputError, match=r"no count column.*saw 'area_code', 'period', 'colour'"):
        imp(p, kind="counts")


_AREA = st.sampled_from(["E01012304", "e01012305 ", "E01012306", "E05001482", "E99", "", "=cmd()"])
_PERIOD = st.sampled_from(["2023-01", "2023-02", "2019/20", "2030-05", "03/04/2019", "13/04/2019", "x", ""])
_COUNT = st.sampled_from(["7", "0", "-1", "2.5", "1e3", "1,000", "12.0", "2000000", "", "abc", "99999999999999999999"])
_CATEGORY = st.sampled_from(["DA", "Stalking", "", "=1+1", "é"])
_ANY = st.text(max_size=6)


@st.composite
def counts_csv(draw) -> str:
    """Mostly well-formed counts files with bad cells; sometimes ragged rows or junk headers."""
    cols = draw(st.permutations(["area_code", "period", "category", "count"]))
    if draw(st.booleans()):
        cols = cols[: draw(st.integers(1, 4))] + draw(st.lists(st.sampled_from(["x", "", "n", "month"]), max_size=2))
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    field = {"area_code": _AREA, "period": _PERIOD, "count": _COUNT, "category": _CATEGORY}
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        cells = [draw(st.one_of(field.get(c, _ANY), _ANY) if draw(st.integers(0, 9)) == 0 else field.get(c, _ANY))
                 for c in cols]
        if draw(st.integers(0, 14)) == 0:
            cells = cells[: draw(st.integers(0, len(cells)))] + draw(st.lists(_ANY, max_size=2))
        rows.append(sep.join(cells))
    return sep.join(cols) + "\n" + "\n".join(rows) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=counts_csv())
def test_any_counts_csv_imports_with_conservation_or_raises_input_error(tmp_path: Path, text: str) -> None:
    p = tmp_path / "h.csv"
    p.write_bytes(text.encode("utf-8"))
    try:
        res = read_incident_file(p, kind="counts", today=TODAY)
    except InputError as exc:
        assert "h.csv" in str(exc)
        return
    check_invariants(res)
    assert len(res.counts) == res.report.rows_accepted
    assert (res.counts["count"] >= 0).all() and (res.counts["count"] <= 1_000_000).all()
    assert not res.counts.duplicated(["area_code", "period", "category"]).any()
    # Conservation of counts: the accepted rows' count cells (parsed independently) sum to the output total.
    raw = read_table(p)
    col = "count" if "count" in raw.frame.columns else "n"
    accepted = ~pd.Series(raw.row_number).isin(res.report.rejected["row_number"]).to_numpy()
    cells = raw.frame.loc[accepted, col] if res.report.rows_accepted else []
    assert sum(int(float(c.replace(",", ""))) for c in cells) == int(res.counts["count"].sum())
    assert res.report.rows_read == len(raw.frame)


def test_all_rows_rejected_gives_an_empty_typed_table(tmp_path: Path) -> None:
    res = imp(write(tmp_path, "area_code,period,count\nE99,2023-01,1\nE98,2023-01,2\n"))
    check_invariants(res)
    assert res.counts.empty and res.report.rows_rejected == 2
    assert [str(t) for t in res.counts.dtypes] == ["str"] * 5 + ["int64", "Int64"]


def test_unknown_date_format_is_refused(tmp_path: Path, codes) -> None:
    with pytest.raises(ValueError, match="date format"):
        imp(write(tmp_path, f"area_code,period,count\n{codes['lsoa'][0]},2023-01,1\n"), date_format="dd.mm.yy")


def test_public_names() -> None:
    import ingest

    assert sorted(ingest.__all__) == ["ImportReport", "ImportResult", "KINDS", "detect_kind", "read_incident_file"]
    assert ingest.KINDS == ("counts", "records", "policeuk")
