"""Vectorised parsing of single fields (codes, counts, periods, flags, coordinates) from text."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.periods import parse_periods
from ingest.rejections import REASONS

__all__ = [
    "MAX_COUNT", "normalise_codes", "parse_counts", "parse_periods_column", "parse_periods_distinct", "parse_flags",
    "parse_numbers", "is_blank", "distinct", "too_long", "MAX_TEXT_CHARS",
]

MAX_COUNT = 1_000_000  # per row; larger is almost certainly a data error (e.g. a pasted total)

_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}
_INT_RE = r"[+-]?[0-9]+"
_WHOLE_DECIMAL_RE = r"[+-]?[0-9]+\.0*"  # "12.0": an integer written by a spreadsheet
_GROUPED_RE = r"[0-9]{1,3}(,[0-9]{3})+"  # "1,234": thousands separators, unambiguous
# parse_periods error prefix -> our reason key.
_PERIOD_ERRORS = {
    "missing period": REASONS["missing"],
    "unparseable period": REASONS["unparseable_period"],
    "ambiguous date": REASONS["ambiguous_date"],
    "invalid date": REASONS["invalid_date"],
    "future date": REASONS["future_date"],
}


MAX_TEXT_CHARS = 200  # longest category kept: a longer cell is a pasted document, not a label


def too_long(values: pd.Series) -> np.ndarray:
    """True where the text is longer than MAX_TEXT_CHARS (a category is a short label)."""
    return (values.str.len() > MAX_TEXT_CHARS).to_numpy(dtype=bool, na_value=False)


def is_blank(values: pd.Series) -> np.ndarray:
    """True where the text is empty or only whitespace."""
    return (values.str.strip() == "").to_numpy(dtype=bool)


def normalise_codes(values: pd.Series) -> tuple[pd.Series, int]:
    """Strip all whitespace and upper-case area codes; also return how many values changed."""
    norm = values.str.replace(r"\s+", "", regex=True).str.upper()
    return norm, int((norm != values).sum())


def parse_counts(
    values: pd.Series, label: str = "count", weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Text counts -> (int64 values, reason per row or None, notes); blanks are left to the caller.

    Accepts plain integers, whole decimals ("12.0") and thousands separators ("1,234"), each noted.
    Reasons: negative count, non-integer count (includes non-numbers), count too large.
    ``weights``: how many file rows each value stands for (when ``values`` are distinct values), so
    the notes count rows, not values.
    """
    s = values.str.strip()
    n = len(s)
    reason = np.full(n, None, dtype=object)
    notes: list[str] = []
    plain = s.str.fullmatch(_INT_RE).to_numpy(dtype=bool)
    whole = s.str.fullmatch(_WHOLE_DECIMAL_RE).to_numpy(dtype=bool) & ~plain
    grouped = s.str.fullmatch(_GROUPED_RE).to_numpy(dtype=bool)
    text = s.where(~pd.Series(grouped, index=s.index), s.str.replace(",", "", regex=False))
    num = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    integer = plain | whole | grouped
    blank = (s == "").to_numpy(dtype=bool)
    numeric = np.isfinite(num)
    reason[~blank & numeric & (num < 0)] = REASONS["negative"]
    reason[~blank & (~integer | ~numeric) & pd.isna(reason)] = REASONS["non_integer"]
    reason[~blank & pd.isna(reason) & (num > MAX_COUNT)] = REASONS["too_large"]
    good = ~blank & pd.isna(reason)
    out = np.zeros(n, dtype="int64")
    out[good] = num[good].astype("int64")
    w = np.ones(n, dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
    if (whole & good).any():
        notes.append(f"{int(w[whole & good].sum())} {label} values written as whole decimals (e.g. '12.0') read as integers")
    if (grouped & good).any():
        notes.append(f"{int(w[grouped & good].sum())} {label} values with thousands separators (e.g. '1,234') read")
    return out, reason, notes


def parse_periods_column(
    values: pd.Series, date_format: str | None, today: dt.date | None
) -> tuple[pd.Series, pd.Series, np.ndarray, list[str]]:
    """(period, grain, reason or None, notes) per row via analysis.periods, parsing each distinct value once."""
    codes, uniques = pd.factorize(values.str.strip(), sort=False)
    period, grain, key, notes = parse_periods_distinct(pd.Series(uniques, dtype="string"), date_format, today)
    period = pd.Series(period[codes], index=values.index, dtype="str")
    grain = pd.Series(grain[codes], index=values.index, dtype="str")
    return period, grain, key[codes], notes


def parse_periods_distinct(
    values: pd.Series, date_format: str | None, today: dt.date | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(period, grain, reason or None, notes) per value of ``values`` (stripped, distinct) as object arrays.

    Periods starting before ``MIN_YEAR`` are rejected too: no recorded-crime series goes back that far,
    so 1900-01-01 (an empty Excel date) or 1066 is a data error, not history.
    """
    parsed = parse_periods(values, date_format=date_format, today=today)
    notes = list(parsed.attrs.get("notes", []))
    err = parsed["error"].to_numpy(dtype=object)
    text = values.to_numpy(dtype=object, na_value="")
    # per distinct value, not per row
    key = np.array([_period_reason(e, str(v)) for e, v in zip(err, text)], dtype=object)
    period = parsed["period"].to_numpy(dtype=object)
    grain = parsed["grain"].to_numpy(dtype=object)
    year = pd.to_numeric(parsed["period"].str[:4], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    early = year < MIN_YEAR
    if early.any():
        key[early] = REASONS["too_early"]
        period[early] = None
        grain[early] = None
    return period, grain, key, notes


MIN_YEAR = 1970  # earliest period accepted (Excel date serials are read from 1970 too)
_MONTH_LIKE = re.compile(r"^\d{4}\s*-\s*(\d{1,2})$")
_QUARTER_LIKE = re.compile(r"^(?:\d{4}\s*-?\s*Q(\d+)|Q(\d+)\s*-?\s*\d{4})$", re.I)
_FY_LIKE = re.compile(r"^(?:FY\s*)?(\d{4})\s*[/-]\s*(\d{2}|\d{4})(?:\s*-?\s*Q(\d+))?$", re.I)


def _period_reason(error: object, value: str = "") -> str | None:
    if error is None or (isinstance(error, float) and np.isnan(error)) or error is pd.NA:
        return None
    head = str(error).split(":", 1)[0].strip()
    if head == "unparseable period":
        return _unparseable_reason(value.strip())
    return _PERIOD_ERRORS.get(head, head)


def _unparseable_reason(value: str) -> str:
    """A more precise reason for a period that looks like a month, quarter or financial year but is not one."""
    m = _MONTH_LIKE.match(value)
    if m and not 1 <= int(m.group(1)) <= 12 and "/" not in value:
        return REASONS["bad_month"]
    q = _QUARTER_LIKE.match(value)
    if q and not 1 <= int(q.group(1) or q.group(2)) <= 4:
        return REASONS["bad_quarter"]
    f = _FY_LIKE.match(value)
    if f:
        if f.group(3) is not None and not 1 <= int(f.group(3)) <= 4:
            return REASONS["bad_quarter"]
        start, end = int(f.group(1)), int(f.group(2))
        if end not in ((start + 1) % 100, start + 1):
            return REASONS["bad_fy"]
    return REASONS["unparseable_period"]


def parse_flags(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Repeat flags true/false/yes/no/1/0/y/n (any case) -> (bool values, invalid mask)."""
    s = values.str.strip().str.lower()
    t = s.isin(_TRUE).to_numpy(dtype=bool)
    f = s.isin(_FALSE).to_numpy(dtype=bool)
    return t, ~(t | f)


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate text -> (float64, unparseable mask); blanks are NaN and not flagged."""
    s = values.str.strip()
    blank = (s == "").to_numpy(dtype=bool)
    text = s.where(~pd.Series(blank, index=s.index), None)
    try:
        # Arrow's cast is ~15x faster than pd.to_numeric; it raises on any bad value, then we fall back.
        num = pc.cast(pa.array(text, type=pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        num = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    num = np.asarray(num, dtype="float64")
    return num, ~blank & ~np.isfinite(num)
