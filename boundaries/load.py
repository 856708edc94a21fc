"""Load areas of any level of a boundary set as a GeoDataFrame [code, name, lad_code, lad_name, geometry].

Shipped lsoa/msoa/ward levels are layers of the GeoPackage; `lad` is the dissolve of LSOAs by lad_code
and `locality` the dissolve of wards by their locality (boundaries.hierarchy). User sets are read from
their stored GeoParquet. File reads and dissolves are cached (functools.lru_cache keyed by file
path, mtime and size); callers always receive copies. lad_code/lad_name are NA where a set lacks them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd

from boundaries._files import fingerprint, read_boundary_file, read_layer
from boundaries.hierarchy import localities_path, ward_localities
from boundaries.registry import DEFAULT_SET, BoundarySet, get_boundary_set
from boundaries.validate import BoundaryReport, list_items
from geo.schema import BNG, CODE, LAD_CODE, LAD_NAME, LEVELS, NAME, AtlasError

AREA_COLUMNS = [CODE, NAME, LAD_CODE, LAD_NAME, "geometry"]


def _layer(bs: BoundarySet, level: str) -> gpd.GeoDataFrame:
    """A level stored as a layer of the set's file."""
    return read_layer(bs.path, bs.level(level).layer)


@lru_cache(maxsize=8)
def _dissolved_lads(key: tuple[str, int, int], layer: str) -> gpd.GeoDataFrame:
    """Local authorities = dissolve of LSOAs by lad_code (edges coincide within each authority)."""
    lsoa = read_layer(Path(key[0]), layer)
    lads = lsoa.dissolve(by=LAD_CODE, aggfunc={LAD_NAME: "first"}, as_index=False)
    return lads.assign(**{CODE: lads[LAD_CODE], NAME: lads[LAD_NAME]})


def _lads(bs: BoundarySet) -> gpd.GeoDataFrame:
    """Shipped lad level."""
    return _dissolved_lads(fingerprint(bs.path), bs.level("lsoa").layer).copy()


@lru_cache(maxsize=8)
def _dissolved_localities(bs: BoundarySet, gpkg_key: tuple, csv_key: tuple) -> gpd.GeoDataFrame:
    """Localities = dissolve of wards by locality_code; lad_* only when the locality lies in one authority."""
    wards = _layer(bs, "ward")[[CODE, "geometry"]].rename(columns={CODE: "ward_code"})
    wl = ward_localities(bs)
    wards = wards.merge(wl, on="ward_code", how="left")
    n_lads = wl.groupby("locality_code")[LAD_CODE].nunique()
    out = wards.dissolve(
        by="locality_code", aggfunc={"locality_name": "first", LAD_CODE: "first", LAD_NAME: "first"}, as_index=False
    )
    spans = out["locality_code"].map(n_lads) > 1
    out.loc[spans, [LAD_CODE, LAD_NAME]] = pd.NA
    return out.rename(columns={"locality_code": CODE, "locality_name": NAME})


def _localities(bs: BoundarySet) -> gpd.GeoDataFrame:
    """Shipped locality level for the localities CSV in force."""
    return _dissolved_localities(bs, fingerprint(bs.path), fingerprint(localities_path(bs))).copy()


# Shipped level -> builder (layer read or dissolve).
_SHIPPED_LEVELS: dict[str, Callable[[BoundarySet], gpd.GeoDataFrame]] = {
    "lsoa": lambda bs: _layer(bs, "lsoa"),
    "msoa": lambda bs: _layer(bs, "msoa"),
    "ward": lambda bs: _layer(bs, "ward"),
    "locality": _localities,
    "lad": _lads,
}


def load_areas(
    level: str,
    boundary_set: str | BoundarySet = DEFAULT_SET,
    lad_codes: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Areas of one level, sorted by code, EPSG:27700, optionally only those in the given local authorities."""
    bs = _set_with_level(level, boundary_set)
    gdf = _SHIPPED_LEVELS[level](bs) if bs.shipped else read_layer(bs.path)
    gdf = _select(gdf, bs, level, lad_codes, AREA_COLUMNS)
    return gdf.set_crs(BNG, allow_override=True) if gdf.crs != BNG else gdf


def load_area_table(
    level: str,
    boundary_set: str | BoundarySet = DEFAULT_SET,
    lad_codes: Iterable[str] | None = None,
) -> pd.DataFrame:
    """``load_areas`` without the geometry: code, name, lad_code, lad_name (same rows, order and checks).

    A user set's GeoParquet is read without its geometry column: a national set's polygons take
    most of a second to decode and the analysis frame needs only the codes and names.
    """
    bs = _set_with_level(level, boundary_set)
    if bs.shipped:
        table = pd.DataFrame(_SHIPPED_LEVELS[level](bs).drop(columns="geometry"))
    else:
        table = _parquet_attributes(fingerprint(bs.path)).copy()
    return pd.DataFrame(_select(table, bs, level, lad_codes, AREA_COLUMNS[:-1]))


@lru_cache(maxsize=8)
def _parquet_attributes(key: tuple[str, int, int]) -> pd.DataFrame:
    """The attribute columns of a stored GeoParquet, read once per file version."""
    import pyarrow.parquet as pq

    names = pq.read_schema(key[0]).names
    return pq.read_table(key[0], columns=[c for c in AREA_COLUMNS[:-1] if c in names]).to_pandas()


def _set_with_level(level: str, boundary_set: str | BoundarySet) -> BoundarySet:
    if level not in LEVELS:
        raise AtlasError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    bs = get_boundary_set(boundary_set)
    bs.level(level)  # raises when the set lacks the level
    return bs


def _select(table: pd.DataFrame, bs: BoundarySet, level: str, lad_codes: Iterable[str] | None,
            columns: list[str]) -> pd.DataFrame:
    """Contract columns and dtypes, only the areas of ``lad_codes`` (checked), sorted by code."""
    for col in (LAD_CODE, LAD_NAME):
        if col not in table:
            table[col] = pd.Series(pd.NA, index=table.index, dtype="str")
    table = table[columns].astype({CODE: "str", NAME: "str", LAD_CODE: "str", LAD_NAME: "str"})
    if lad_codes is not None:
        wanted = [str(c).strip().upper() for c in ([lad_codes] if isinstance(lad_codes, str) else lad_codes)]
        have = set(table[LAD_CODE].dropna())
        unknown = [c for c in wanted if c not in have]
        if unknown:
            raise AtlasError(
                f"local authority codes {list_items(unknown)} are not in {level} of boundary set {bs.name!r}; "
                f"available: {list_items(sorted(have)) or '(none: this set has no lad_code)'}"
            )
        table = table[table[LAD_CODE].isin(wanted)]
    return table.sort_values(CODE, ignore_index=True)


__all__ = ["AREA_COLUMNS", "BoundaryReport", "load_area_table", "load_areas", "read_boundary_file"]
