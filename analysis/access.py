"""Need against provision: straight-line distance from each area's population-weighted centre to services.

Centres. An LSOA's centre is its representative point (``shapely.point_on_surface``: a point always
inside the polygon, unlike a centroid of a crescent-shaped area), because no finer population than
LSOA is shipped. A ward, MSOA, locality or local authority's centre is the population-weighted mean
of its LSOAs' representative points: ONS builds MSOA population-weighted centroids from smaller units
the same way (from output areas; here one level coarser). The result is not guaranteed to lie inside
a ring-shaped area, and it is only as good as the LSOA points.

Distances are straight lines in British National Grid metres / 1000: km as the crow flies, **not
travel time** (no roads, public transport, rivers or hills), from one point per area, so everyone in
an area is treated as living at its centre. Nearest services are found with a k-d tree
(``scipy.spatial.cKDTree``): one query per service type for all areas at once.

Need is the rate of incidents per 1,000 residents of one period from the rates service
(``atlas.analyses.rates_table``); "high need" = the areas whose rate ranks in the top ``share`` of the
areas with a rate (default a fifth: the top quintile), ties at the cut included. Pure functions: no
Streamlit, no store.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo.schema import AREA_CODE, BNG, CODE, RATE_PER_1000, AtlasError

__all__ = [
    "ANY_TYPE", "CENTRE_POPULATION", "CENTRE_X", "CENTRE_Y", "DISTANCE_BANDS", "HIGH_NEED", "HIGH_NEED_SHARE",
    "NEAREST_KM", "NEAREST_NAME", "NEAREST_TYPE", "NEED_RANK", "distance_band", "furthest_high_need", "high_need",
    "km_column", "km_columns", "nearest_by_type", "need_against_provision", "population_weighted_centres",
    "publication_view", "representative_points", "rounded",
]

CENTRE_X, CENTRE_Y = "centre_easting", "centre_northing"  # EPSG:27700 metres
CENTRE_POPULATION = "centre_population"  # residents whose LSOA points were averaged
NEAREST_KM = "nearest_service_km"  # straight line, not travel time
NEAREST_TYPE = "nearest_service_type"
NEAREST_NAME = "nearest_service_name"
NEED_RANK = "need_rank"  # 1 = highest rate
HIGH_NEED = "high_need"
ANY_TYPE = "any"
HIGH_NEED_SHARE = 0.2  # the top fifth (quintile) of areas by rate
# Publication mode shows distances only in these bands (km, lower bound inclusive): exact distances from
# known centres would let a reader triangulate a refuge. Labels use an en dash like the rest of the app.
DISTANCE_BANDS: tuple[tuple[float, str], ...] = ((0.0, "<2 km"), (2.0, "2–5 km"), (5.0, "5–10 km"),
                                                 (10.0, ">10 km"))


def km_column(type_label: str) -> str:
    """The per-type distance column of the need table: 'km_to_Refuge'."""
    return f"km_to_{type_label}"


def representative_points(areas: gpd.GeoDataFrame) -> pd.DataFrame:
    """[code, centre_easting, centre_northing]: a point inside each polygon (point_on_surface), BNG metres."""
    if areas.crs is not None and areas.crs != BNG:
        areas = areas.to_crs(BNG)
    pts = shapely.point_on_surface(areas.geometry.to_numpy())
    return pd.DataFrame({CODE: areas[CODE].astype(str).to_numpy(), CENTRE_X: shapely.get_x(pts),
                         CENTRE_Y: shapely.get_y(pts)})


def population_weighted_centres(lsoa_points: pd.DataFrame, population: pd.Series,
                                parents: pd.Series | None = None) -> pd.DataFrame:
    """[code, centre_easting, centre_northing, centre_population]: each parent's population-weighted mean point.

    ``lsoa_points`` from ``representative_points`` of LSOAs; ``population``: LSOA code -> residents;
    ``parents``: LSOA code -> parent code (None = the LSOAs themselves: their own points). An LSOA
    without a population weighs nothing; a parent whose LSOAs all lack one gets their plain mean.
    """
    pts = lsoa_points.set_index(CODE)
    parent = (pd.Series(pts.index, index=pts.index) if parents is None
              else parents.astype(str).reindex(pts.index))
    keep = parent.notna().to_numpy()
    pts, parent = pts[keep], parent[keep].to_numpy()
    w = population.reindex(pts.index).to_numpy(dtype=float)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    codes, inverse = np.unique(parent, return_inverse=True)
    k = len(codes)
    x, y = pts[CENTRE_X].to_numpy(dtype=float), pts[CENTRE_Y].to_numpy(dtype=float)
    sw = np.bincount(inverse, weights=w, minlength=k)
    n = np.bincount(inverse, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        wx = np.bincount(inverse, weights=w * x, minlength=k) / sw
        wy = np.bincount(inverse, weights=w * y, minlength=k) / sw
    plain = sw <= 0  # no population at all: every LSOA point counts the same
    wx[plain] = (np.bincount(inverse, weights=x, minlength=k) / n)[plain]
    wy[plain] = (np.bincount(inverse, weights=y, minlength=k) / n)[plain]
    return pd.DataFrame({CODE: codes.astype(str), CENTRE_X: wx, CENTRE_Y: wy, CENTRE_POPULATION: sw})


def nearest_by_type(centres: pd.DataFrame, services: pd.DataFrame) -> pd.DataFrame:
    """Long table [code, service_type, distance_km, nearest_name, nearest_type]: each centre to each type's nearest.

    ``services`` has columns service_type, type_key, service_name, easting, northing (``ingest.services``);
    one row per centre and type, types in type_key order, then the type "any" (every service). Distances
    are straight-line km (BNG metres / 1000), not travel time. Ties go to the service listed first.
    """
    xy = centres[[CENTRE_X, CENTRE_Y]].to_numpy(dtype=float)
    codes = centres[CODE].astype(str).to_numpy()
    parts = []
    for label, sub in [*_by_type(services), (ANY_TYPE, services)]:
        km, name, kind = _nearest_of(xy, sub)
        parts.append(pd.DataFrame({CODE: codes, "service_type": label, "distance_km": km,
                                   "nearest_name": name, "nearest_type": kind}))
    return pd.concat(parts, ignore_index=True)


def _by_type(services: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(display label, rows) of each service type, in type_key order (a handful of types: loop over types)."""
    return [(str(rows["service_type"].iloc[0]), rows) for _, rows in services.groupby("type_key", sort=True)]


