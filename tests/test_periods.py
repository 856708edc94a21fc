"""Period parsing, conversion and stepping (analysis/periods.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from analysis.periods import (
    can_convert,
    convert_periods,
    first_month_index,
    labels_from_month_index,
    months_in,
    months_per_period,
    parse_periods,
    period_range,
    same_period_last_year,
    shift_period,
)
from geo.schema import AtlasError

TODAY = dt.date(2025, 11, 25)


def parse(values, **kw):
    return parse_periods(pd.Series(values, dtype="string"), today=TODAY, **kw)


@pytest.mark.parametrize(
    "text, period, grain",
    [
        ("2019-04", "2019-04", "month"),
        (" 2019-4 ", "2019-04", "month"),
        ("2019-04-30", "2019-04", "month"),
        ("2019-04-30T23:59:00", "2019-04", "month"),
        ("2019-04-30 00:00:00", "2019-04", "month"),
        ("Apr 2019", "2019-04", "month"),
        ("September 2020", "2020-09", "month"),
        ("2019-Q2", "2019-Q2", "quarter"),
        ("q3 2020", "2020-Q3", "quarter"),
        ("2019/20-Q1", "2019/20-Q1", "fyquarter"),
        ("Q4 2019/20", "2019/20-Q4", "fyquarter"),
        ("2019/20", "2019/20", "fy"),
        ("2019-20", "2019/20", "fy"),
        ("FY2019/2020", "2019/20", "fy"),
        ("1999/00", "1999/00", "fy"),
        ("2019", "2019", "year"),
        ("43831", "2020-01", "month"),  # Excel serial for 1 Jan 2020
        ("43831.0", "2020-01", "month"),
    ],
)
def test_parse_accepts_each_form(text, period, grain):
    r = parse([text])
    assert r.loc[0, "error"] is None
    assert (r.loc[0, "period"], r.loc[0, "grain"]) == (period, grain)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "missing period"),
        ("garbage", "unparseable period"),
        ("2019-13", "unparseable period"),
        ("2019/21", "unparseable period"),
        ("31/02/2020", "invalid date"),
        ("2019-02-30", "invalid date"),
        ("2030-01", "future date"),
        ("2026-01-01", "future date"),
        ("2011-12", "ambiguous date"),  # December 2011 or FY 2011/12
    ],
)
def test_parse_rejects_with_reason(text, reason):
    r = parse([text])
    assert r.loc[0, "error"].split(":")[0] == reason
    assert pd.isna(r.loc[0, "period"]) and pd.isna(r.loc[0, "grain"])


def test_ambiguous_slash_dates_are_refused_without_a_format():
    r = parse(["03/04/2021", "05/05/2020"])
    assert r.loc[0, "error"].startswith("ambiguous date")
    assert r.loc[1, "period"] == "2020-05"  # reads the same either way


def test_slash_dates_follow_the_chosen_format():
    assert parse(["03/04/2021"], date_format="dd/mm/yyyy").loc[0, "period"] == "2021-04"
    assert parse(["03/04/2021"], date_format="mm/dd/yyyy").loc[0, "period"] == "2021-03"
    r = parse(["25/12/2020"], date_format="mm/dd/yyyy")
    assert r.loc[0, "error"].startswith("invalid date")


def test_column_evidence_settles_slash_dates_and_is_noted():
    r = parse(["03/04/2021", "25/12/2020"])
    assert r["period"].tolist() == ["2021-04", "2020-12"]
    assert any("dd/mm/yyyy" in n for n in r.attrs["notes"])
    r = parse(["04/03/2021", "12/25/2020"])
    assert r["period"].tolist() == ["2021-04", "2020-12"]
    # Evidence both ways: nothing is guessed.
    r = parse(["25/12/2020", "12/25/2020", "03/04/2021"])
    assert r["error"].str.startswith("invalid date").sum() + r["error"].str.startswith("ambiguous").sum() >= 1
    assert r.loc[2, "error"].startswith("ambiguous date")


def test_unknown_date_format_is_an_error():
    with pytest.raises(AtlasError, match="date format"):
        parse(["2019-04"], date_format="yy/mm/dd")


@pytest.mark.parametrize(
    "labels, src, dst, expected",
    [
        (["2019-03", "2019-04", "2020-03", "2020-04"], "month", "fy", ["2018/19", "2019/20", "2019/20", "2020/21"]),
        (["2019-01", "2019-04", "2019-12"], "month", "fyquarter", ["2018/19-Q4", "2019/20-Q1", "2019/20-Q3"]),
        (["2019-01", "2019-06", "2019-12"], "month", "quarter", ["2019-Q1", "2019-Q2", "2019-Q4"]),
        (["2019-Q1", "2019-Q2"], "quarter", "fy", ["2018/19", "2019/20"]),
        (["2019/20-Q4", "2019/20-Q1"], "fyquarter", "quarter", ["2020-Q1", "2019-Q2"]),
        (["2019/20-Q4"], "fyquarter", "year", ["2020"]),
        (["2019/20"], "fy", "fy", ["2019/20"]),
    ],
)
def test_convert_periods(labels, src, dst, expected):
    assert convert_periods(pd.Series(labels), src, dst).tolist() == expected


@pytest.mark.parametrize("src, dst", [("fy", "year"), ("year", "fy"), ("fy", "quarter"), ("quarter", "month")])
def test_conversion_never_splits(src, dst):
    assert not can_convert(src, dst)
    with pytest.raises(AtlasError, match="cannot convert"):
        convert_periods(pd.Series(["2019"]), src, dst)


def test_malformed_label_is_an_error():
    with pytest.raises(AtlasError, match="not a valid fy label"):
        first_month_index(["2019/21"], "fy")


def test_ranges_and_steps():
    assert len(period_range("2019-04", "2025-03", "month")) == 72
    assert period_range("2019/20", "2021/22", "fy") == ["2019/20", "2020/21", "2021/22"]
    assert period_range("2019/20-Q3", "2020/21-Q1", "fyquarter") == ["2019/20-Q3", "2019/20-Q4", "2020/21-Q1"]
    assert shift_period("2019/20-Q1", "fyquarter", -1) == "2018/19-Q4"
    assert shift_period("2019-12", "month", 1) == "2020-01"
    assert same_period_last_year("2024-Q3", "quarter") == "2023-Q3"
    assert same_period_last_year("2024/25", "fy") == "2023/24"
    assert months_in("2019/20-Q4", "fyquarter") == ["2020-01", "2020-02", "2020-03"]
    assert months_in("2019/20", "fy")[0] == "2019-04" and months_in("2019/20", "fy")[-1] == "2020-03"


def test_months_per_period_matches_months_in():
    examples = {"month": "2020-02", "quarter": "2020-Q1", "fyquarter": "2019/20-Q4", "fy": "2019/20", "year": "2020"}
    assert {g: months_per_period(g) for g in examples} == {"month": 1, "quarter": 3, "fyquarter": 3, "fy": 12, "year": 12}
    assert all(months_per_period(g) == len(months_in(label, g)) for g, label in examples.items())
    with pytest.raises(AtlasError, match="unknown period grain 'week'"):
        months_per_period("week")


@given(st.integers(min_value=1990 * 12, max_value=2100 * 12))
def test_label_round_trip(idx):
    for grain in ("month", "quarter", "fyquarter", "fy", "year"):
        label = labels_from_month_index(np.array([idx]), grain)
        start = first_month_index(label, grain)[0]
        assert start <= idx < start + {"month": 1, "quarter": 3, "fyquarter": 3, "fy": 12, "year": 12}[grain]
        # A month converts consistently through any chain of grains.
    m = labels_from_month_index(np.array([idx]), "month")
    via_q = convert_periods(convert_periods(m, "month", "fyquarter"), "fyquarter", "fy")
    assert via_q.tolist() == convert_periods(m, "month", "fy").tolist()
