"""Hotspot statistics: known answers, pygeoda/esda agreement, permutation kernel, invariants."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

from analysis import _esda_compat as ec
from analysis._permutation import conditional_distribution, dense_pseudo_p, permutation_table, pseudo_p
from analysis.hotspots import (
    GI_LABELS,
    ISOLATED,
    LISA_COLOURS,
    NOT_SIGNIFICANT,
    HotspotParams,
    counts_matrix,
    eb_standardised_rates,
    local_hotspots,
    local_hotspots_matrix,
)
from analysis.moran import global_moran_matrix
from geo.schema import BNG, AtlasError, data_dir
from geo.weights import SpatialWeights, build_weights


def _weights_from_sparse(codes, binary) -> SpatialWeights:
    binary = sp.csr_matrix(binary, dtype=float)
    card = np.asarray(binary.sum(axis=1)).ravel()
    row = sp.csr_matrix(sp.diags(1.0 / np.where(card > 0, card, 1)) @ binary)
    return SpatialWeights(tuple(codes), binary, row, card.astype(int), "test")


@pytest.fixture(scope="module")
def durham() -> gpd.GeoDataFrame:
    g = gpd.read_file(data_dir() / "boundaries" / "north_east_and_medway.gpkg", layer="lsoa")
    return g[g.lad_name == "County Durham"].sort_values("code").reset_index(drop=True)


@pytest.fixture(scope="module")
def durham_w(durham):
    return build_weights(durham, "queen")[0]


@pytest.fixture(scope="module")
def durham_y(durham_w) -> np.ndarray:
    return np.random.default_rng(7).poisson(4, (durham_w.n, 2)).astype(float)


def test_six_point_gi_star_z_matches_esda_known_answer():
    pts = [(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)]
    areas = gpd.GeoDataFrame(
        {"code": [f"P{i}" for i in range(6)]}, geometry=[shapely.Point(p) for p in pts], crs=BNG
    )
    w, _ = build_weights(areas, "distance", distance_m=15.0)
    y = np.array([[2, 3, 3.2, 5, 8, 7]]).T
    res = local_hotspots_matrix(y, ["all"], w, HotspotParams(permutations=99), statistics=("gi_star",))
    np.testing.assert_allclose(
        res.gi_z, [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331], atol=1e-8
    )


def test_st_louis_global_moran_known_answer():
    import libpysal

    # Parse the GAL file directly (libpysal's reader leaves the file open: ResourceWarning).
    lines = Path(libpysal.examples.get_path("stl.gal")).read_text().split("\n")
    neighbours = {}
    for head, body in zip(lines[1::2], lines[2::2]):
        if head.strip():
            neighbours[head.split()[0]] = body.split()
    w = libpysal.weights.W(neighbours, id_order=list(neighbours), silence_warnings=True)
    df = pd.read_csv(libpysal.examples.get_path("stl_hom.csv"))
    sw = _weights_from_sparse([str(i) for i in w.id_order], w.sparse)
    res = global_moran_matrix(df["HR8893"].to_numpy()[:, None], ["1988-93"], sw, HotspotParams(permutations=199))
    assert res.moran_i.iloc[0] == pytest.approx(0.24365582621771659, abs=1e-12)
    assert res.moran_p.iloc[0] < 0.05
    assert ec.esda_moran(df["HR8893"], w, 0)["moran_i"] == pytest.approx(res.moran_i.iloc[0], abs=1e-12)


def test_local_statistics_equal_pygeoda(durham, durham_w, durham_y):
    import pygeoda

    gd = pygeoda.open(durham.assign(y=durham_y[:, 0]))
    qw = pygeoda.queen_weights(gd)
    nb = [sorted(qw.get_neighbors(i)) for i in range(len(durham))]
    exact, _ = build_weights(durham, "queen", fuzzy="never")
    assert all(sorted(exact.binary[i].indices) == nb[i] for i in range(len(durham)))  # same weights
    res = local_hotspots_matrix(durham_y[:, :1], ["p"], exact, HotspotParams(permutations=99))
    lisa = pygeoda.local_moran(qw, gd["y"])
    gstar = pygeoda.local_gstar(qw, gd["y"])
    np.testing.assert_allclose(res.lisa_i, lisa.lisa_values(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.gi_star, gstar.lisa_values(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("alternative", ["folded", "directed"])
def test_statistics_and_p_values_agree_with_esda(durham_w, durham_y, alternative):
    y = durham_y[:, 0]
    res = local_hotspots_matrix(y[:, None], ["p"], durham_w, HotspotParams(alternative=alternative, seed=11))
    gi = ec.esda_local_gstar(y, durham_w.libpysal, 999, seed=5, alternative=alternative)
    lm = ec.esda_local_moran(y, durham_w.libpysal, 999, seed=5, alternative=alternative)
    np.testing.assert_allclose(res.gi_star, gi["gi_star"], atol=1e-12)
    np.testing.assert_allclose(res.gi_z, gi["gi_z"], atol=1e-9)
    np.testing.assert_allclose(res.lisa_i, lm["lisa_i"], atol=1e-9)
    for ours, theirs in ((res.gi_p_sim, gi["gi_p"]), (res.lisa_p, lm["lisa_p"])):
        assert np.corrcoef(ours, theirs)[0, 1] > 0.9
        assert ((ours <= 0.05) == (theirs <= 0.05)).mean() >= 0.95
    assert np.corrcoef(res.lisa_z, lm["lisa_z"])[0, 1] > 0.98


@pytest.mark.parametrize("alternative", ["folded", "directed", "greater", "lesser"])
def test_fast_kernel_equals_brute_force_permutations(alternative):
    rng = np.random.default_rng(3)
    n, P = 40, 199
    a = rng.random((n, n)) < 0.12
    adj = np.triu(a, 1)
    adj = adj | adj.T
    adj[np.arange(n), (np.arange(n) + 1) % n] = adj[(np.arange(n) + 1) % n, np.arange(n)] = True
    card = adj.sum(axis=1)
    x = rng.poisson(1.0, (n, 3)).astype(float)  # many ties
    table = permutation_table(n, card.max() + 1, P, seed=1)
    dist = conditional_distribution(x, card, table)
    obs = adj.astype(float) @ x
    orient = np.sign(rng.standard_normal((n, 3)))
    p = pseudo_p(dist, obs, orient, alternative)
    assert len(np.unique(dist.start)) > 1  # several independent blocks are exercised
    for i in range(n):
        block = table.ids[:, dist.start[i] :]
        draws = np.array([[j for j in row if j != i][: card[i]] for row in block])
        sums = x[draws].sum(axis=1)  # (P, T)
        np.testing.assert_allclose(dist.mean[i], sums.mean(axis=0))
        for t in range(3):
            s = orient[i, t]
            alt = alternative
            if alt in ("greater", "lesser") and s < 0:
                alt = "lesser" if alt == "greater" else "greater"
            ref = dense_pseudo_p(obs[i, t : t + 1], sums[:, t : t + 1], alt, np.array([card[i] * x.max()]))
            assert p[i, t] == ref[0], (i, t)


def _queen_lattice(side: int) -> np.ndarray:
    """Dense queen adjacency of a side x side lattice (interior cells have 8 neighbours)."""
    r, c = np.divmod(np.arange(side * side), side)
    adj = (np.abs(r[:, None] - r[None, :]) <= 1) & (np.abs(c[:, None] - c[None, :]) <= 1)
    np.fill_diagonal(adj, False)
    return adj


def test_equal_cardinality_areas_get_different_reference_draws():
    adj = _queen_lattice(30)
    card = adj.sum(axis=1)
    x = np.random.default_rng(0).poisson(3.0, (len(card), 1)).astype(float)
    interior = np.flatnonzero(card == 8)
    dist = conditional_distribution(x, card, permutation_table(len(card), 9, 199, seed=1))
    cells, size = np.unique(dist.cell[interior], return_counts=True)
    assert len(cells) >= 50 and size.max() <= 0.05 * len(interior)  # many small cells, not one table
    a, b = interior[dist.cell[interior] == cells[0]][0], interior[dist.cell[interior] == cells[1]][0]
    assert not np.array_equal(np.sort(dist.reference(a), axis=0), np.sort(dist.reference(b), axis=0))
    # The old layout (one block: columns too few to split) shares one reference per cardinality.
    shared = conditional_distribution(x, card, permutation_table(len(card), 9, 199, seed=1, columns=1))
    assert len(np.unique(shared.cell[interior])) == 1


def test_seed_spread_of_map_mean_p_is_near_independent_draws():
    """Monte Carlo error must mostly average out over the map, as with esda's per-area shuffles."""
    adj = _queen_lattice(30)
    card = adj.sum(axis=1)
    n, P = len(card), 199
    x = np.random.default_rng(0).poisson(3.0, (n, 1)).astype(float)
    obs = adj.astype(float) @ x

    def spread(columns):
        means, ps = [], []
        for seed in range(16):
            dist = conditional_distribution(x, card, permutation_table(n, 9, P, seed, columns=columns))
            ps.append(pseudo_p(dist, obs, np.ones_like(obs), "folded").ravel())
            means.append(ps[-1].mean())
        pbar = np.mean(ps, axis=0)
        independent = np.sqrt((pbar * (1 - pbar)).sum() / P) / n  # sd of the mean if draws were per area
        return np.std(means, ddof=1) / independent

    ours, one_table = spread(None), spread(1)
    assert ours < 5.0  # within a small factor of esda-like independent draws
    assert one_table > 2.5 * ours  # and far below the shared-table spread


