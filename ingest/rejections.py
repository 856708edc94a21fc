"""Per-row rejection bookkeeping: each row gets at most one reason, the first check it fails."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.report import REASON, ROW_NUMBER

__all__ = ["RowReasons", "REASONS", "reject_stored_keys"]

# Stable reason keys (the report's reasons dict and the rejected file use exactly these strings).
REASONS: dict[str, str] = {
    "missing": "missing required field",
    "unknown_area": "unknown area code",
    "other_level": "area code at another level",
    "unparseable_period": "unparseable period",
    "ambiguous_date": "ambiguous date",
    "invalid_date": "invalid date",
    "future_date": "future date",
    "mixed_grain": "mixed period grain",
    "not_monthly": "period not a date or month",
    "negative": "negative count",
    "non_integer": "non-integer count",
    "too_large": "count too large",
    "bad_repeat_count": "invalid repeat count",
    "repeat_exceeds": "repeat count exceeds count",
    "duplicate": "duplicate key",
    "already_stored": "duplicate key (already in dataset)",
    "bad_flag": "invalid repeat flag",
    "missing_coords": "missing coordinates",
    "bad_coords": "unparseable coordinates",
    "en_in_lonlat": "coordinates look like easting/northing in longitude/latitude columns",
    "lonlat_swapped": "longitude and latitude look swapped",
    "lonlat_in_en": "coordinates look like longitude/latitude in easting/northing columns",
    "en_swapped": "easting and northing look swapped",
    "out_of_range": "coordinates out of range",
    "outside": "point outside the boundaries",
    "short_row": "fewer fields than the header",
    "repeated_header": "repeated header row",
    "long_text": "category longer than 200 characters",
    "too_early": "date before 1970",
    "bad_month": "invalid month (not 01-12)",
    "bad_quarter": "invalid quarter (not Q1-Q4)",
    "bad_fy": "financial year not two consecutive years (e.g. 2024/25)",
}


class RowReasons:
    """Reason (or None) for each of n rows; ``reject`` never overwrites an earlier reason."""

    def __init__(self, n: int):
        self.reason = np.full(n, None, dtype=object)
        self._ok = np.ones(n, dtype=bool)

    @property
    def ok(self) -> np.ndarray:
        """Rows not rejected so far (a copy)."""
        return self._ok.copy()

    def reject(self, mask: np.ndarray | pd.Series | None, reason: str | np.ndarray) -> None:
        """Give ``reason`` to rows in ``mask`` that have none yet (reason may be a per-row array; None = no rows)."""
        if mask is None:
            return
        m = np.asarray(mask, dtype=bool) & self._ok
        if not m.any():
            return
        if isinstance(reason, np.ndarray):
            self.reason[m] = reason[m]
        else:
            self.reason[m] = reason
        self._ok &= ~m

    def counts(self) -> dict[str, int]:
        """reason -> number of rows, most frequent first."""
        s = pd.Series(self.reason[~self.ok], dtype=object)
        if s.empty:
            return {}
        vc = s.value_counts()
        return {str(k): int(v) for k, v in vc.items()}

    def rejected_frame(self, frame: pd.DataFrame, row_number: np.ndarray) -> pd.DataFrame:
        """row_number, reason, then the original columns as text, for the rejected rows."""
        bad = ~self.ok
        # Positions, not a boolean mask: taking a few rows (or none) of a large file is then cheap.
        orig = frame.iloc[np.flatnonzero(bad)].reset_index(drop=True)
        # Keep original columns that clash with ours, renamed, so nothing is lost.
        orig.columns = [f"{c} (file)" if c in (ROW_NUMBER, REASON) else c for c in orig.columns]
        head = pd.DataFrame(
            {ROW_NUMBER: np.asarray(row_number)[bad].astype("int64"), REASON: pd.Series(self.reason[bad], dtype="str")}
        )
        return pd.concat([head, orig.astype("str")], axis=1)


def reject_missing(rr: RowReasons, blanks: dict[str, np.ndarray], row_number: np.ndarray) -> list[str]:
    """Reject rows with a blank required field; a note says which field was blank in which data rows.

    ``blanks``: field name -> per-row blank mask. The reason stays "missing required field" (one
    reason per row); the note names the field, so a user knows what to fill in.
    """
    ok = rr.ok
    missing = np.logical_or.reduce(list(blanks.values())) & ok
    if not missing.any():
        return []
    rr.reject(missing, REASONS["missing"])
    parts = []
    for field_name, blank in blanks.items():
        rows = np.asarray(row_number)[np.asarray(blank, dtype=bool) & missing]
        if len(rows):
            shown = ", ".join(map(str, rows[:10].tolist())) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
            parts.append(f"{field_name} blank in data row{'s' if len(rows) > 1 else ''} {shown}")
    return [f"{REASONS['missing']}: " + "; ".join(parts)]


def reject_stored_keys(rr: RowReasons, keys: pd.DataFrame, stored: pd.DataFrame | None) -> None:
    """Reject rows whose count key is already stored in the dataset (so a re-import never doubles).

    ``keys`` has one row per input row and the columns of ``stored`` (area_code, level, period,
    grain, category); rows already rejected are left alone.
    """
    if stored is None or stored.empty or not rr.ok.any():
        return
    cols = list(stored.columns)
    probe = keys[cols].astype("str").reset_index(drop=True)
    marker = stored[cols].astype("str").drop_duplicates().assign(_stored=True)
    hit = probe.merge(marker, on=cols, how="left")["_stored"].fillna(False).to_numpy(dtype=bool)
    rr.reject(hit, REASONS["already_stored"])
