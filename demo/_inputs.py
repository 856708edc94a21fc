"""Reference inputs of the demo model: the County Durham and Darlington LSOAs with population and IMD 2019."""

from __future__ import annotations

from functools import lru_cache

import geopandas as gpd
import numpy as np
import shapely

from boundaries.load import load_areas
from boundaries.population import imd_table, population_table
from boundaries.registry import DEFAULT_SET
from geo.schema import CODE, LAD_CODE, LAD_NAME, NAME

DEMO_LAD_CODES: tuple[str, ...] = ("E06000047", "E06000005")  # County Durham, Darlington
DEMO_BOUNDARY_SET = DEFAULT_SET  # the shipped ONS 2011 LSOAs
# Columns of the frame returned by demo_areas() beyond the Areas contract.
POPULATION_COL = "population_total"
IMD_SCORE_COL = "imd_score"
IMD_DECILE_COL = "imd_decile"
SAMPLING_GEOMETRY_COL = "sampling_geometry"


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
    lsoa = load_areas("lsoa", DEMO_BOUNDARY_SET)
    areas = lsoa[lsoa[LAD_CODE].isin(DEMO_LAD_CODES)].sort_values(CODE).reset_index(drop=True)
    # Compared with the whole set: overlaps between two demo areas matter as much as with neighbours
    # (shapely's "overlaps" is False for an area and itself).
    areas[SAMPLING_GEOMETRY_COL] = _exclusive_geometries(areas, lsoa)
    pop = population_table("lsoa", DEMO_BOUNDARY_SET).set_index(CODE)[POPULATION_COL]
    imd = imd_table(DEMO_BOUNDARY_SET).set_index(CODE)
    missing_pop = sorted(set(areas[CODE]) - set(pop.index))
    missing_imd = sorted(set(areas[CODE]) - set(imd.index))
    if missing_pop or missing_imd:
        raise RuntimeError(
            f"demo inputs incomplete: no population for {missing_pop[:5]}, no IMD for {missing_imd[:5]}"
        )
    areas[POPULATION_COL] = pop.reindex(areas[CODE]).to_numpy(dtype="int64")
    areas[IMD_SCORE_COL] = imd[IMD_SCORE_COL].reindex(areas[CODE]).to_numpy(dtype="float64")
    areas[IMD_DECILE_COL] = imd[IMD_DECILE_COL].reindex(areas[CODE]).to_numpy(dtype="int64")
    return areas[[CODE, NAME, LAD_CODE, LAD_NAME, POPULATION_COL, IMD_SCORE_COL, IMD_DECILE_COL,
                  SAMPLING_GEOMETRY_COL, "geometry"]]