def _nearest_of(xy: np.ndarray, services: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(km, name, type) of the nearest of ``services`` to each point; NaN/None where a point is not finite."""
    located = np.isfinite(xy).all(axis=1)
    km = np.full(len(xy), np.nan)
    name = np.full(len(xy), None, dtype=object)
    kind = np.full(len(xy), None, dtype=object)
    if located.any() and len(services):
        dist, pos = _nearest(xy[located], services[["easting", "northing"]].to_numpy(dtype=float))
        km[located] = dist / 1000.0
        name[located] = services["service_name"].to_numpy(dtype=object)[pos]
        kind[located] = services["service_type"].to_numpy(dtype=object)[pos]
    return km, name, kind


def _nearest(xy: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance in metres, target position) of each point's nearest target (k-d tree; ties: lowest position)."""
    # Duplicate service points would make the tree's choice between them arbitrary: query unique points
    # and map each back to the first row at that point, so ties are decided by file order.
    uniq, first = np.unique(targets, axis=0, return_index=True)
    dist, pos = cKDTree(uniq).query(xy, k=1)
    return np.asarray(dist, dtype=float), first[np.asarray(pos)]


def high_need(rate: pd.Series | np.ndarray, share: float = HIGH_NEED_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """(rank by rate, 1 = highest, NaN without a rate; high-need flag): the top ceil(share x n) areas with a rate.

    Ties share the best rank ("min"), so every area tied at the cut is high need.
    """
    if not 0 < share <= 1:
        raise AtlasError(f"the high-need share must be above 0 and at most 1 (e.g. 0.2 for the top fifth); "
                         f"received {share}")
    r = pd.Series(np.asarray(rate, dtype=float))
    rank = r.rank(method="min", ascending=False).to_numpy()  # NaN rates keep a NaN rank
    n = int(r.notna().sum())
    cut = math.ceil(round(share * n, 9))  # round first: 0.2 x 10 must be 2, not 2.0000000000000004 -> 3
    return rank, np.nan_to_num(rank, nan=np.inf) <= cut


def need_against_provision(rates: pd.DataFrame, centres: pd.DataFrame, services: pd.DataFrame,
                           share: float = HIGH_NEED_SHARE) -> pd.DataFrame:
    """Per area of ``rates`` [area_code, ..., rate_per_1000]: centre, need rank, high-need flag and distances.

    Adds centre_easting/northing, need_rank, high_need, nearest_service_km/type/name (any type) and
    one ``km_to_<type>`` column per service type. Sorted: high-need areas first, furthest from any
    service first (ties by code), then the rest by rank. Areas without a centre have blank distances.
    """
    if services.empty:
        raise AtlasError("no services to measure distances to")
    cen = centres.set_index(CODE).reindex(rates[AREA_CODE].astype(str))
    table = rates.reset_index(drop=True).copy()
    table[CENTRE_X] = cen[CENTRE_X].to_numpy(dtype=float)
    table[CENTRE_Y] = cen[CENTRE_Y].to_numpy(dtype=float)
    rank, flag = high_need(table[RATE_PER_1000], share)
    table[NEED_RANK] = pd.array(rank, dtype="Int64")  # whole numbers; <NA> without a rate
    table[HIGH_NEED] = flag
    xy = table[[CENTRE_X, CENTRE_Y]].to_numpy(dtype=float)
    km, name, kind = _nearest_of(xy, services)
    table[NEAREST_KM] = km
    table[NEAREST_TYPE] = pd.Series(kind, dtype="str")
    table[NEAREST_NAME] = pd.Series(name, dtype="str")
    for label, rows in _by_type(services):
        table[km_column(label)] = _nearest_of(xy, rows)[0]
    order = np.lexsort((table[AREA_CODE].astype(str).to_numpy(),
                        np.where(table[HIGH_NEED], -np.nan_to_num(table[NEAREST_KM], nan=-1.0),
                                 np.nan_to_num(rank, nan=np.inf)),
                        ~table[HIGH_NEED].to_numpy(dtype=bool)))
    centre_last = [c for c in table.columns if c not in (CENTRE_X, CENTRE_Y)] + [CENTRE_X, CENTRE_Y]
    out = table.iloc[order][centre_last].reset_index(drop=True)
    out.attrs = dict(rates.attrs)
    return out


def furthest_high_need(table: pd.DataFrame, n: int | None = None) -> pd.DataFrame:
    """The high-need rows of a need table, furthest from any service first (the table's own order)."""
    out = table[table[HIGH_NEED].eq(True).to_numpy(dtype=bool)]  # a flag blanked by publication mode is not True
    return (out if n is None else out.head(n)).reset_index(drop=True)


def distance_band(km: pd.Series | np.ndarray) -> pd.Series:
    """Distances as publication-mode bands ('<2 km', '2–5 km', '5–10 km', '>10 km'); blank where unknown."""
    d = np.asarray(km, dtype=float)
    edges = np.array([lo for lo, _ in DISTANCE_BANDS])
    labels = np.array([lab for _, lab in DISTANCE_BANDS], dtype=object)
    pos = np.searchsorted(edges, np.where(np.isfinite(d), d, 0.0), side="right") - 1
    return pd.Series(np.where(np.isfinite(d), labels[np.clip(pos, 0, None)], None), dtype="str")


def km_columns(table: pd.DataFrame) -> list[str]:
    """The distance columns of a need table: nearest_service_km and every km_to_<type>."""
    return [c for c in table.columns if c == NEAREST_KM or str(c).startswith("km_to_")]


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Distances to 0.1 km and centres to the metre, as every output shows them (more digits claim false precision)."""
    out = table.copy(deep=False)
    for col in km_columns(out):
        out[col] = out[col].round(1)
    for col in (CENTRE_X, CENTRE_Y):
        if col in out.columns:
            out[col] = out[col].round(0)
    return out


def publication_view(table: pd.DataFrame) -> pd.DataFrame:
    """A need table fit to publish: distances as bands, no service names, no centres.

    Exact distances from known (public) centres to the nearest service would let a reader locate the
    service, and refuge addresses are confidential; bands of 2/5/10 km do not. Counts and rates are
    suppressed separately (atlas.publication), by the caller.
    """
    out = table.drop(columns=[c for c in (NEAREST_NAME, CENTRE_X, CENTRE_Y) if c in table.columns])
    for col in km_columns(out):
        out[col] = distance_band(out[col]).to_numpy(dtype=object)
    return out.rename(columns={c: f"{c}_band" for c in km_columns(out)})
