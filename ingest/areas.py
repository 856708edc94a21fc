"""The areas an import can refer to: codes at every level of a boundary set, and the finest polygons."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import geopandas as gpd

from boundaries._files import read_parquet_column
from boundaries.hierarchy import localities_path, lsoa_lookup
from boundaries.load import load_areas
from boundaries.registry import BoundarySet, get_boundary_set
from geo.schema import CODE, LEVELS, AtlasError

__all__ = ["codes_by_level", "finest_areas"]


def codes_by_level(boundary_set: str | BoundarySet) -> tuple[dict[str, frozenset[str]], list[str]]:
    """Area codes of each level of the set (finest first), plus notes on levels that could not be read."""
    bs = get_boundary_set(boundary_set)
    # Cached per set and per version of its files (localities can be replaced without a new set).
    key = (bs, _stamp(bs.path), _stamp(_localities_file(bs)))
    codes, notes = _codes_by_level(key)
    return dict(codes), list(notes)


def _stamp(path: Path | None) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path) if path is not None else None
    except OSError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size) if st else None


def _localities_file(bs: BoundarySet) -> Path | None:
    try:
        return localities_path(bs)
    except (AtlasError, OSError):
        return None


@lru_cache(maxsize=8)
def _codes_by_level(key: tuple) -> tuple[tuple[tuple[str, frozenset[str]], ...], tuple[str, ...]]:
    bs = key[0]
    out: dict[str, frozenset[str]] = {}
    notes: list[str] = []
    for level in (lv for lv in LEVELS if lv in bs.levels):
        try:
            out[level] = _level_codes(bs, level)
        except (AtlasError, OSError) as exc:
            # A derived level (e.g. localities without their CSV) may be unavailable; the lookup may still
            # carry its codes, otherwise the level is skipped and the report says so.
            codes = _codes_from_lookup(bs, level)
            if codes:
                out[level] = codes
            else:
                notes.append(f"{level} codes of boundary set {bs.name!r} unavailable ({exc}); not matched")
    return tuple(out.items()), tuple(notes)


def _level_codes(bs: BoundarySet, level: str) -> frozenset[str]:
    """Codes of one level: a user set's stored GeoParquet is read for its code column only."""
    if not bs.shipped and bs.path.suffix.lower() == ".parquet" and level in bs.levels:
        try:
            return frozenset(read_parquet_column(bs.path, CODE).astype(str))
        except (KeyError, ValueError):
            pass  # not the layout register_boundary_set writes: the full read below names the problem
    return frozenset(load_areas(level, bs)[CODE].astype(str))


def _codes_from_lookup(bs: BoundarySet, level: str) -> frozenset[str]:
    try:
        lookup = lsoa_lookup(bs)
    except (AtlasError, OSError):
        return frozenset()
    col = f"{level}_code"
    return frozenset(lookup[col].dropna().astype(str)) if col in lookup else frozenset()


def finest_areas(boundary_set: str | BoundarySet) -> tuple[str, gpd.GeoDataFrame]:
    """(level, areas) of the finest level the set holds: where records are assigned by location."""
    bs = get_boundary_set(boundary_set)
    level = next(lv for lv in LEVELS if lv in bs.levels)
    return level, load_areas(level, bs)
