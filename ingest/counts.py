"""Import pre-aggregated counts: one row per area x period (x category) with a count."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from boundaries.registry import BoundarySet, get_boundary_set
from geo.schema import ALL_CATEGORIES, AREA_CODE, CATEGORY, COUNT, GRAIN, LEVEL, PERIOD, REPEAT_COUNT
from ingest.areas import codes_by_level
from analysis.cube import distinct
from ingest.fields import is_blank, normalise_codes, parse_counts, parse_periods_distinct, too_long
from ingest.reader import RawTable, repeated_header_rows, short_rows
from ingest.rejections import REASONS, RowReasons, reject_missing
from ingest.report import COUNTS_COLUMNS

__all__ = ["COUNTS_ROLES", "import_counts"]

COUNTS_ROLES: tuple[str, ...] = ("area", "repeat_count", "count", "period", "category")


def import_counts(
    raw: RawTable,
    roles: dict[str, str],
    boundary_set: str | BoundarySet,
    date_format: str | None,
    today: dt.date | None,
    stored_keys: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, RowReasons, list[str]]:
    """Validate every row; accepted rows become the tidy counts (one row per key, nothing summed).

    ``stored_keys``: keys already in the target dataset; rows repeating one are rejected.
    Each column is checked once per distinct value (a national file has millions of rows but only
    tens of thousands of codes and a few dozen periods) and the verdicts are mapped back to rows
    by integer code, so no per-row Python work is done.
    """
    f = raw.frame
    n = len(f)
    rr = RowReasons(n)
    notes: list[str] = []
    used = list(roles.values())
    rr.reject(short_rows(raw, used), REASONS["short_row"])

    area = _Column(f[roles["area"]])
    if (area.values == roles["area"]).any():  # the header's text among the codes: look for repeated headers
        rr.reject(repeated_header_rows(raw, used), REASONS["repeated_header"])
    norm_values, _ = normalise_codes(area.values)
    changed = area.rows(norm_values != area.values)
    if changed:
        notes.append(f"{changed} area codes normalised (spaces removed, upper-cased)")
    # Distinct raw spellings can normalise to one code ("e01 000001", "E01000001"): code ids are per code.
    code_id, codes = _refactorize(area, norm_values)
    cat_col = roles.get("category")
    if cat_col:
        cat_raw = _Column(f[cat_col])
        cat_id, categories = _refactorize(cat_raw, cat_raw.values.str.strip())
    else:
        cat_id, categories = np.zeros(n, dtype=np.intp), pd.Series([ALL_CATEGORIES], dtype="str")
    period_raw = _Column(f[roles["period"]])
    count_raw = _Column(f[roles["count"]])

    blanks = {
        "area code": is_blank(codes)[code_id],
        "period": period_raw.map(is_blank(period_raw.values)),
        "count": count_raw.map(is_blank(count_raw.values)),
    }
    if cat_col:
        blanks["category"] = is_blank(categories)[cat_id]
    notes += reject_missing(rr, blanks, raw.row_number)
    if cat_col:
        rr.reject(too_long(categories)[cat_id], REASONS["long_text"])

    count_u, count_reason_u, count_notes = parse_counts(count_raw.values, weights=count_raw.weights)
    count = count_raw.map(count_u)
    _reject_per_value(rr, count_raw.codes, count_reason_u)

    repeat = pd.arrays.IntegerArray(np.zeros(n, dtype="int64"), np.ones(n, dtype=bool))
    if "repeat_count" in roles:
        rep_raw = _Column(f[roles["repeat_count"]])
        rep_blank = rep_raw.map(is_blank(rep_raw.values))
        rep_u, rep_reason_u, rep_notes = parse_counts(rep_raw.values, label="repeat count", weights=rep_raw.weights)
        rep = rep_raw.map(rep_u)
        rr.reject(rep_raw.map(~pd.isna(rep_reason_u)), REASONS["bad_repeat_count"])
        rr.reject(~rep_blank & (rep > count), REASONS["repeat_exceeds"])
        repeat = pd.arrays.IntegerArray(rep, rep_blank.copy())
        count_notes += rep_notes
    notes += count_notes

    level, level_notes = _match_levels(codes, code_id, boundary_set, rr)
    notes += level_notes
    notes += _vintage_hint(codes, code_id, rr, boundary_set)

    # Periods are parsed once per distinct stripped text, in order of first appearance (as per row).
    stripped_id, stripped = _refactorize(period_raw, period_raw.values.str.strip())
    period_u, grain_u, period_reason_u, period_notes = parse_periods_distinct(
        pd.Series(stripped, dtype="string"), date_format, today
    )
    notes += period_notes
    _reject_per_value(rr, stripped_id, period_reason_u)
    # Rows are keyed by the period label, which distinct texts can share ("2024-04", "2024-04-17").
    label_of, labels = pd.factorize(pd.Series(period_u, dtype="str"))
    label_id = label_of[stripped_id]
    grain_of = pd.Series(grain_u, dtype="str")
    main_grain = ""
    ok = rr.ok
    if ok.any():
        # One grain per file: a file mixing months and quarters would double count when rolled up.
        main_grain, n_grains = _main_grain(grain_of, stripped_id, ok)
        rr.reject((grain_of != main_grain).to_numpy(dtype=bool)[stripped_id], REASONS["mixed_grain"])
        if n_grains > 1:
            notes.append(f"periods are {main_grain}s; rows at other grains rejected")

    # Duplicate key among otherwise valid rows: the first occurrence in file order wins.
    ok = rr.ok
    dup_ok = np.zeros(n, dtype=bool)
    dup_ok[ok] = _duplicated(
        [(code_id[ok], len(codes)), (label_id[ok], len(labels)), (cat_id[ok], len(categories))]
    )
    rr.reject(dup_ok, REASONS["duplicate"])
    _reject_stored(rr, stored_keys, level, codes, code_id, pd.Series(labels, dtype="str"), label_id,
                   grain_of, stripped_id, categories, cat_id)

    ok = rr.ok
    k = int(ok.sum())
    # Every accepted row has the file's level and main grain (rows at other grains were rejected).
    out = pd.DataFrame(
        {
            AREA_CODE: _take_text(codes, code_id[ok]),
            LEVEL: _repeat_text(level or "", k),
            PERIOD: _take_text(pd.Series(labels, dtype="str"), label_id[ok]),
            GRAIN: _repeat_text(main_grain, k),
            CATEGORY: _take_text(categories, cat_id[ok]) if cat_col else _repeat_text(ALL_CATEGORIES, k),
            COUNT: count[ok],
            REPEAT_COUNT: repeat[ok],
        }
    )
    return out[list(COUNTS_COLUMNS)], rr, notes


class _Column:
    """A text column as distinct values plus a code per row (values[codes] == the column)."""

    def __init__(self, column: pd.Series):
        self.codes, self.values = distinct(column)
        # Rows per distinct value: notes and counts of changed values are about rows.
        self.weights = np.bincount(self.codes, minlength=len(self.values))

    def map(self, per_value: np.ndarray | pd.Series) -> np.ndarray:
        """A per-value array spread to rows."""
        return np.asarray(per_value)[self.codes]

    def rows(self, per_value: np.ndarray | pd.Series) -> int:
        """Number of rows whose value is flagged in a per-value boolean array."""
        return int(self.weights[np.asarray(per_value, dtype=bool)].sum())


def _refactorize(col: _Column, derived: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Row ids and distinct values of a per-value transform of ``col`` (distinct inputs may coincide)."""
    of, uniques = distinct(derived.reset_index(drop=True))
    return of[col.codes], uniques


