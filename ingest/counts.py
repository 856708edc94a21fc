"""Import pre-aggregated counts: one row per area x period (x category) with a count."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from boundaries.registry import BoundarySet, get_boundary_set
from geo.schema import ALL_CATEGORIES, AREA_CODE, CATEGORY, COUNT, GRAIN, LEVEL, PERIOD, REPEAT_COUNT
from ingest.areas import codes_by_level
from ingest.fields import is_blank, normalise_codes, parse_counts, parse_periods_column
from ingest.reader import RawTable
from ingest.rejections import REASONS, RowReasons, reject_stored_keys
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
    """
    f = raw.frame
    n = len(f)
    rr = RowReasons(n)
    notes: list[str] = []

    codes, changed = normalise_codes(f[roles["area"]])
    if changed:
        notes.append(f"{changed} area codes normalised (spaces removed, upper-cased)")
    cat_col = roles.get("category")
    category = f[cat_col].str.strip() if cat_col else pd.Series(ALL_CATEGORIES, index=f.index, dtype="str")

    required = [codes, f[roles["period"]], f[roles["count"]]] + ([category] if cat_col else [])
    rr.reject(np.logical_or.reduce([is_blank(s) for s in required]), REASONS["missing"])

    count, count_reason, count_notes = parse_counts(f[roles["count"]])
    rr.reject(~pd.isna(count_reason), count_reason)

    repeat = pd.array([pd.NA] * n, dtype="Int64")
    if "repeat_count" in roles:
        rep_text = f[roles["repeat_count"]]
        rep_blank = is_blank(rep_text)
        rep, rep_reason, rep_notes = parse_counts(rep_text, label="repeat count")
        rr.reject(~pd.isna(rep_reason), REASONS["bad_repeat_count"])
        rr.reject(~rep_blank & (rep > count), REASONS["repeat_exceeds"])
        repeat = pd.array(np.where(rep_blank, None, rep), dtype="Int64")
        count_notes += rep_notes
    notes += count_notes

    level, level_notes = _match_levels(codes, boundary_set, rr)
    notes += level_notes
    notes += _vintage_hint(codes, rr, boundary_set)

    period, grain, period_reason, period_notes = parse_periods_column(f[roles["period"]], date_format, today)
    notes += period_notes
    rr.reject(~pd.isna(period_reason), period_reason)
    ok = rr.ok
    if ok.any():
        # One grain per file: a file mixing months and quarters would double count when rolled up.
        grains = grain[ok].value_counts()
        main_grain = str(grains.index[0])
        rr.reject((grain != main_grain).to_numpy(dtype=bool), REASONS["mixed_grain"])
        if len(grains) > 1:
            notes.append(f"periods are {main_grain}s; rows at other grains rejected")

    # Duplicate key among otherwise valid rows: the first occurrence in file order wins.
    key = pd.DataFrame({"a": codes, "p": period, "c": category})
    ok = rr.ok
    dup_ok = np.zeros(n, dtype=bool)
    dup_ok[ok] = key[ok].duplicated(keep="first").to_numpy(dtype=bool)
    rr.reject(dup_ok, REASONS["duplicate"])
    reject_stored_keys(
        rr,
        pd.DataFrame({AREA_CODE: codes, LEVEL: level, PERIOD: period, GRAIN: grain, CATEGORY: category}),
        stored_keys,
    )

    ok = rr.ok
    out = pd.DataFrame(
        {
            AREA_CODE: codes[ok].astype("str"),
            LEVEL: pd.Series(level[ok], dtype="str").to_numpy(),
            PERIOD: period[ok].astype("str"),
            GRAIN: grain[ok].astype("str"),
            CATEGORY: category[ok].astype("str"),
            COUNT: count[ok].astype("int64"),
            REPEAT_COUNT: repeat[ok],
        }
    )
    out = out[list(COUNTS_COLUMNS)].reset_index(drop=True)
    return out.astype({c: "str" for c in (AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY)}), rr, notes


def _vintage_hint(codes: pd.Series, rr: RowReasons, boundary_set: str | BoundarySet) -> list[str]:
    """A note when unknown codes look like the set's codes (same GSS prefix): probably another vintage."""
    unknown = rr.reason == REASONS["unknown_area"]
    if not unknown.any():
        return []
    bs = get_boundary_set(boundary_set)
    by_level, _ = codes_by_level(bs)
    prefixes = {lv: {c[:3] for c in known if len(c) == 9} for lv, known in by_level.items()}
    cand = codes[unknown]
    cand = cand[cand.str.fullmatch(r"[EWSN][0-9]{8}")]
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
    codes: pd.Series, boundary_set: str | BoundarySet, rr: RowReasons
) -> tuple[np.ndarray, list[str]]:
    """The file's level = the level matching most valid rows; other levels' codes and unknown codes rejected."""
    by_level, notes = codes_by_level(boundary_set)
    ok = rr.ok
    hits = {lv: codes.isin(c).to_numpy(dtype=bool) for lv, c in by_level.items()}
    score = {lv: int((h & ok).sum()) for lv, h in hits.items()}
    best = max(score, key=lambda lv: score[lv]) if score and max(score.values()) > 0 else None
    level = np.full(len(codes), best, dtype=object)
    if best is None:
        rr.reject(np.ones(len(codes), dtype=bool), REASONS["unknown_area"])
        return level, notes
    other = np.logical_or.reduce([h for lv, h in hits.items() if lv != best] or [np.zeros(len(codes), bool)])
    rr.reject(~hits[best] & other, REASONS["other_level"])
    rr.reject(~hits[best], REASONS["unknown_area"])
    notes.append(f"area codes are {best} codes")
    return level, notes
