"""Statistical disclosure control for published tables: primary and secondary suppression of small counts.

Primary rule (the common UK small-number convention for published crime and health tables, e.g. ONS
and NHS England "suppress counts of 1 to 4"): a count from 1 to ``threshold - 1`` is hidden and shown
as the symbol (``"<5"`` by default, or ``"*"``); every figure derived from it (rates, intervals,
changes) is blanked. Zeros are shown.

Secondary (complementary) suppression: where a table also shows a total (row or column margins, or a
whole-area figure from which a group's total can be worked out), one hidden cell in a line with a
total could be recovered by subtraction. For every such line we check, by interval arithmetic, whether
any hidden cell is pinned to a single value by what is shown, assuming the reader knows a primary
cell lies in 1..threshold-1 and a complementary cell is at least ``threshold`` (it is a non-zero
count that was not small). While a line has a pinned cell, its smallest shown non-zero cell is hidden
as well; when none is left, the line's total is hidden. This repeats until nothing changes (the
standard "hypercube"-free heuristic of Cox 1980 / ONS practice; not a full linear-programming audit).
Complementary cells are shown as ``"*"``: they are not small, so ``"<5"`` would be false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.schema import AtlasError

SUPPRESSED_FLAG = "suppressed"
SECONDARY_SYMBOL = "*"
TOTAL_LABEL = "Total"

# Reader's bounds on a hidden cell, by why it is hidden.
_PRIMARY, _SECONDARY, _MARGIN = 1, 2, 3


def check_threshold(threshold: int) -> int:
    """The threshold as an int; AtlasError unless a whole number >= 2."""
    if isinstance(threshold, bool) or int(threshold) != threshold or threshold < 2:
        raise AtlasError(f"suppression threshold must be a whole number >= 2; received {threshold!r}")
    return int(threshold)


def primary_symbol(threshold: int, symbol: str | None = None) -> str:
    """The text shown for a small count: ``"<threshold"`` by default, or the symbol given."""
    return f"<{threshold}" if symbol is None else str(symbol)


def suppress_small_counts(
    table: pd.DataFrame,
    threshold: int = 5,
    count_cols: Sequence[str] = ("count",),
    dependent_cols: Sequence[str] | Mapping[str, Sequence[str]] = (),
    symbol: str | None = None,
    also_hide: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Replace counts 1..threshold-1 by the symbol ("<threshold") and blank the figures that depend on them.

    ``dependent_cols``: a list (blanked in a row when any count of that row is suppressed) or a
    mapping count column -> its own dependent columns (e.g. {"count_2022_23": ["rate_2022_23"]}).
    ``also_hide``: count column -> bool mask of cells hidden by secondary suppression (shown as "*",
    their dependents blanked). Count columns become text; blanked cells are NaN/<NA>. Missing
    columns are ignored, so one rule set can serve tables with and without optional columns.
    Adds a ``suppressed`` bool column.
    """
    threshold = check_threshold(threshold)
    out = table.copy()
    present = [c for c in count_cols if c in out.columns]
    small: dict[str, np.ndarray] = {}
    extra: dict[str, np.ndarray] = {}
    for col in present:
        values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        small[col] = (values >= 1) & (values < threshold)
        more = np.asarray((also_hide or {}).get(col, np.zeros(len(out), bool)), dtype=bool)
        extra[col] = more & ~small[col]
    any_hidden = np.zeros(len(out), dtype=bool)
    for col in present:
        any_hidden |= small[col] | extra[col]

    if isinstance(dependent_cols, Mapping):
        for col, deps in dependent_cols.items():
            if col in small:
                _blank(out, deps, small[col] | extra[col])
    else:
        _blank(out, dependent_cols, any_hidden)
    label = primary_symbol(threshold, symbol)
    for col in present:
        text = out[col].astype("string")
        text = text.mask(pd.Series(small[col], index=out.index), label)
        out[col] = text.mask(pd.Series(extra[col], index=out.index), SECONDARY_SYMBOL)
    out[SUPPRESSED_FLAG] = any_hidden
    return out


