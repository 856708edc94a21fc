"""Priority table for a tactical meeting: a transparent score per area, plain-English reasons, changes.

Score = sum_c (w_c * s_c) / sum_c w_c over the components c below, each scaled to 0..1 so the
score is 0..1 too. Every component, its scaling and its weight are columns of the output, so any
score can be recomputed by hand (docs/output-columns.md). A component whose input is absent for the
whole table (no population, no previous year, no hot spot inputs, no IMD) is dropped from every
area's sum and weight total, and ``attrs["notes"]`` says so; a value missing for one area (e.g. an
area without population) scores 0 for that area.

Components (scaled to s in 0..1)
- rate: rate ratio RR = area rate / whole-table rate (areas with population summed).
  s = clip((RR - 1) / (RATE_RATIO_FULL - 1), 0, 1): 0 at or below the whole-area rate, 1 at 3x or more.
- volume: share of the table's incidents. s = share / largest share (the busiest area scores 1).
- hotspot: hot spot status and persistence. h = share of the recent periods in which Getis-Ord Gi*
  marked the area hot (gi_bin > 0); with an Emerging Hot Spot category, s = (h + EHSA_SCORES[cat]) / 2,
  else s = h.
- trend: change on the same period last year. Only a significant rise counts: when the exact
  conditional Poisson test (``analysis.change.poisson_rate_test``, equal exposures) gives p < alpha
  and the count rose, s = min(% change / TREND_FULL_PCT, 1) (a rise from 0 scores 1); else 0.
- deprivation: IMD 2019 score (population-weighted mean of the area's LSOAs), as a percentile among
  the table's areas: s = (rank - 1) / (n - 1), 1 = most deprived area in the table.

Reasons list components with s >= REASON_MIN_SCORE and a positive weight, largest weighted
contribution first, e.g. "rate 2.1x the whole area; persistent hot spot, hot in 3 of the last 4
periods; up 35% on last year; 4.2% of all incidents; more deprived than 80% of these areas (IMD score 41)".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.change import poisson_rate_test
from geo.schema import AREA_CODE, AREA_NAME, COUNT, POPULATION, RATE_PER_1000, AtlasError

# Input columns beyond area_code / count / population (all optional).
HOT_RECENT = "hot_recent"  # recent periods with Gi* hot (gi_bin > 0)
N_RECENT = "n_recent"  # recent periods looked at
EHSA_CATEGORY = "ehsa_category"
COUNT_LAST_YEAR = "count_last_year"
IMD_SCORE = "imd_score"

# Output columns.
RANK = "rank"
SCORE = "score"
REASONS = "reasons"
RATE_RATIO = "rate_ratio"
INCIDENT_SHARE = "incident_share"
HOT_SHARE = "hot_share"
PCT_CHANGE = "pct_change_on_last_year"
CHANGE_P = "change_p_value"
PREVIOUS_RANK = "previous_rank"
PREVIOUS_SCORE = "previous_score"
SCORE_CHANGE = "score_change"
CHANGE_STATUS = "change_status"
COMPONENTS: tuple[str, ...] = ("rate", "volume", "hotspot", "trend", "deprivation")

# Scaling constants (documented in the module docstring and docs/output-columns.md).
RATE_RATIO_FULL = 3.0
TREND_FULL_PCT = 50.0
REASON_MIN_SCORE = 0.25
NOTHING_STANDS_OUT = "nothing stands out"
# Emerging Hot Spot categories (analysis.emerging) -> 0..1: long-lived and growing hot spots first.
EHSA_SCORES: dict[str, float] = {
    "Persistent Hot Spot": 1.0,
    "Intensifying Hot Spot": 1.0,
    "Consecutive Hot Spot": 0.75,
    "New Hot Spot": 0.5,
    "Oscillating Hot Spot": 0.5,
    "Sporadic Hot Spot": 0.5,
    "Diminishing Hot Spot": 0.5,
    "Historical Hot Spot": 0.25,
}
STATUSES: tuple[str, ...] = ("new", "escalating", "easing", "steady")


@dataclass(frozen=True)
class PriorityWeights:
    """Relative weights of the score components (any non-negative numbers; only ratios matter)."""

    rate: float = 3.0
    volume: float = 2.0
    hotspot: float = 3.0
    trend: float = 2.0
    deprivation: float = 0.0

    def __post_init__(self) -> None:
        values = asdict(self)
        bad = {k: v for k, v in values.items() if not np.isfinite(v) or v < 0}
        if bad:
            raise AtlasError(f"priority weights must be finite numbers >= 0; received {bad}")
        if sum(values.values()) <= 0:
            raise AtlasError("at least one priority weight must be above 0")


def score_column(component: str) -> str:
    """Column holding a component's 0..1 score, e.g. "rate_score"."""
    return f"{component}_score"


