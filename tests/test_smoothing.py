"""Empirical Bayes smoothing against GeoDa (pygeoda/libgeoda) and esda on County Durham LSOAs."""

from __future__ import annotations

import esda.smoothing as esda_smoothing
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
from pygeoda import libgeoda
from scipy import sparse

from analysis.smoothing import eb_rate, eb_standardised_rate, excess_risk, spatial_eb_rate
from geo.schema import AtlasError, data_dir


@pytest.fixture(scope="module")
def durham() -> gpd.GeoDataFrame:
    """County Durham LSOAs (324) from the shipped boundaries, with population and synthetic counts."""
    lsoa = gpd.read_file(data_dir() / "boundaries" / "north_east_and_medway.gpkg", layer="lsoa")
    lsoa = lsoa[lsoa["lad_name"] == "County Durham"].reset_index(drop=True)
    pop = pd.read_csv(data_dir() / "population" / "lsoa_population_mid2019.csv", dtype={"lsoa_code": str})
    imd = pd.read_csv(data_dir() / "deprivation" / "imd2019_lsoa.csv", dtype={"lsoa_code": str})
    lsoa["population"] = lsoa["code"].map(pop.set_index("lsoa_code")["population_total"]).astype(float)
    score = lsoa["code"].map(imd.set_index("lsoa_code")["imd_score"]).to_numpy(dtype=float)
    # Overdispersed counts rising with deprivation, so the prior variance is clearly positive.
    rng = np.random.default_rng(2019)
    mean = lsoa["population"].to_numpy() / 1000 * 4 * np.exp(0.03 * score) * rng.gamma(4, 0.25, len(lsoa))
    lsoa["count"] = rng.poisson(mean).astype(np.int64)
    lsoa["area_code"] = lsoa["code"]
    return lsoa


@pytest.fixture(scope="module")
def queen(durham: gpd.GeoDataFrame) -> libpysal.weights.W:
    w = libpysal.weights.Queen.from_dataframe(durham, ids="code", use_index=False)
    w.id_order = durham["code"].tolist()
    return w


