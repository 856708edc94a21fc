"""Publication mode: one rule set for the command line, file exports and the dashboard.

Primary suppression hides counts from 1 to ``threshold - 1`` (shown as "<5") and blanks the figures
derived from them (analysis.disclosure.suppress_small_counts). Where a command's table lets a reader
work out a period's total (whole-area rate with populations, rate ratio, incident share), the counts
also get secondary suppression within each period (analysis.disclosure.secondary_mask: complementary
cells shown as "*"), and where a period's total cannot be protected its total-revealing columns are
blanked. Nothing here prints: the note saying what was hidden is returned in
``table.attrs["publication_note"]`` for the caller to show (stderr for the CLI, a caption in the app).
Columns: docs/output-columns.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.perturbation import MAX_CHANGE
from analysis.disclosure import SECONDARY_SYMBOL, primary_symbol, secondary_mask, suppress_small_counts
from geo.attribution import PUBLICATION_THRESHOLD

NOTE_ATTR = "publication_note"


def publication_store(store: Any, publication: bool) -> Any:
    """The store analyses should read: in publication mode its counts are perturbed (``Store.for_publication``).

    Stores without that method (test fakes) are returned unchanged.
    """
    return store.for_publication() if publication and hasattr(store, "for_publication") else store
RATE_COLS = ["rate_per_1000", "rate_lower_95", "rate_upper_95", "rate_lower_998", "rate_upper_998", "rate_ratio"]

# Columns from which each period's total count can be worked out: the whole-area rate (with the
# populations shown), the rate ratio (rate / whole-area rate), an incident share (count / total) or an
# expected count (population x whole-area rate).
# Blanked for a period whose total cannot be protected.
TOTAL_REVEALING = ["whole_area_rate", "rate_ratio", "incident_share", "compared_to_whole_area", "share_ratio",
                   "expected_count"]
# Commands whose tables show such a column: their counts get secondary suppression within each period.
# (spc: its whole-area series is each period's total of the area series.)
WITH_TOTALS = frozenset({"rates", "smoothed", "rolling", "hotspots", "priority", "spc"})

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
    # XmR chart points: a hidden count's value, moving range and the rules it fired are blanked with it
    "spc": {"count": ["value", "moving_range", "rules", "rule_outside_limits", "rule_shift", "rule_trend",
                      "rule_two_in_three", "special_cause", "variation", "note"]},
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

# Statistics computed from every count of a period: Gi* is a neighbourhood share of the period total and
# its z-score uses the variance of all counts; local Moran's I likewise; the space-time Gi* of `emerging`
# over its window; an empirical Bayes rate shrinks towards a mean and variance of every count (the
# spatial one towards the neighbours' counts). Each shown value is an equation in the hidden counts
# (with the shown ones, enough of them give a hidden count back), so they are blanked in every period
# that has a hidden count (for `emerging`, whose z-scores span all periods, in the whole table).
# Bins and labels (hot spot, cluster, emerging category) stay: they only say on which side of a
# threshold a value falls.
PERIOD_STATISTICS = ["gi_star", "gi_z", "gi_p", "gi_p_adjusted", "gi_p_sim", "lisa_i", "lisa_z", "lisa_p",
                     "lisa_p_adjusted", "lisa_p_sim", "final_z", "final_p", "eb_z", "eb_rate_per_1000",
                     "spatial_eb_rate_per_1000"]


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
    msg = (f"publication mode: counts perturbed by up to {MAX_CHANGE} (cell-key method); {n_primary} {unit} with "
           f"counts of 0-{threshold - 1} shown as '{label}' and their derived figures blanked")
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
    rules: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Publication mode for one command's table: primary suppression, plus secondary where totals show.

    ``rules`` overrides the command's count -> derived-columns mapping (e.g. to blank one more derived
    column); which suppression applies still follows ``command``. Adds a ``suppressed`` column; the
    returned table's ``attrs["publication_note"]`` says what was hidden. Attrs of ``table`` are kept.
    """
    disclosure = dict(disclosure_rules(command, table) if rules is None else rules)
    label = primary_symbol(threshold, None if symbol == "<" else symbol)
    secondary: dict[str, np.ndarray] = {}
    withheld = None
    with_totals = command in WITH_TOTALS
    if with_totals and "count" in table.columns and "period" in table.columns:
        cols = [c for c in ("period", "category") if c in table.columns]
        # One integer per (period, category): a row-wise string join took 6 s for a national table.
        key = table[cols].astype("string").fillna("").groupby(cols, sort=False).ngroup().to_numpy()
        sec, withheld = secondary_mask(table["count"], key, threshold)
        secondary["count"] = sec
        # A period total below the threshold is a small count itself (and a total of 0 says every hidden count
        # in it is 0): the figures that reveal it are withheld.
        total = pd.to_numeric(table["count"], errors="coerce").groupby(key).transform("sum")
        withheld = withheld | (total < threshold).to_numpy()
    # Zeros are hidden too: with "<5" meaning 1-4, a hidden year of 4 made of four hidden months would say each
    # month is 1 (docs/trust.md, "Differencing across tables").
    out = suppress_small_counts(table, threshold, list(disclosure), disclosure, label, also_hide=secondary,
                                hide_zeros=True)
    present = [c for c in disclosure if c in table.columns]
    values = table[present].apply(pd.to_numeric, errors="coerce")
    n_primary = int(((values >= 0) & (values < threshold)).any(axis=1).sum())  # rows shown with the symbol
    n_withheld = 0
    if withheld is not None and withheld.any():
        n_withheld = int(withheld.sum())
        for col in TOTAL_REVEALING:
            if col in out.columns:
                out[col] = out[col].mask(pd.Series(withheld, index=out.index))
    n_sec = int(secondary["count"].sum()) if "count" in secondary else 0
    n_blanked = blank_period_statistics(out, "suppressed", "period" if command != "emerging" else None)
    note = note_text(n_primary, n_sec, n_withheld, with_totals, threshold, symbol)
    if n_blanked:
        note += (f"; z-scores, p-values and smoothed rates blanked in {n_blanked} rows of periods with a hidden "
                 "count (they are computed from every count of the period; bins and labels are kept)")
    out.attrs = {**table.attrs, NOTE_ATTR: note}
    return out


def blank_period_statistics(out: pd.DataFrame, hidden_col: str = "suppressed", period_col: str | None = "period",
                            columns: Sequence[str] = PERIOD_STATISTICS) -> int:
    """Blank (in place) whole-period statistics in every period with a hidden row; returns rows blanked.

    ``period_col`` None treats the table as one period (e.g. `emerging`, whose z-scores use every period).
    """
    stats = [c for c in columns if c in out.columns]
    if not stats or hidden_col not in out.columns or out.empty:
        return 0
    hidden = out[hidden_col].astype(bool).to_numpy()
    if period_col is not None and period_col in out.columns:
        blank = pd.Series(hidden, index=out.index).groupby(out[period_col].astype(str).to_numpy()).transform("any")
        blank = blank.to_numpy(dtype=bool)
    else:
        blank = np.full(len(out), bool(hidden.any()))
    had = out[stats].notna().any(axis=1).to_numpy()
    for col in stats:
        out[col] = out[col].mask(pd.Series(blank, index=out.index))
    return int((blank & had).sum())


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
    "COMMANDS", "DISCLOSURE", "NOTE_ATTR", "PERIOD_STATISTICS", "PUBLICATION_THRESHOLD", "RATE_COLS", "TOTAL_REVEALING",
    "WITH_TOTALS", "blank_period_statistics", "disclosure_rules", "hidden_counts", "note_text", "publish",
]
