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

__all__ = ["assign_points_to_areas", "locate_points", "to_crs_xy"]


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

    ``x``/``y`` are in ``crs`` (reprojected to the areas' CRS when they differ); see ``locate_points``.
    """
    pos = locate_points(x, y, areas, crs)
    codes = np.append(areas[CODE].astype(str).to_numpy().astype(object), None)
    return codes[pos]  # position -1 picks the trailing None


def locate_points(
    x: np.ndarray | list[float],
    y: np.ndarray | list[float],
    areas: gpd.GeoDataFrame,
    crs: str | CRS = BNG,
) -> np.ndarray:
    """Row position in ``areas`` of the area containing each point (tie rule above), -1 outside.

    Non-finite coordinates give -1. Method: points are binned into a grid and sorted by cell
    once; each area's candidates (points in the cells its bounding box covers, then inside the
    box) are found with ``searchsorted`` and tested with ``shapely.intersects_xy`` against the
    prepared polygon. The Python loop runs over areas (hundreds to tens of thousands), never over
    points: ~1 s for 1,000,000 points against the 904 shipped LSOAs, faster than an STRtree query.
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D arrays of equal length, got {x.shape} and {y.shape}")
    if areas.crs is None:
        raise ValueError("areas have no CRS; expected a GeoDataFrame in EPSG:27700")
    x, y = to_crs_xy(x, y, crs, areas.crs)

    out = np.full(len(x), -1, dtype=np.int64)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(ok) == 0 or len(areas) == 0:
        return out

    codes = areas[CODE].astype(str).to_numpy()
    # Rank areas by code so the tie rule is "lowest code wins" whatever the frame's order.
    rank = np.argsort(np.argsort(codes, kind="stable"), kind="stable")
    geoms = areas.geometry.to_numpy()
    bounds = shapely.bounds(geoms)

    # Bin points into a regular grid (cell ~ the median area's bounding box) and sort them by cell, so each
    # area's candidates are a few contiguous runs of the sorted points: one run per grid column it spans.
    # A quarter of the median box side: measured fastest (fewer candidates beyond the boxes, few runs).
    cell = float(np.median(np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]))) / 4
    cell = cell if np.isfinite(cell) and cell > 0 else 1.0
    x0, y0 = float(x[ok].min()), float(y[ok].min())
    # Points and boxes are binned with the same expression, floor((v - origin) / cell), which is monotonic
    # in v under IEEE rounding: a point on a box edge can never fall in a cell outside the box's range.
    ny = int(np.floor((y[ok].max() - y0) / cell)) + 1
    key = np.floor((x[ok] - x0) / cell).astype(np.int64) * ny + np.floor((y[ok] - y0) / cell).astype(np.int64)
    srt0 = np.argsort(key, kind="stable")
    order, key = ok[srt0], key[srt0]
    xs, ys = x[order], y[order]
    nx = int(key[-1] // ny) + 1
    # Cell ranges of every area's bounding box, clipped to the grid of the points.
    cx0 = np.clip(np.floor((bounds[:, 0] - x0) / cell), 0, nx - 1).astype(np.int64)
    cx1 = np.clip(np.floor((bounds[:, 2] - x0) / cell), -1, nx - 1).astype(np.int64)
    cy0 = np.clip(np.floor((bounds[:, 1] - y0) / cell), 0, ny - 1).astype(np.int64)
    cy1 = np.clip(np.floor((bounds[:, 3] - y0) / cell), -1, ny - 1).astype(np.int64)
    hit_points: list[np.ndarray] = []
    hit_ranks: list[np.ndarray] = []
    for k, geom in enumerate(geoms):
        if geom is None or shapely.is_empty(geom) or cx1[k] < cx0[k] or cy1[k] < cy0[k]:
            continue
        cols = np.arange(cx0[k], cx1[k] + 1) * ny
        starts = np.searchsorted(key, cols + cy0[k], side="left")
        ends = np.searchsorted(key, cols + cy1[k], side="right")
        runs = [np.arange(s0, e0) for s0, e0 in zip(starts, ends) if e0 > s0]
        if not runs:
            continue
        cand = np.concatenate(runs) if len(runs) > 1 else runs[0]
        minx, miny, maxx, maxy = bounds[k]
        cx, cy = xs[cand], ys[cand]
        in_box = (cx >= minx) & (cx <= maxx) & (cy >= miny) & (cy <= maxy)
        cand = cand[in_box]
        shapely.prepare(geom)
        inside = cand[shapely.intersects_xy(geom, xs[cand], ys[cand])]
        hit_points.append(order[inside])
        hit_ranks.append(np.full(len(inside), rank[k]))
    pts = np.concatenate(hit_points) if hit_points else np.zeros(0, dtype=np.int64)
    rks = np.concatenate(hit_ranks) if hit_ranks else np.zeros(0, dtype=np.int64)
    if len(pts) == 0:
        return out
    # Sort hits by (point, code rank) and keep the first hit of each point: the lowest code.
    srt = np.lexsort((rks, pts))
    pts, rks = pts[srt], rks[srt]
    first = np.r_[True, pts[1:] != pts[:-1]]
    position_by_rank = np.argsort(rank)
    out[pts[first]] = position_by_rank[rks[first]]
    return out
