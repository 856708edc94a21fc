"""Read-side queries shared by the command line and the app: stored counts rolled up and named."""

from __future__ import annotations

import pandas as pd

from analysis.rollup import roll_up
from boundaries.load import load_areas
from geo.schema import AREA_CODE, AREA_NAME, CATEGORY, CODE, COUNT, NAME, PERIOD, SYNTHETIC_LABEL, AtlasError

COUNTS_TABLE_COLUMNS = [AREA_CODE, AREA_NAME, PERIOD, CATEGORY, COUNT]


def counts_table(store, dataset: str, level: str, grain: str, category: str | None = None) -> pd.DataFrame:
    """Stored counts of a dataset rolled up to ``level`` and ``grain``, with area names.

    Columns: area_code, area_name, period, category, count. Rows are sorted by area then period.
    Only areas and periods with data appear (no zero filling), so every figure can be traced back.
    A synthetic dataset gets a last column ``data_note`` = "synthetic demo data" on every row, so the
    label travels with any file made from it.
    """
    info = store.dataset(dataset)
    counts = store.counts(dataset)
    if category is not None:
        known = sorted(counts[CATEGORY].unique().tolist())
        if category not in known:
            raise AtlasError(f"dataset {dataset!r} has no category {category!r}; it has: {', '.join(known)}")
        counts = counts[counts[CATEGORY] == category]
    rolled = roll_up(counts, level, grain, boundary_set=info["boundary_set"]).counts
    names = load_areas(level, info["boundary_set"])[[CODE, NAME]].rename(columns={CODE: AREA_CODE, NAME: AREA_NAME})
    out = rolled.merge(names, on=AREA_CODE, how="left")
    out = out.groupby([AREA_CODE, AREA_NAME, PERIOD, CATEGORY], as_index=False, dropna=False)[COUNT].sum()
    out = out.sort_values([AREA_CODE, PERIOD, CATEGORY], kind="stable")[COUNTS_TABLE_COLUMNS].reset_index(drop=True)
    if info["synthetic"]:
        out["data_note"] = SYNTHETIC_LABEL
    return out
