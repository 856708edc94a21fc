"""Publication mode: one rule set for the command line, file exports and the dashboard.

Primary suppression hides counts from 1 to ``threshold - 1`` (shown as "<5") and blanks the figures
derived from them (analysis.disclosure.suppress_small_counts). Where a command's table lets a reader
work out a period's total (whole-area rate with populations, rate ratio, incident share), the counts
also get secondary suppression within each period (analysis.disclosure.secondary_mask: complementary
cells shown as "*"), and where a period's total cannot be protected its total-revealing columns are
blanked. Nothing here prints: the note saying what was hidden is returned in
``table.attrs["publication_note"]`` for the caller to show (stderr for the CLI, a caption in the app).
Columns: docs/output-columns.md.

Tables built by ``atlas.analyses`` (their ``attrs`` name the dataset, level, grain and category) are
protected together, not one by one: ``publication_base`` computes, once per dataset and threshold,
one suppression pattern over every cell any publication can show: each area of every level (LSOA,
MSOA, ward, locality, local authority, all areas) x every period of every grain (month, quarter, financial
and calendar year) x every category and all categories, linked by every additive relation between
them (analysis.disclosure.protect_lines). Each table then hides exactly the cells the pattern hides,
so no combination of tables (LSOA vs ward, month vs year, one category vs all, rates with
populations) pins a hidden count. Figures that are not sums of cells (12-month windows, an emerging
analysis' multi-period totals) are shown only when every cell they add up is shown; Gi*, local
Moran and space-time z-scores and p-values, which are functions of every count of the period, are
blanked in periods with any hidden count. Tables without that context (hand-built frames) keep the
per-table rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from analysis.disclosure import (
    SECONDARY_SYMBOL, Lines, check_threshold, primary_symbol, protect_lines, secondary_mask,
    suppress_small_counts,
)
from geo.attribution import PUBLICATION_THRESHOLD

NOTE_ATTR = "publication_note"
RATE_COLS = ["rate_per_1000", "rate_lower_95", "rate_upper_95", "rate_lower_998", "rate_upper_998", "rate_ratio"]

# Columns from which each period's total count can be worked out: the whole-area rate (with the
# populations shown), the rate ratio (rate / whole-area rate) or an incident share (count / total).
# Blanked for a period whose total cannot be protected.
TOTAL_REVEALING = ["whole_area_rate", "rate_ratio", "incident_share", "compared_to_whole_area", "share_ratio"]
# Commands whose tables show such a column: their counts get secondary suppression within each period.
WITH_TOTALS = frozenset({"rates", "smoothed", "rolling", "hotspots", "priority"})

# Per command: count column -> the columns derived from it, blanked when the count is hidden.
DISCLOSURE: dict[str, Mapping[str, Sequence[str]]] = {
    "rates": {"count": [*RATE_COLS, "compared_to_whole_area", "incident_share"], "repeat_count": []},
    "hotspots": {"count": RATE_COLS},
    "emerging": {"count": [], "total_count": []},
    # `atlas counts`: area x period x category counts, no totals or derived figures shown
    "counts": {"count": []},
    "smoothed": {
        "count": [*RATE_COLS, "compared_to_whole_area", "incident_share", "eb_rate_per_1000",
                  "spatial_eb_rate_per_1000", "expected_count", "excess_risk", "eb_z", "funnel_position_95",
                  "funnel_position_998", "population_share", "share_ratio", "repeat_share",
                  "repeat_share_lower_95", "repeat_share_upper_95"],
        "repeat_count": ["repeat_share", "repeat_share_lower_95", "repeat_share_upper_95"],
    },
    "rolling": {"count": RATE_COLS, "repeat_count": []},
    # whole-area summaries: no small cells per area are shown
    "concentration": {"total_count": []},
    "moran": {},
    "spc": {"count": ["value", "moving_range", "rules", "rule_outside_limits", "rule_shift", "rule_trend", "rule_two_in_three", "special_cause", "variation", "note"]},
    # the exact Poisson test's p-value (and the label read from it) is monotone in each count: it
    # would give a hidden count back from the shown one
    "compare": {
        "count_from": ["rate_from", "count_change", "pct_change", "rate_change", "p_value", "change_label"],
        "count_to": ["rate_to", "count_change", "pct_change", "rate_change", "p_value", "change_label"],
    },
    "priority": {
        # reasons quote the rate ratio and share, from which a small count could be worked out; the
        # component scores are count / largest count, (rate ratio - 1) / 2, ... and the score mixes them
        "count": [*RATE_COLS, "incident_share", "pct_change_on_last_year", "reasons", "rate_score", "volume_score",
                  "change_p_value", "trend_score", "score", "score_change"],
        "count_last_year": ["pct_change_on_last_year", "change_p_value", "trend_score", "score", "score_change"],
    },
}
COMMANDS = (*DISCLOSURE, "seed")

# Statistics computed from every count of a period (Gi* is a neighbourhood share of the period total,
# its z-score uses the variance of all counts; the same for local Moran and the space-time Gi* of
# `emerging`): each shown value is an equation in the hidden counts, so with the pattern applied
# they are blanked in every period that has a hidden count. Bins and labels stay.
PERIOD_STATISTICS = ["gi_star", "gi_z", "gi_p", "gi_p_adjusted", "lisa_i", "lisa_z", "lisa_p", "lisa_p_adjusted",
                     "final_z", "final_p", "eb_z", "spatial_eb_rate_per_1000", "eb_rate_per_1000"]


def disclosure_rules(command: str, table: pd.DataFrame | None = None) -> Mapping[str, Sequence[str]]:
    """count column -> derived columns of a command's table; "seed" reads its count_<fy> columns from ``table``."""
    if command == "seed":
        from atlas.analyses import seed_count_columns  # heavy module; only the seed table needs it

        return seed_count_columns(table) if table is not None else {}
    if command not in DISCLOSURE:
        from geo.schema import AtlasError

        raise AtlasError(f"no publication rules for {command!r}; known tables: {', '.join(COMMANDS)}")
    return DISCLOSURE[command]


