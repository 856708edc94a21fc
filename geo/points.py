"""Point-in-polygon assignment of incident locations to areas.

Tie rule: a point is assigned to every area whose closed polygon (interior *or* boundary)
contains it, and when there are several (a point exactly on an edge or vertex shared by
neighbouring areas) it goes to the area with the **lowest code** (string order). Each point is
therefore counted exactly once, and the result does not depend on row or polygon order.
Points in no polygon (outside the set, or in a sliver gap between separately generalised
layers) get ``None``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo.schema import BNG, CODE

__all__ = ["assign_points_to_areas", "to_crs_xy"]


def to_crs_xy(
    x: np.ndarray, y: np.ndarray, from_crs: str | CRS, to_crs: str | CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Reproject coordinate arrays (x = easting/longitude, always_xy axis order)."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if CRS.from_user_input(from_crs) == CRS.from_user_input(to_crs):
        return x, y
    tr = Transformer.from_crs(from_crs, to_crs, always_xy=True)
    return tr.transform(x, y)


def assign_points_to_areas(
    x: np.ndarray | list[float],
    y: np.ndarray | list[float],
    areas: gpd.GeoDataFrame,
    crs: str | CRS = BNG,
) -> np.ndarray:
    """Code of the area containing each point (closed polygons; ties -> lowest code; None outside).

    ``x``/``y`` are in ``crs`` (reprojected to the areas' CRS when they differ). Non-finite
    coordinates give None. Method: points are sorted by x once; for each area the candidate
    points inside its bounding box are found with ``searchsorted`` and tested with
    ``shapely.intersects_xy`` against the prepared polygon. The Python loop runs over areas
    (hundreds to tens of thousands), never over points, and measured ~0.6 s for 1,000,000
    points against the 904 shipped LSOAs, several times faster than an STRtree of points.
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D arrays of equal length, got {x.shape} and {y.shape}")
    if areas.crs is None:
        raise ValueError("areas have no CRS; expected a GeoDataFrame in EPSG:27700")
    x, y = to_crs_xy(x, y, crs, areas.crs)

    out = np.full(len(x), None, dtype=object)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(ok) == 0 or len(areas) == 0:
        return out

    codes = areas[CODE].astype(str).to_numpy()
    # Rank areas by code so the tie rule is "lowest code wins" whatever the frame's order.
    rank = np.argsort(np.argsort(codes, kind="stable"), kind="stable")
    geoms = areas.geometry.to_numpy()
    bounds = shapely.bounds(geoms)

    order = ok[np.argsort(x[ok], kind="stable")]
    xs, ys = x[order], y[order]
    hit_points: list[np.ndarray] = []
    hit_ranks: list[np.ndarray] = []
    for k, geom in enumerate(geoms):
        if geom is None or shapely.is_empty(geom):
            continue
        minx, miny, maxx, maxy = bounds[k]
        lo = np.searchsorted(xs, minx, side="left")
        hi = np.searchsorted(xs, maxx, side="right")
        if hi <= lo:
            continue
        in_box = np.flatnonzero((ys[lo:hi] >= miny) & (ys[lo:hi] <= maxy)) + lo
        if len(in_box) == 0:
            continue
        shapely.prepare(geom)
        inside = in_box[shapely.intersects_xy(geom, xs[in_box], ys[in_box])]
        hit_points.append(order[inside])
        hit_ranks.append(np.full(len(inside), rank[k]))
    if not hit_points:
        return out

    pts = np.concatenate(hit_points)
    rks = np.concatenate(hit_ranks)
    # Sort hits by (point, code rank) and keep the first hit of each point: the lowest code.
    srt = np.lexsort((rks, pts))
    pts, rks = pts[srt], rks[srt]
    first = np.r_[True, pts[1:] != pts[:-1]]
    code_by_rank = codes[np.argsort(rank)]
    out[pts[first]] = code_by_rank[rks[first]]
    return out
