"""Reference inputs of the demo model: the County Durham and Darlington LSOAs with population and IMD 2019."""

from __future__ import annotations

from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.schema import BNG, CODE, LAD_CODE, NAME, data_dir

DEMO_LAD_CODES: tuple[str, ...] = ("E06000047", "E06000005")  # County Durham, Darlington
DEMO_BOUNDARY_SET = "ons2011-ne-medway"  # boundaries.registry.DEFAULT_SET
# Columns of the frame returned by demo_areas() beyond the Areas contract.
POPULATION_COL = "population_total"
IMD_SCORE_COL = "imd_score"
IMD_DECILE_COL = "imd_decile"
SAMPLING_GEOMETRY_COL = "sampling_geometry"


def _all_lsoas() -> gpd.GeoDataFrame:
    """Every LSOA of the shipped boundary set (via boundaries.load when it exists)."""
    try:
        from boundaries.load import load_areas
    except ImportError:  # boundaries/ not written yet: read the shipped file directly
        gdf = gpd.read_file(data_dir() / "boundaries" / "north_east_and_medway.gpkg", layer="lsoa")
        return gdf.to_crs(BNG) if gdf.crs is not None and gdf.crs != BNG else gdf
    return load_areas("lsoa", DEMO_BOUNDARY_SET)


def _population() -> pd.Series:
    """Mid-2019 resident population by LSOA code."""
    try:
        from boundaries.population import population_table
    except ImportError:
        pop = pd.read_csv(data_dir() / "population" / "lsoa_population_mid2019.csv", dtype={"lsoa_code": str})
        return pop.set_index("lsoa_code")[POPULATION_COL]
    return population_table("lsoa", DEMO_BOUNDARY_SET).set_index(CODE)[POPULATION_COL]


def _imd() -> pd.DataFrame:
    """IMD 2019 score and national decile by LSOA code."""
    try:
        from boundaries.population import imd_table
    except ImportError:
        imd = None
    else:
        imd = imd_table(DEMO_BOUNDARY_SET) if _takes_argument(imd_table) else imd_table()
        key = CODE if CODE in imd.columns else "lsoa_code"
        return imd.set_index(key)[[IMD_SCORE_COL, IMD_DECILE_COL]]
    imd = pd.read_csv(data_dir() / "deprivation" / "imd2019_lsoa.csv", dtype={"lsoa_code": str})
    return imd.set_index("lsoa_code")[[IMD_SCORE_COL, IMD_DECILE_COL]]


def _takes_argument(func: object) -> bool:
    """True when func accepts at least one positional parameter (imd_table's signature is not in the contract)."""
    import inspect

    params = inspect.signature(func).parameters.values()  # type: ignore[arg-type]
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _exclusive_geometries(areas: gpd.GeoDataFrame, others: gpd.GeoDataFrame) -> np.ndarray:
    """Each area minus any overlap with other polygons of the set.

    The generalised ONS polygons overlap in a few slivers (9 pairs here); a point sampled in
    a sliver could be assigned to the neighbour by point-in-polygon, so sampling avoids them.
    """
    geoms = areas.geometry.to_numpy().copy()
    other_geoms = others.geometry.to_numpy()
    tree = shapely.STRtree(other_geoms)
    left, right = tree.query(geoms, predicate="overlaps")
    for i in np.unique(left):  # a handful of areas only
        neighbours = shapely.union_all(other_geoms[right[left == i]])
        geoms[i] = shapely.make_valid(shapely.difference(geoms[i], neighbours))
    return geoms


@lru_cache(maxsize=1)
def demo_areas() -> gpd.GeoDataFrame:
    """The 389 demo LSOAs (code order) with population_total, imd_score, imd_decile and a sampling geometry.

    Callers must not mutate the cached frame.
    """
    lsoa = _all_lsoas()
    areas = lsoa[lsoa[LAD_CODE].isin(DEMO_LAD_CODES)].sort_values(CODE).reset_index(drop=True)
    # Compared with the whole set: overlaps between two demo areas matter as much as with neighbours
    # (shapely's "overlaps" is False for an area and itself).
    areas[SAMPLING_GEOMETRY_COL] = _exclusive_geometries(areas, lsoa)
    pop = _population()
    imd = _imd()
    missing_pop = sorted(set(areas[CODE]) - set(pop.index))
    missing_imd = sorted(set(areas[CODE]) - set(imd.index))
    if missing_pop or missing_imd:
        raise RuntimeError(
            f"demo inputs incomplete: no population for {missing_pop[:5]}, no IMD for {missing_imd[:5]}"
        )
    areas[POPULATION_COL] = pop.reindex(areas[CODE]).to_numpy(dtype="int64")
    areas[IMD_SCORE_COL] = imd[IMD_SCORE_COL].reindex(areas[CODE]).to_numpy(dtype="float64")
    areas[IMD_DECILE_COL] = imd[IMD_DECILE_COL].reindex(areas[CODE]).to_numpy(dtype="int64")
    return areas[[CODE, NAME, LAD_CODE, "lad_name", POPULATION_COL, IMD_SCORE_COL, IMD_DECILE_COL,
                  SAMPLING_GEOMETRY_COL, "geometry"]]
