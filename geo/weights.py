"""Spatial weights (contiguity, k-nearest, distance band) with a report on how they were built.

Contiguity is computed from shared vertices (queen) or shared edges (rook), as libpysal's
vertex-based ``Queen``/``Rook`` do, but vectorised with numpy and scipy.sparse. Real boundary files
are often generalised one authority at a time, so edges do not coincide across authority borders and
exact contiguity splits the map into one component per authority. ``build_weights`` detects this
(connected components, scipy.sparse.csgraph) and bridges the components with fuzzy contiguity
(areas whose boundaries lie within ``fuzzy_tolerance_m`` metres; cf. libpysal
``weights.fuzzy_contiguity(buffering=True, buffer=tol)``), reporting exactly what it did.

Areas are always held in code order, so every result is independent of the input row order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    import geopandas as gpd

# shapely, scipy.sparse.csgraph and scipy.spatial are imported inside the functions that build
# weights: a command that reads cached weights (geo.weights_cache) never needs them (~0.3 s of imports).

from geo.schema import BNG, CODE, LAD_CODE, BoundaryError

Method = Literal["queen", "rook", "knn", "distance"]
from geo.schema import WEIGHTS_METHODS as METHODS  # noqa: E402  (defined there for the CLI's fast start)
ISOLATE_POLICIES: tuple[str, ...] = ("nearest", "exclude")
FUZZY_MODES: tuple[str, ...] = ("auto", "always", "never")
# Fuzzy rook needs a shared stretch of boundary, not a corner: this many tolerances long.
ROOK_MIN_SHARED_TOLERANCES = 4.0


@dataclass(frozen=True, eq=False)
class SpatialWeights:
    """Binary and row-standardised weights over areas held in code order."""

    codes: tuple[str, ...]
    binary: sp.csr_matrix
    row_standardised: sp.csr_matrix
    cardinalities: np.ndarray
    method: str

    @property
    def n(self) -> int:
        """Number of areas."""
        return len(self.codes)

    @property
    def isolated(self) -> np.ndarray:
        """Boolean mask of areas with no neighbour (left isolated by ``isolates="exclude"``)."""
        return self.cardinalities == 0

    @cached_property
    def index(self) -> pd.Index:
        """Area codes as a pandas Index (position lookups: ``weights.index.get_indexer(codes)``)."""
        return pd.Index(self.codes, name=CODE)

    @cached_property
    def libpysal(self):  # -> libpysal.weights.W; imported lazily (slow import, only tests/esda need it)
        """The binary weights as a libpysal ``W`` (ids = area codes), built on first use."""
        from libpysal.weights import WSP

        return WSP(self.binary.astype(float), id_order=list(self.codes)).to_W(silence_warnings=True)


@dataclass(frozen=True)
class WeightsReport:
    """What ``build_weights`` did: method requested/used, components, isolates, tolerance, timing."""

    method_requested: str
    method_used: str
    n_areas: int
    n_components_before: int
    n_components: int
    n_isolates_before: int
    isolates: tuple[str, ...]
    isolate_policy: str
    attached: tuple[tuple[str, str], ...] = ()
    tolerance_m: float | None = None
    n_fuzzy_links: int = 0
    distance_m: float | None = None
    k: int | None = None
    mean_neighbours: float = 0.0
    min_neighbours: int = 0
    max_neighbours: int = 0
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        """One paragraph for logs and the dashboard."""
        parts = [
            f"{self.method_used} weights over {self.n_areas} areas (requested {self.method_requested})",
            f"components {self.n_components_before} -> {self.n_components}",
            f"neighbours mean {self.mean_neighbours:.2f} (min {self.min_neighbours}, max {self.max_neighbours})",
        ]
        if self.tolerance_m is not None and self.n_fuzzy_links:
            parts.append(f"{self.n_fuzzy_links} links added within {self.tolerance_m:g} m")
        if self.isolates:
            parts.append(f"{len(self.isolates)} isolated area(s) ({self.isolate_policy})")
        return "; ".join(parts) + "." + "".join(f" {n}" for n in self.notes)


# ---------------------------------------------------------------------------- helpers


def _symmetric_binary(rows: np.ndarray, cols: np.ndarray, n: int) -> sp.csr_matrix:
    """Binary symmetric CSR adjacency from (possibly duplicated) index pairs, no self-links."""
    keep = rows != cols
    r = np.concatenate([rows[keep], cols[keep]])
    c = np.concatenate([cols[keep], rows[keep]])
    m = sp.csr_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(n, n))
    m.data[:] = 1.0  # duplicates were summed
    return m


def _n_components(binary: sp.csr_matrix) -> int:
    from scipy.sparse.csgraph import connected_components

    return int(connected_components(binary, directed=True, connection="weak")[0])


@dataclass(frozen=True)
class _Topology:
    """Vertex/edge incidence of a polygon layer, computed once for queen, rook and the fuzzy step."""

    vertex_area: sp.csr_matrix  # areas x unique vertices (binary)
    edge_area: sp.csr_matrix  # areas x unique edges (binary)
    boundary_areas: np.ndarray  # areas owning at least one edge used by no other area


def _topology(geoms: np.ndarray) -> _Topology:
    """Unique vertices and edges per area, by exact coordinate equality (vectorised)."""
    import shapely
    n = len(geoms)
    parts, part_area = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, coord_ring = shapely.get_coordinates(rings, return_index=True)
    coord_area = part_area[ring_part[coord_ring]]
    # Exact equality of coordinates: complex view sorts by (x, y) lexicographically.
    keys = np.ascontiguousarray(xy).view(np.complex128).ravel()
    _, vid = np.unique(keys, return_inverse=True)
    vid = vid.ravel().astype(np.int64)
    n_v = int(vid.max()) + 1 if len(vid) else 0
    va = sp.csr_matrix((np.ones(len(vid)), (coord_area, vid)), shape=(n, n_v))
    va.data[:] = 1.0
    # Edges: consecutive vertices within one ring, undirected.
    same = coord_ring[1:] == coord_ring[:-1]
    a, b = vid[:-1][same], vid[1:][same]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    real = lo != hi  # drop repeated points
    ekey = lo[real] * max(n_v, 1) + hi[real]
    e_area = coord_area[:-1][same][real]
    _, eid = np.unique(ekey, return_inverse=True)
    eid = eid.ravel()
    n_e = int(eid.max()) + 1 if len(eid) else 0
    ea = sp.csr_matrix((np.ones(len(eid)), (e_area, eid)), shape=(n, n_e))
    ea.data[:] = 1.0
    edge_users = np.asarray(ea.sum(axis=0)).ravel()
    boundary = np.unique(ea.tocoo().row[edge_users[ea.tocoo().col] == 1])
    return _Topology(va.tocsr(), ea.tocsr(), boundary)


def _contiguity(topo: _Topology, method: str) -> sp.csr_matrix:
    """Queen (shared vertex) or rook (shared edge) binary adjacency."""
    inc = topo.vertex_area if method == "queen" else topo.edge_area
    prod = (inc @ inc.T).tocoo()
    return _symmetric_binary(prod.row, prod.col, inc.shape[0])


def _fuzzy_links(
    geoms: np.ndarray, topo: _Topology, labels: np.ndarray, tol: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of areas in different components whose boundaries are within ``tol`` metres.

    Only areas on a component's outer boundary (owning an edge no other area uses) can bridge
    components, so only those are queried: an STRtree envelope query (expanded by ``tol``) gives
    candidates, pairs within one component are dropped, and ``shapely.dwithin`` confirms the rest.
    For rook the pair must also share a stretch of boundary at least ``ROOK_MIN_SHARED_TOLERANCES``
    tolerances long (a corner is not enough).
    """
    import shapely
    bnd = topo.boundary_areas
    if len(bnd) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    sub = geoms[bnd]
    tree = shapely.STRtree(sub)
    boxes = shapely.buffer(shapely.envelope(sub), tol, cap_style="square", join_style="mitre")
    qi, qj = tree.query(boxes, predicate="intersects")
    a, b = bnd[qi], bnd[qj]
    keep = (a < b) & (labels[a] != labels[b])
    a, b = a[keep], b[keep]
    ok = shapely.dwithin(geoms[a], geoms[b], tol)
    a, b = a[ok], b[ok]
    if method == "rook" and len(a):
        shared = shapely.length(
            shapely.intersection(shapely.boundary(geoms[a]), shapely.buffer(geoms[b], tol))
        )
        ok = shared >= ROOK_MIN_SHARED_TOLERANCES * tol
        a, b = a[ok], b[ok]
    return a, b