def test_results_reproducible_by_seed_and_seed_matters(durham_w, durham_y):
    a = local_hotspots_matrix(durham_y, ["a", "b"], durham_w, HotspotParams(seed=1))
    b = local_hotspots_matrix(durham_y, ["a", "b"], durham_w, HotspotParams(seed=1))
    c = local_hotspots_matrix(durham_y, ["a", "b"], durham_w, HotspotParams(seed=2))
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a.gi_p_sim, c.gi_p_sim)
    np.testing.assert_array_equal(a.gi_z, c.gi_z)
    np.testing.assert_array_equal(a.gi_p, c.gi_p)  # the default bins come from z: no seed involved


def test_results_do_not_depend_on_row_order(durham, durham_y):
    counts = pd.DataFrame(
        {"area_code": np.repeat(durham.code.to_numpy(), 2), "period": ["2019-01", "2019-02"] * len(durham),
         "count": durham_y.ravel()}
    )
    w1, _ = build_weights(durham, "queen")
    w2, _ = build_weights(durham.sample(frac=1.0, random_state=9), "queen")
    r1 = local_hotspots(counts, w1)
    r2 = local_hotspots(counts.sample(frac=1.0, random_state=3), w2)
    pd.testing.assert_frame_equal(r1, r2)  # statistics and p-values exactly equal


