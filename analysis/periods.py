"""Period labels: parse what users type, convert between grains, order and step through them.

Labels by grain: month ``2019-04``; calendar quarter ``2019-Q2``; financial quarter ``2019/20-Q1``
(Q1 = April-June, the UK public-sector year); financial year ``2019/20``; calendar year ``2019``.
Every label is handled through the index of its first month (``year * 12 + month - 1``), so conversion
is arithmetic on integer arrays.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from geo.schema import AtlasError, GRAINS

DATE_FORMATS: tuple[str, ...] = ("dd/mm/yyyy", "mm/dd/yyyy", "yyyy-mm-dd")

# Which grains a period of each grain nests inside (it may be relabelled or summed into them).
_NESTS_IN: dict[str, frozenset[str]] = {
    "month": frozenset(GRAINS),
    "quarter": frozenset({"quarter", "fyquarter", "fy", "year"}),
    "fyquarter": frozenset({"quarter", "fyquarter", "fy", "year"}),
    "fy": frozenset({"fy"}),
    "year": frozenset({"year"}),
}
_MONTHS_IN = {"month": 1, "quarter": 3, "fyquarter": 3, "fy": 12, "year": 12}

_MONTH_NAMES = {
    m.lower(): i
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
         ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
         ("oct", "october"), ("nov", "november"), ("dec", "december")],
        start=1,
    )
    for m in names
}
# Excel's 1900 date system counts days from 1899-12-30 (it keeps Lotus's phantom 29 Feb 1900).
_EXCEL_EPOCH = np.datetime64("1899-12-30")
_EXCEL_SERIAL_RANGE = (25569, 73051)  # 1970-01-01 .. 2099-12-31

_PATTERNS: dict[str, re.Pattern[str]] = {
    "month": re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})$"),
    "iso_date": re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:[T ].*)?$"),
    "slash_date": re.compile(r"^(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<y>\d{4})(?:[T ].*)?$"),
    "month_name": re.compile(r"^(?P<mn>[A-Za-z]{3,9})\.?[\s-]*(?P<y>\d{4})$"),
    "quarter": re.compile(r"^(?:(?P<y1>\d{4})\s*-?\s*Q(?P<q1>[1-4])|Q(?P<q2>[1-4])\s*-?\s*(?P<y2>\d{4}))$", re.I),
    "fyquarter": re.compile(
        r"^(?:FY\s*)?(?P<y>\d{4})\s*[/-]\s*(?P<y2>\d{2}|\d{4})\s*-?\s*Q(?P<q>[1-4])$"
        r"|^Q(?P<qb>[1-4])\s*-?\s*(?:FY\s*)?(?P<yb>\d{4})\s*[/-]\s*(?P<y2b>\d{2}|\d{4})$",
        re.I,
    ),
    "fy": re.compile(r"^(?P<fy>FY\s*)?(?P<y>\d{4})\s*(?P<sep>[/-])\s*(?P<y2>\d{2}|\d{4})$", re.I),
    "year": re.compile(r"^(?P<y>\d{4})$"),
    "excel_serial": re.compile(r"^(?P<n>\d{5})(?:\.0+)?$"),
}


def can_convert(from_grain: str, to_grain: str) -> bool:
    """True when every period of ``from_grain`` lies inside exactly one period of ``to_grain``."""
    _check_grain(from_grain)
    _check_grain(to_grain)
    return to_grain in _NESTS_IN[from_grain]


def first_month_index(labels: pd.Series | list[str], grain: str) -> np.ndarray:
    """Index (year*12 + month-1) of the first month of each label; raises on a malformed label."""
    s = pd.Series(labels, dtype="string").reset_index(drop=True)
    _check_grain(grain)
    if grain == "month":
        parts = s.str.extract(r"^(\d{4})-(\d{2})$")
        y, m = parts[0], parts[1]
        ok = parts.notna().all(axis=1) & pd.to_numeric(m, errors="coerce").between(1, 12)
        idx = pd.to_numeric(y, errors="coerce") * 12 + pd.to_numeric(m, errors="coerce") - 1
    elif grain == "quarter":
        parts = s.str.extract(r"^(\d{4})-Q([1-4])$")
        ok = parts.notna().all(axis=1)
        idx = pd.to_numeric(parts[0], errors="coerce") * 12 + (pd.to_numeric(parts[1], errors="coerce") - 1) * 3
    elif grain == "fyquarter":
        parts = s.str.extract(r"^(\d{4})/(\d{2})-Q([1-4])$")
        start = pd.to_numeric(parts[0], errors="coerce")
        ok = parts.notna().all(axis=1) & (pd.to_numeric(parts[1], errors="coerce") == (start + 1) % 100)
        idx = start * 12 + 3 + (pd.to_numeric(parts[2], errors="coerce") - 1) * 3
    elif grain == "fy":
        parts = s.str.extract(r"^(\d{4})/(\d{2})$")
        start = pd.to_numeric(parts[0], errors="coerce")
        ok = parts.notna().all(axis=1) & (pd.to_numeric(parts[1], errors="coerce") == (start + 1) % 100)
        idx = start * 12 + 3
    else:  # year
        parts = s.str.extract(r"^(\d{4})$")
        ok = parts.notna().all(axis=1)
        idx = pd.to_numeric(parts[0], errors="coerce") * 12
    ok = ok.fillna(False).astype(bool)
    if not ok.all():
        bad = s[~ok].head(5).tolist()
        raise AtlasError(f"not a valid {grain} label: {bad} (expected like {example_label(grain)})")
    return idx.to_numpy(dtype=np.int64)


def labels_from_month_index(idx: np.ndarray, grain: str) -> pd.Series:
    """Label of the ``grain`` period containing each month index."""
    _check_grain(grain)
    idx = np.asarray(idx, dtype=np.int64)
    year, month = idx // 12, idx % 12 + 1
    fy_start = np.where(month >= 4, year, year - 1)
    if grain == "month":
        out = [f"{y:04d}-{m:02d}" for y, m in zip(year, month)]
    elif grain == "quarter":
        out = [f"{y:04d}-Q{q}" for y, q in zip(year, (month - 1) // 3 + 1)]
    elif grain == "fyquarter":
        fq = (month - 4) % 12 // 3 + 1
        out = [f"{s:04d}/{(s + 1) % 100:02d}-Q{q}" for s, q in zip(fy_start, fq)]
    elif grain == "fy":
        out = [f"{s:04d}/{(s + 1) % 100:02d}" for s in fy_start]
    else:
        out = [f"{y:04d}" for y in year]
    return pd.Series(out, dtype="string")


def convert_periods(labels: pd.Series, from_grain: str, to_grain: str) -> pd.Series:
    """Relabel periods of ``from_grain`` to the containing ``to_grain`` period (never splits)."""
    if not can_convert(from_grain, to_grain):
        raise AtlasError(
            f"cannot convert {from_grain} periods to {to_grain}: a {from_grain} does not lie inside one {to_grain}"
        )
    index = labels.index if isinstance(labels, pd.Series) else None
    uniq, inverse = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    mapped = labels_from_month_index(first_month_index(pd.Series(uniq), from_grain), to_grain).to_numpy()
    return pd.Series(mapped[inverse], index=index, dtype="string")


def period_sort_key(labels: pd.Series | list[str], grain: str) -> np.ndarray:
    """Chronological sort key for labels of one grain."""
    return first_month_index(labels, grain)


def period_range(first: str, last: str, grain: str) -> list[str]:
    """Every ``grain`` label from ``first`` to ``last`` inclusive, in order."""
    a, b = first_month_index([first, last], grain)
    if b < a:
        raise AtlasError(f"period range ends before it starts: {first} .. {last}")
    step = _MONTHS_IN[grain]
    return labels_from_month_index(np.arange(a, b + 1, step), grain).tolist()


def shift_period(label: str, grain: str, steps: int) -> str:
    """The period ``steps`` periods after ``label`` (negative for earlier)."""
    (start,) = first_month_index([label], grain)
    return labels_from_month_index(np.array([start + steps * _MONTHS_IN[grain]]), grain).iloc[0]


def same_period_last_year(label: str, grain: str) -> str:
    """The matching period twelve months earlier."""
    return shift_period(label, grain, -(12 // _MONTHS_IN[grain]))


def months_per_period(grain: str) -> int:
    """How many months one period of ``grain`` spans (month 1, quarters 3, years 12)."""
    _check_grain(grain)
    return _MONTHS_IN[grain]


def months_in(label: str, grain: str) -> list[str]:
    """The month labels a period covers."""
    (start,) = first_month_index([label], grain)
    return labels_from_month_index(np.arange(start, start + _MONTHS_IN[grain]), "month").tolist()


def example_label(grain: str) -> str:
    """An example label of a grain, for messages."""
    return {"month": "2019-04", "quarter": "2019-Q2", "fyquarter": "2019/20-Q1", "fy": "2019/20", "year": "2019"}[grain]


def parse_periods(
    values: pd.Series, date_format: str | None = None, today: dt.date | None = None
) -> pd.DataFrame:
    """Parse user period/date text to (period, grain, error); one output row per input row.

    Dates become months. Slash dates (``03/04/2021``) need ``date_format`` unless the column itself
    settles it (a day above 12 in one position and never in the other); the decision is recorded in
    ``result.attrs["notes"]``. An undecidable date is an error, never a guess. Errors are
    ``"<reason>: <detail>"`` with reason one of: missing period, unparseable period, ambiguous date,
    invalid date, future date.
    """
    if date_format is not None and date_format not in DATE_FORMATS:
        raise AtlasError(f"unknown date format {date_format!r}; choose one of {', '.join(DATE_FORMATS)}")
    today = today or dt.date.today()
    s = pd.Series(values, dtype="string").str.strip().reset_index(drop=True)
    n = len(s)
    month_idx = np.full(n, -1, dtype=np.int64)
    grain = np.full(n, None, dtype=object)
    error = np.full(n, None, dtype=object)
    notes: list[str] = []
    done = np.zeros(n, dtype=bool)

    def settle(mask: np.ndarray, idx: np.ndarray, g: str) -> None:
        month_idx[mask] = idx[mask]
        grain[mask] = g
        done[mask] = True

    def fail(mask: np.ndarray, reason: str) -> None:
        for i in np.flatnonzero(mask & ~done):
            error[i] = reason if missing[i] else f"{reason}: '{s.iloc[i]}'"
        done[mask] = True

    missing = (s.isna() | (s == "")).fillna(True).to_numpy(dtype=bool)
    fail(missing, "missing period")

    def num(frame: pd.DataFrame, col: str) -> np.ndarray:
        return pd.to_numeric(frame[col], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)

    # YYYY-MM, and YYYY-YY that could be a financial year written with a hyphen (2009-10).
    m = s.str.extract(_PATTERNS["month"])
    hit = m["y"].notna().to_numpy() & ~done
    y, mo = num(m, "y"), num(m, "m")
    fy_like = hit & (mo == (y + 1) % 100)
    # 2011-12 could be December 2011 or financial year 2011/12: refuse rather than guess.
    fail(fy_like & (mo >= 1) & (mo <= 12), "ambiguous date")
    valid = hit & ~done & (mo >= 1) & (mo <= 12)
    settle(valid, y * 12 + mo - 1, "month")
    # A hyphenated financial year such as 2019-20 falls through to the fy pattern below.

    d = s.str.extract(_PATTERNS["iso_date"])
    hit = d["y"].notna().to_numpy() & ~done
    if date_format not in (None, "yyyy-mm-dd") and hit.any():
        notes.append(f"ISO dates (yyyy-mm-dd) read as such although the date format is {date_format}")
    _settle_dates(hit, num(d, "y"), num(d, "m"), num(d, "d"), settle, fail)

    sl = s.str.extract(_PATTERNS["slash_date"])
    hit = sl["y"].notna().to_numpy() & ~done
    if hit.any():
        a, b, yy = num(sl, "a"), num(sl, "b"), num(sl, "y")
        fmt = date_format
        if fmt is None or fmt == "yyyy-mm-dd":
            first_big, second_big = (hit & (a > 12)).any(), (hit & (b > 12)).any()
            if first_big and not second_big:
                fmt = "dd/mm/yyyy"
                notes.append("dates read as dd/mm/yyyy: a day above 12 appears first and never second")
            elif second_big and not first_big:
                fmt = "mm/dd/yyyy"
                notes.append("dates read as mm/dd/yyyy: a day above 12 appears second and never first")
        if fmt in ("dd/mm/yyyy", "mm/dd/yyyy"):
            day, mon = (a, b) if fmt == "dd/mm/yyyy" else (b, a)
            _settle_dates(hit, yy, mon, day, settle, fail)
        else:
            same = hit & (a == b)  # 05/05/2020 reads the same either way
            _settle_dates(same, yy, a, b, settle, fail)
            fail(hit & ~same, "ambiguous date")

    mn = s.str.extract(_PATTERNS["month_name"])
    names = mn["mn"].str.lower().map(_MONTH_NAMES)
    hit = names.notna().to_numpy() & ~done
    settle(hit, num(mn, "y") * 12 + names.fillna(1).to_numpy(dtype=np.int64) - 1, "month")

    q = s.str.extract(_PATTERNS["quarter"])
    qy = np.where(q["y1"].notna(), num(q, "y1"), num(q, "y2"))
    qq = np.where(q["q1"].notna(), num(q, "q1"), num(q, "q2"))
    hit = (q["y1"].notna() | q["y2"].notna()).to_numpy() & ~done
    settle(hit, qy * 12 + (qq - 1) * 3, "quarter")

    fq = s.str.extract(_PATTERNS["fyquarter"])
    fy_y = np.where(fq["y"].notna(), num(fq, "y"), num(fq, "yb"))
    fy_y2 = np.where(fq["y2"].notna(), num(fq, "y2"), num(fq, "y2b"))
    fy_q = np.where(fq["q"].notna(), num(fq, "q"), num(fq, "qb"))
    hit = (fq["y"].notna() | fq["yb"].notna()).to_numpy() & ~done
    good = hit & ((fy_y2 == (fy_y + 1) % 100) | (fy_y2 == fy_y + 1))
    settle(good, fy_y * 12 + 3 + (fy_q - 1) * 3, "fyquarter")
    fail(hit & ~good, "unparseable period")

    f = s.str.extract(_PATTERNS["fy"])
    hit = f["y"].notna().to_numpy() & ~done
    fy1, fy2 = num(f, "y"), num(f, "y2")
    good = hit & ((fy2 == (fy1 + 1) % 100) | (fy2 == fy1 + 1))
    settle(good, fy1 * 12 + 3, "fy")
    fail(hit & ~good, "unparseable period")

    yr = s.str.extract(_PATTERNS["year"])
    hit = yr["y"].notna().to_numpy() & ~done
    settle(hit, num(yr, "y") * 12, "year")

    ex = s.str.extract(_PATTERNS["excel_serial"])
    serial = num(ex, "n")
    hit = ex["n"].notna().to_numpy() & ~done
    in_range = hit & (serial >= _EXCEL_SERIAL_RANGE[0]) & (serial <= _EXCEL_SERIAL_RANGE[1])
    if in_range.any():
        dates = _EXCEL_EPOCH + serial[in_range].astype("timedelta64[D]")
        ym = dates.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
        idx = np.full(n, -1, dtype=np.int64)
        idx[in_range] = ym + 1970 * 12
        settle(in_range, idx, "month")
        notes.append(f"{int(in_range.sum())} Excel date serial numbers read as dates")

    fail(~done, "unparseable period")

    # A period that starts after the current month has not happened yet.
    this_month = today.year * 12 + today.month - 1
    fail_future = (month_idx > this_month) & (grain != None)  # noqa: E711 (object array)
    for i in np.flatnonzero(fail_future):
        error[i] = f"future date: '{s.iloc[i]}'"
        grain[i] = None

    period = pd.Series(pd.NA, index=range(n), dtype="string")
    ok = grain != None  # noqa: E711
    for g in GRAINS:
        sel = ok & (grain == g)
        if sel.any():
            period[sel] = labels_from_month_index(month_idx[sel], g).to_numpy()
    out = pd.DataFrame({"period": period, "grain": pd.Series(grain, dtype="string"), "error": error})
    out.index = values.index if isinstance(values, pd.Series) else out.index
    out.attrs["notes"] = notes
    return out


def _settle_dates(mask, year, month, day, settle, fail) -> None:
    """Settle rows whose (year, month, day) is a real calendar date; others are invalid dates."""
    if not mask.any():
        return
    ok = mask.copy()
    idx = np.flatnonzero(mask)
    valid = pd.to_datetime(
        pd.DataFrame({"year": year[idx], "month": month[idx], "day": day[idx]}), errors="coerce"
    ).notna().to_numpy()
    ok[idx[~valid]] = False
    settle(ok, year * 12 + month - 1, "month")
    fail(mask & ~ok, "invalid date")


def _check_grain(grain: str) -> None:
    if grain not in GRAINS:
        raise AtlasError(f"unknown period grain {grain!r}; choose one of {', '.join(GRAINS)}")