def _attach_isolates(
    binary: sp.csr_matrix, points: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Link each isolate to its nearest other area by centroid distance (symmetric link)."""
    from scipy.spatial import cKDTree
    card = np.asarray(binary.sum(axis=1)).ravel()
    iso = np.flatnonzero(card == 0)
    if len(iso) == 0 or binary.shape[0] < 2:
        return binary, iso, np.empty(0, np.int64)
    _, nn = cKDTree(points).query(points[iso], k=2)
    # k=2 returns self first unless another point coincides; take the first index that is not self.
    nearest = np.where(nn[:, 0] == iso, nn[:, 1], nn[:, 0])
    coo = binary.tocoo()
    out = _symmetric_binary(
        np.concatenate([coo.row, iso]), np.concatenate([coo.col, nearest]), binary.shape[0]
    )
    return out, iso, nearest


def _row_standardise(binary: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    card = np.asarray(binary.sum(axis=1)).ravel()
    inv = np.divide(1.0, card, out=np.zeros_like(card, dtype=float), where=card > 0)
    return sp.csr_matrix(sp.diags(inv) @ binary), card.astype(np.int64)


def _validate(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if CODE not in areas.columns:
        raise BoundaryError(f"areas have no '{CODE}' column (columns: {list(areas.columns)})")
    if areas.crs is None:
        raise BoundaryError("areas have no CRS; expected EPSG:27700 (British National Grid)")
    if len(areas) == 0:
        raise BoundaryError("areas are empty: cannot build spatial weights")
    codes = areas[CODE].astype(str)
    dup = codes[codes.duplicated()].unique()
    if len(dup):
        raise BoundaryError(f"duplicate area codes: {', '.join(map(str, dup[:5]))}")
    empty = areas.geometry.is_empty | areas.geometry.isna()
    if empty.any():
        raise BoundaryError(f"areas with empty geometry: {', '.join(codes[empty].head(5))}")
    out = areas.to_crs(BNG) if not areas.crs.equals(BNG) else areas
    # Code order makes every downstream result independent of the input row order.
    return out.assign(**{CODE: codes}).sort_values(CODE, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------- public


def build_weights(
    areas: gpd.GeoDataFrame,
    method: Method = "queen",
    k: int = 6,
    distance_m: float | None = None,
    fuzzy_tolerance_m: float = 5.0,
    isolates: Literal["nearest", "exclude"] = "nearest",
    fuzzy: Literal["auto", "always", "never"] = "auto",
) -> tuple[SpatialWeights, WeightsReport]:
    """Build spatial weights over ``areas`` (Anselin 1988; contiguity as in libpysal/GeoDa).

    method: ``queen``/``rook`` contiguity, ``knn`` (k nearest centroids, asymmetric) or
    ``distance`` (centroids within ``distance_m``; default: the smallest band giving every area a
    neighbour). For contiguity, ``fuzzy="auto"`` adds links between areas within
    ``fuzzy_tolerance_m`` metres that lie in different exact-contiguity components, when exact
    contiguity leaves more than one component; ``"always"``/``"never"`` force it. Areas still
    without a neighbour are attached to their nearest area by centroid (``isolates="nearest"``)
    or kept isolated (``"exclude"``: local statistics label them "Isolated"). Nothing is dropped
    silently: the report lists every change.
    """
    import shapely
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    t0 = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isolates not in ISOLATE_POLICIES:
        raise ValueError(f"isolates must be one of {ISOLATE_POLICIES}, got {isolates!r}")
    if fuzzy not in FUZZY_MODES:
        raise ValueError(f"fuzzy must be one of {FUZZY_MODES}, got {fuzzy!r}")
    gdf = _validate(areas)
    codes = tuple(gdf[CODE].tolist())
    n = len(codes)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    points = shapely.get_coordinates(shapely.centroid(geoms))
    notes: list[str] = []
    method_used = method
    tolerance: float | None = None
    n_fuzzy = 0
    band: float | None = None

    if method in ("queen", "rook"):
        topo = _topology(geoms)
        binary = _contiguity(topo, method)
        n_comp, labels = connected_components(binary, directed=False)
        iso_before = int((np.asarray(binary.sum(axis=1)).ravel() == 0).sum())
        n_comp_before = int(n_comp)
        if (fuzzy == "always") or (fuzzy == "auto" and n_comp > 1):
            if LAD_CODE in gdf.columns and n_comp > 1:
                lads = gdf[LAD_CODE].astype(str).to_numpy()
                per = pd.Series(lads).groupby(labels).nunique()
                if (per == 1).all():
                    notes.append(
                        f"Exact {method} contiguity gave {n_comp} components, each within one local "
                        "authority: edges do not coincide across authority borders."
                    )
            a, b = _fuzzy_links(geoms, topo, labels, fuzzy_tolerance_m, method)
            fuzzy_binary = _symmetric_binary(
                np.concatenate([binary.tocoo().row, a]), np.concatenate([binary.tocoo().col, b]), n
            )
            n_after = connected_components(fuzzy_binary, directed=False)[0]
            iso_after = int((np.asarray(fuzzy_binary.sum(axis=1)).ravel() == 0).sum())
            if fuzzy == "always" or n_after < n_comp or iso_after < iso_before:
                binary, method_used = fuzzy_binary, f"fuzzy_{method}"
                tolerance, n_fuzzy = float(fuzzy_tolerance_m), int(len(a))
            else:
                notes.append(
                    f"Fuzzy contiguity ({fuzzy_tolerance_m:g} m) joined no components; kept exact {method}."
                )
    elif method == "knn":
        if not 1 <= k < n:
            raise ValueError(f"k must be between 1 and n-1={n - 1}, got {k}")
        _, nn = cKDTree(points).query(points, k=k + 1)
        rows = np.repeat(np.arange(n), k + 1)
        cols = nn.ravel()
        keep = rows != cols
        # Coincident centroids can push self out of the first k+1: keep exactly k others per row.
        rows, cols = rows[keep], cols[keep]
        first_k = (np.arange(len(rows)) - np.searchsorted(rows, rows)) < k
        binary = sp.csr_matrix(
            (np.ones(first_k.sum()), (rows[first_k], cols[first_k])), shape=(n, n)
        )
        n_comp_before, iso_before = _n_components(binary), 0
    else:
        tree = cKDTree(points)
        if distance_m is None:
            # libpysal's min_threshold_distance: the largest nearest-neighbour distance.
            d, _ = tree.query(points, k=2)
            distance_m = float(d[:, 1].max()) * (1 + 1e-9)
            notes.append(f"Distance band set to {distance_m:,.0f} m so that every area has a neighbour.")
        if distance_m <= 0:
            raise ValueError(f"distance_m must be positive, got {distance_m}")
        band = float(distance_m)
        pairs = tree.query_pairs(band, output_type="ndarray")
        binary = _symmetric_binary(pairs[:, 0], pairs[:, 1], n)
        n_comp_before = _n_components(binary)
        iso_before = int((np.asarray(binary.sum(axis=1)).ravel() == 0).sum())

    card = np.asarray(binary.sum(axis=1)).ravel()
    iso_idx = np.flatnonzero(card == 0)
    iso_codes = tuple(codes[i] for i in iso_idx)
    attached: tuple[tuple[str, str], ...] = ()
    if len(iso_idx) and isolates == "nearest":
        binary, iso_idx, nearest = _attach_isolates(binary, points)
        attached = tuple((codes[i], codes[j]) for i, j in zip(iso_idx, nearest))
        notes.append(f"{len(attached)} isolated area(s) linked to the nearest area by centroid.")
    elif len(iso_idx):
        notes.append(f"{len(iso_idx)} isolated area(s) kept without neighbours (labelled Isolated).")

    binary = binary.tocsr()
    binary.sort_indices()
    row_std, card = _row_standardise(binary)
    weights = SpatialWeights(codes, binary, row_std, card, method_used)
    report = WeightsReport(
        method_requested=method,
        method_used=method_used,
        n_areas=n,
        n_components_before=int(n_comp_before),
        n_components=_n_components(binary),
        n_isolates_before=int(iso_before),
        isolates=iso_codes,
        isolate_policy=isolates,
        attached=attached,
        tolerance_m=tolerance,
        n_fuzzy_links=n_fuzzy,
        distance_m=band,
        k=k if method == "knn" else None,
        mean_neighbours=float(card.mean()),
        min_neighbours=int(card.min()),
        max_neighbours=int(card.max()),
        seconds=time.perf_counter() - t0,
        notes=tuple(notes),
    )
    return weights, report
