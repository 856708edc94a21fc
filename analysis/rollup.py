"""Roll tidy counts up to a coarser level and grain, add explicit zeros, and shape them for analysis.

Rules (see docs/data-model.md for the counts table):

- Areas: rows finer than the target level are relabelled through a child -> parent Series
  (``boundaries.hierarchy.parent_map`` unless given); rows at the target level pass through;
  rows at a coarser level, or whose level does not nest in the target (msoa -> ward), or whose
  code is not in the lookup, are **excluded and reported, never split**.
- Periods: relabelled with ``analysis.periods.convert_periods``; a grain that does not nest in the
  target (fy -> quarter, year -> fy) is excluded and reported.
- Mixed sources: when rows from different (level, grain) sources land on the same target area,
  category and calendar month (e.g. both LSOA months and ward quarters for 2019-Q2), summing them
  would double count; the rows of the coarser source are excluded ("overlaps finer data").
- ``repeat_count``: the sum of the known values, or <NA> when every contributing value is <NA>
  (pandas ``sum(min_count=1)``). Where only some contributions are known the sum is a lower bound.

Every roll-up conserves totals: ``result.counts[count].sum() + result.excluded[count].sum()``
equals the input total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.periods import can_convert, convert_periods, example_label, first_month_index, months_in
from geo.schema import (
    ALL_CATEGORIES,
    AREA_CODE,
    CATEGORY,
    COUNT,
    GRAIN,
    GRAINS,
    LEVEL,
    LEVELS,
    PERIOD,
    REPEAT_COUNT,
    AtlasError,
)

DEFAULT_SET = "ons2011-ne-medway"  # == boundaries.registry.DEFAULT_SET; not imported so tests need no boundaries

COUNT_COLUMNS: list[str] = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY, COUNT, REPEAT_COUNT]
KEY_COLUMNS: list[str] = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY]
REASON = "reason"

ParentMaps = pd.Series | Mapping[str, pd.Series]


@dataclass(frozen=True)
class RollupResult:
    """Rolled-up counts plus the input rows left out, each with a ``reason``."""

    counts: pd.DataFrame
    excluded: pd.DataFrame

    def excluded_summary(self) -> pd.DataFrame:
        """Excluded rows and incidents per reason (for a report line such as "12 rows, 40 incidents")."""
        if self.excluded.empty:
            return pd.DataFrame({REASON: pd.Series(dtype="str"), "rows": pd.Series(dtype="int64"),
                                 COUNT: pd.Series(dtype="int64")})
        g = self.excluded.groupby(REASON, sort=True)
        return pd.DataFrame({"rows": g.size(), COUNT: g[COUNT].sum()}).reset_index()


def empty_counts() -> pd.DataFrame:
    """A counts table with no rows and the contract dtypes."""
    return _typed(pd.DataFrame({c: [] for c in COUNT_COLUMNS}))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Contract columns and dtypes, in key order."""
    out = df[COUNT_COLUMNS].copy()
    for col in KEY_COLUMNS:
        out[col] = out[col].astype("str")
    out[COUNT] = out[COUNT].astype("int64")
    out[REPEAT_COUNT] = out[REPEAT_COUNT].astype("Int64")
    return out.sort_values(KEY_COLUMNS, ignore_index=True)


def _prepare(counts: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in KEY_COLUMNS + [COUNT] if c not in counts.columns]
    if missing:
        raise AtlasError(f"counts table lacks column(s) {', '.join(missing)}; has {', '.join(map(str, counts.columns))}")
    df = counts.reset_index(drop=True)
    if REPEAT_COUNT not in df.columns:
        df = df.assign(**{REPEAT_COUNT: pd.array([pd.NA] * len(df), dtype="Int64")})
    return _typed(df)


def _check_target(level: str, grain: str) -> None:
    if level not in LEVELS:
        raise AtlasError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    if grain not in GRAINS:
        raise AtlasError(f"unknown period grain {grain!r}; choose one of {', '.join(GRAINS)}")


def _lookup(maps: ParentMaps | None, from_level: str, level: str, boundary_set: str) -> pd.Series:
    """child -> parent codes for from_level -> level; AtlasError when there is none."""
    if isinstance(maps, pd.Series):
        return maps
    if maps is not None:
        if from_level not in maps:
            raise AtlasError(f"no {from_level}->{level} lookup given")
        return maps[from_level]
    from boundaries.hierarchy import parent_map  # deferred: only needed without explicit maps

    return parent_map(from_level, level, boundary_set)


