"""Minimal statistical disclosure control for published tables: small counts shown as "<5".

Rule (the common UK small-number convention for published crime and health tables, e.g. ONS and
NHS England "suppress counts of 1 to 4"): a count from 1 to ``threshold - 1`` is replaced by the text
``"<threshold>"`` and every figure derived from it (rates, intervals, changes) is blanked. Zeros are
shown. This is primary suppression only: no secondary suppression against differencing from totals
(a later issue); tables written this way say so on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from geo.schema import AtlasError

SUPPRESSED_FLAG = "suppressed"


def suppress_small_counts(
    table: pd.DataFrame,
    threshold: int = 5,
    count_cols: Sequence[str] = ("count",),
    dependent_cols: Sequence[str] | Mapping[str, Sequence[str]] = (),
) -> pd.DataFrame:
    """Replace counts 1..threshold-1 by "<threshold" and blank the figures that depend on them.

    ``dependent_cols``: a list (blanked in a row when any count of that row is suppressed) or a
    mapping count column -> its own dependent columns (e.g. {"count_2022_23": ["rate_2022_23"]}).
    Count columns become text; blanked cells are NaN/<NA>. Missing columns are ignored, so one
    rule set can serve tables with and without optional columns. Adds a ``suppressed`` bool column.
    """
    if int(threshold) != threshold or threshold < 2:
        raise AtlasError(f"suppression threshold must be a whole number >= 2; received {threshold!r}")
    threshold = int(threshold)
    out = table.copy()
    present = [c for c in count_cols if c in out.columns]
    small: dict[str, np.ndarray] = {}
    for col in present:
        values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        small[col] = (values >= 1) & (values < threshold)
    any_small = np.zeros(len(out), dtype=bool)
    for mask in small.values():
        any_small |= mask

    if isinstance(dependent_cols, Mapping):
        for col, deps in dependent_cols.items():
            if col in small:
                _blank(out, deps, small[col])
    else:
        _blank(out, dependent_cols, any_small)
    label = f"<{threshold}"
    for col in present:
        text = out[col].astype("string")
        out[col] = text.mask(pd.Series(small[col], index=out.index), label)
    out[SUPPRESSED_FLAG] = any_small
    return out


def _blank(out: pd.DataFrame, columns: Sequence[str], mask: np.ndarray) -> None:
    """Set the given columns to missing where mask is True (columns absent from the table are skipped)."""
    if not mask.any():
        return
    rows = pd.Series(mask, index=out.index)
    for col in columns:
        if col in out.columns:
            out[col] = out[col].mask(rows)


__all__ = ["SUPPRESSED_FLAG", "suppress_small_counts"]