def note_text(n_primary: int, n_secondary: int, n_withheld: int, with_totals: bool,
              threshold: int = PUBLICATION_THRESHOLD, symbol: str = "<", unit: str = "rows") -> str:
    """What publication mode hid, in one sentence (the CLI prints it to stderr, the app shows it)."""
    label = primary_symbol(threshold, None if symbol == "<" else symbol)
    msg = (f"publication mode: {n_primary} {unit} with counts of 1-{threshold - 1} shown as '{label}' and their "
           "derived figures blanked")
    if with_totals:
        msg += (f"; {n_secondary} further counts hidden as '{SECONDARY_SYMBOL}' so that no small count can be "
                "worked out from a period total")
        if n_withheld:
            msg += f"; whole-area figures blanked for {n_withheld} {unit} whose period total is too small"
    else:
        msg += "; this table shows no totals, so no secondary suppression is needed"
    return msg


def publish(
    table: pd.DataFrame, command: str, threshold: int = PUBLICATION_THRESHOLD, symbol: str = "<",
    rules: Mapping[str, Sequence[str]] | None = None, *, store: Any = None, base: PublicationBase | None = None,
) -> pd.DataFrame:
    """Publication mode for one command's table: primary suppression, plus secondary where totals show.

    ``rules`` overrides the command's count -> derived-columns mapping (e.g. to blank one more derived
    column); which suppression applies still follows ``command``. Adds a ``suppressed`` column; the
    returned table's ``attrs["publication_note"]`` says what was hidden. Attrs of ``table`` are kept.
    A table whose attrs name its dataset, level and grain (every ``atlas.analyses`` table) follows the
    dataset's publication-wide pattern (``publication_base``, read from ``store``, default the
    ``$ATLAS_STORE`` store, or given as ``base``); any other table gets the per-table rules.
    """
    disclosure = dict(disclosure_rules(command, table) if rules is None else rules)
    if base is None and _context(table) is not None:
        if store is None:
            from store import Store

            store = Store()
        base = publication_base(store, table.attrs["dataset"], threshold)
    if base is not None and _context(table) is not None:
        return _publish_consistent(table, command, threshold, symbol, disclosure, base)
    label = primary_symbol(threshold, None if symbol == "<" else symbol)
    secondary: dict[str, np.ndarray] = {}
    withheld = None
    with_totals = command in WITH_TOTALS
    if with_totals and "count" in table.columns and "period" in table.columns:
        groups = table[[c for c in ("period", "category") if c in table.columns]].astype("string").fillna("")
        sec, withheld = secondary_mask(table["count"], groups.agg("|".join, axis=1), threshold)
        secondary["count"] = sec
    out = suppress_small_counts(table, threshold, list(disclosure), disclosure, label, also_hide=secondary)
    present = [c for c in disclosure if c in table.columns]
    values = table[present].apply(pd.to_numeric, errors="coerce")
    n_primary = int(((values >= 1) & (values < threshold)).any(axis=1).sum())  # rows shown with the symbol
    n_withheld = 0
    if withheld is not None and withheld.any():
        n_withheld = int(withheld.sum())
        for col in TOTAL_REVEALING:
            if col in out.columns:
                out[col] = out[col].mask(pd.Series(withheld, index=out.index))
    n_sec = int(secondary["count"].sum()) if "count" in secondary else 0
    out.attrs = {**table.attrs, NOTE_ATTR: note_text(n_primary, n_sec, n_withheld, with_totals, threshold, symbol)}
    return out