def _months_per_grain() -> dict[str, int]:
    return {g: len(months_in(example_label(g), g)) for g in GRAINS}


def roll_up(
    counts: pd.DataFrame,
    level: str,
    grain: str,
    parent_map: ParentMaps | None = None,
    boundary_set: str = DEFAULT_SET,
) -> RollupResult:
    """Sum counts up to ``level`` x ``grain``; rows that cannot be mapped are excluded with a reason.

    ``parent_map``: a child->parent Series applied to every finer level, or a dict from_level ->
    Series; None looks each one up with ``boundaries.hierarchy.parent_map(from_level, level,
    boundary_set)``. The result does not depend on row order.
    """
    _check_target(level, grain)
    df = _prepare(counts)
    reason = pd.Series(pd.NA, index=df.index, dtype="str")
    target_area = df[AREA_CODE].copy()
    target_period = df[PERIOD].copy()
    rank = {lv: i for i, lv in enumerate(LEVELS)}

    for from_level in pd.unique(df[LEVEL]):
        rows = df[LEVEL] == from_level
        if from_level not in rank:
            reason[rows] = f"unknown level {from_level!r}"
        elif rank[from_level] > rank[level]:
            reason[rows] = f"{from_level} is coarser than {level} (counts are never split)"
        elif from_level != level:
            try:
                lookup = _lookup(parent_map, from_level, level, boundary_set)
            except AtlasError as exc:
                reason[rows] = f"cannot roll {from_level} up to {level}: {exc}"
                continue
            lookup = lookup[~lookup.index.duplicated()]
            parents = df.loc[rows, AREA_CODE].map(lookup)
            unmapped = parents.isna()
            reason[parents.index[unmapped]] = f"area code not in the {from_level}->{level} lookup"
            target_area[rows] = parents.astype("str")

    for from_grain in pd.unique(df[GRAIN]):
        rows = (df[GRAIN] == from_grain) & reason.isna()
        if not rows.any() or from_grain == grain:
            continue
        if from_grain not in GRAINS:
            reason[rows] = f"unknown grain {from_grain!r}"
        elif can_convert(from_grain, grain):
            target_period[rows] = convert_periods(df.loc[rows, PERIOD], from_grain, grain)
        else:
            reason[rows] = f"{from_grain} periods do not fit inside {grain} periods (never split)"

    keep = reason.isna()
    keep &= ~_coarser_overlaps(df, target_area, keep, reason)
    moved = df.assign(**{AREA_CODE: target_area, PERIOD: target_period})

    kept = moved.loc[keep].assign(**{LEVEL: level, GRAIN: grain})
    summed = _sum_by_key(kept) if not kept.empty else empty_counts()
    excluded = df.loc[~keep].assign(**{REASON: reason[~keep]}).sort_values(KEY_COLUMNS, ignore_index=True)
    return RollupResult(_typed(summed), excluded)


def _sum_by_key(df: pd.DataFrame) -> pd.DataFrame:
    """Sum count and repeat_count per key; repeat_count is <NA> where no contribution is known."""
    g = df.assign(_known=df[REPEAT_COUNT].notna()).groupby(KEY_COLUMNS, sort=False)
    out = g.agg(**{COUNT: (COUNT, "sum"), REPEAT_COUNT: (REPEAT_COUNT, "sum"), "_known": ("_known", "sum")})
    out[REPEAT_COUNT] = out[REPEAT_COUNT].astype("Int64").mask(out["_known"] == 0)
    return out.drop(columns="_known").reset_index()


def _coarser_overlaps(df: pd.DataFrame, target_area: pd.Series, keep: pd.Series, reason: pd.Series) -> pd.Series:
    """Mark (and give a reason to) kept rows of a coarser source that share target area, category and a month."""
    out = pd.Series(False, index=df.index)
    live = df.loc[keep]
    if len(live[[LEVEL, GRAIN]].drop_duplicates()) < 2:
        return out  # one source: its keys are unique, so nothing can double count
    span = _months_per_grain()
    level_rank = {lv: i for i, lv in enumerate(LEVELS)}
    n = live[GRAIN].map(span).to_numpy(dtype=np.int64)
    # Finest source first: lower level rank, then fewer months per period.
    src_rank = live[LEVEL].map(level_rank).to_numpy(dtype=np.int64) * 100 + n
    first = np.empty(len(live), dtype=np.int64)
    for g in pd.unique(live[GRAIN]):
        sel = (live[GRAIN] == g).to_numpy()
        first[sel] = first_month_index(live.loc[sel, PERIOD], g)
    # One cell per (row, calendar month it covers).
    rep = np.repeat(np.arange(len(live)), n)
    month = first[rep] + (np.arange(rep.size) - np.repeat(np.cumsum(n) - n, n))
    cells = pd.DataFrame({
        "a": target_area[keep].to_numpy()[rep], "c": live[CATEGORY].to_numpy()[rep], "m": month, "r": src_rank[rep],
    })
    finest = cells.groupby(["a", "c", "m"])["r"].transform("min").to_numpy()
    losers = live.index[np.unique(rep[cells["r"].to_numpy() > finest])]
    out[losers] = True
    reason[losers] = "overlaps finer data for the same area, category and months (would double count)"
    return out