def suppress_table(
    wide: pd.DataFrame,
    threshold: int = 5,
    symbol: str | None = None,
    row_totals: bool = True,
    col_totals: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A table of counts (e.g. areas x periods) with its totals, small counts and their complements hidden.

    Returns (shown, mask): ``shown`` is text with a ``Total`` column and/or row added; ``mask`` has
    the same shape and is True where a cell (or total) is hidden. Zeros are shown.
    """
    threshold = check_threshold(threshold)
    values = _whole_counts(wide)
    n_r, n_c = values.shape
    full = np.zeros((n_r + 1, n_c + 1), dtype=np.int64)
    full[:n_r, :n_c] = values
    full[:n_r, n_c] = values.sum(axis=1)
    full[n_r, :n_c] = values.sum(axis=0)
    full[n_r, n_c] = values.sum()
    kind = np.zeros_like(full, dtype=np.int8)
    kind[:n_r, :n_c][(values >= 1) & (values < threshold)] = _PRIMARY
    # Lines: each row (with its total) when row totals are shown; each column likewise. The margin
    # row/column are lines too when both sets of totals (hence a grand total) are shown.
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    if row_totals:
        for i in range(n_r + (1 if col_totals else 0)):
            lines.append((np.full(n_c + 1, i), np.arange(n_c + 1)))
    if col_totals:
        for j in range(n_c + (1 if row_totals else 0)):
            lines.append((np.arange(n_r + 1), np.full(n_r + 1, j)))
    _protect(full, kind, lines, threshold)
    while (pinned := _lp_pinned(full, kind, lines, threshold)) is not None:
        # Several lines together can fix a cell no single line does: hide one more and start again.
        if not _hide_near(full, kind, pinned, n_r, n_c):
            break  # every non-zero figure is hidden: only the shown zeros remain
        _protect(full, kind, lines, threshold)

    keep_r = n_r + (1 if col_totals else 0)
    keep_c = n_c + (1 if row_totals else 0)
    shown_vals, shown_kind = full[:keep_r, :keep_c], kind[:keep_r, :keep_c]
    text = shown_vals.astype(str).astype(object)
    text[shown_kind == _PRIMARY] = primary_symbol(threshold, symbol)
    text[(shown_kind == _SECONDARY) | (shown_kind == _MARGIN)] = SECONDARY_SYMBOL if symbol is None else str(symbol)
    index = list(wide.index) + ([TOTAL_LABEL] if col_totals else [])
    columns = list(wide.columns) + ([TOTAL_LABEL] if row_totals else [])
    shown = pd.DataFrame(text, index=index, columns=columns).astype("string")
    mask = pd.DataFrame(shown_kind > 0, index=index, columns=columns)
    return shown, mask


def secondary_mask(
    counts: Sequence[float] | np.ndarray | pd.Series, groups: Sequence | np.ndarray | pd.Series | None, threshold: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Long-table secondary suppression: each group (e.g. the areas of one period) has a known total.

    Returns (secondary, total_withheld): cells to hide besides the small ones, and rows whose group
    total cannot be protected by hiding cells (publish no figure giving that group's total).
    """
    threshold = check_threshold(threshold)
    values = np.asarray(pd.to_numeric(pd.Series(np.asarray(counts)), errors="coerce").fillna(0), dtype=np.int64)
    n = len(values)
    if groups is None:
        codes = np.zeros(n, dtype=np.int64)
    else:
        codes, _ = pd.factorize(pd.Series(np.asarray(groups, dtype=object)), use_na_sentinel=False)
    secondary = np.zeros(n, dtype=bool)
    withheld = np.zeros(n, dtype=bool)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for rows in np.split(order, bounds):
        if len(rows) == 0:
            continue
        v = values[rows]
        full = np.append(v, v.sum())[None, :]
        kind = np.zeros_like(full, dtype=np.int8)
        kind[0, :-1][(v >= 1) & (v < threshold)] = _PRIMARY
        _protect(full, kind, [(np.zeros(len(v) + 1, dtype=int), np.arange(len(v) + 1))], threshold)
        secondary[rows] = kind[0, :-1] == _SECONDARY
        withheld[rows] = kind[0, -1] == _MARGIN
    return secondary, withheld


def suppress_long(
    table: pd.DataFrame,
    count_col: str = "count",
    by: Sequence[str] = ("period",),
    threshold: int = 5,
    symbol: str | None = None,
    dependent_cols: Sequence[str] = (),
    total_cols: Sequence[str] = (),
) -> pd.DataFrame:
    """Primary plus secondary suppression of a long table whose groups ``by`` have a shown or derivable total.

    ``total_cols``: columns that reveal a group's total (e.g. whole_area_rate, incident_share); they
    are blanked for a group whose total cannot be protected. Adds ``suppressed``.
    """
    groups = table[list(by)].astype("string").fillna("").agg("\x1f".join, axis=1) if by else None
    secondary, withheld = secondary_mask(table[count_col], groups, threshold)
    out = suppress_small_counts(table, threshold, [count_col], {count_col: list(dependent_cols)}, symbol,
                                also_hide={count_col: secondary})
    _blank(out, total_cols, withheld)
    return out


def _whole_counts(wide: pd.DataFrame) -> np.ndarray:
    values = wide.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise AtlasError(
            f"suppress_table needs whole counts >= 0; row {wide.index[i]!r}, column {wide.columns[j]!r} "
            f"holds {str(wide.iat[i, j])!r}"
        )
    return values.astype(np.int64)


def _protect(full: np.ndarray, kind: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]], t: int) -> None:
    """Hide complements in place until no line (last member = its total) pins a hidden cell."""
    totals = {(int(r[-1]), int(c[-1])) for r, c in lines}
    changed = True
    while changed:
        changed = False
        lo, hi = _bounds(full, kind, lines, t)
        for rows, cols in lines:
            k = kind[rows, cols]
            if not (k > 0).any() or not _pinned(lo[rows, cols], hi[rows, cols], k):
                continue
            v = full[rows[:-1], cols[:-1]]
            candidates = np.flatnonzero((k[:-1] == 0) & (v > 0))
            if len(candidates):
                pick = candidates[np.argsort(v[candidates], kind="stable")[0]]  # smallest, first on ties
                cell = (int(rows[pick]), int(cols[pick]))
                # a total used as a complement is known only to be >= 0, not >= t
                kind[cell] = _MARGIN if cell in totals else _SECONDARY
            elif k[-1] == 0:
                kind[rows[-1], cols[-1]] = _MARGIN
            else:
                continue  # nothing left to hide on this line
            changed = True
            break  # bounds changed: recompute before judging other lines


