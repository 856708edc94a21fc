"""Integer-coded counts and their roll-up to (area, period) cells: the national-scale data path.

A stored dataset can hold millions of rows but only tens of thousands of distinct area codes and a
few dozen periods. ``CodedCounts`` keeps every key column as integer codes into small dictionaries
(as DuckDB or ``pandas.factorize`` produce them), so the roll-up looks up parents and converts
periods once per *distinct* label and moves rows with numpy ``take``/``bincount``; no string is
compared per row. The rules are exactly those of ``analysis.rollup.roll_up`` (same reasons, same
exclusions, same sums; tested equal), which stays the reference implementation for tidy tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.periods import can_convert, convert_periods
from analysis.rollup import DEFAULT_SET, REASON, ParentMaps, _check_target, _coarser_overlaps, _lookup
from geo.schema import AREA_CODE, CATEGORY, COUNT, GRAIN, GRAINS, LEVEL, LEVELS, PERIOD, REPEAT_COUNT, AtlasError

_KEYS = (AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY)


@dataclass(frozen=True, eq=False)
class CodedCounts:
    """Stored counts as integer codes (one entry per stored row) into per-column label dictionaries."""

    area: np.ndarray  # int codes into area_codes
    level: np.ndarray
    period: np.ndarray
    grain: np.ndarray
    category: np.ndarray
    count: np.ndarray  # int64
    repeat: np.ndarray  # float64; NaN = repeat count not known
    area_codes: np.ndarray  # object array of labels
    levels: tuple[str, ...]
    periods: tuple[str, ...]
    grains: tuple[str, ...]
    categories: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.count.size)

    @classmethod
    def from_frame(cls, counts: pd.DataFrame) -> CodedCounts:
        """Code a tidy counts table (the counts contract of docs/data-model.md)."""
        codes, labels = {}, {}
        for col in _KEYS:
            c, u = pd.factorize(counts[col].astype(str), sort=True)
            codes[col], labels[col] = c.astype(np.int32), [str(x) for x in u]
        repeat = counts[REPEAT_COUNT] if REPEAT_COUNT in counts else pd.Series(np.nan, index=counts.index)
        return cls(
            area=codes[AREA_CODE], level=codes[LEVEL], period=codes[PERIOD], grain=codes[GRAIN],
            category=codes[CATEGORY], count=counts[COUNT].to_numpy(dtype=np.int64),
            repeat=pd.to_numeric(repeat).to_numpy(dtype=float, na_value=np.nan),
            area_codes=np.asarray(labels[AREA_CODE], dtype=object), levels=tuple(labels[LEVEL]),
            periods=tuple(labels[PERIOD]), grains=tuple(labels[GRAIN]), categories=tuple(labels[CATEGORY]),
        )

    def rows(self, mask: np.ndarray) -> CodedCounts:
        """The rows where ``mask`` is true (dictionaries unchanged)."""
        return CodedCounts(
            self.area[mask], self.level[mask], self.period[mask], self.grain[mask], self.category[mask],
            self.count[mask], self.repeat[mask], self.area_codes, self.levels, self.periods, self.grains,
            self.categories,
        )

    def only_category(self, category: str) -> CodedCounts:
        """Rows of one category (none when it is not there)."""
        if category not in self.categories:
            return self.rows(np.zeros(len(self), dtype=bool))
        return self.rows(self.category == self.categories.index(category))

    def to_frame(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        """Tidy table of the given row positions (all rows by default), labels as text."""
        sel = slice(None) if rows is None else rows
        return pd.DataFrame({
            AREA_CODE: self.area_codes[self.area[sel]].astype(str),
            LEVEL: np.asarray(self.levels, dtype=object)[self.level[sel]],
            PERIOD: np.asarray(self.periods, dtype=object)[self.period[sel]],
            GRAIN: np.asarray(self.grains, dtype=object)[self.grain[sel]],
            CATEGORY: np.asarray(self.categories, dtype=object)[self.category[sel]],
            COUNT: self.count[sel],
            REPEAT_COUNT: pd.array(self.repeat[sel], dtype="Float64").astype("Int64"),
        })

    def grain_periods(self) -> list[tuple[str, list[str]]]:
        """(grain, distinct period labels stored at that grain) for every stored grain."""
        pairs = np.flatnonzero(np.bincount(self.grain.astype(np.int64) * len(self.periods) + self.period))
        out: dict[str, list[str]] = {}
        for g, p in zip(pairs // max(len(self.periods), 1), pairs % max(len(self.periods), 1)):
            out.setdefault(self.grains[int(g)], []).append(self.periods[int(p)])
        return list(out.items())


@dataclass(frozen=True)
class Cells:
    """Rolled-up counts, one entry per (area, period) cell present in the data, categories summed."""

    area_codes: np.ndarray  # object array: target-level area labels
    periods: tuple[str, ...]  # target-grain period labels
    area: np.ndarray  # per cell, index into area_codes
    period: np.ndarray  # per cell, index into periods
    count: np.ndarray  # int64
    repeat: np.ndarray  # float64: sum of known repeat counts, NaN where none is known
    excluded: pd.DataFrame  # reason, rows, count (stored rows left out, as RollupResult.excluded_summary)

    def __len__(self) -> int:
        return int(self.count.size)


def roll_up_cells(
    coded: CodedCounts,
    level: str,
    grain: str,
    parent_map: ParentMaps | None = None,
    boundary_set: str = DEFAULT_SET,
) -> Cells:
    """``roll_up`` then sum over categories, on integer codes: one cell per (target area, target period)."""
    _check_target(level, grain)
    if (coded.levels == (level,) and coded.grains == (grain,) and _all_used(coded.area, len(coded.area_codes))
            and _all_used(coded.period, len(coded.periods)) and _sorted_unique(coded.area_codes)
            and _sorted_unique(coded.periods)):
        # One source already at the target level and grain (e.g. a national monthly LSOA extract): nothing
        # to relabel or leave out, the row codes are the cell keys.
        return _sum_cells(coded.area_codes, np.asarray(coded.periods, dtype=object), coded.area, coded.period,
                          coded.count, coded.repeat, _excluded_summary(np.empty(0, np.int16), [], coded.count[:0]))
    n = len(coded)
    reasons: list[str] = []
    reason = np.full(n, -1, dtype=np.int16)  # index into reasons; -1 = kept

    def give(mask: np.ndarray, text: str) -> None:
        if mask.any():
            if text not in reasons:
                reasons.append(text)
            reason[mask] = reasons.index(text)

    # Areas: one target label per (from level, distinct code); a row takes its code's label.
    rank = {lv: i for i, lv in enumerate(LEVELS)}
    target_labels: list[np.ndarray] = []
    target_of = np.full(n, -1, dtype=np.int32)  # index into the concatenated label list
    offset = 0
    for li, from_level in enumerate(coded.levels):
        rows = coded.level == li
        if not rows.any():
            continue
        if from_level not in rank:
            give(rows, f"unknown level {from_level!r}")
            continue
        if rank[from_level] > rank[level]:
            give(rows, f"{from_level} is coarser than {level} (counts are never split)")
            continue
        used = _used(coded.area, rows, len(coded.area_codes))
        if from_level == level:
            labels = coded.area_codes[used]
        else:
            try:
                lookup = _lookup(parent_map, from_level, level, boundary_set)
            except AtlasError as exc:
                give(rows, f"cannot roll {from_level} up to {level}: {exc}")
                continue
            lookup = lookup[~lookup.index.duplicated()]
            labels = pd.Series(coded.area_codes[used]).map(lookup).to_numpy(dtype=object)
            unmapped_code = np.zeros(len(coded.area_codes), dtype=bool)
            unmapped_code[used[pd.isna(labels)]] = True
            give(rows & unmapped_code[coded.area], f"area code not in the {from_level}->{level} lookup")
        slot = np.full(len(coded.area_codes), -1, dtype=np.int32)
        slot[used] = offset + np.arange(used.size)
        _assign(target_of, rows, slot, coded.area)
        target_labels.append(np.asarray(labels, dtype=object))
        offset += used.size

    # Periods: one target label per (from grain, distinct label).
    period_labels: list[str] = []
    period_of = np.full(n, -1, dtype=np.int32)
    for gi, from_grain in enumerate(coded.grains):
        rows = (coded.grain == gi) & (reason < 0)
        if not rows.any():
            continue
        used = _used(coded.period, rows, len(coded.periods))
        labels = [coded.periods[int(p)] for p in used]
        if from_grain == grain:
            converted = labels
        elif from_grain not in GRAINS:
            give(rows, f"unknown grain {from_grain!r}")
            continue
        elif can_convert(from_grain, grain):
            converted = convert_periods(pd.Series(labels, dtype="str"), from_grain, grain).astype(str).tolist()
        else:
            give(rows, f"{from_grain} periods do not fit inside {grain} periods (never split)")
            continue
        slot = np.full(len(coded.periods), -1, dtype=np.int32)
        slot[used] = len(period_labels) + np.arange(used.size)
        _assign(period_of, rows, slot, coded.period)
        period_labels.extend(converted)

    all_labels = np.concatenate(target_labels) if target_labels else np.empty(0, dtype=object)
    keep = reason < 0
    n_sources = np.count_nonzero(np.bincount(
        (coded.level.astype(np.int64) * len(coded.grains) + coded.grain)[keep], minlength=1))
    if n_sources > 1:
        # Mixed sources may double count: the reference rule runs on the kept rows (a rare case).
        kept_rows = np.flatnonzero(keep)
        live = coded.to_frame(kept_rows).set_index(pd.Index(kept_rows))
        text = pd.Series(pd.NA, index=live.index, dtype="str")
        target = pd.Series(all_labels[target_of[kept_rows]].astype(str), index=live.index)
        losers = _coarser_overlaps(live, target, pd.Series(True, index=live.index), text).to_numpy()
        if losers.any():
            mask = np.zeros(n, dtype=bool)
            mask[kept_rows[losers]] = True
            give(mask, str(text[losers].iloc[0]))
            keep = reason < 0

    excluded = _excluded_summary(reason, reasons, coded.count)
    if keep.all():  # the common case: no copies of the row arrays
        keep = slice(None)
    # Relabel to sorted unique target labels (per distinct label, not per row), then sum rows into cells.
    area_codes, area_of = _relabel(all_labels, target_of[keep])
    periods, row_period = _relabel(np.asarray(period_labels, dtype=object), period_of[keep])
    return _sum_cells(area_codes, periods, area_of, row_period, coded.count[keep], coded.repeat[keep], excluded)


def _sum_cells(
    area_codes: np.ndarray, periods: np.ndarray, area_of: np.ndarray, period_of: np.ndarray,
    count: np.ndarray, repeat: np.ndarray, excluded: pd.DataFrame,
) -> Cells:
    """Sum rows (given as area and period indices) into cells; repeat NaN where no row knows it."""
    n_periods = max(len(periods), 1)
    size = len(area_codes) * n_periods
    key = area_of.astype(np.int64 if size >= 2**31 else np.int32) * n_periods + period_of
    known = ~np.isnan(repeat)
    if not known.any():
        known = None
    if size <= 4 * key.size + 1_000_000:  # dense sums: one pass, no sort
        present = np.bincount(key, minlength=size)
        cells = np.flatnonzero(present)
        full = cells.size == size  # every cell present: no need to pick them out
        total = np.bincount(key, weights=count, minlength=size)
        total = total if full else total[cells]
        if known is None:
            rep, n_known = np.zeros(cells.size), np.zeros(cells.size, dtype=np.int64)
        else:
            rep = np.bincount(key[known], weights=repeat[known], minlength=size).astype(float)
            n_known = np.bincount(key[known], minlength=size)
            rep, n_known = (rep, n_known) if full else (rep[cells], n_known[cells])
    else:
        cells, cell_of = np.unique(key, return_inverse=True)
        total = np.bincount(cell_of, weights=count, minlength=cells.size)
        if known is None:
            rep, n_known = np.zeros(cells.size), np.zeros(cells.size, dtype=np.int64)
        else:
            rep = np.bincount(cell_of[known], weights=repeat[known], minlength=cells.size).astype(float)
            n_known = np.bincount(cell_of[known], minlength=cells.size)
    rep[n_known == 0] = np.nan
    return Cells(
        area_codes=np.asarray(area_codes, dtype=object), periods=tuple(np.asarray(periods).tolist()),
        area=(cells // n_periods).astype(np.int32), period=(cells % n_periods).astype(np.int32),
        count=np.rint(total).astype(np.int64), repeat=rep, excluded=excluded,
    )


def _all_used(codes: np.ndarray, size: int) -> bool:
    """True when every label of a dictionary has a row (one category of a dataset may not use them all)."""
    return bool(np.bincount(codes, minlength=size).all()) if codes.size else size == 0


def _sorted_unique(labels: np.ndarray) -> bool:
    """True when text labels are strictly increasing (so their codes already are sorted unique labels)."""
    a = np.asarray(labels, dtype=object)
    return bool(a.size < 2 or all(str(x) < str(y) for x, y in zip(a[:-1], a[1:])))


def _used(codes: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """Sorted distinct codes among ``rows`` (a bincount: no sort or hash over millions of rows)."""
    picked = codes if rows.all() else codes[rows]
    return np.flatnonzero(np.bincount(picked, minlength=size))


def _assign(out: np.ndarray, rows: np.ndarray, slot: np.ndarray, codes: np.ndarray) -> None:
    """out[rows] = slot[codes[rows]], without masking when every row is selected."""
    if rows.all():
        np.take(slot, codes, out=out)
    else:
        out[rows] = slot[codes[rows]]


def _relabel(labels: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique labels of the used slots, each row's index into them) for rows given as slots."""
    used = np.flatnonzero(np.bincount(slots, minlength=labels.size)) if slots.size else np.empty(0, dtype=np.int64)
    uniq, inverse = np.unique(labels[used].astype(str), return_inverse=True)
    slot_to = np.full(labels.size, -1, dtype=np.int32)
    slot_to[used] = inverse
    return uniq.astype(object), slot_to[slots]


