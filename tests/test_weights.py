"""Spatial weights: exact and fuzzy contiguity on the shipped LSOAs, knn, distance band, isolates."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse.csgraph import connected_components

from geo.schema import BNG, BoundaryError, data_dir
from geo.weights import build_weights


@pytest.fixture(scope="module")
def lsoa() -> gpd.GeoDataFrame:
    return gpd.read_file(data_dir() / "boundaries" / "north_east_and_medway.gpkg", layer="lsoa")


def _squares(xs: list[float], codes: list[str] | None = None) -> gpd.GeoDataFrame:
    geoms = [shapely.box(x, 0, x + 1, 1) for x in xs]
    codes = codes or [f"A{i:02d}" for i in range(len(xs))]
    return gpd.GeoDataFrame({"code": codes, "name": codes}, geometry=geoms, crs=BNG)


def test_exact_queen_matches_libpysal_queen(lsoa):
    from libpysal.weights import Queen

    w, rep = build_weights(lsoa, "queen", fuzzy="never")
    ref = Queen.from_dataframe(
        lsoa.sort_values("code").reset_index(drop=True), use_index=False, silence_warnings=True
    )
    assert rep.method_used == "queen"
    assert (w.binary != ref.sparse).nnz == 0
    assert w.codes == tuple(sorted(lsoa["code"]))


def test_exact_contiguity_splits_into_one_component_per_authority_piece(lsoa):
    w, rep = build_weights(lsoa, "queen", fuzzy="never")
    n, labels = connected_components(w.binary, directed=False)
    assert n == rep.n_components == 9
    lads = lsoa.set_index("code").loc[list(w.codes), "lad_code"].to_numpy()
    assert pd.Series(lads).groupby(labels).nunique().max() == 1  # never crosses an authority


def test_fuzzy_fallback_bridges_authorities_without_losing_neighbours(lsoa):
    exact, _ = build_weights(lsoa, "queen", fuzzy="never")
    w, rep = build_weights(lsoa, "queen")
    assert rep.method_used == "fuzzy_queen" and rep.tolerance_m == 5.0
    assert rep.n_components_before == 9
    # Left: north and south of the Tees estuary, and Medway's two river banks (true gaps).
    assert rep.n_components <= 4
    assert rep.n_fuzzy_links > 20
    assert (exact.binary - exact.binary.multiply(w.binary)).nnz == 0  # exact links all kept
    assert (w.cardinalities >= exact.cardinalities).all()
    assert "local authority" in rep.summary()
    # Bridging links really are within the tolerance.
    geo = lsoa.set_index("code").loc[list(w.codes)].geometry.to_numpy()
    extra = (w.binary - w.binary.multiply(exact.binary)).tocoo()
    assert shapely.distance(geo[extra.row], geo[extra.col]).max() <= 5.0


def test_rook_links_are_a_subset_of_queen(lsoa):
    q, _ = build_weights(lsoa, "queen", fuzzy="never")
    r, rep = build_weights(lsoa, "rook", fuzzy="never")
    assert rep.method_used == "rook"
    assert (r.binary - r.binary.multiply(q.binary)).nnz == 0
    assert r.binary.nnz < q.binary.nnz


def test_knn_gives_exactly_k_nearest(lsoa):
    w, rep = build_weights(lsoa, "knn", k=4)
    assert (w.cardinalities == 4).all() and rep.k == 4
    pts = shapely.get_coordinates(lsoa.set_index("code").loc[list(w.codes)].geometry.centroid.values)
    i = 17
    d = np.hypot(*(pts - pts[i]).T)
    d[i] = np.inf
    assert set(w.binary[i].indices) == set(np.argsort(d)[:4])
    np.testing.assert_allclose(np.asarray(w.row_standardised.sum(axis=1)).ravel(), 1.0)


def test_distance_band_links_exactly_the_pairs_within_the_band(lsoa):
    sub = lsoa[lsoa.lad_name == "Darlington"]
    w, rep = build_weights(sub, "distance", distance_m=1500.0)
    pts = shapely.get_coordinates(sub.set_index("code").loc[list(w.codes)].geometry.centroid.values)
    d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    expected = (d <= 1500.0) & ~np.eye(len(pts), dtype=bool)
    got = w.binary.toarray() > 0
    # Areas left without a neighbour are attached to the nearest one (reported).
    attached = {(a, b) for a, b in rep.attached}
    codes = np.array(w.codes)
    diff = np.argwhere(got & ~expected)
    assert all((codes[i], codes[j]) in attached or (codes[j], codes[i]) in attached for i, j in diff)
    assert not (expected & ~got).any()
    assert rep.distance_m == 1500.0


def test_default_distance_band_leaves_no_isolate(lsoa):
    w, rep = build_weights(lsoa[lsoa.lad_name == "Hartlepool"], "distance")
    assert w.cardinalities.min() >= 1 and not rep.isolates


def test_isolate_attached_to_nearest_and_reported():
    areas = _squares([0, 1, 2, 10])
    w, rep = build_weights(areas, "queen")
    assert rep.isolates == ("A03",) and rep.attached == (("A03", "A02"),)
    assert w.cardinalities.tolist() == [1, 2, 2, 1]
    assert rep.n_components == 1


def test_isolate_excluded_is_kept_without_neighbours():
    w, rep = build_weights(_squares([0, 1, 2, 10]), "queen", isolates="exclude")
    assert w.isolated.tolist() == [False, False, False, True]
    assert rep.isolates == ("A03",) and not rep.attached
    assert w.row_standardised[3].nnz == 0


def test_fuzzy_joins_squares_with_a_small_gap_only():
    areas = _squares([0, 1.5, 2.5], ["A", "B", "C"])  # A-B gap of 0.5 m
    w, rep = build_weights(areas, "queen", fuzzy_tolerance_m=1.0)
    assert rep.method_used == "fuzzy_queen" and rep.n_components == 1
    w2, rep2 = build_weights(areas, "queen", fuzzy_tolerance_m=0.1, isolates="exclude")
    assert rep2.method_used == "queen" and w2.isolated.tolist() == [True, False, False]


def test_weights_do_not_depend_on_row_order(lsoa):
    w1, _ = build_weights(lsoa, "queen")
    w2, _ = build_weights(lsoa.sample(frac=1.0, random_state=4), "queen")
    assert w1.codes == w2.codes
    assert (w1.binary != w2.binary).nnz == 0


def test_libpysal_view_has_the_same_neighbours(lsoa):
    w, _ = build_weights(lsoa[lsoa.lad_name == "Darlington"], "queen")
    lw = w.libpysal
    assert lw.id_order == list(w.codes)
    assert (lw.sparse != w.binary).nnz == 0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda g: pd.concat([g, g.iloc[:1]]), "duplicate area codes"),
        (lambda g: g.set_crs(None, allow_override=True), "no CRS"),
        (lambda g: g.drop(columns="code"), "no 'code' column"),
    ],
)
def test_unusable_areas_raise_clear_errors(lsoa, mutate, message):
    with pytest.raises(BoundaryError, match=message):
        build_weights(mutate(lsoa.head(20)), "queen")


def test_unknown_method_is_rejected(lsoa):
    with pytest.raises(ValueError, match="method must be one of"):
        build_weights(lsoa.head(5), "hexagon")  # type: ignore[arg-type]


@pytest.mark.slow
def test_england_lsoa_fuzzy_queen_is_nearly_connected(shared_data):
    areas = gpd.read_parquet(shared_data / "boundaries" / "england_lsoa_2011.parquet")
    t0 = time.perf_counter()
    w, rep = build_weights(areas, "queen")
    elapsed = time.perf_counter() - t0
    print(f"England LSOA fuzzy queen: {elapsed:.2f} s; {rep.summary()}")
    assert rep.n_components_before == 342
    assert rep.n_components <= 10 and w.n == 32_844
    assert elapsed < 15  # target 1.5 s on an idle 2-core machine; generous for shared CI