def _lp_pinned(
    full: np.ndarray, kind: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]], t: int
) -> tuple[int, int] | None:
    """First hidden cell whose min and max over all tables consistent with the shown ones coincide (LP audit)."""
    from scipy.optimize import linprog  # local: only two-way tables with totals need it

    own_lo = np.where(kind == _PRIMARY, 1, 0)
    own_hi = np.where(kind == _PRIMARY, t - 1, 2)
    hidden = np.argwhere((kind > 0) & (own_lo < own_hi))  # a "<2" cell is 1 whatever the totals say
    if len(hidden) == 0 or not lines:
        return None
    shape = full.shape
    a_eq = np.zeros((len(lines), full.size))
    for r, (rows, cols) in enumerate(lines):
        a_eq[r, np.ravel_multi_index((rows[:-1], cols[:-1]), shape)] = 1.0
        a_eq[r, np.ravel_multi_index((rows[-1], cols[-1]), shape)] -= 1.0
    lo = np.where(kind == 0, full, np.where(kind == _PRIMARY, 1, np.where(kind == _SECONDARY, t, 0))).ravel()
    hi = np.where(kind == 0, full, np.where(kind == _PRIMARY, t - 1, -1)).ravel()
    bounds = [(float(a), None if b < 0 else float(b)) for a, b in zip(lo, hi)]
    b_eq = np.zeros(len(lines))
    truth = full.ravel().astype(float)
    idx = np.ravel_multi_index((hidden[:, 0], hidden[:, 1]), shape)
    unsure = np.ones(len(idx), dtype=bool)
    # Any feasible table where a cell differs from the truth shows it is not pinned (the truth is
    # feasible too): a few random objectives clear most cells, then each remaining one is minimised
    # and maximised on its own.
    rng = np.random.default_rng(0)
    objectives = [rng.standard_normal(full.size) for _ in range(4)]
    pending = list(objectives)
    while True:
        while pending:
            res = linprog(pending.pop(), A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
            if res.status == 0:
                unsure &= np.abs(res.x[idx] - truth[idx]) < 0.5
        left = np.flatnonzero(unsure)
        if len(left) == 0:
            return None
        k = left[0]
        c = np.zeros(full.size)
        c[idx[k]] = 1.0
        mn = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        mx = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if mx.status == 3:  # unbounded above: certainly not pinned
            unsure[k] = False
            continue
        if mn.status != 0 or mx.status != 0 or -mx.fun - mn.fun < 0.5:
            return int(hidden[k, 0]), int(hidden[k, 1])
        for res in (mn, mx):
            unsure &= np.abs(res.x[idx] - truth[idx]) < 0.5


def _hide_near(full: np.ndarray, kind: np.ndarray, cell: tuple[int, int], n_r: int, n_c: int) -> bool:
    """Hide the smallest shown non-zero body cell in the pinned cell's row, else column, else a total,
    else the smallest figure shown anywhere; False when no non-zero figure is left to hide."""
    i, j = cell
    for rows, cols in ((np.full(n_c, i), np.arange(n_c)), (np.arange(n_r), np.full(n_r, j))):
        if i == n_r and rows[0] == n_r or j == n_c and cols[0] == n_c:
            continue  # margin row/column: its members are totals, not body cells
        v, k = full[rows, cols], kind[rows, cols]
        candidates = np.flatnonzero((k == 0) & (v > 0))
        if len(candidates):
            pick = candidates[np.argsort(v[candidates], kind="stable")[0]]
            kind[rows[pick], cols[pick]] = _SECONDARY
            return True
    for ti, tj in ((i, n_c), (n_r, j), (n_r, n_c)):
        if kind[ti, tj] == 0:
            kind[ti, tj] = _MARGIN
            return True
    # Everything around it is hidden already: hide the smallest figure still shown anywhere.
    shown = np.argwhere((kind == 0) & (full > 0))
    if len(shown) == 0:
        return False
    ti, tj = shown[np.argsort(full[shown[:, 0], shown[:, 1]], kind="stable")[0]]
    kind[ti, tj] = _SECONDARY if ti < n_r and tj < n_c else _MARGIN
    return True


def _bounds(
    full: np.ndarray, kind: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]], t: int
) -> tuple[np.ndarray, np.ndarray]:
    """What a reader knows of each cell: shown = its value; small 1..t-1; complement >= t; a hidden
    total lies between the sums of its line's bounds (two passes reach the grand total)."""
    lo = np.where(kind == 0, full, np.where(kind == _PRIMARY, 1, np.where(kind == _SECONDARY, t, 0))).astype(float)
    hi = np.where(kind == 0, full, np.where(kind == _PRIMARY, t - 1, np.inf)).astype(float)
    margin_lines = [(r, c) for r, c in lines if kind[r[-1], c[-1]] == _MARGIN]
    for _ in range(2):
        for rows, cols in margin_lines:
            i, j = rows[-1], cols[-1]
            lo[i, j] = max(lo[i, j], lo[rows[:-1], cols[:-1]].sum())
            hi[i, j] = min(hi[i, j], hi[rows[:-1], cols[:-1]].sum())
    return lo, hi


