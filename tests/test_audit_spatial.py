"""Audit: spatial statistics against independent implementations (esda, pygeoda/libgeoda, libpysal).

Data: County Durham wards (shipped boundaries) with seeded synthetic counts. The references are
computed by the reference libraries directly, not through analysis._esda_compat's re-scoring.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis import emerging, hotspots, moran, smoothing
from analysis._permutation import conditional_distribution, permutation_table, pseudo_p
from boundaries.load import load_areas
from boundaries.population import population_table
from geo.weights import build_weights

DURHAM = "E06000047"


@pytest.fixture(scope="module")
def wards():
    areas = load_areas("ward", lad_codes=[DURHAM])
    w, _ = build_weights(areas)
    pop = population_table("ward").set_index("code")["population_total"].reindex(list(w.codes)).to_numpy(float)
    rng = np.random.default_rng(5)
    x = rng.poisson(pop / 1000 * 16 * np.exp(rng.normal(0, 0.4, w.n))).astype(float)
    x[:5] += 60  # a cluster-ish bump so the statistics are not all null
    return areas, w, pop, x


def _libpysal_w(w, transform="B"):
    wl = copy.deepcopy(w.libpysal)
    wl.transform = transform
    return wl


def test_weights_equal_libpysal_queen_rook_knn(wards):
    from libpysal.weights import KNN, Queen, Rook

    areas = wards[0].sort_values("code").reset_index(drop=True)
    for method, cls in (("queen", Queen), ("rook", Rook)):
        w, _ = build_weights(areas, method=method, fuzzy="never", isolates="exclude")
        ref = cls.from_dataframe(areas, use_index=False)
        assert ((ref.sparse.toarray() != 0) == (w.binary.toarray() != 0)).all(), method
    w, _ = build_weights(areas, method="knn", k=6)
    pts = np.column_stack([areas.geometry.centroid.x, areas.geometry.centroid.y])
    assert ((KNN.from_array(pts, k=6).sparse.toarray() != 0) == (w.binary.toarray() != 0)).all()


def test_gi_star_equals_esda_and_geoda(wards):
    import esda
    import pygeoda

    areas, w, _, x = wards
    counts = pd.DataFrame({"area_code": list(w.codes), "period": "2020", "count": x})
    got = hotspots.local_hotspots(counts, w, hotspots.HotspotParams(permutations=99), statistics=("gi_star",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = esda.G_Local(x, _libpysal_w(w), transform="B", star=True, permutations=0)
    np.testing.assert_allclose(got["gi_z"], g.Zs, rtol=1e-10)  # Ord & Getis (1995) analytical z
    gdf = areas.set_index("code").loc[list(w.codes)].reset_index().assign(x=x)
    gd = pygeoda.open(gdf)
    geoda = pygeoda.local_gstar(pygeoda.queen_weights(gd), gd["x"], permutations=99)
    np.testing.assert_allclose(got["gi_star"], geoda.lisa_values(), rtol=1e-10)  # row-standardised Gi*


def test_local_and_global_moran_equal_esda_and_geoda(wards):
    import esda
    import pygeoda

    areas, w, pop, x = wards
    counts = pd.DataFrame({"area_code": list(w.codes), "period": "2020", "count": x})
    got = hotspots.local_hotspots(counts, w, hotspots.HotspotParams(permutations=99), statistics=("lisa",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = esda.Moran_Local(x, _libpysal_w(w), transformation="r", permutations=0)
        mr = esda.Moran_Local_Rate(x, pop, _libpysal_w(w), transformation="r", permutations=0, adjusted=True)
        mg = esda.Moran(x, _libpysal_w(w), transformation="r", permutations=0)
    np.testing.assert_allclose(got["lisa_i"], m.Is, rtol=1e-10)
    quadrant = {1: "High-High", 2: "Low-High", 3: "Low-Low", 4: "High-Low"}
    assert got["lisa_quadrant"].tolist() == [quadrant[q] for q in m.q]
    gd = pygeoda.open(areas.set_index("code").loc[list(w.codes)].reset_index().assign(x=x))
    geoda = pygeoda.local_moran(pygeoda.queen_weights(gd), gd["x"], permutations=99)
    np.testing.assert_allclose(got["lisa_i"], geoda.lisa_values(), rtol=1e-10)
    eb = hotspots.local_hotspots(counts, w, hotspots.HotspotParams(permutations=99, lisa_on="eb_rate"),
                                 population=pd.Series(pop, index=list(w.codes)), statistics=("lisa",))
    np.testing.assert_allclose(eb["lisa_i"], mr.Is, rtol=1e-10)  # Assuncao-Reis EB rates
    gm = moran.global_moran(counts, w, hotspots.HotspotParams(permutations=99))
    assert gm["moran_i"].iloc[0] == pytest.approx(mg.I) and gm["moran_ei"].iloc[0] == pytest.approx(mg.EI)


def test_conditional_permutation_p_matches_brute_force(wards):
    """The block-table kernel against a plain loop: each area draws k_i of the other n-1 areas."""
    _, w, _, x = wards
    P = 4999
    card = w.cardinalities
    obs = (w.binary @ x)[:, None]
    dist = conditional_distribution(x, card, permutation_table(w.n, int(card.max()) + 1, P, seed=1))
    got = pseudo_p(dist, obs, np.ones_like(obs), "directed").ravel()
    rng = np.random.default_rng(2)
    brute = np.empty(w.n)
    for i in range(w.n):
        others = np.delete(np.arange(w.n), i)
        draws = np.argsort(rng.random((P, w.n - 1)), axis=1)[:, : card[i]]  # P uniform k_i-subsets
        sims = x[others][draws].sum(axis=1)
        brute[i] = (min((sims >= obs[i, 0]).sum(), (sims <= obs[i, 0]).sum()) + 1) / (P + 1)
    # Two independent Monte Carlo estimates: differences within 4.5 binomial standard errors.
    pbar = (got + brute) / 2
    se = np.sqrt(np.maximum(pbar * (1 - pbar), 1 / P) * 2 / P)
    assert (np.abs(got - brute) / se).max() < 4.5


def test_eb_and_spatial_eb_equal_esda(wards):
    from esda.smoothing import Empirical_Bayes, Spatial_Empirical_Bayes, assuncao_rate

    _, w, pop, x = wards
    t = pd.DataFrame({"area_code": list(w.codes), "count": x, "population": pop})
    np.testing.assert_allclose(smoothing.eb_rate(t, per=1)["eb_rate_per_1000"], np.ravel(Empirical_Bayes(x, pop).r))
    sm = smoothing.spatial_eb_rate(t, w.binary, ids=list(w.codes), per=1)["spatial_eb_rate_per_1000"]
    np.testing.assert_allclose(sm, np.ravel(Spatial_Empirical_Bayes(x, pop, _libpysal_w(w)).r))
    np.testing.assert_allclose(smoothing.eb_standardised_rate(t)["eb_z"], assuncao_rate(x, pop))
    np.testing.assert_allclose(hotspots.eb_standardised_rates(x, pop).ravel(), assuncao_rate(x, pop))


def test_space_time_gi_star_equals_esda_on_space_time_weights(wards):
    import esda
    from libpysal.weights import WSP

    _, w, _, _ = wards
    rng = np.random.default_rng(2)
    T = 6
    cube = rng.poisson(20, (w.n, T)).astype(float)
    cube[:6, 3:] += 25
    got = emerging.space_time_gi_star(cube, list(w.codes), [f"p{t}" for t in range(T)], w, time_lag=1)
    # ArcGIS space-time neighbourhood: own and neighbours' bins in t and t-1 (period-major bins).
    band = np.tri(T, T, 0) - np.tri(T, T, -2)
    wst = sp.csr_matrix(sp.kron(band, w.binary + sp.identity(w.n)) - sp.identity(w.n * T))
    wst.eliminate_zeros()
    wl = WSP(wst).to_W(silence_warnings=True)
    wl.transform = "B"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.G_Local(cube.T.ravel(), wl, transform="B", star=True, permutations=0)
    z = got.pivot(index="area_code", columns="period", values="st_gi_z").loc[list(w.codes)].to_numpy()
    np.testing.assert_allclose(z, np.asarray(ref.Zs).reshape(T, w.n).T, rtol=1e-10, atol=1e-12)