# ---------------------------------------------------------------------------- one pattern per publication


@dataclass(frozen=True, eq=False)
class PublicationBase:
    """One dataset's suppression pattern over every cell a publication can show (areas x periods x categories).

    ``kind`` per cell: 0 shown, 1 small (shown as the symbol), 2 hidden complement ("*"). Cells are
    indexed (area node, time node, category node) in C order; area nodes are keyed (level, code)
    plus ("all", "") for all areas, time nodes (first month index, months) so a calendar quarter and
    the financial quarter with the same months are one node, category nodes by name.
    """

    dataset: str
    threshold: int
    areas: pd.Index  # "level|code" of each area node
    times: pd.Index  # first_month * 100 + months of each time node
    categories: pd.Index  # category names; ALL_CATEGORIES last when there are several
    values: np.ndarray  # int64 [cells]
    kind: np.ndarray  # int8 [cells]
    lad_level: bool  # whether lad nodes exist (scope of an area-filtered table)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(area nodes, time nodes, category nodes)."""
        return len(self.areas), len(self.times), len(self.categories)

    def cells(self, level: str | np.ndarray, codes: Any, grain: str, periods: Any,
              categories: Any) -> np.ndarray:
        """Cell index of each (area, period, category), -1 where the pattern has no such cell."""
        from analysis.periods import first_month_index, months_per_period

        codes = pd.Series(np.asarray(codes, dtype=object)).astype(str)
        lv = pd.Series(np.broadcast_to(np.asarray(level, dtype=object), len(codes))).astype(str)
        a = self.areas.get_indexer(lv.str.cat(codes, sep="|"))
        periods = pd.Series(np.asarray(periods, dtype=object)).astype(str)
        uniq, inv = np.unique(periods.to_numpy(), return_inverse=True)
        t = self.times.get_indexer(first_month_index(pd.Series(uniq), grain) * 100 + months_per_period(grain))[inv]
        cats = pd.Series(np.asarray(categories, dtype=object)).astype(str)
        c = self.categories.get_indexer(cats)
        if len(self.categories) == 1:
            c = np.zeros(len(cats), dtype=np.int64)  # one category: it and "All" are the same cells
        _, n_t, n_c = self.shape
        ok = (a >= 0) & (t >= 0) & (c >= 0)
        return np.where(ok, (a.astype(np.int64) * n_t + t) * n_c + c, -1)

    def hidden(self, cells: np.ndarray, counts: Any = None) -> np.ndarray:
        """True where the cell is hidden, unknown to the pattern, or holds another count than the table's."""
        cells = np.asarray(cells, dtype=np.int64)
        ok = cells >= 0
        out = ~ok
        out[ok] = self.kind[cells[ok]] > 0
        if counts is not None:
            v = pd.to_numeric(pd.Series(np.asarray(counts)), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            # a count the pattern does not know (rows stored only at a coarser level or grain) is not
            # covered by its protection: hide it (a zero stays shown: nothing to protect)
            differs = ~ok | (self.values[np.where(ok, cells, 0)] != v)
            out |= differs & (v != 0)
        return out


_BASES: OrderedDict[Hashable, PublicationBase] = OrderedDict()
_BASES_LOCK = threading.Lock()


def publication_base(store: Any, dataset: str, threshold: int = PUBLICATION_THRESHOLD) -> PublicationBase:
    """The dataset's publication-wide pattern, computed once per store version, dataset and threshold."""
    from atlas.analyses import _store_token

    threshold = check_threshold(threshold)
    token = _store_token(store)
    key = (token, dataset, threshold)
    if token is not None:
        with _BASES_LOCK:
            hit = _BASES.get(key)
            if hit is not None:
                _BASES.move_to_end(key)
                return hit
    base = build_publication_base(store, dataset, threshold)
    if token is not None:
        with _BASES_LOCK:
            _BASES[key] = base
            while len(_BASES) > 4:
                _BASES.popitem(last=False)
    return base


def build_publication_base(store: Any, dataset: str, threshold: int = PUBLICATION_THRESHOLD) -> PublicationBase:
    """Build the pattern (``publication_base`` without the cache); vectorised over the whole cube."""
    from scipy import sparse

    from analysis.periods import can_convert, first_month_index, labels_from_month_index, months_per_period
    from atlas.analyses import coded_counts, load_frame
    from boundaries.hierarchy import parent_map
    from boundaries.registry import get_boundary_set
    from geo.schema import ALL_CATEGORIES, AREA_CODE, GRAINS, LEVELS, AtlasError

    coded = coded_counts(store, dataset)
    grains = [g for g, _ in coded.grain_periods() if g in GRAINS]
    finest_grain = min(grains, key=months_per_period) if grains else "month"
    stored_levels = _stored_levels(store, dataset)
    finest = next((lv for lv in LEVELS if lv in stored_levels), LEVELS[0])
    whole = load_frame(store, dataset, finest, finest_grain)
    bs = get_boundary_set(whole.boundary_set)
    cats = [c for c in coded.categories if c != ALL_CATEGORIES] if len(coded.categories) > 1 else []
    codes = whole.areas[AREA_CODE].astype(str)
    n_f, n_m = len(codes), len(whole.periods)
    if cats:
        values = np.zeros((n_f, n_m, len(cats) + 1), dtype=np.int64)
        for i, cat in enumerate(cats):
            f = load_frame(store, dataset, finest, finest_grain, category=cat)
            rows = pd.Index(f.areas[AREA_CODE].astype(str)).get_indexer(codes)
            cols = pd.Index(f.periods).get_indexer(list(whole.periods))
            sub = np.zeros((n_f, n_m), dtype=np.int64)
            ok_r, ok_c = rows >= 0, cols >= 0
            sub[np.ix_(ok_r, ok_c)] = f.cube[np.ix_(rows[ok_r], cols[ok_c])]
            values[:, :, i] = sub
        values[:, :, -1] = whole.cube  # all categories as the analyses sum them
        categories = pd.Index([*cats, ALL_CATEGORIES])
    else:
        values = whole.cube[:, :, None]
        categories = pd.Index([coded.categories[0] if len(coded.categories) else ALL_CATEGORIES])

    # Area nodes: the finest areas, each coarser level's areas over them, and all areas together.
    levels = [lv for lv in LEVELS if lv in bs.levels and LEVELS.index(lv) >= LEVELS.index(finest)]
    maps: dict[str, np.ndarray] = {finest: codes.to_numpy(dtype=object)}
    for lv in levels[1:]:
        try:
            maps[lv] = parent_map(finest, lv, bs).reindex(codes).to_numpy(dtype=object)
        except AtlasError:
            continue  # not nested: the level's tables are not linked to the finest one
    keys: list[str] = []
    rows_, cols_ = [], []
    node_of: dict[str, pd.Index] = {}
    for lv, parents in maps.items():
        known = pd.notna(parents)
        uniq = pd.Index(sorted(set(parents[known].astype(str))))
        node_of[lv] = uniq
        start = len(keys)
        keys.extend(f"{lv}|{c}" for c in uniq)
        rows_.append(start + uniq.get_indexer(parents[known].astype(str)))
        cols_.append(np.flatnonzero(known))
    root = len(keys)
    keys.append("all|")
    rows_.append(np.full(n_f, root))
    cols_.append(np.arange(n_f))
    n_a = len(keys)
    agg_a = sparse.csr_matrix((np.ones(sum(len(r) for r in rows_)), (np.concatenate(rows_), np.concatenate(cols_))),
                              shape=(n_a, n_f))
    # Time nodes: the finest periods and every coarser grain they nest in (quarter and fyquarter share nodes).
    first = first_month_index(list(whole.periods), finest_grain)
    step = months_per_period(finest_grain)
    t_keys: list[int] = []
    t_rows, t_cols = [], []
    t_node: dict[str, np.ndarray] = {}
    for g in [x for x in GRAINS if x != "fyquarter"]:
        if months_per_period(g) < step or not (g == finest_grain or can_convert(finest_grain, g)):
            continue
        starts = first_month_index(labels_from_month_index(first, g), g) * 100 + months_per_period(g)
        uniq, inv = np.unique(starts, return_inverse=True)
        t_node[g] = len(t_keys) + inv
        t_rows.append(len(t_keys) + inv)
        t_cols.append(np.arange(n_m))
        t_keys.extend(int(u) for u in uniq)
    n_t = len(t_keys)
    agg_t = sparse.csr_matrix((np.ones(sum(len(r) for r in t_rows)), (np.concatenate(t_rows), np.concatenate(t_cols))),
                              shape=(n_t, n_m))
    n_c = values.shape[2]
    cube = (agg_a @ values.reshape(n_f, -1)).reshape(n_a, n_m, n_c)
    cube = (agg_t @ cube.transpose(1, 0, 2).reshape(n_m, -1)).reshape(n_t, n_a, n_c).transpose(1, 0, 2)
    cube = np.rint(cube).astype(np.int64)

    lines = _cube_lines(maps, node_of, keys, t_node, (n_a, n_t, n_c), bool(cats))
    kind, _ = protect_lines(cube.ravel(), lines, threshold)
    return PublicationBase(dataset, threshold, pd.Index(keys), pd.Index(t_keys), categories, cube.ravel(), kind,
                           "lad" in node_of)


def _stored_levels(store: Any, dataset: str) -> set[str]:
    """Levels of a dataset's stored rows."""
    from atlas.analyses import stored_counts
    from geo.schema import LEVEL

    counts = stored_counts(store, dataset)
    return set(counts[LEVEL].astype(str).unique()) if LEVEL in counts.columns else set()


def _cube_lines(maps: dict[str, np.ndarray], node_of: dict[str, pd.Index], keys: list[str],
                t_node: dict[str, np.ndarray], shape: tuple[int, int, int], with_all: bool) -> Lines:
    """Every additive relation of the cube: finer areas in coarser ones, finer periods in coarser ones,
    categories in all categories; each crossed with every node of the other two dimensions."""
    n_a, n_t, n_c = shape
    index = pd.Index(keys)
    levels = list(maps)
    parts: list[Lines] = []
    # area pairs (child level -> parent level), both mapped from the finest areas
    for i, lo in enumerate(levels):
        for hi in [*levels[i + 1:], "all"]:
            ch_codes, pa_codes = maps[lo], (maps[hi] if hi != "all" else np.full(len(maps[lo]), ""))
            ok = pd.notna(ch_codes) & pd.notna(pa_codes)
            pairs = pd.DataFrame({"c": ch_codes[ok].astype(str), "p": pa_codes[ok].astype(str)}).drop_duplicates()
            if lo != levels[0] and pairs.groupby("c")["p"].nunique().gt(1).any():
                continue  # lo does not nest in hi (a child with two parents): no line
            ch = index.get_indexer(lo + "|" + pairs["c"])
            pa = index.get_indexer(hi + "|" + pairs["p"])
            parts.append(_crossed(ch, pa, 0, shape))
    # time pairs
    grains = list(t_node)
    for i, lo in enumerate(grains):
        for hi in grains[i + 1:]:
            pairs = pd.DataFrame({"c": t_node[lo], "p": t_node[hi]}).drop_duplicates()
            if pairs.groupby("c")["p"].nunique().gt(1).any():
                continue  # e.g. no relation between calendar and financial years
            parts.append(_crossed(pairs["c"].to_numpy(), pairs["p"].to_numpy(), 1, shape))
    if with_all:
        parts.append(_crossed(np.arange(n_c - 1), np.full(n_c - 1, n_c - 1), 2, shape))
    return Lines.concat(parts)


def _crossed(child: np.ndarray, parent: np.ndarray, axis: int, shape: tuple[int, int, int]) -> Lines:
    """Lines parent == sum(children) along ``axis``, one for every node of the other two axes."""
    child, parent = np.asarray(child, np.int64), np.asarray(parent, np.int64)
    others = [np.arange(shape[k]) for k in range(3) if k != axis]
    grid = np.stack(np.meshgrid(*others, indexing="ij"), -1).reshape(-1, 2)  # [n_other, 2]
    uniq, line_of_parent = np.unique(parent, return_inverse=True)
    n_o = len(grid)

    def cell(nodes: np.ndarray) -> np.ndarray:
        idx = [None, None, None]
        rest = [k for k in range(3) if k != axis]
        idx[axis] = np.repeat(nodes, n_o)
        idx[rest[0]] = np.tile(grid[:, 0], len(nodes))
        idx[rest[1]] = np.tile(grid[:, 1], len(nodes))
        return (idx[0] * shape[1] + idx[1]) * shape[2] + idx[2]

    member_line = np.repeat(line_of_parent, n_o) * n_o + np.tile(np.arange(n_o), len(child))
    total_line = np.repeat(np.arange(len(uniq)), n_o) * n_o + np.tile(np.arange(n_o), len(uniq))
    return Lines(
        np.concatenate([member_line, total_line]).astype(np.int64),
        np.concatenate([cell(child), cell(uniq)]).astype(np.int64),
        np.concatenate([np.ones(len(member_line), np.int8), -np.ones(len(total_line), np.int8)]),
        len(uniq) * n_o,
    )


def _context(table: pd.DataFrame) -> dict[str, Any] | None:
    """Dataset, level, grain and category of an ``atlas.analyses`` table (its attrs), or None."""
    a = table.attrs
    if not all(a.get(k) for k in ("dataset", "level")) or "area_code" not in table.columns:
        return None
    return a


def _period_cells(base: PublicationBase, table: pd.DataFrame, ctx: Mapping[str, Any], grain: str,
                  periods: Any) -> np.ndarray:
    """Cells of each row's area in ``periods`` (one label per row) at ``grain``."""
    from geo.schema import ALL_CATEGORIES, CATEGORY

    cats = table[CATEGORY] if CATEGORY in table.columns else pd.Series(ctx.get("category") or ALL_CATEGORIES,
                                                                         index=table.index)
    return base.cells(ctx["level"], table["area_code"], grain, periods, cats)


def _span_hidden(base: PublicationBase, table: pd.DataFrame, ctx: Mapping[str, Any], grain: str,
                 first: pd.Series, last: pd.Series) -> np.ndarray:
    """True where any period of the row's span first..last (at ``grain``) is hidden for its area."""
    from analysis.periods import first_month_index, labels_from_month_index, months_per_period

    step = months_per_period(grain)
    a = first_month_index(first.astype(str), grain)
    b = first_month_index(last.astype(str), grain)
    out = np.zeros(len(table), dtype=bool)
    for k in range(int(((b - a) // step).max(initial=-1)) + 1):  # one pass per period of the span, not per row
        inside = a + k * step <= b
        labels = labels_from_month_index(np.minimum(a + k * step, b), grain)
        out |= inside & base.hidden(_period_cells(base, table, ctx, grain, labels))
    return out


def _publish_consistent(table: pd.DataFrame, command: str, threshold: int, symbol: str,
                        disclosure: Mapping[str, Sequence[str]], base: PublicationBase) -> pd.DataFrame:
    """publish() with the publication-wide pattern: each count column hides what the pattern hides."""
    from analysis.periods import same_period_last_year
    from geo.schema import ALL_CATEGORIES, CATEGORY

    ctx = _context(table)
    grain = str(ctx.get("grain") or "month")
    label = primary_symbol(threshold, None if symbol == "<" else symbol)
    n = len(table)
    hidden: dict[str, np.ndarray] = {}
    period = table["period"].astype(str) if "period" in table.columns else None
    for col in disclosure:
        if col not in table.columns:
            continue
        counts = table[col]
        if command == "rolling" and col == "count":
            # a 12-month window is not a cell: shown only when its 12 months are
            first = pd.Series([_shift_months(p, -11) for p in period], index=table.index)
            h = _span_hidden(base, table, ctx, "month", first, period)
        elif command == "emerging" and col == "total_count":
            h = _span_hidden(base, table, ctx, grain, table["first_period"], table["last_period"])
        elif command == "emerging" and col == "count":
            h = base.hidden(_period_cells(base, table, ctx, grain, table["last_period"]), counts)
        elif command == "compare" and col in ("count_from", "count_to"):
            h = base.hidden(_period_cells(base, table, ctx, grain, table[f"period_{col[6:]}"]), counts)
        elif command == "priority" and col == "count_last_year":
            last = [same_period_last_year(p, grain) for p in period]
            h = base.hidden(_period_cells(base, table, ctx, grain, last), counts)
        elif command == "seed" and col.startswith("count_"):
            fy = col[len("count_"):].replace("_", "/", 1)
            h = base.hidden(_period_cells(base, table, ctx, "fy", [fy] * n), counts)
        elif col == "count" and period is not None:
            h = base.hidden(_period_cells(base, table, ctx, grain, period), counts)
        else:
            # not a cell of the pattern (repeat counts): hidden with the row's count, and when small
            h = np.zeros(n, dtype=bool)
        hidden[col] = np.asarray(h, dtype=bool)
    if "repeat_count" in hidden and "count" in hidden:
        hidden["repeat_count"] |= hidden["count"]
    values = table[list(hidden)].apply(pd.to_numeric, errors="coerce")
    also = {c: h & ~((values[c] >= 1) & (values[c] < threshold)).to_numpy() for c, h in hidden.items()}
    out = suppress_small_counts(table, threshold, list(disclosure), disclosure, label, also_hide=also)
    n_primary = int(((values >= 1) & (values < threshold)).any(axis=1).sum())
    n_sec = int(np.logical_or.reduce([also[c] for c in also]).sum()) if also else 0
    # whole-area figures reveal the scope's total (all areas, or the filtered local authority)
    n_withheld = 0
    total_cols = [c for c in TOTAL_REVEALING if c in out.columns]
    if period is not None and (total_cols or command == "concentration"):
        scope_level = "lad" if ctx.get("area_filter") and base.lad_level else "all"
        scope_code = str(ctx.get("area_filter") or "") if scope_level == "lad" else ""
        cats = table[CATEGORY] if CATEGORY in table.columns else [ctx.get("category") or ALL_CATEGORIES] * n
        p_grain = "month" if command == "rolling" else grain
        if command == "rolling":
            first = pd.Series([_shift_months(p, -11) for p in period], index=table.index)
            scope_tab = pd.DataFrame({"area_code": [scope_code] * n, CATEGORY: list(cats)}, index=table.index)
            withheld = _span_hidden(base, scope_tab, {**ctx, "level": scope_level}, p_grain, first, period)
        else:
            withheld = base.hidden(base.cells(scope_level, [scope_code] * n, p_grain, period, cats))
        n_withheld = int(withheld.sum())
        cols = [*total_cols, *(["total_count"] if command == "concentration" else [])]
        for col in cols:
            out[col] = out[col].mask(pd.Series(withheld, index=out.index))
    # statistics of whole periods: blanked where the period has any hidden count
    stats = [c for c in PERIOD_STATISTICS if c in out.columns]
    if stats and hidden:
        any_hidden = np.logical_or.reduce(list(hidden.values()))
        if period is not None and command != "emerging":
            blank = pd.Series(any_hidden, index=table.index).groupby(period.to_numpy()).transform("any").to_numpy()
        else:
            blank = np.full(n, bool(any_hidden.any()))
        for col in stats:
            out[col] = out[col].mask(pd.Series(blank, index=out.index))
    out.attrs = {**table.attrs, NOTE_ATTR: consistent_note(n_primary, n_sec, n_withheld, threshold, symbol)}
    return out


def _shift_months(label: str, steps: int) -> str:
    from analysis.periods import shift_period

    return shift_period(label, "month", steps)


def consistent_note(n_primary: int, n_secondary: int, n_withheld: int, threshold: int = PUBLICATION_THRESHOLD,
                    symbol: str = "<", unit: str = "rows") -> str:
    """What publication mode hid under the publication-wide pattern, in one sentence."""
    label = primary_symbol(threshold, None if symbol == "<" else symbol)
    msg = (f"publication mode: {n_primary} {unit} with counts of 1-{threshold - 1} shown as '{label}' and their "
           f"derived figures blanked; {n_secondary} further counts hidden as '{SECONDARY_SYMBOL}' so that no small "
           "count can be worked out from this table or any other table of the same dataset (other levels, periods "
           "or categories, totals)")
    if n_withheld:
        msg += f"; whole-area figures blanked for {n_withheld} {unit} whose total is hidden"
    return msg


def hidden_counts(table: pd.DataFrame, count_cols: Sequence[str] = ("count",), threshold: int = PUBLICATION_THRESHOLD,
                  symbol: str = "<") -> tuple[int, int]:
    """(rows with a small count shown as the symbol, rows with a count hidden as "*") of a published table."""
    label = primary_symbol(threshold, None if symbol == "<" else symbol)
    cols = [c for c in count_cols if c in table.columns]
    if not cols:
        return 0, 0
    text = table[cols].astype("string")
    return int((text == label).any(axis=1).sum()), int((text == SECONDARY_SYMBOL).any(axis=1).sum())


__all__ = [
    "COMMANDS", "DISCLOSURE", "NOTE_ATTR", "PERIOD_STATISTICS", "PUBLICATION_THRESHOLD", "PublicationBase",
    "RATE_COLS", "TOTAL_REVEALING", "WITH_TOTALS", "build_publication_base", "consistent_note", "disclosure_rules",
    "hidden_counts", "note_text", "publication_base", "publish",
]