def _pinned(lo: np.ndarray, hi: np.ndarray, k: np.ndarray) -> bool:
    """True when the line sum(x[:-1]) == x[-1] and the others' bounds fix some hidden cell to one value."""
    # Write the line as sum(a * x) == 0 with a = +1 for cells, -1 for the total.
    a = np.ones(len(lo))
    a[-1] = -1.0
    lo_ax = np.where(a > 0, lo, -hi)
    hi_ax = np.where(a > 0, hi, -lo)
    tot_lo, tot_hi = lo_ax.sum(), hi_ax.sum()
    n_inf_lo = np.isinf(lo_ax).sum()
    n_inf_hi = np.isinf(hi_ax).sum()
    for j in np.flatnonzero(k > 0):
        # a_j x_j == -(sum of the others); others' range from the totals minus j's own term.
        o_lo = -np.inf if n_inf_lo - np.isinf(lo_ax[j]) > 0 else _finite_sum(lo_ax, j, tot_lo)
        o_hi = np.inf if n_inf_hi - np.isinf(hi_ax[j]) > 0 else _finite_sum(hi_ax, j, tot_hi)
        x_lo, x_hi = (-o_hi, -o_lo) if a[j] > 0 else (o_lo, o_hi)
        # Pinned = the line narrows the cell to one value; "<2" alone already says 1, the line adds nothing.
        if lo[j] < hi[j] and max(x_lo, lo[j]) >= min(x_hi, hi[j]):
            return True
    return False