def complete_grid(
    counts: pd.DataFrame,
    area_codes: Sequence[str],
    periods: Sequence[str],
    categories: Sequence[str] | None = None,
    level: str | None = None,
    grain: str | None = None,
) -> pd.DataFrame:
    """Add explicit zero rows so every area x period x category exists; existing rows are kept.

    ``counts`` must hold one level and one grain (``level``/``grain`` name them when it is empty).
    Categories default to those present (or "All"). Added rows have count 0 and repeat_count 0
    when the input knows any repeat_count, else <NA>. Rows outside the grid are kept, not dropped.
    """
    df = _prepare(counts)
    level = _single(df, LEVEL, level)
    grain = _single(df, GRAIN, grain)
    if categories is None:
        categories = sorted(pd.unique(df[CATEGORY])) or [ALL_CATEGORIES]
    grid = pd.MultiIndex.from_product(
        [pd.unique(pd.Series(area_codes, dtype="str")), pd.unique(pd.Series(periods, dtype="str")),
         pd.unique(pd.Series(categories, dtype="str"))],
        names=[AREA_CODE, PERIOD, CATEGORY],
    ).to_frame(index=False)
    have = df.set_index([AREA_CODE, PERIOD, CATEGORY]).index
    new = grid[~pd.MultiIndex.from_frame(grid).isin(have)]
    zero_repeat = 0 if df[REPEAT_COUNT].notna().any() else pd.NA
    added = new.assign(**{LEVEL: level, GRAIN: grain, COUNT: 0,
                          REPEAT_COUNT: pd.array([zero_repeat] * len(new), dtype="Int64")})
    return _typed(pd.concat([df, added[COUNT_COLUMNS]], ignore_index=True) if len(added) else df)


def _single(df: pd.DataFrame, col: str, given: str | None) -> str:
    values = pd.unique(df[col])
    if len(values) > 1:
        plural = {CATEGORY: "categories"}.get(col, f"{col}s")
        shown = ", ".join(map(str, values[:10]))
        raise AtlasError(f"counts hold several {plural} ({shown}); filter or roll them up to one first")
    if len(values) == 1:
        if given is not None and given != values[0]:
            raise AtlasError(f"counts are at {col} {values[0]!r}, not {given!r}")
        return str(values[0])
    if given is None:
        raise AtlasError(f"counts are empty: name the {col} to use")
    return given


def count_matrix(counts: pd.DataFrame, area_codes: Sequence[str], periods: Sequence[str]) -> np.ndarray:
    """int64 array [areas x periods] in the given orders; missing cells 0, rows outside ignored.

    ``counts`` must hold one level, grain and category (filter or roll up first).
    """
    df = _prepare(counts)
    for col in (LEVEL, GRAIN, CATEGORY):
        _single(df, col, None if not df.empty else "-")
    areas = pd.Index(pd.Series(area_codes, dtype="str"))
    cols = pd.Index(pd.Series(periods, dtype="str"))
    if areas.has_duplicates or cols.has_duplicates:
        raise AtlasError("count_matrix needs unique area codes and periods")
    i = areas.get_indexer(df[AREA_CODE])
    j = cols.get_indexer(df[PERIOD])
    inside = (i >= 0) & (j >= 0)
    out = np.zeros((len(areas), len(cols)), dtype=np.int64)
    # Keys are unique within one level/grain/category, so plain assignment is enough; add.at is safe anyway.
    np.add.at(out, (i[inside], j[inside]), df[COUNT].to_numpy()[inside])
    return out


__all__ = ["RollupResult", "complete_grid", "count_matrix", "empty_counts", "roll_up"]