def _reject_per_value(rr: RowReasons, codes: np.ndarray, reason_u: np.ndarray) -> None:
    """Reject rows with the reason (None = fine) of their distinct value, one mask per reason."""
    bad = ~pd.isna(reason_u)
    if bad.any():
        rr.reject(bad[codes], np.asarray(reason_u, dtype=object)[codes])


def _main_grain(grain_of: pd.Series, stripped_id: np.ndarray, ok: np.ndarray) -> tuple[str, int]:
    """The most common grain among ok rows (ties: the first to appear) and how many grains they have."""
    gid_of, grains = pd.factorize(grain_of)
    # Ok rows per distinct period text, summed per grain: no per-row grain array is built.
    per_text = np.bincount(stripped_id[ok], minlength=len(grain_of))
    valid = gid_of >= 0
    counts = np.bincount(gid_of[valid], weights=per_text[valid], minlength=len(grains)).astype(np.int64)
    present = np.flatnonzero(counts)
    top = present[counts[present] == counts[present].max()]
    if len(top) > 1:
        # As Series.value_counts orders ties: by first appearance among ok rows.
        gid = gid_of[stripped_id[ok]]
        top = top[np.argsort([int(np.argmax(gid == g)) for g in top], kind="stable")]
    return str(grains[top[0]]), len(present)


# Key spaces up to this size, or up to 4 possible keys per row, are checked with a counting array
# (8 bytes per possible key, so never much more than the row ids) instead of hashing every row.
_MAX_DENSE_KEYS = 1 << 22