def _finite_sum(terms: np.ndarray, j: int, total: float) -> float:
    return float(np.sum(np.delete(terms, j))) if np.isinf(total) else float(total - terms[j])


def _blank(out: pd.DataFrame, columns: Sequence[str], mask: np.ndarray) -> None:
    """Set the given columns to missing where mask is True (columns absent from the table are skipped)."""
    if not mask.any():
        return
    rows = pd.Series(mask, index=out.index)
    for col in columns:
        if col in out.columns:
            out[col] = out[col].mask(rows)


# ---------------------------------------------------------------------------- linked tables (a cube of lines)


@dataclass(frozen=True)
class Lines:
    """Additive relations between the cells of linked tables: for each line, sum(members) == total.

    Stored as entries (one per cell of a line): ``line`` id, ``cell`` index and ``coef`` (+1 for a
    member, -1 for the line's total), so one cell can sit in many lines (an LSOA-month is a member of
    its ward-month, its LSOA-quarter and its all-categories cell, and the total of its categories).
    """

    line: np.ndarray  # int64 [entries]
    cell: np.ndarray  # int64 [entries]
    coef: np.ndarray  # int8 [entries], +1 member, -1 total
    n_lines: int

    @staticmethod
    def concat(parts: Sequence[Lines]) -> Lines:
        """One set of lines from several (line ids renumbered)."""
        offsets = np.cumsum([0, *[p.n_lines for p in parts]])
        return Lines(
            np.concatenate([p.line + o for p, o in zip(parts, offsets)]) if parts else np.zeros(0, np.int64),
            np.concatenate([p.cell for p in parts]) if parts else np.zeros(0, np.int64),
            np.concatenate([p.coef for p in parts]) if parts else np.zeros(0, np.int8),
            int(offsets[-1]),
        )


