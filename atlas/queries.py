"""Read-side queries shared by the command line and the app: stored counts rolled up and named."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.perturbation import cell_keys, perturb
from analysis.rollup import roll_up
from boundaries.load import load_areas
from geo.schema import AREA_CODE, AREA_NAME, CATEGORY, CODE, COUNT, NAME, PERIOD, SYNTHETIC_LABEL, AtlasError

COUNTS_TABLE_COLUMNS = [AREA_CODE, AREA_NAME, PERIOD, CATEGORY, COUNT]


def counts_table(store: Any, dataset: str, level: str, grain: str, category: str | None = None) -> pd.DataFrame:
    """Stored counts of a dataset rolled up to ``level`` and ``grain``, with area names.

    Columns: area_code, area_name, period, category, count. Rows are sorted by area then period.
    Only areas and periods with data appear (no zero filling), so every figure can be traced back.
    A synthetic dataset gets a last column ``data_note`` = "synthetic demo data" on every row, so the
    label travels with any file made from it.
    A store read for publication (``Store.for_publication``) gives perturbed counts (analysis.perturbation).
    """
    info = store.dataset(dataset)
    counts = store.counts(dataset)
    if category is not None:
        known = sorted(counts[CATEGORY].unique().tolist())
        if category not in known:
            raise AtlasError(f"dataset {dataset!r} has no category {category!r}; it has: {', '.join(known)}")
        counts = counts[counts[CATEGORY] == category]
    out = _rolled(counts, level, grain, info["boundary_set"])
    if getattr(store, "perturb_counts", False):  # publication mode: each cell perturbed at its key
        from analysis.cube import CodedCounts
        from atlas.analyses import stored_record_keys

        record_keys = stored_record_keys(store, dataset, CodedCounts.from_frame(counts))
        keys = _rolled(counts.assign(**{COUNT: record_keys}), level, grain, info["boundary_set"])
        out[COUNT] = perturb(out[COUNT].to_numpy(), cell_keys(keys[COUNT].to_numpy()))
    if info["synthetic"]:
        out["data_note"] = SYNTHETIC_LABEL
    return out


def _rolled(counts: pd.DataFrame, level: str, grain: str, boundary_set: str) -> pd.DataFrame:
    """Counts rolled up to level x grain, named, one row per area x period x category, sorted."""
    rolled = roll_up(counts, level, grain, boundary_set=boundary_set).counts
    names = load_areas(level, boundary_set)[[CODE, NAME]].rename(columns={CODE: AREA_CODE, NAME: AREA_NAME})
    out = rolled.merge(names, on=AREA_CODE, how="left")
    out = out.groupby([AREA_CODE, AREA_NAME, PERIOD, CATEGORY], as_index=False, dropna=False)[COUNT].sum()
    return out.sort_values([AREA_CODE, PERIOD, CATEGORY], kind="stable")[COUNTS_TABLE_COLUMNS].reset_index(drop=True)