def _table(durham: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(durham[["area_code", "count", "population"]]).assign(period="2019/20")


def _geoda(function, events: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Run a libgeoda rate function (pygeoda 0.1.3 exposes them only through its SWIG module)."""
    n = len(events)
    out = libgeoda.VecDouble([0.0] * n)
    ok = function(libgeoda.VecDouble(population.tolist()), libgeoda.VecDouble(events.tolist()),
                  out, libgeoda.VecBool([False] * n))
    assert ok
    return np.array(list(out))


def test_fixture_has_positive_prior_variance(durham):
    e, p = durham["count"].to_numpy(float), durham["population"].to_numpy()
    b = e.sum() / p.sum()
    a = (p * (e / p - b) ** 2).sum() / p.sum() - b / p.mean()
    assert a > 0  # otherwise GeoDa and esda legitimately differ and the known-answer tests below prove less
    assert len(durham) == 324


def test_global_eb_equals_geoda_and_esda(durham):
    e, p = durham["count"].to_numpy(float), durham["population"].to_numpy()
    ours = eb_rate(_table(durham), per=1)["eb_rate_per_1000"].to_numpy()
    np.testing.assert_allclose(ours, _geoda(libgeoda.gda_rateSmootherEBS, e, p), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours, esda_smoothing.Empirical_Bayes(e, p).r.ravel(), rtol=1e-9)
    # Smoothing pulls rates towards the overall rate.
    raw = e / p
    b = e.sum() / p.sum()
    assert np.all(np.abs(ours - b) <= np.abs(raw - b) + 1e-15)


def test_global_eb_clips_a_negative_prior_variance_like_geoda():
    # esda's own 8-area example: the moment estimate of the prior variance is negative, so GeoDa (and we)
    # shrink every area fully to the overall rate; esda does not clip and differs here.
    e = np.array([30, 25, 25, 15, 33, 21, 30, 20], dtype=float)
    p = np.array([100, 100, 110, 90, 100, 90, 110, 90], dtype=float)
    table = pd.DataFrame({"area_code": list("ABCDEFGH"), "count": e, "population": p})
    ours = eb_rate(table, per=1)["eb_rate_per_1000"].to_numpy()
    np.testing.assert_allclose(ours, _geoda(libgeoda.gda_rateSmootherEBS, e, p), atol=1e-12)
    np.testing.assert_allclose(ours, e.sum() / p.sum())
    z = eb_standardised_rate(table)["eb_z"].to_numpy()
    np.testing.assert_allclose(z, _geoda(libgeoda.gda_rateStandardizeEB, e, p), atol=1e-12)


def test_eb_standardised_rate_equals_geoda_and_esda_assuncao_rate(durham):
    e, p = durham["count"].to_numpy(float), durham["population"].to_numpy()
    z = eb_standardised_rate(_table(durham))["eb_z"].to_numpy()
    np.testing.assert_allclose(z, _geoda(libgeoda.gda_rateStandardizeEB, e, p), atol=1e-9)
    np.testing.assert_allclose(z, esda_smoothing.assuncao_rate(e, p), atol=1e-9)


def test_spatial_eb_equals_esda_with_w_and_with_sparse_matrix(durham, queen):
    e, p = durham["count"].to_numpy(float), durham["population"].to_numpy()
    expected = esda_smoothing.Spatial_Empirical_Bayes(e, p, queen).r.ravel()
    table = _table(durham)
    with_w = spatial_eb_rate(table, queen, per=1)["spatial_eb_rate_per_1000"].to_numpy()
    np.testing.assert_allclose(with_w, expected, rtol=1e-9)
    with_sparse = spatial_eb_rate(table, queen.sparse, ids=queen.id_order, per=1)
    np.testing.assert_allclose(with_sparse["spatial_eb_rate_per_1000"], expected, rtol=1e-9)
    shuffled = spatial_eb_rate(table.sample(frac=1, random_state=1), queen, per=1).sort_index()
    np.testing.assert_allclose(shuffled["spatial_eb_rate_per_1000"], expected, rtol=1e-9)


def test_spatial_eb_smooths_each_period_on_its_own(durham, queen):
    one = _table(durham)
    two = one.assign(period="2020/21", count=one["count"] * 2)
    both = spatial_eb_rate(pd.concat([one, two], ignore_index=True), queen)
    alone = spatial_eb_rate(two, queen)["spatial_eb_rate_per_1000"].to_numpy()
    np.testing.assert_allclose(both["spatial_eb_rate_per_1000"].iloc[len(one):], alone)
    assert not np.allclose(both["spatial_eb_rate_per_1000"].iloc[: len(one)], alone)


def test_spatial_eb_needs_weights_covering_every_area(durham, queen):
    table = pd.concat([_table(durham), pd.DataFrame({"area_code": ["E01999999"], "count": [1], "population": [10.0],
                                                     "period": ["2019/20"]})])
    with pytest.raises(AtlasError, match="not in the spatial weights"):
        spatial_eb_rate(table, queen)
    with pytest.raises(AtlasError, match="needs ids"):
        spatial_eb_rate(_table(durham), queen.sparse)
    with pytest.raises(AtlasError, match="libpysal W or a scipy sparse"):
        spatial_eb_rate(_table(durham), np.eye(3))


def test_excess_risk_equals_esda_and_expected_counts_sum_to_observed(durham):
    e, p = durham["count"].to_numpy(float), durham["population"].to_numpy()
    out = excess_risk(_table(durham))
    np.testing.assert_allclose(out["excess_risk"], esda_smoothing.Excess_Risk(e, p).r.ravel(), rtol=1e-12)
    assert out["expected_count"].sum() == pytest.approx(e.sum())


def test_smoothed_rates_scale_linearly_with_the_multiplier(durham, queen):
    table = _table(durham)
    cases = ((eb_rate, "eb_rate_per_1000", ()), (spatial_eb_rate, "spatial_eb_rate_per_1000", (queen,)))
    for func, col, extra in cases:
        per_person = func(table, *extra, per=1)[col].to_numpy()
        per_1000 = func(table, *extra)[col].to_numpy()
        per_100k = func(table, *extra, per=100_000)[col].to_numpy()
        np.testing.assert_allclose(per_1000, per_person * 1000)
        np.testing.assert_allclose(per_100k, per_person * 100_000)


def test_zero_population_gives_nan_and_leaves_other_areas_as_if_it_were_absent(durham):
    table = _table(durham)
    zeroed = table.copy()
    zeroed.loc[0, "population"] = 0.0
    zeroed.loc[1, "population"] = np.nan
    for func, col in ((eb_rate, "eb_rate_per_1000"), (eb_standardised_rate, "eb_z"), (excess_risk, "excess_risk")):
        out = func(zeroed)[col].to_numpy()
        assert np.isnan(out[:2]).all() and not np.isinf(out).any()
        np.testing.assert_allclose(out[2:], func(table.iloc[2:])[col].to_numpy(), rtol=1e-12)


def test_spatial_eb_zero_population_area_is_nan_and_drops_out_of_neighbourhoods(durham, queen):
    table = _table(durham)
    zeroed = table.copy()
    zeroed.loc[0, "population"] = 0.0
    out = spatial_eb_rate(zeroed, queen)["spatial_eb_rate_per_1000"].to_numpy()
    absent = spatial_eb_rate(table.iloc[1:], queen)["spatial_eb_rate_per_1000"].to_numpy()
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all()
    np.testing.assert_allclose(out[1:], absent, rtol=1e-12)


def test_no_events_anywhere_smooths_to_zero_not_nan():
    table = pd.DataFrame({"area_code": ["A", "B", "C"], "count": [0, 0, 0], "population": [100.0, 200.0, 300.0]})
    np.testing.assert_array_equal(eb_rate(table)["eb_rate_per_1000"], [0.0, 0.0, 0.0])
    w = sparse.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))
    np.testing.assert_array_equal(spatial_eb_rate(table, w, ids=["A", "B", "C"])["spatial_eb_rate_per_1000"], [0, 0, 0])