def priority_scores(
    areas: pd.DataFrame,
    weights: PriorityWeights = PriorityWeights(),
    reference_label: str = "the whole area",
    alpha: float = 0.05,
    with_reasons: bool = True,
    totals: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Score and rank areas for one period; one row per area, rank 1 = highest priority.

    ``with_reasons=False`` leaves the reasons column blank (a table only compared against needs none).
    ``totals`` = (count of the areas with a population, count of every area) when the whole area's counts are
    not the sums of ``count`` (publication mode publishes them as counts of their own); by default they are.

    ``areas`` needs area_code and count; optional: area_name, population, hot_recent + n_recent,
    ehsa_category, count_last_year, imd_score. Ties on score are broken by count (higher first),
    then area code. ``reference_label`` names the whole area in the reasons ("rate 2.1x <label>").
    """
    _require(areas, [AREA_CODE, COUNT])
    if areas[AREA_CODE].duplicated().any():
        dups = areas.loc[areas[AREA_CODE].duplicated(), AREA_CODE].head(5).tolist()
        raise AtlasError(f"priority needs one row per area; duplicated: {dups}")
    out = areas.reset_index(drop=True).copy()
    notes: list[str] = []
    count = out[COUNT].to_numpy(dtype=float)
    n = len(out)

    # rate
    pop = _column(out, POPULATION)
    has_pop = pop > 0
    if has_pop.any():
        whole_rate = (count[has_pop].sum() if totals is None else totals[0]) / pop[has_pop].sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(has_pop, count / pop * 1000.0, np.nan)
            rr = np.where(has_pop, count / pop / whole_rate, np.nan) if whole_rate > 0 else np.full(n, np.nan)
        out[RATE_PER_1000] = rate
        out[RATE_RATIO] = rr
        rate_s = np.clip((np.nan_to_num(rr) - 1.0) / (RATE_RATIO_FULL - 1.0), 0.0, 1.0)
    else:
        out[RATE_PER_1000] = np.nan
        out[RATE_RATIO] = np.nan
        rate_s = None
        notes.append("rate component left out: no population for these areas")

    # volume
    total = count.sum() if totals is None else totals[1]
    out[INCIDENT_SHARE] = count / total if total > 0 else np.full(n, np.nan)
    volume_s = count / count.max() if total > 0 else np.zeros(n)

    # hotspot
    hotspot_s = None
    if HOT_RECENT in out.columns and N_RECENT in out.columns:
        n_recent = _column(out, N_RECENT)
        with np.errstate(divide="ignore", invalid="ignore"):
            hot = np.where(n_recent > 0, _column(out, HOT_RECENT) / n_recent, np.nan)
        out[HOT_SHARE] = hot
        hotspot_s = np.nan_to_num(hot)
        if EHSA_CATEGORY in out.columns:
            ehsa = out[EHSA_CATEGORY].astype("object").map(EHSA_SCORES).to_numpy(dtype=float, na_value=np.nan)
            ehsa = np.nan_to_num(ehsa)
            hotspot_s = (hotspot_s + ehsa) / 2.0
    else:
        out[HOT_SHARE] = np.nan
        notes.append("hot spot component left out: no hot spot results")

    # trend
    trend_s = None
    if COUNT_LAST_YEAR in out.columns and not out[COUNT_LAST_YEAR].isna().all():
        before = _column(out, COUNT_LAST_YEAR)
        known = ~np.isnan(before)
        b = np.nan_to_num(before)
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(known & (b > 0), (count - b) / b * 100.0, np.nan)
        ones = np.ones(n)
        p = np.where(known, poisson_rate_test(b, count, ones, ones), np.nan)
        out[PCT_CHANGE] = pct
        out[CHANGE_P] = p
        rising = known & (count > b) & (p < alpha)
        trend_s = np.where(rising, np.where(b > 0, np.clip(np.nan_to_num(pct) / TREND_FULL_PCT, 0.0, 1.0), 1.0), 0.0)
    else:
        out[PCT_CHANGE] = np.nan
        out[CHANGE_P] = np.nan
        notes.append("trend component left out: no counts for the same period last year")

    # deprivation
    dep_s = None
    imd = _column(out, IMD_SCORE) if IMD_SCORE in out.columns else np.full(n, np.nan)
    out[IMD_SCORE] = imd
    if weights.deprivation > 0:
        if np.isfinite(imd).any():
            ranks = pd.Series(imd).rank(method="average").to_numpy()
            m = np.isfinite(imd).sum()
            dep_s = np.where(np.isfinite(imd), (ranks - 1.0) / (m - 1.0) if m > 1 else 1.0, 0.0)
        else:
            notes.append("deprivation component left out: no IMD scores for these areas")

    scores = {"rate": rate_s, "volume": volume_s, "hotspot": hotspot_s, "trend": trend_s, "deprivation": dep_s}
    w = asdict(weights)
    used = {c: s for c, s in scores.items() if s is not None and w[c] > 0}
    if not used:
        raise AtlasError("no priority component is available with a weight above 0")
    w_total = sum(w[c] for c in used)
    score = np.zeros(n)
    for c in COMPONENTS:
        s = scores[c]
        out[score_column(c)] = np.nan if s is None else s
        out[f"{c}_weight"] = float(w[c]) if c in used else 0.0
        if c in used:
            score += w[c] * s
    out[SCORE] = score / w_total
    out[REASONS] = _reasons(out, used, w, reference_label) if with_reasons else pd.NA

    # Optional inputs absent from ``areas`` still get (blank) columns, so the output schema is stable.
    for col in (POPULATION, HOT_RECENT, N_RECENT, COUNT_LAST_YEAR):
        if col not in out.columns:
            out[col] = np.nan
    if EHSA_CATEGORY not in out.columns:
        out[EHSA_CATEGORY] = pd.Series(pd.NA, index=out.index, dtype="string")
    order = np.lexsort((out[AREA_CODE].astype(str).to_numpy(), -count, -out[SCORE].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    out.insert(0, RANK, np.arange(1, n + 1, dtype=np.int64))
    out.attrs["notes"] = notes
    return out[_ordered_columns(out)]


def compare_priority(
    current: pd.DataFrame, previous: pd.DataFrame | None, top_n: int = 10, score_step: float = 0.05
) -> pd.DataFrame:
    """Add previous_rank, previous_score, score_change and change_status against last period's table.

    An area is "listed" when its rank is within ``top_n``. Status: "new" = listed now, not listed
    last period (or absent then); "escalating" / "easing" = listed both times and the score moved up /
    down by at least ``score_step``; "easing" also = listed last period, not now; "steady" = anything
    else (including areas listed in neither period). Without a previous table every status is <NA>.
    """
    if top_n < 1:
        raise AtlasError(f"top_n must be at least 1; received {top_n}")
    out = current.copy()
    if previous is None or previous.empty:
        out[PREVIOUS_RANK] = pd.array([pd.NA] * len(out), dtype="Int64")
        out[PREVIOUS_SCORE] = np.nan
        out[SCORE_CHANGE] = np.nan
        out[CHANGE_STATUS] = pd.array([pd.NA] * len(out), dtype="string")
        return out
    prev_codes = pd.Index(previous[AREA_CODE].astype(str))
    key = out[AREA_CODE].astype(str)
    if prev_codes.has_duplicates or previous[RANK].isna().any():  # not from priority_scores: the general path
        prev = previous.set_index(prev_codes)
        prev_rank = key.map(prev[RANK]).astype("Int64")
        prev_score = key.map(prev[SCORE]).astype(float)
    else:
        # One look-up of every area among last period's (what Series.map does twice, once per column).
        pos = prev_codes.get_indexer(key)
        found = pos >= 0
        at = np.where(found, pos, 0)
        prev_rank = pd.Series(pd.arrays.IntegerArray(
            np.where(found, previous[RANK].to_numpy(dtype=np.int64)[at], 0), ~found), index=out.index)
        prev_score = pd.Series(np.where(found, previous[SCORE].to_numpy(dtype=float)[at], np.nan), index=out.index)
    change = out[SCORE].to_numpy(dtype=float) - prev_score.to_numpy()
    listed_now = (out[RANK] <= top_n).to_numpy()
    listed_before = (prev_rank <= top_n).fillna(False).to_numpy(dtype=bool)
    both = listed_now & listed_before
    status = np.select(
        [listed_now & ~listed_before, both & (change >= score_step - 1e-12),
         both & (change <= -score_step + 1e-12), listed_before & ~listed_now],
        ["new", "escalating", "easing", "easing"],
        default="steady",
    )
    out[PREVIOUS_RANK] = prev_rank.to_numpy()
    out[PREVIOUS_SCORE] = prev_score.to_numpy()
    out[SCORE_CHANGE] = change
    out[CHANGE_STATUS] = pd.array(status, dtype="string")
    return out


def _reasons(out: pd.DataFrame, used: dict[str, np.ndarray], w: dict[str, float], reference_label: str) -> list[str]:
    """Plain-English reasons per row: components scoring >= REASON_MIN_SCORE, biggest contribution first."""
    names = list(used)
    contrib = np.column_stack([w[c] * used[c] for c in names])
    show = np.column_stack([used[c] >= REASON_MIN_SCORE for c in names])
    # Sorting a handful of components per row: argsort on the small (rows x components) matrix.
    order = np.argsort(-contrib, axis=1, kind="stable")
    # A phrase is written only for the rows that show it (most areas show one component or none).
    phrases = []
    for j, c in enumerate(names):
        rows = np.flatnonzero(show[:, j])
        column = np.empty(len(out), dtype=object)
        column[rows] = _phrases(out, c, reference_label, rows)
        phrases.append(column)
    # Joined rank by rank over all rows at once (object arrays add str elementwise): "a" + "; " + "b" ...
    n = len(out)
    rows = np.arange(n)
    joined = np.full(n, "", dtype=object)
    started = np.zeros(n, dtype=bool)
    matrix = np.column_stack(phrases) if phrases else np.empty((n, 0), dtype=object)
    for r in range(len(names)):
        j = order[:, r]
        shown = show[rows, j]
        if not shown.any():
            continue
        text = matrix[rows, j]
        more = shown & started
        joined[more] = joined[more] + "; " + text[more]
        first = shown & ~started
        joined[first] = text[first]
        started |= shown
    joined[~started] = NOTHING_STANDS_OUT
    return joined.tolist()


def _phrases(out: pd.DataFrame, component: str, reference_label: str, rows: np.ndarray | None = None) -> list[str]:
    """The reason phrase of one component for every row (or for the rows at positions ``rows``)."""
    if rows is None:
        rows = np.arange(len(out))
    if component == "rate":
        return [f"rate {v:.1f}x {reference_label}" for v in out[RATE_RATIO].to_numpy(dtype=float)[rows]]
    if component == "volume":
        # One decimal below 10% so that small but leading shares do not read as "1%" or "0%".
        return [f"{v:.0%} of all incidents" if v >= 0.095 else f"{v:.1%} of all incidents"
                for v in out[INCIDENT_SHARE].to_numpy(dtype=float)[rows]]
    if component == "hotspot":
        hot = _column(out, HOT_RECENT)[rows]
        n_recent = _column(out, N_RECENT)[rows]
        cats = (out[EHSA_CATEGORY].astype("object").to_numpy()[rows].tolist() if EHSA_CATEGORY in out
                else [None] * len(rows))
        res = []
        for h, m, cat in zip(hot, n_recent, cats):
            bits = []
            if isinstance(cat, str) and EHSA_SCORES.get(cat, 0) > 0:
                bits.append(cat.lower())
            if h > 0:
                bits.append(f"hot in {int(h)} of the last {int(m)} periods")
            res.append(", ".join(bits) if bits else "hot spot")
        return res
    if component == "trend":
        # A scored rise has a finite % change unless last year was zero.
        return [f"up {p:.0f}% on last year" if np.isfinite(p) else "up from none last year"
                for p in out[PCT_CHANGE].to_numpy(dtype=float)[rows]]
    # The deprivation score is a percentile among these areas, so the phrase is relative too.
    pct = out[score_column("deprivation")].to_numpy(dtype=float)[rows]
    imd = out[IMD_SCORE].to_numpy(dtype=float)[rows]
    return [f"the most deprived of these areas (IMD score {v:.0f})" if q >= 1
            else f"more deprived than {q:.0%} of these areas (IMD score {v:.0f})" for q, v in zip(pct, imd)]


def _ordered_columns(out: pd.DataFrame) -> list[str]:
    """rank, names, score, reasons, then each component's inputs, value, score and weight; extras last."""
    known = [RANK, AREA_CODE, AREA_NAME, SCORE, REASONS, COUNT, POPULATION,
             RATE_PER_1000, RATE_RATIO, score_column("rate"), "rate_weight",
             INCIDENT_SHARE, score_column("volume"), "volume_weight",
             HOT_RECENT, N_RECENT, HOT_SHARE, EHSA_CATEGORY, score_column("hotspot"), "hotspot_weight",
             COUNT_LAST_YEAR, PCT_CHANGE, CHANGE_P, score_column("trend"), "trend_weight",
             IMD_SCORE, score_column("deprivation"), "deprivation_weight"]
    first = [c for c in known if c in out.columns]
    return first + [c for c in out.columns if c not in first]


def _column(table: pd.DataFrame, col: str) -> np.ndarray:
    if col not in table.columns:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _require(table: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise AtlasError(f"priority input is missing columns {missing}; it has {list(table.columns)}")


__all__ = [
    "COMPONENTS", "EHSA_SCORES", "PriorityWeights", "STATUSES", "compare_priority", "priority_scores", "score_column",
]
