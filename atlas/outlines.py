"""Display outlines of the areas an analysis covers, built once per selection and cached on disk for user sets.

The map (views/_cache.display_areas) and the warm-up after an import (atlas.warm) both call
``selection_outlines``, so the warm-up writes exactly the file the map's first visit reads: the cache key
(geo.display_cache) holds the boundary set, its file version, the level and the covered codes in file order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from boundaries.load import load_areas
from boundaries.registry import get_boundary_set
from geo.display_areas import DisplayAreas
from geo.schema import CODE


def isin_codes(values: pd.Series, unique: object) -> np.ndarray:
    """values.isin(unique) for unique codes, by a hash lookup: Series.isin on arrow strings converts every
    value in Python (~0.06 s for England's 33,000 LSOAs against 5,000 codes, 10x this)."""
    return pd.Index(unique).get_indexer(values) >= 0


def covered_areas(all_areas: gpd.GeoDataFrame, codes: object) -> gpd.GeoDataFrame:
    """The rows of `all_areas` (one level's boundaries) whose codes are in `codes`, in their (code) order."""
    return all_areas[isin_codes(all_areas[CODE].astype(str), codes)].reset_index(drop=True)


def selection_outlines(boundary_set: str, level: str, codes: Sequence[str],
                       polygons: Callable[[], gpd.GeoDataFrame] | None = None) -> DisplayAreas:
    """Simplified, serialised outlines (geo.display_areas) of the areas of `level` whose codes are in `codes`.

    ``codes`` in the boundary file's order (as an analysis frame's areas hold them): they key the disk cache.
    For a user boundary set also cached on disk (geo.display_cache), so a new server process, or the first
    visit after an import's warm-up, reads them instead of simplifying again. ``polygons`` returns
    ``covered_areas`` of the level's boundaries (the app passes its in-memory copy); read only when built.
    """
    from geo.display_areas import display_areas as build

    load = polygons or (lambda: covered_areas(load_areas(level, boundary_set), codes))
    bs = get_boundary_set(boundary_set)
    if bs.shipped or bs.path is None or not Path(bs.path).is_file():  # small shipped sets: built in ms
        return build(load())
    from geo import display_cache

    # The codes as given (a frame's areas: the boundary file's code order) name the outlines: no boundary
    # table is read to find out which are there (33,000 rows for England, ~0.1 s of a first visit).
    boundary = (repr(bs), display_cache.file_version(bs.path))
    key = display_cache.cache_key(boundary, level, [str(c) for c in codes], None)
    return display_cache.cached(key, lambda: build(load()))


__all__ = ["covered_areas", "isin_codes", "selection_outlines"]