def test_integer_ties_do_not_flip_with_scale(durham_w):
    y = np.random.default_rng(5).poisson(0.4, (durham_w.n, 1)).astype(float)  # mostly 0/1: ties
    a = local_hotspots_matrix(y, ["p"], durham_w, HotspotParams(seed=4))
    b = local_hotspots_matrix(y * 0.1, ["p"], durham_w, HotspotParams(seed=4))  # inexact sums
    np.testing.assert_array_equal(a.gi_p_sim, b.gi_p_sim)
    np.testing.assert_allclose(a.gi_p, b.gi_p, rtol=1e-12)  # z-based p: the same z up to rounding
    np.testing.assert_array_equal(a.lisa_p, b.lisa_p)
    assert (a.gi_label == b.gi_label).all()


def test_labels_follow_quadrant_and_adjusted_p(durham_w, durham_y):
    res = local_hotspots_matrix(durham_y, ["a", "b"], durham_w, HotspotParams(alpha=0.05))
    sig = res.lisa_p_adjusted <= 0.05
    assert (res.lisa_label[sig] == res.lisa_quadrant[sig]).all()
    assert (res.lisa_label[~sig] == NOT_SIGNIFICANT).all()
    assert set(res.lisa_label) <= set(LISA_COLOURS)
    hot = res.gi_bin > 0
    assert (res.gi_z[hot] > 0).all() and (res.gi_p_adjusted[res.gi_bin.abs() == 3] <= 0.01).all()
    assert (res.gi_label == res.gi_bin.map(GI_LABELS)).all()
    high = res.lisa_quadrant.str.startswith("High")
    assert (res["count"][high] > res["count"].groupby(res.period).transform("mean")[high]).all()


@pytest.mark.parametrize("correction", ["fdr", "bonferroni"])
def test_multiple_testing_corrections(durham_w, durham_y, correction):
    raw = local_hotspots_matrix(durham_y, ["a", "b"], durham_w, HotspotParams(correction="none", gi_correction="none"))
    adj = local_hotspots_matrix(durham_y, ["a", "b"], durham_w,
                                HotspotParams(correction=correction, gi_correction=correction))
    assert (adj.gi_p_adjusted >= adj.gi_p - 1e-15).all()
    if correction == "bonferroni":
        np.testing.assert_allclose(adj.gi_p_adjusted, np.minimum(adj.gi_p * durham_w.n, 1.0))
    assert (adj.gi_bin != 0).sum() <= (raw.gi_bin != 0).sum()


