"""Statistics on degenerate data never crash and never report garbage: all-zero counts, one period, tiny sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.hotspots import HotspotParams, local_hotspots_matrix
from analysis.moran import global_moran_matrix
from atlas import analyses as A
from atlas import area_statistics as S
from geo.schema import AtlasError
from test_analyses import darlington_counts, store_dataset

P = HotspotParams(permutations=99)
MONTHS = ["2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-06"]


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return darlington_counts(months=MONTHS)


def test_all_zero_counts_give_blank_statistics_not_false_signals(base):
    zero = base.assign(count=0, repeat_count=pd.array([0] * len(base), dtype="Int64"))
    st = store_dataset(zero, "zero")
    rates = A.rates_table(st, "zero", "ward", "month")
    assert (rates["count"] == 0).all() and (rates["rate_per_1000"] == 0).all()
    assert rates["incident_share"].isna().all()  # 0 / 0: not computable, not 0 or inf
    assert rates["rate_ratio"].isna().all()
    gi = A.hotspots_table(st, "zero", "ward", "month", statistic="gi_star", params=P)
    assert gi["gi_z"].isna().all() and not gi["gi_label"].str.startswith(("Hot", "Cold")).any()
    lisa = A.hotspots_table(st, "zero", "ward", "month", statistic="local_moran", params=P)
    assert lisa["lisa_p"].isna().all() and (lisa["lisa_label"] == "Not significant").all()
    moran = S.global_moran_table(st, "zero", "ward", "month", params=P)
    assert moran["moran_i"].isna().all() and moran["moran_p"].isna().all()  # was p = 0.01: a false signal
    smoothed = S.smoothed_rates_table(st, "zero", "ward", "month")
    assert (smoothed["eb_rate_per_1000"] == 0).all() and smoothed["eb_z"].isna().all()
    em = A.emerging_table(st, "zero", "ward", "month")
    assert not em["ehsa_category"].str.contains("Hot|Cold").any()
    pri = A.priority_table(st, "zero", "ward", "month", params=P)
    assert (pri["score"] == 0).all() and set(pri["reasons"]) == {"nothing stands out"}
    for t in (rates, gi, moran, smoothed, em, pri):
        num = t.select_dtypes("number").to_numpy(dtype=float)
        assert not np.isinf(num).any()


def test_one_period(base):
    st = store_dataset(base[base["period"] == "2023-01"], "one")
    with pytest.raises(AtlasError, match="emerging hot spot analysis needs at least 2 periods"):
        A.emerging_table(st, "one", "ward", "month")
    pri = A.priority_table(st, "one", "ward", "month", params=P)
    assert any("fewer than 4 periods" in n for n in pri.attrs["notes"])
    assert any("no counts for the same period last year" in n for n in pri.attrs["notes"])
    assert pri["rank"].tolist() == list(range(1, len(pri) + 1))


def test_global_moran_needs_three_connected_areas(base):
    from geo.weights import build_weights
    from boundaries.load import load_areas

    areas = load_areas("ward", lad_codes=["E06000005"]).head(2)
    w, _report = build_weights(areas, "queen")
    res = global_moran_matrix(np.array([[1.0], [2.0]]), ["p"], w, P)
    assert res["moran_i"].isna().all() and res["moran_p"].isna().all()
    assert "needs 3 or more" in res.attrs["notes"][0]


def test_constant_values_leave_moran_blank_with_a_note():
    from boundaries.load import load_areas
    from geo.weights import build_weights

    w, _ = build_weights(load_areas("ward", lad_codes=["E06000005"]), "queen")
    res = global_moran_matrix(np.full((w.n, 2), 4.0), ["a", "b"], w, P)
    assert res["moran_p"].isna().all() and "every area has the same value" in res.attrs["notes"][0]
    loc = local_hotspots_matrix(np.full((w.n, 1), 4.0), ["a"], w, P)
    assert loc["gi_z"].isna().all() and not loc["gi_label"].str.startswith(("Hot", "Cold")).any()


def test_disconnected_island_is_joined_to_its_nearest_area_not_dropped():
    from boundaries.load import load_areas
    from geo.weights import build_weights

    wards = load_areas("ward", lad_codes=["E06000005"])
    far = wards.iloc[[0]].copy()
    far["geometry"] = far.translate(50_000, 50_000)  # an island far from the rest
    far["code"] = "E05999999"
    w, report = build_weights(pd.concat([wards, far], ignore_index=True), "queen")
    assert not w.isolated.any()
    x = np.arange(w.n, dtype=float)[:, None]
    loc = local_hotspots_matrix(x, ["a"], w, P)
    iso = loc.set_index("area_code").loc["E05999999"]
    assert iso["n_neighbours"] >= 1 and np.isfinite(iso["gi_z"])
    assert global_moran_matrix(x, ["a"], w, P)["n_areas"].tolist() == [w.n]
