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
    hide_zeros: bool = False,
) -> pd.DataFrame:
    """Replace counts 1..threshold-1 (0..threshold-1 with ``hide_zeros``) by the symbol ("<threshold") and blank
    the figures that depend on them.

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
        small[col] = (values >= (0 if hide_zeros else 1)) & (values < threshold)
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


__all__ = [
    "SECONDARY_SYMBOL", "SUPPRESSED_FLAG", "TOTAL_LABEL", "check_threshold", "primary_symbol", "secondary_mask",
    "suppress_long", "suppress_small_counts", "suppress_table",
]