def test_isolated_areas_get_label_and_nan_statistics():
    boxes = [shapely.box(x, 0, x + 1, 1) for x in range(8)] + [shapely.box(50, 0, 51, 1)]
    areas = gpd.GeoDataFrame({"code": [f"A{i}" for i in range(9)]}, geometry=boxes, crs=BNG)
    w, rep = build_weights(areas, "queen", isolates="exclude")
    y = np.array([[1, 2, 3, 9, 9, 8, 1, 0, 40]], dtype=float).T
    res = local_hotspots_matrix(y, ["p"], w, HotspotParams(permutations=99))
    iso = res.area_code == "A8"
    assert (res.loc[iso, ["gi_label", "lisa_label", "lisa_quadrant"]] == ISOLATED).all(axis=None)
    assert res.loc[iso, ["gi_star", "gi_z", "gi_p", "lisa_i", "lisa_p"]].isna().all(axis=None)
    # The isolate takes no part: others' statistics equal those computed without it.
    w8, _ = build_weights(areas.iloc[:8], "queen")
    res8 = local_hotspots_matrix(y[:8], ["p"], w8, HotspotParams(permutations=99))
    np.testing.assert_allclose(res.gi_z[~iso], res8.gi_z)


def test_eb_rates_match_esda_and_drive_lisa(durham_w, durham_y):
    pop = pd.Series(np.random.default_rng(2).integers(1000, 3000, durham_w.n), index=list(durham_w.codes))
    np.testing.assert_allclose(
        eb_standardised_rates(durham_y[:, 0], pop.to_numpy())[:, 0], ec.esda_eb_rates(durham_y[:, 0], pop.to_numpy())
    )
    res = local_hotspots_matrix(durham_y[:, :1], ["p"], durham_w, HotspotParams(lisa_on="eb_rate"), pop)
    ref = ec.esda_local_moran(ec.esda_eb_rates(durham_y[:, 0], pop.to_numpy()), durham_w.libpysal, 0)
    np.testing.assert_allclose(res.lisa_i, ref["lisa_i"], atol=1e-9)
    with pytest.raises(AtlasError, match="population"):
        local_hotspots_matrix(durham_y, ["a", "b"], durham_w, HotspotParams(lisa_on="eb_rate"))


def test_counts_matrix_fills_zeros_and_rejects_unknown_or_duplicate_rows(durham_w):
    codes = list(durham_w.codes)
    counts = pd.DataFrame({"area_code": codes[:2], "period": ["2019-01", "2019-02"], "count": [3, 4]})
    mat, periods = counts_matrix(counts, durham_w)
    assert periods == ["2019-01", "2019-02"] and mat.sum() == 7 and mat[1, 1] == 4
    with pytest.raises(AtlasError, match="not in the weights"):
        counts_matrix(counts.assign(area_code=["E0XXXX", codes[0]]), durham_w)
    with pytest.raises(AtlasError, match="several rows"):
        counts_matrix(pd.concat([counts, counts]), durham_w)


def test_constant_period_gives_nan_not_errors(durham_w):
    y = np.zeros((durham_w.n, 1))
    res = local_hotspots_matrix(y, ["empty"], durham_w, HotspotParams(permutations=9))
    assert res.gi_z.isna().all() and (res.gi_label == NOT_SIGNIFICANT).all()
    assert (res.lisa_label == NOT_SIGNIFICANT).all()


def test_params_are_validated():
    with pytest.raises(ValueError, match="correction"):
        HotspotParams(correction="holm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alternative"):
        HotspotParams(alternative="two-sided")  # type: ignore[arg-type]


@pytest.mark.slow
def test_england_local_statistics_under_a_second_per_period(shared_data):
    areas = gpd.read_parquet(shared_data / "boundaries" / "england_lsoa_2011.parquet")
    w, _ = build_weights(areas, "queen")
    y = np.random.default_rng(0).poisson(3, (w.n, 4)).astype(float)
    t0 = time.perf_counter()
    res = local_hotspots_matrix(y, ["a", "b", "c", "d"], w, HotspotParams(permutations=999))
    per_period = (time.perf_counter() - t0) / 4
    print(f"England LSOA Gi* + local Moran, 999 permutations: {per_period:.3f} s per period")
    assert len(res) == 4 * 32_844 and res.gi_p.notna().all()
    assert per_period < 3.0  # ~0.1-0.2 s measured; generous for a loaded CI machine