def _duplicated(parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Rows whose key (a tuple of ids, each with its number of values) occurred earlier, in row order.

    The same answer as DataFrame.duplicated(keep="first"); when the ids fit one dense integer
    range (a national monthly file: 32,844 codes x 72 months) counting each key replaces hashing
    millions of rows, and only rows whose key occurs more than once are looked at further.
    """
    n = len(parts[0][0])
    space = 1
    for _, size in parts:
        space *= max(size, 1)
    if n == 0 or space > max(_MAX_DENSE_KEYS, 4 * n):
        return pd.DataFrame({str(i): ids for i, (ids, _) in enumerate(parts)}).duplicated(keep="first").to_numpy(bool)
    key = np.zeros(n, dtype=np.int64)
    for ids, size in parts:
        key = key * max(size, 1) + ids
    seen = np.bincount(key, minlength=space)
    out = np.zeros(n, dtype=bool)
    if seen.max(initial=0) > 1:
        repeated = np.flatnonzero(seen[key] > 1)
        out[repeated] = pd.Series(key[repeated]).duplicated(keep="first").to_numpy(dtype=bool)
    return out


def _repeat_text(value: str, k: int) -> pd.Series:
    """A 'str' column holding one value k times."""
    return pd.Series(pd.array(pa.repeat(pa.scalar(value, type=pa.large_string()), k), dtype="str"))


def _take_text(values: pd.Series, idx: np.ndarray) -> pd.Series:
    """values[idx] as a 'str' column built by Arrow (no Python string per row)."""
    arr = pa.array(values, from_pandas=True).take(pa.array(idx, type=pa.int64()))
    return pd.Series(pd.array(arr, dtype="str"))


def _reject_stored(
    rr: RowReasons,
    stored: pd.DataFrame | None,
    level: str | None,
    codes: pd.Series,
    code_id: np.ndarray,
    labels: pd.Series,
    label_id: np.ndarray,
    grain_of: pd.Series,
    stripped_id: np.ndarray,
    categories: pd.Series,
    cat_id: np.ndarray,
) -> None:
    """Reject ok rows whose key is already stored, matching stored keys to this file's distinct values."""
    ok = rr.ok
    if stored is None or stored.empty or not ok.any():
        return
    s = stored[[AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY]].astype("str")
    # A stored key can only match when each of its parts is one of this file's distinct values.
    a = pd.Index(codes).get_indexer(s[AREA_CODE])
    p = pd.Index(labels).get_indexer(s[PERIOD])
    c = pd.Index(categories).get_indexer(s[CATEGORY])
    keep = (a >= 0) & (p >= 0) & (c >= 0) & (s[LEVEL] == str(level)).to_numpy(dtype=bool)
    if not keep.any():
        return
    marker = pd.DataFrame({"a": a[keep], "p": p[keep], "c": c[keep], "g": s[GRAIN].to_numpy()[keep]})
    probe = pd.DataFrame(
        {"a": code_id[ok], "p": label_id[ok], "c": cat_id[ok], "g": grain_of.to_numpy(dtype=object)[stripped_id[ok]]}
    )
    marker = marker.drop_duplicates().assign(_stored=True)
    hit_ok = probe.merge(marker, on=["a", "p", "c", "g"], how="left")["_stored"].fillna(False).to_numpy(dtype=bool)
    hit = np.zeros(len(ok), dtype=bool)
    hit[ok] = hit_ok
    rr.reject(hit, REASONS["already_stored"])


def _vintage_hint(codes: pd.Series, code_id: np.ndarray, rr: RowReasons, boundary_set: str | BoundarySet) -> list[str]:
    """A note when unknown codes look like the set's codes (same GSS prefix): probably another vintage."""
    if rr.ok.all():  # no row rejected, so none for an unknown code (saves comparing every row's reason)
        return []
    unknown = rr.reason == REASONS["unknown_area"]
    if not unknown.any():
        return []
    bs = get_boundary_set(boundary_set)
    by_level, _ = codes_by_level(bs)
    prefixes = {lv: {c[:3] for c in known if len(c) == 9} for lv, known in by_level.items()}
    cand = codes.iloc[np.unique(code_id[unknown])]  # the distinct unknown codes
    cand = cand[cand.str.fullmatch(r"[EWSN][0-9]{8}").fillna(False).to_numpy(dtype=bool)]
    for lv, pre in prefixes.items():
        hits = cand[cand.str[:3].isin(pre)].unique()
        if len(hits):
            vintage = f"the set is {bs.vintage}" if getattr(bs, "vintage", "") else "e.g. 2021 codes, 2011 boundaries"
            return [
                f"{len(hits)} unknown area codes look like {lv} codes but are not in boundary set {bs.name!r} "
                f"(e.g. {', '.join(sorted(hits)[:3])}): they may be from another vintage ({vintage}); "
                "recode them or register boundaries of that vintage"
            ]
    return []


def _match_levels(
    codes: pd.Series, code_id: np.ndarray, boundary_set: str | BoundarySet, rr: RowReasons
) -> tuple[str | None, list[str]]:
    """The file's level = the level matching most valid rows; other levels' codes and unknown codes rejected.

    ``codes`` are the distinct codes and ``code_id`` each row's index into them.
    """
    by_level, notes = codes_by_level(boundary_set)
    ok = rr.ok
    n = len(code_id)
    text = pa.array(codes, from_pandas=True)
    hits = {
        lv: pc.is_in(text, value_set=pa.array(list(c), type=text.type)).to_numpy(zero_copy_only=False)[code_id]
        for lv, c in by_level.items()
    }
    score = {lv: int((h & ok).sum()) for lv, h in hits.items()}
    best = max(score, key=lambda lv: score[lv]) if score and max(score.values()) > 0 else None
    if best is None:
        rr.reject(np.ones(n, dtype=bool), REASONS["unknown_area"])
        return best, notes
    other = np.logical_or.reduce([h for lv, h in hits.items() if lv != best] or [np.zeros(n, bool)])
    rr.reject(~hits[best] & other, REASONS["other_level"])
    rr.reject(~hits[best], REASONS["unknown_area"])
    notes.append(f"area codes are {best} codes")
    return best, notes