def _excluded_summary(reason: np.ndarray, reasons: list[str], count: np.ndarray) -> pd.DataFrame:
    """Rows and incidents left out per reason, sorted by reason (as RollupResult.excluded_summary)."""
    out = reason >= 0
    if not out.any():
        return pd.DataFrame({REASON: pd.Series(dtype="str"), "rows": pd.Series(dtype="int64"),
                             COUNT: pd.Series(dtype="int64")})
    rows = np.bincount(reason[out], minlength=len(reasons))
    total = np.bincount(reason[out], weights=count[out], minlength=len(reasons))
    table = pd.DataFrame({REASON: reasons, "rows": rows.astype(np.int64), COUNT: np.rint(total).astype(np.int64)})
    return table[table["rows"] > 0].sort_values(REASON, ignore_index=True)


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(code per row, distinct values in first-appearance order): values == distinct[code].

    Validating each distinct value once and mapping the answer back by code is what keeps a
    national file (millions of rows, tens of thousands of distinct codes) fast. A missing value
    gets a code of its own, so per-value checks see it exactly as per-row checks would.
    """
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        encoded = _arrow_distinct(values)
        if encoded is not None:
            return encoded
    codes, uniques = pd.factorize(values)
    uniq = pd.Series(uniques, dtype=values.dtype)
    missing = codes < 0
    if missing.any():
        codes = np.where(missing, len(uniq), codes)
        uniq = pd.concat([uniq, pd.Series([None], dtype=values.dtype)], ignore_index=True)
    return codes.astype(np.intp, copy=False), uniq


def _arrow_distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series] | None:
    """distinct() by Arrow's dictionary encoding: int32 codes, no int64 copy; None if chunks disagree."""
    encoded = pc.dictionary_encode(pa.chunked_array(pa.array(values)), null_encoding="encode")
    chunks = encoded.chunks
    if not chunks:
        return None
    dictionary = chunks[0].dictionary
    # One memo table serves every chunk, so they share the dictionary; never assume it silently.
    if not all(c.dictionary.equals(dictionary) for c in chunks[1:]):
        return None
    codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])
    return codes.astype(np.int32, copy=False), pd.Series(pd.array(dictionary, dtype=values.dtype))


__all__ = ["Cells", "CodedCounts", "distinct", "roll_up_cells"]