def reader_bounds(values: np.ndarray, kind: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """What a reader knows of each cell before combining lines: shown = its value; "<t" = 1..t-1; a
    complement "*" >= t; a small cell hidden as "*" (kind 3, see protect_lines) >= 1 (zeros are shown)."""
    lo = np.where(kind == 0, values, np.where(kind == _PRIMARY, 1, np.where(kind == _SECONDARY, threshold, 1)))
    hi = np.where(kind == 0, values, np.where(kind == _PRIMARY, threshold - 1, -1)).astype(float)
    return lo.astype(float), np.where(hi < 0, np.inf, hi)


# Stand-in for "no upper bound" in propagate_bounds: finite so sums need no infinity bookkeeping, and
# exact in float64 for sums of up to 2**12 such terms plus any realistic count.
_BIG = float(2**40)


def propagate_bounds(
    lo: np.ndarray, hi: np.ndarray, lines: Lines, passes: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Tighten integer bounds of every cell through every line until stable (interval constraint propagation).

    Each line sum(coef * x) == 0 bounds each of its cells by the others' bounds (the subtraction
    attack on every line at once, repeated so that what one line reveals feeds the next); counts are
    whole numbers, so bounds are rounded inwards. Vectorised over all entries (bincount per line,
    reduceat per cell). An infinite upper bound is returned as ``inf``.
    """
    lo = np.maximum(lo.astype(float), 0.0)
    hi = np.minimum(hi.astype(float), _BIG)
    if len(lines.line) == 0:
        return lo, np.where(hi >= _BIG, np.inf, hi)
    if len(lines.cell) > 1 and (lines.cell[1:] < lines.cell[:-1]).any():
        lines = _by_cell(lines)
    line, cell, pos = lines.line, lines.cell, lines.coef > 0
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    cells = cell[starts]
    n = lines.n_lines
    for _ in range(passes):
        lo_c, hi_c = lo[cell], hi[cell]
        l_e = np.where(pos, lo_c, -hi_c)
        h_e = np.where(pos, hi_c, -lo_c)
        others_lo = np.bincount(line, l_e, n)[line] - l_e
        others_hi = np.bincount(line, h_e, n)[line] - h_e
        # coef * x == -(others): a member lies in [-others_hi, -others_lo], a total in [others_lo, others_hi]
        imp_lo = np.where(pos, -others_hi, others_lo)
        imp_hi = np.where(pos, -others_lo, others_hi)
        new_lo, new_hi = lo.copy(), hi.copy()
        new_lo[cells] = np.maximum(lo[cells], np.ceil(np.maximum.reduceat(imp_lo, starts) - 1e-6))
        new_hi[cells] = np.minimum(hi[cells], np.floor(np.minimum.reduceat(imp_hi, starts) + 1e-6))
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
            break
        lo, hi = new_lo, new_hi
    return lo, np.where(hi >= _BIG * 0.5, np.inf, hi)


def protect_lines(
    values: np.ndarray, lines: Lines, threshold: int = 5, kind: np.ndarray | None = None, max_rounds: int = 200,
    lp_max_cells: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Primary plus complementary suppression of linked tables: no hidden cell pinned by any set of lines.

    Returns (kind, pinned): kind per cell (0 shown, 1 small "<t", 2 complement "*", 3 a small count
    shown as "*" because "<t" would pin it, e.g. a total of 4 over four non-zero cells); ``pinned`` lists
    the cells still fixed to one value (empty unless nothing was left to hide). Each round runs the
    reader's attack (``propagate_bounds``: subtraction along every line, chained), and for every
    pinned cell hides the smallest shown non-zero cell of one of its lines (members before totals;
    the line with the fewest hidden cells first), as in the hypercube-free heuristic of Cox (1980)
    generalised to many linked margins. Hiding a cell never tightens what the reader knows of any
    other (a "*" says less than its value), so rounds only ever add protection. With
    ``lp_max_cells`` > 0, groups of hidden cells linked by lines (connected components) of at most
    that many cells are then audited by linear programming (``lp_pinned_cells``) as well.
    """
    threshold = check_threshold(threshold)
    values = np.asarray(values, dtype=np.int64)
    lines = _by_cell(lines)  # once: propagation reduces per cell over entries sorted by cell
    if kind is None:
        kind = np.zeros(len(values), dtype=np.int8)
        kind[(values >= 1) & (values < threshold)] = _PRIMARY
    else:
        kind = kind.astype(np.int8).copy()
    pinned = np.zeros(0, dtype=np.int64)
    passes = 1  # plain subtraction first (cheap); chained propagation once that finds nothing
    for _ in range(max_rounds):
        pinned, culprits = _pins(values, kind, lines, threshold, passes)
        if len(pinned) == 0 and passes == 1:
            passes = 16
            pinned, culprits = _pins(values, kind, lines, threshold, passes)
        if len(pinned) == 0 and lp_max_cells > 0:
            pinned, culprits = lp_pinned_cells(values, kind, lines, threshold, lp_max_cells), np.zeros(0, np.int64)
        if len(pinned) == 0:
            break
        chosen, vague = _complements(values, kind, lines, pinned, culprits)
        if len(chosen) == 0 and len(vague) == 0:
            break  # every line of the pinned cells is hidden already: report them
        kind[chosen] = _SECONDARY
        kind[vague] = _MARGIN
    return kind, pinned


def _by_cell(lines: Lines) -> Lines:
    order = np.argsort(lines.cell, kind="stable")
    return Lines(lines.line[order], lines.cell[order], lines.coef[order], lines.n_lines)


def _pinned_cells(values: np.ndarray, kind: np.ndarray, lines: Lines, threshold: int, passes: int = 16) -> np.ndarray:
    """Hidden cells that bound propagation fixes to one value (not counting a "<2" cell, 1 by definition)."""
    return _pins(values, kind, lines, threshold, passes)[0]


def _pins(values: np.ndarray, kind: np.ndarray, lines: Lines, threshold: int,
          passes: int) -> tuple[np.ndarray, np.ndarray]:
    """(pinned cells, lines that pin them): a line pins a cell when, given what the reader knows of its
    other cells after propagation, it leaves the cell one value."""
    own_lo, own_hi = reader_bounds(values, kind, threshold)
    active = _active_lines(kind, lines)
    lo, hi = propagate_bounds(own_lo, own_hi, active, passes)
    pinned = (kind > 0) & (own_lo < own_hi) & (lo >= hi)
    cells = np.flatnonzero(pinned)
    if len(cells) == 0:
        return cells, np.zeros(0, dtype=np.int64)
    e = np.flatnonzero(pinned[active.cell])
    members = np.isin(active.line, np.unique(active.line[e]))
    ln, cl, pos = active.line[members], active.cell[members], active.coef[members] > 0
    hi_f = np.minimum(hi, _BIG)
    l_e = np.where(pos, lo[cl], -hi_f[cl])
    h_e = np.where(pos, hi_f[cl], -lo[cl])
    others_lo = np.bincount(ln, l_e, active.n_lines)[ln] - l_e
    others_hi = np.bincount(ln, h_e, active.n_lines)[ln] - h_e
    imp_lo = np.where(pos, -others_hi, others_lo)
    imp_hi = np.where(pos, -others_lo, others_hi)
    pins = pinned[cl] & (np.maximum(own_lo[cl], np.ceil(imp_lo - 1e-6)) >= np.minimum(own_hi[cl], np.floor(imp_hi + 1e-6)))
    return cells, np.unique(ln[pins])


def _active_lines(kind: np.ndarray, lines: Lines) -> Lines:
    """Only lines with a hidden cell can tell the reader anything new."""
    has_hidden = np.bincount(lines.line, kind[lines.cell] > 0, lines.n_lines) > 0
    keep = has_hidden[lines.line]
    return Lines(lines.line[keep], lines.cell[keep], lines.coef[keep], lines.n_lines)


def _complements(values: np.ndarray, kind: np.ndarray, lines: Lines, pinned: np.ndarray,
                 culprits: np.ndarray | None = None) -> np.ndarray:
    """For each pinned cell, the smallest shown non-zero cell of one of its lines (vectorised choice):
    a line that pins it when there is one, else the line with the fewest hidden cells."""
    n_hidden = np.bincount(lines.line, kind[lines.cell] > 0, lines.n_lines)
    cand = (kind[lines.cell] == 0) & (values[lines.cell] > 0)
    # best candidate per line: members before the total, then the smallest value, then the lowest index
    ce = np.flatnonzero(cand)
    order = np.lexsort((lines.cell[ce], values[lines.cell[ce]], lines.coef[ce] < 0, lines.line[ce]))
    ce = ce[order]
    first = np.ones(len(ce), dtype=bool)
    first[1:] = lines.line[ce][1:] != lines.line[ce][:-1]
    best_cell = np.full(lines.n_lines, -1, dtype=np.int64)
    best_cell[lines.line[ce[first]]] = lines.cell[ce[first]]
    # the lines of the pinned cells that still have a candidate
    is_pinned = np.zeros(len(values), dtype=bool)
    is_pinned[pinned] = True
    pe = np.flatnonzero(is_pinned[lines.cell] & (best_cell[lines.line] >= 0))
    # A pinning line with nothing left to hide is pinned by "<t" itself (four cells of 1 under a "<5"
    # total): show its small total (else a small member) as "*", which says only "not zero".
    vague = np.zeros(0, dtype=np.int64)
    if culprits is not None and len(culprits):
        stuck = np.zeros(lines.n_lines, dtype=bool)
        stuck[culprits] = True
        stuck &= best_cell < 0
        se = np.flatnonzero(stuck[lines.line] & (kind[lines.cell] == _PRIMARY))
        order = np.lexsort((lines.cell[se], lines.coef[se] > 0, lines.line[se]))  # the total first
        se = se[order]
        first_s = np.ones(len(se), dtype=bool)
        first_s[1:] = lines.line[se][1:] != lines.line[se][:-1]
        vague = np.unique(lines.cell[se[first_s]])
    if len(pe) == 0:
        return np.zeros(0, dtype=np.int64), vague
    ln = lines.line[pe]
    culprit = np.zeros(lines.n_lines, dtype=bool)
    if culprits is not None and len(culprits):
        culprit[culprits] = True
    order = np.lexsort((values[best_cell[ln]], n_hidden[ln], ~culprit[ln], lines.cell[pe]))
    pe, ln = pe[order], ln[order]
    first = np.ones(len(pe), dtype=bool)
    first[1:] = lines.cell[pe][1:] != lines.cell[pe][:-1]
    return np.unique(best_cell[ln[first]]), vague


def lp_pinned_cells(values: np.ndarray, kind: np.ndarray, lines: Lines, threshold: int, max_cells: int) -> np.ndarray:
    """Hidden cells whose min and max over all tables consistent with what is shown coincide (LP audit).

    The LP splits into independent groups of hidden cells joined by lines (shown cells are
    constants); each group of at most ``max_cells`` cells is solved with scipy's HiGHS: a few random
    objectives clear most cells (any feasible table where a cell differs from the truth shows it is
    not pinned), then each remaining cell is minimised and maximised. Larger groups are left to
    ``propagate_bounds``.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    act = _active_lines(kind, lines)
    hidden = np.flatnonzero(kind > 0)
    if len(hidden) == 0 or len(act.line) == 0:
        return np.zeros(0, dtype=np.int64)
    var = np.full(len(values), -1, dtype=np.int64)
    var[hidden] = np.arange(len(hidden))
    he = var[act.cell] >= 0
    # cells joined through a line: link each hidden entry to a node for its line
    line_ids, line_node = np.unique(act.line[he], return_inverse=True)
    nv = len(hidden)
    g = coo_matrix((np.ones(he.sum()), (var[act.cell[he]], nv + line_node)), shape=(nv + len(line_ids),) * 2)
    _, comp = connected_components(g, directed=False)
    comp_v = comp[:nv]
    lo0, hi0 = reader_bounds(values, kind, threshold)
    out: list[int] = []
    rng = np.random.default_rng(0)
    sizes = np.bincount(comp_v)
    for c in np.flatnonzero((sizes > 0) & (sizes <= max_cells)):
        cells = hidden[comp_v == c]
        if not (lo0[cells] < hi0[cells]).any():
            continue
        local = np.full(len(values), -1, dtype=np.int64)
        local[cells] = np.arange(len(cells))
        lines_c = np.unique(act.line[(local[act.cell] >= 0)])
        e = np.flatnonzero(np.isin(act.line, lines_c))
        row = np.searchsorted(lines_c, act.line[e])
        is_var = local[act.cell[e]] >= 0
        a = coo_matrix((act.coef[e][is_var].astype(float), (row[is_var], local[act.cell[e]][is_var])),
                       shape=(len(lines_c), len(cells))).tocsr()
        b = -np.bincount(row[~is_var], act.coef[e][~is_var] * values[act.cell[e]][~is_var].astype(float),
                         len(lines_c))
        bounds = list(zip(lo0[cells], [None if np.isinf(h) else h for h in hi0[cells]]))
        truth = values[cells].astype(float)
        unsure = lo0[cells] < hi0[cells]
        for _ in range(4):
            res = linprog(rng.standard_normal(len(cells)), A_eq=a, b_eq=b, bounds=bounds, method="highs")
            if res.status == 0:
                unsure &= np.abs(res.x - truth) < 0.5
        for k in np.flatnonzero(unsure):
            if not unsure[k]:
                continue
            obj = np.zeros(len(cells))
            obj[k] = 1.0
            mn = linprog(obj, A_eq=a, b_eq=b, bounds=bounds, method="highs")
            mx = linprog(-obj, A_eq=a, b_eq=b, bounds=bounds, method="highs")
            if mx.status == 3:  # unbounded above: not pinned
                continue
            if mn.status == 0 and mx.status == 0 and np.floor(-mx.fun + 1e-6) - np.ceil(mn.fun - 1e-6) >= 1:
                for res in (mn, mx):
                    unsure &= np.abs(res.x - truth) < 0.5
                continue
            out.append(int(cells[k]))
    return np.asarray(out, dtype=np.int64)


__all__ = [
    "SECONDARY_SYMBOL", "SUPPRESSED_FLAG", "TOTAL_LABEL", "Lines", "check_threshold", "lp_pinned_cells",
    "primary_symbol", "propagate_bounds", "protect_lines", "reader_bounds", "secondary_mask", "suppress_long",
    "suppress_small_counts", "suppress_table",
]
