"""Area outlines prepared for a web map: simplified with shared edges kept, in WGS84, compactly encoded.

The outlines depend only on which areas are shown, not on the measure or period, so the app builds
them once per selection (views/_cache) and every map of those areas reuses them (geo.maps, geo.map_layers).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.schema import BNG, CODE, LAD_CODE, WGS84, BoundaryError

DISPLAY_TOLERANCE_M = 25.0
MAX_DISPLAY_TOLERANCE_M = 100.0  # zoomed in on one street, outlines stay within 100 m of the true line
COORD_DECIMALS = 5  # ~1 m at UK latitudes: below the simplification tolerance


def simplify_for_display(areas: gpd.GeoDataFrame, tolerance_m: float = DISPLAY_TOLERANCE_M) -> gpd.GeoDataFrame:
    """Topology-preserving simplification in BNG (shapely.coverage_simplify), per LAD if needed.

    Shared edges are simplified once, so neighbours never gap or overlap. A set that is not
    one valid coverage (e.g. LSOAs quantised separately per local authority) is simplified
    per LAD; a group that is still not a coverage falls back to per-polygon simplification.
    """
    if areas.crs is None:
        raise BoundaryError("boundaries have no CRS; cannot simplify in metres")
    out = areas.to_crs(BNG) if not areas.crs.equals(BNG) else areas.copy()
    geoms = out.geometry.to_numpy()
    if tolerance_m <= 0 or len(out) == 0:
        return out
    lad_groups = (list(pd.Series(np.arange(len(out))).groupby(out[LAD_CODE].to_numpy()).indices.values())
                  if LAD_CODE in out.columns else None)
    # The whole-set check costs as much as all the per-LAD ones (~0.5 s for 5,000 LSOAs) and fails for
    # sets quantised per LAD; two neighbouring LADs that are not one coverage prove it fails, in ~1/20 of that.
    if lad_groups is not None and _some_pair_not_a_coverage(geoms, lad_groups):
        whole = False
    else:
        whole = bool(shapely.coverage_is_valid(geoms))
    if whole or lad_groups is None:
        groups = [np.arange(len(out))]
    else:
        groups = lad_groups
    simplified = geoms.copy()
    for idx in groups:  # a handful of local authorities, not rows
        part = geoms[idx]
        if shapely.coverage_is_valid(part):
            simplified[idx] = shapely.coverage_simplify(part, tolerance_m)
        else:
            simplified[idx] = shapely.simplify(part, tolerance_m, preserve_topology=True)
    out.geometry = gpd.GeoSeries(simplified, index=out.index, crs=BNG)
    return out


def _some_pair_not_a_coverage(geoms: np.ndarray, groups: list[np.ndarray], tries: int = 3) -> bool:
    """True when the areas of two neighbouring groups (local authorities) together are not a valid coverage.

    Then the whole set is not one either: a subset of a valid coverage is valid (no overlaps, and every
    shared edge matches its neighbour's, hold for any subset). False means "not shown", not "valid": the
    caller then checks the whole set. Tries the `tries` smallest pairs whose bounding boxes intersect.
    """
    if len(groups) < 2:
        return False
    b = shapely.bounds(geoms)
    box = np.array([[np.nanmin(b[i, 0]), np.nanmin(b[i, 1]), np.nanmax(b[i, 2]), np.nanmax(b[i, 3])] for i in groups])
    near = ((box[:, None, 0] <= box[None, :, 2]) & (box[None, :, 0] <= box[:, None, 2])
            & (box[:, None, 1] <= box[None, :, 3]) & (box[None, :, 1] <= box[:, None, 3]))
    i, j = np.nonzero(np.triu(near, k=1))
    if not len(i):
        return False
    sizes = np.array([len(g) for g in groups])
    for k in np.argsort(sizes[i] + sizes[j], kind="stable")[:tries]:
        if not shapely.coverage_is_valid(geoms[np.concatenate([groups[i[k]], groups[j[k]]])]):
            return True
    return False


def to_display_wgs84(areas: gpd.GeoDataFrame, decimals: int = COORD_DECIMALS) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326 (the only place the project leaves BNG) and round coordinates."""
    out = areas.to_crs(WGS84)
    # Rounding is a pure function of each vertex, so vertices shared by neighbours stay shared.
    out.geometry = shapely.transform(out.geometry.to_numpy(), lambda c: np.round(c, decimals))
    return out


@dataclass(frozen=True)
class DisplayAreas:
    """Areas ready for the browser: simplified WGS84 outlines serialised once, plus their attribute table.

    The outlines depend only on which areas are shown, not on the measure or period, so the app
    builds them once per selection (views/_cache) and every map of that selection reuses them.
    ``outlines`` is compact JSON (``encode_outlines``) that the page decodes into GeoJSON features;
    the style layer sends its colours and tooltips as arrays in ``table`` order, checked by ``key``.
    """

    table: pd.DataFrame  # one row per area, the non-geometry columns (code, name, lad_code, ...)
    outlines: str  # encode_outlines(): {"key", "scale", "ids", "shapes"}
    bounds: tuple[float, float, float, float]  # minx, miny, maxx, maxy (degrees)
    key: str  # digest of the area codes in order: a style layer applies only to the outlines it was built for

    def __len__(self) -> int:
        return len(self.table)


def _join_ints(values: np.ndarray) -> str:
    return ",".join(values.astype(str).tolist())


def encode_outlines(codes: Sequence[str], geoms: np.ndarray, decimals: int, key: str) -> str:
    """(Multi)polygons as compact JSON: per area, polygons of rings of delta-coded integer coordinates.

    Each ring is a flat list ``[x0, y0, dx1, dy1, ...]`` in units of 10^-decimals degrees (first vertex
    absolute, then differences), about 2.5 times smaller than GeoJSON text; geo.map_layers decodes it in
    the page. Integer units are exactly the rounded coordinates, so vertices shared by neighbours stay shared.
    """
    n = len(codes)
    shapes: list[str] = []
    if n:
        kind, coords, offsets = shapely.to_ragged_array(geoms)
        if kind == shapely.GeometryType.POLYGON:  # promote: one polygon per area
            offsets = (*offsets, np.arange(n + 1))
        elif kind != shapely.GeometryType.MULTIPOLYGON:
            raise BoundaryError(f"outlines must be polygons, got {kind.name.lower()}")
        ring_off, poly_off, geom_off = offsets
        q = np.round(coords[:, :2] * 10**decimals).astype(np.int64)
        delta = q.copy()
        delta[1:] -= q[:-1]
        delta[ring_off[:-1]] = q[ring_off[:-1]]  # each ring starts absolute
        flat = delta.ravel()
        rings = [_join_ints(flat[2 * a:2 * b]) for a, b in zip(ring_off[:-1], ring_off[1:])]
        polys = ["[" + ",".join(f"[{r}]" for r in rings[a:b]) + "]" for a, b in zip(poly_off[:-1], poly_off[1:])]
        shapes = ["[" + ",".join(polys[a:b]) + "]" for a, b in zip(geom_off[:-1], geom_off[1:])]
    return (f'{{"key":{json.dumps(key)},"scale":{10**decimals},"ids":{json.dumps([str(c) for c in codes])},'
            f'"shapes":[{",".join(shapes)}]}}')


def display_tolerance(areas: gpd.GeoDataFrame, width_px: int = 1000, height_px: int = 520) -> float:
    """Simplification tolerance (m) for the zoom at which the whole of `areas` fits a map of that size.

    A quarter of a screen pixel at that zoom (Web Mercator metres per pixel x cos(latitude)), so the outlines
    are exact to a pixel two zoom levels in (Leaflet simplifies further per zoom as it draws); clipped to
    DISPLAY_TOLERANCE_M..MAX_DISPLAY_TOLERANCE_M: a county keeps ~25 m, 5,000 London and Kent LSOAs get ~57 m.
    """
    if len(areas) == 0 or areas.crs is None:
        return DISPLAY_TOLERANCE_M
    box = gpd.GeoSeries([shapely.box(*areas.total_bounds)], crs=areas.crs)  # 4 corners, not every vertex
    minx, miny, maxx, maxy = box.to_crs(WGS84).total_bounds
    lat = np.radians((miny + maxy) / 2)
    span_x = max(maxx - minx, 1e-6) / 360  # fractions of the world's width (Web Mercator)
    merc = lambda y: np.log(np.tan(np.pi / 4 + np.radians(y) / 2))  # noqa: E731
    span_y = max(merc(maxy) - merc(miny), 1e-9) / (2 * np.pi)
    zoom = np.floor(4 * min(np.log2(width_px / 256 / span_x), np.log2(height_px / 256 / span_y))) / 4  # snap 0.25
    metres_per_px = 156_543.034 * np.cos(lat) / 2**zoom
    return float(np.clip(0.25 * metres_per_px, DISPLAY_TOLERANCE_M, MAX_DISPLAY_TOLERANCE_M))


def display_areas(areas: gpd.GeoDataFrame, tolerance_m: float | None = None) -> DisplayAreas:
    """Simplify (topology kept), reproject to WGS84, round and serialise `areas` for a web map.

    ``tolerance_m`` None: ``display_tolerance(areas)``, i.e. simplified for the zoom the map opens at.
    """
    for col in (CODE, "geometry"):
        if col not in areas.columns:
            raise BoundaryError(f"boundaries lack the column {col!r} (columns: {list(areas.columns)})")
    if tolerance_m is None:
        tolerance_m = display_tolerance(areas)
    # Coordinates to 1e-5 degrees (~1 m); to 1e-4 (~11 m) once the tolerance is at least four times that.
    decimals = COORD_DECIMALS if tolerance_m < 4 * 11.1 else COORD_DECIMALS - 1
    display = to_display_wgs84(simplify_for_display(areas, tolerance_m), decimals)
    codes = display[CODE].astype(str).to_numpy()
    key = hashlib.sha1("\n".join(codes).encode()).hexdigest()[:16]
    outlines = encode_outlines(codes, display.geometry.to_numpy(), decimals, key)
    table = pd.DataFrame(display.drop(columns="geometry")).assign(**{CODE: codes}).reset_index(drop=True)
    bounds = tuple(float(b) for b in display.total_bounds) if len(display) else (0.0, 0.0, 0.0, 0.0)
    return DisplayAreas(table, outlines, bounds, key)


__all__ = [
    "COORD_DECIMALS", "DISPLAY_TOLERANCE_M", "MAX_DISPLAY_TOLERANCE_M", "DisplayAreas", "display_areas",
    "display_tolerance", "encode_outlines", "simplify_for_display", "to_display_wgs84",
]
