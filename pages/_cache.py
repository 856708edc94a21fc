"""Every cached call the pages make, keyed by small hashable values (never a DataFrame).

st.cache_data holds per-selection tables; st.cache_resource holds read-only shared objects
(boundaries). Store-backed entries take `store_key()` = (path, mtime): the store is replaced
atomically on every write (copy-on-write), so a new mtime means new data and a fresh entry.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from analysis.periods import can_convert, convert_periods, period_sort_key
from analysis.rollup import roll_up
from boundaries.load import load_areas
from boundaries.registry import get_boundary_set
from geo.schema import AREA_CODE, CODE, COUNT, GRAIN, LAD_CODE, PERIOD
from store.store import Store, default_store_path

StoreKey = tuple[str, int]


def store_key() -> StoreKey:
    """(store path, modification time in ns) of the store the app reads ($ATLAS_STORE)."""
    path = default_store_path().resolve()
    return str(path), (path.stat().st_mtime_ns if path.exists() else 0)


@st.cache_resource(show_spinner="Preparing the demo dataset…")
def ensure_demo(store_path: str) -> str:
    """Create the synthetic demo dataset in this store once per process; returns its name."""
    from demo.dataset import ensure_demo_dataset  # heavy import, first start only

    return str(ensure_demo_dataset(Store(store_path)))


@st.cache_data(show_spinner=False)
def dataset_table(key: StoreKey) -> pd.DataFrame:
    """Store.datasets() (name, boundary_set, synthetic, ...)."""
    return Store(key[0]).datasets()


@st.cache_resource(show_spinner=False)
def boundary_levels(boundary_set: str) -> tuple[str, ...]:
    """Levels the boundary set provides."""
    return tuple(get_boundary_set(boundary_set).levels)


@st.cache_resource(show_spinner="Loading boundaries…")
def areas(level: str, boundary_set: str) -> gpd.GeoDataFrame:
    """Boundaries of one level (read-only: shared across sessions, never mutate)."""
    return load_areas(level, boundary_set)


@st.cache_data(show_spinner=False)
def _stored_counts(key: StoreKey, dataset: str) -> pd.DataFrame:
    return Store(key[0]).counts(dataset)


@st.cache_data(show_spinner=False)
def period_options(key: StoreKey, dataset: str, grain: str) -> list[str]:
    """The `grain` periods the dataset has counts in, newest first (grains that do not nest are skipped)."""
    stored = _stored_counts(key, dataset)[[PERIOD, GRAIN]].drop_duplicates()
    parts = [
        convert_periods(group[PERIOD], g, grain)
        for g, group in stored.groupby(GRAIN)
        if can_convert(str(g), grain)
    ]
    if not parts:
        return []
    labels = pd.concat(parts).unique()
    order = np.argsort(-period_sort_key(list(labels), grain), kind="stable")
    return [str(labels[i]) for i in order]


@st.cache_data(show_spinner="Counting…")
def _rolled(key: StoreKey, dataset: str, boundary_set: str, level: str, grain: str) -> tuple[pd.DataFrame, int]:
    """(counts at level x grain summed over categories [area_code, period, count], incidents excluded)."""
    result = roll_up(_stored_counts(key, dataset), level, grain, boundary_set=boundary_set)
    summed = result.counts.groupby([AREA_CODE, PERIOD], sort=False, as_index=False)[COUNT].sum()
    return summed, int(result.excluded[COUNT].sum())


@st.cache_data(show_spinner=False)
def coverage(key: StoreKey, dataset: str, boundary_set: str, level: str, grain: str) -> tuple[str, ...] | None:
    """Local authorities the dataset has counts in (any period), or None when the set has no lad_code.

    The map shows whole authorities: every area of a covered authority, zero or not, and no others.
    """
    all_areas = areas(level, boundary_set)
    with_data = all_areas[all_areas[CODE].isin(_rolled(key, dataset, boundary_set, level, grain)[0][AREA_CODE])]
    lads = with_data[LAD_CODE].dropna()
    if all_areas[LAD_CODE].isna().all():
        return None
    return tuple(sorted(pd.unique(lads)))


@st.cache_resource(show_spinner="Loading boundaries…")
def map_areas(level: str, boundary_set: str, lad_codes: tuple[str, ...] | None) -> gpd.GeoDataFrame:
    """Boundaries of one level in the given local authorities (read-only: never mutate)."""
    return load_areas(level, boundary_set, lad_codes=lad_codes)


def excluded_incidents(key: StoreKey, dataset: str, boundary_set: str, level: str, grain: str) -> int:
    """Incidents the roll-up had to leave out (e.g. stored at a coarser level than `level`)."""
    return _rolled(key, dataset, boundary_set, level, grain)[1]


@st.cache_data(show_spinner=False)
def area_counts(
    key: StoreKey, dataset: str, boundary_set: str, level: str, grain: str, period: str
) -> pd.DataFrame:
    """Incidents per mapped area in one period, all categories: area_code, count (int64), one row per area."""
    summed, _ = _rolled(key, dataset, boundary_set, level, grain)
    totals = summed[summed[PERIOD] == period].groupby(AREA_CODE, sort=False)[COUNT].sum()
    codes = map_areas(level, boundary_set, coverage(key, dataset, boundary_set, level, grain))[CODE]
    # An area with no stored row had no recorded incidents in the period: an explicit zero.
    filled = totals.reindex(codes.astype(str).to_numpy(), fill_value=0).astype("int64")
    return pd.DataFrame({AREA_CODE: filled.index.astype(str), COUNT: filled.to_numpy()})
