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

import numpy as np
import pandas as pd

from analysis.disclosure import SECONDARY_SYMBOL, primary_symbol, secondary_mask, suppress_small_counts
from geo.attribution import PUBLICATION_THRESHOLD

NOTE_ATTR = "publication_note"
RATE_COLS = ["rate_per_1000", "rate_lower_95", "rate_upper_95", "rate_lower_998", "rate_upper_998", "rate_ratio"]

# Columns from which each period's total count can be worked out: the whole-area rate (with the
# populations shown), the rate ratio (rate / whole-area rate) or an incident share (count / total).
# Blanked for a period whose total cannot be protected.
TOTAL_REVEALING = ["whole_area_rate", "rate_ratio", "incident_share", "compared_to_whole_area", "share_ratio"]
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
    "compare": {
        "count_from": ["rate_from", "count_change", "pct_change", "rate_change"],
        "count_to": ["rate_to", "count_change", "pct_change", "rate_change"],
    },
    "priority": {
        # reasons quote the rate ratio and share, from which a small count could be worked out
        "count": [*RATE_COLS, "incident_share", "pct_change_on_last_year", "reasons"],
        "count_last_year": ["pct_change_on_last_year"],
    },
}
COMMANDS = (*DISCLOSURE, "seed")


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
    "COMMANDS", "DISCLOSURE", "NOTE_ATTR", "PUBLICATION_THRESHOLD", "RATE_COLS", "TOTAL_REVEALING", "WITH_TOTALS",
    "disclosure_rules", "hidden_counts", "note_text", "publish",
]
