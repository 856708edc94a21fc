"""Emerging Hot Spot Analysis: space-time Gi* against esda and a loop, the 17 categories, transitions."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis.emerging import (
    BECAME_COLD,
    BECAME_HOT,
    COLD_TO_HOT,
    EHSA_CATEGORIES,
    EHSA_CATEGORY,
    HOT_TO_COLD,
    NO_PATTERN,
    NOT_SIGNIFICANT,
    ST_BIN,
    ST_GI_P,
    ST_GI_Z,
    STAYED_COLD,
    STAYED_HOT,
    STOPPED_COLD,
    STOPPED_HOT,
    TRANSITION,
    classify_emerging_hotspots,
    emerging_hotspots,
    hot_spot_transitions,
    space_time_gi_star,
    space_time_weights,
)
from analysis.trend import mann_kendall
from geo.schema import AREA_CODE, PERIOD, AtlasError


def _queen_lattice(rows: int, cols: int) -> sp.csr_matrix:
    """Queen-contiguity adjacency of a rows x cols grid (cell id = r * cols + c), no self loops."""
    r, c = np.divmod(np.arange(rows * cols), cols)
    src, dst = [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == dc == 0:
                continue
            ok = (r + dr >= 0) & (r + dr < rows) & (c + dc >= 0) & (c + dc < cols)
            src.append(np.flatnonzero(ok))
            dst.append((r[ok] + dr) * cols + c[ok] + dc)
    i, j = np.concatenate(src), np.concatenate(dst)
    return sp.csr_matrix((np.ones(i.size), (i, j)), shape=(rows * cols, rows * cols))


def _codes(n: int) -> list[str]:
    return [f"E01{i:06d}" for i in range(n)]


def _periods(t: int) -> list[str]:
    return [f"{2019 + m // 12}-{m % 12 + 1:02d}" for m in range(t)]


def _loop_gi_star(x: np.ndarray, adjacency: sp.csr_matrix, k: int) -> np.ndarray:
    """Space-time Gi* z written bin by bin from Getis & Ord's formula (binary weights, self included)."""
    n_areas, n_periods = x.shape
    nbrs = [set(adjacency[i].indices) | {i} for i in range(n_areas)]
    n = x.size
    mean = x.sum() / n
    sd = math.sqrt((x**2).sum() / n - mean**2)
    z = np.empty_like(x)
    for i in range(n_areas):
        for t in range(n_periods):
            cells = [(j, s) for s in range(max(0, t - k), t + 1) for j in nbrs[i]]
            w = len(cells)
            lag = sum(x[j, s] for j, s in cells)
            z[i, t] = (lag - mean * w) / (sd * math.sqrt((n * w - w * w) / (n - 1)))
    return z


def _designed_cube() -> tuple[np.ndarray, sp.csr_matrix, dict[str, int]]:
    """9 x 9 lattice, 10 periods: background 10-12 with 3 x 3 blocks built for known patterns."""
    rows = cols = 9
    n, t = rows * cols, 10
    cube = 10.0 + (np.arange(n * t).reshape(n, t) % 3)

    def block(r0: int, c0: int) -> list[int]:
        return [(r0 + dr) * cols + c0 + dc for dr in range(3) for dc in range(3)]

    cube[block(0, 0)] += 20  # high throughout, flat
    cube[np.ix_(block(0, 6), [t - 1])] += 60  # high only in the final period
    cube[block(6, 0)] += 12 + 4 * np.arange(t)  # rising
    cube[block(6, 6)] = 0  # empty throughout
    centres = {"persistent_hot": 1 * cols + 1, "new_hot": 1 * cols + 7, "intensifying_hot": 7 * cols + 1,
               "persistent_cold": 7 * cols + 7}
    return cube, _queen_lattice(rows, cols), centres


# --- space-time Gi* -------------------------------------------------------------------------------


@pytest.mark.parametrize("time_lag", [0, 1, 2])
def test_space_time_gi_star_matches_esda_on_flattened_space_time_graph(time_lag: int):
    from esda.getisord import G_Local
    from libpysal.weights import W

    rows, cols, t = 4, 3, 5
    adjacency = _queen_lattice(rows, cols)
    n = rows * cols
    rng = np.random.default_rng(11)
    cube = rng.poisson(4.0, size=(n, t)).astype(float)
    # Space-time graph built independently of the module: bin id = period * n + area.
    neighbours: dict[int, list[int]] = {}
    for i in range(n):
        for s in range(t):
            ids = [
                q * n + j
                for q in range(max(0, s - time_lag), s + 1)
                for j in [*adjacency[i].indices.tolist(), i]
                if (q, j) != (s, i)
            ]
            neighbours[s * n + i] = ids
    # With time_lag=0 each period is its own component, which W would warn about.
    w = W(neighbours, id_order=list(range(n * t)), silence_warnings=True)
    g = G_Local(cube.T.ravel(), w, transform="B", star=True, permutations=0)
    out = space_time_gi_star(cube, _codes(n), _periods(t), adjacency, time_lag=time_lag)
    ours = out[ST_GI_Z].to_numpy().reshape(n, t).T.ravel()  # back to period-major bin order
    np.testing.assert_allclose(ours, g.Zs, rtol=0, atol=1e-9)


def test_space_time_gi_star_matches_direct_loop_and_kron_weights():
    adjacency = _queen_lattice(5, 4)
    n, t, k = 20, 7, 2
    cube = np.random.default_rng(5).gamma(2.0, 3.0, size=(n, t))
    out = space_time_gi_star(cube, _codes(n), _periods(t), adjacency, time_lag=k)
    z = out[ST_GI_Z].to_numpy().reshape(n, t)
    np.testing.assert_allclose(z, _loop_gi_star(cube, adjacency, k), rtol=0, atol=1e-10)

    # The same lag as one sparse product with the kron-built space-time weights.
    w = space_time_weights(adjacency, t, k)
    y = cube.T.ravel()
    wsum = np.asarray(w.sum(axis=1)).ravel()
    num = w @ y - y.mean() * wsum
    den = y.std() * np.sqrt((y.size * wsum - wsum**2) / (y.size - 1))
    np.testing.assert_allclose((num / den).reshape(t, n).T, z, atol=1e-10)
    # Bins in period 0 have only the current period as temporal neighbours.
    assert wsum[0] == adjacency[0].nnz + 1 and wsum[-1] == (k + 1) * (adjacency[n - 1].nnz + 1)


def test_space_time_gi_star_frame_shape_bins_and_p_values():
    cube, adjacency, _ = _designed_cube()
    n, t = cube.shape
    out = space_time_gi_star(cube, _codes(n), _periods(t), adjacency)
    assert list(out.columns) == [AREA_CODE, PERIOD, ST_GI_Z, ST_GI_P, ST_BIN]
    assert len(out) == n * t
    assert out[PERIOD].iloc[:t].tolist() == _periods(t)
    z, p, b = out[ST_GI_Z].to_numpy(), out[ST_GI_P].to_numpy(), out[ST_BIN].to_numpy()
    np.testing.assert_allclose(p, [math.erfc(abs(v) / math.sqrt(2)) for v in z], rtol=1e-9)
    expected = np.sign(z) * np.select([p < 0.01, p < 0.05, p < 0.10], [3, 2, 1], 0)
    np.testing.assert_array_equal(b, expected)
    assert set(b) >= {3, -3, 0}


def test_self_loops_and_weighted_adjacency_are_treated_as_binary_neighbours():
    cube, adjacency, _ = _designed_cube()
    n, t = cube.shape
    noisy = sp.csr_matrix(adjacency * 2.5 + sp.identity(n))
    a = space_time_gi_star(cube, _codes(n), _periods(t), adjacency)
    b = space_time_gi_star(cube, _codes(n), _periods(t), noisy)
    pd.testing.assert_frame_equal(a, b)


def test_fdr_adjusts_p_values_by_benjamini_hochberg():
    cube, adjacency, _ = _designed_cube()
    n, t = cube.shape
    raw = space_time_gi_star(cube, _codes(n), _periods(t), adjacency)[ST_GI_P].to_numpy()
    adj = space_time_gi_star(cube, _codes(n), _periods(t), adjacency, fdr=True)[ST_GI_P].to_numpy()
    m = raw.size
    ranked = np.sort(raw)
    naive = {}
    for r in range(m):  # q(r) = min over ranks >= r of p * m / rank
        naive[ranked[r]] = min(1.0, min(ranked[q] * m / (q + 1) for q in range(r, m)))
    np.testing.assert_allclose(adj, [naive[v] for v in raw], rtol=1e-12)
    assert (adj >= raw).all()
    strict = emerging_hotspots(cube, _codes(n), _periods(t), adjacency, fdr=True)
    loose = emerging_hotspots(cube, _codes(n), _periods(t), adjacency)
    assert strict["n_hot"].sum() < loose["n_hot"].sum()


def test_zero_variance_cube_is_no_pattern_everywhere():
    adjacency = _queen_lattice(3, 3)
    out = emerging_hotspots(np.full((9, 6), 2.0), _codes(9), _periods(6), adjacency)
    assert (out[EHSA_CATEGORY] == NO_PATTERN).all()
    assert (out["final_z"] == 0).all() and (out["final_p"] == 1).all()


# --- categories -----------------------------------------------------------------------------------

T = 10  # 90 % of 10 periods = 9
_HOT_CASES: dict[str, tuple[list[int], list[int], int]] = {
    # pattern: (hot periods, cold periods, trend sign: +1 up, -1 down, 0 none)
    "New": ([9], [], 0),
    "Consecutive": ([7, 8, 9], [], 0),
    "Intensifying": (list(range(10)), [], +1),
    "Persistent": ([0, 1, 2, 4, 5, 6, 7, 8, 9], [], 0),
    "Diminishing": (list(range(10)), [], -1),
    "Oscillating": ([1, 5, 9], [3], 0),
    "Sporadic": ([2, 3, 6, 9], [], 0),
    "Historical": (list(range(9)), [], 0),
}


def _case_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One area per category (hot cases, their cold mirrors, no pattern) as classifier inputs."""
    rows, expected = [], []
    for pattern, (hot, cold, trend) in _HOT_CASES.items():
        rows.append((hot, cold, trend))
        expected.append(f"{pattern} Hot Spot")
        rows.append((cold, hot, -trend))  # the mirror: a cold spot whose z falls when "intensifying"
        expected.append(f"{pattern} Cold Spot")
    rows.append(([], [], 0))
    expected.append(NO_PATTERN)
    hot = np.zeros((len(rows), T), dtype=bool)
    cold = np.zeros_like(hot)
    tz, tp = np.zeros(len(rows)), np.ones(len(rows))
    for a, (h, c, trend) in enumerate(rows):
        hot[a, h] = True
        cold[a, c] = True
        if trend:
            tz[a], tp[a] = 3.0 * trend, 0.001
    return hot, cold, tz, tp, expected


def test_each_of_the_17_categories_from_designed_significance_arrays():
    hot, cold, tz, tp, expected = _case_arrays()
    got = classify_emerging_hotspots(hot, cold, tz, tp, 0.10)
    assert list(got) == expected
    assert sorted(set(got)) == sorted(EHSA_CATEGORIES)


@pytest.mark.parametrize(
    ("hot", "cold", "trend", "expected"),
    [
        ([8, 9], [], 0, "Consecutive Hot Spot"),  # a run of 2 is enough
        ([0, 9], [], 0, "Sporadic Hot Spot"),  # final run of 1 with earlier hot: not new, not consecutive
        ([3, 8, 9], [], 0, "Sporadic Hot Spot"),  # hot before the final run: not consecutive
        ([9], [0, 1, 2], 0, "New Hot Spot"),  # new looks only at hot history (cold before allowed)
        ([7, 8, 9], [2], 0, "Consecutive Hot Spot"),  # likewise consecutive beats oscillating
        (list(range(9)), [9], 0, "New Cold Spot"),  # 90 % hot but cold now: the final state wins
        (list(range(9)), [], +1, "Historical Hot Spot"),  # historical whatever the trend
        (list(range(1, 10)), [], +1, "Intensifying Hot Spot"),  # exactly 90 % incl. final
        (list(range(2, 10)), [], +1, "Consecutive Hot Spot"),  # 80 %: run rules, trend ignored
        (list(range(10)), [], -1, "Diminishing Hot Spot"),
        ([], list(range(10)), -1, "Intensifying Cold Spot"),  # cold z falling = intensifying cold
        ([], [], +1, NO_PATTERN),
    ],
)
def test_category_precedence_and_boundaries(hot, cold, trend, expected):
    h = np.zeros((1, T), dtype=bool)
    c = np.zeros((1, T), dtype=bool)
    h[0, hot], c[0, cold] = True, True
    tz, tp = np.array([3.0 * trend]), np.array([0.001 if trend else 0.9])
    assert classify_emerging_hotspots(h, c, tz, tp)[0] == expected


def test_ninety_percent_boundary_with_72_periods():
    h = np.zeros((2, 72), dtype=bool)
    h[0, -65:] = True  # 65 / 72 = 90.3 %
    h[1, -64:] = True  # 64 / 72 = 88.9 %
    got = classify_emerging_hotspots(h, np.zeros_like(h), np.zeros(2), np.ones(2))
    assert list(got) == ["Persistent Hot Spot", "Consecutive Hot Spot"]


def _reference_category(hot: np.ndarray, cold: np.ndarray, tz: float, tp: float, alpha: float) -> str:
    """Plain per-area reading of the documented rules, for comparison with the vectorised classifier."""
    n = len(hot)
    for pattern in ("New", "Consecutive", "Intensifying", "Persistent", "Diminishing", "Oscillating",
                    "Sporadic", "Historical"):
        for name, own, other, toward in (("Hot Spot", hot, cold, 1), ("Cold Spot", cold, hot, -1)):
            count, final = int(own.sum()), bool(own[-1])
            ninety = count / n >= 0.9 - 1e-12
            run = 0
            while run < n and own[n - 1 - run]:
                run += 1
            sig = tp < alpha
            up = sig and tz * toward > 0
            down = sig and tz * toward < 0
            ok = {
                "New": final and count == 1,
                "Consecutive": final and run >= 2 and run == count and not ninety,
                "Intensifying": final and ninety and up,
                "Persistent": final and ninety and not sig,
                "Diminishing": final and ninety and down,
                "Oscillating": final and not ninety and other.any(),
                "Sporadic": final and not ninety and not other.any(),
                "Historical": not final and ninety,
            }[pattern]
            if ok:
                return f"{pattern} {name}"
    return NO_PATTERN


def test_vectorised_classifier_agrees_with_per_area_reference_on_random_inputs():
    rng = np.random.default_rng(2)
    n, t = 4000, 10
    state = rng.choice([-1, 0, 1], size=(n, t), p=[0.15, 0.45, 0.40])
    state[: n // 4] = np.where(rng.random((n // 4, t)) < 0.93, 1, state[: n // 4])  # many >= 90 % cases
    state[n // 4: n // 2] = np.where(rng.random((n // 4, t)) < 0.93, -1, state[n // 4: n // 2])
    hot, cold = state == 1, state == -1
    tz = rng.normal(0, 2, size=n)
    tp = rng.random(n) * 0.3
    got = classify_emerging_hotspots(hot, cold, tz, tp, 0.10)
    ref = [_reference_category(hot[a], cold[a], tz[a], tp[a], 0.10) for a in range(n)]
    assert list(got) == ref
    assert len(set(ref)) >= 15  # the random draw exercises nearly every category


def test_classifier_refuses_overlapping_hot_and_cold():
    h = np.ones((1, 3), dtype=bool)
    with pytest.raises(AtlasError, match="both a hot and a cold"):
        classify_emerging_hotspots(h, h, np.zeros(1), np.ones(1))


# --- end to end from counts -----------------------------------------------------------------------


def test_end_to_end_designed_blocks_get_their_categories():
    cube, adjacency, centres = _designed_cube()
    n, t = cube.shape
    codes = _codes(n)
    out = emerging_hotspots(cube, codes, _periods(t), adjacency).set_index(AREA_CODE)
    got = {name: out.loc[codes[i], EHSA_CATEGORY] for name, i in centres.items()}
    assert got == {
        "persistent_hot": "Persistent Hot Spot",
        "new_hot": "New Hot Spot",
        "intensifying_hot": "Intensifying Hot Spot",
        "persistent_cold": "Persistent Cold Spot",
    }
    row = out.loc[codes[centres["intensifying_hot"]]]
    assert row["trend_direction"] == "increasing" and row["trend_p"] < 0.10 and row["trend_tau"] > 0.5
    assert row["n_hot"] >= 9 and row["share_hot"] == row["n_hot"] / t
    row = out.loc[codes[centres["persistent_cold"]]]
    assert row["n_cold"] == t and row["n_hot"] == 0 and row["final_z"] < -1.645
    # Background far from every block: no pattern.
    assert out.loc[codes[4 * 9 + 4], EHSA_CATEGORY] == NO_PATTERN


def test_end_to_end_columns_and_trend_is_mann_kendall_of_gi_z():
    cube, adjacency, _ = _designed_cube()
    n, t = cube.shape
    out = emerging_hotspots(cube, _codes(n), _periods(t), adjacency)
    assert list(out.columns) == [AREA_CODE, EHSA_CATEGORY, "n_hot", "n_cold", "share_hot", "final_z", "final_p",
                                 "trend_tau", "trend_z", "trend_p", "trend_direction"]
    st = space_time_gi_star(cube, _codes(n), _periods(t), adjacency)
    z = st[ST_GI_Z].to_numpy().reshape(n, t)
    mk = mann_kendall(z)
    np.testing.assert_allclose(out["trend_z"], mk.z)
    np.testing.assert_allclose(out["final_z"], z[:, -1])
    hot = ((st[ST_GI_P] < 0.10) & (st[ST_GI_Z] > 0)).to_numpy().reshape(n, t)
    np.testing.assert_array_equal(out["n_hot"], hot.sum(axis=1))


def test_alpha_is_a_parameter():
    cube, adjacency, _ = _designed_cube()
    n, t = cube.shape
    loose = emerging_hotspots(cube, _codes(n), _periods(t), adjacency, alpha=0.10)
    strict = emerging_hotspots(cube, _codes(n), _periods(t), adjacency, alpha=0.001)
    assert strict["n_hot"].sum() < loose["n_hot"].sum()


def test_results_unchanged_by_area_row_order():
    cube, adjacency, _ = _designed_cube()
    n, t = cube.shape
    codes = np.asarray(_codes(n), dtype=object)
    perm = np.random.default_rng(9).permutation(n)
    permuted_adj = sp.csr_matrix(adjacency[perm][:, perm])
    for fn in (emerging_hotspots, space_time_gi_star):
        a = fn(cube, codes, _periods(t), adjacency)
        b = fn(cube[perm], codes[perm], _periods(t), permuted_adj)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-12)


def test_input_errors_name_the_problem():
    cube, adjacency, _ = _designed_cube()
    n, t = cube.shape
    with pytest.raises(AtlasError, match="80 area codes for a cube with 81 area rows"):
        emerging_hotspots(cube, _codes(n - 1), _periods(t), adjacency)
    with pytest.raises(AtlasError, match="9 periods for a cube with 10"):
        emerging_hotspots(cube, _codes(n), _periods(t - 1), adjacency)
    bad = cube.copy()
    bad[3, 4] = np.nan
    with pytest.raises(AtlasError, match="area row 3, period column 4"):
        emerging_hotspots(bad, _codes(n), _periods(t), adjacency)
    with pytest.raises(AtlasError, match="duplicate area codes"):
        emerging_hotspots(cube, ["X"] * n, _periods(t), adjacency)
    with pytest.raises(AtlasError, match="scipy.sparse"):
        emerging_hotspots(cube, _codes(n), _periods(t), adjacency.toarray())
    with pytest.raises(AtlasError, match="adjacency is 9 x 9"):
        emerging_hotspots(cube, _codes(n), _periods(t), _queen_lattice(3, 3))
    with pytest.raises(AtlasError, match="time_lag"):
        emerging_hotspots(cube, _codes(n), _periods(t), adjacency, time_lag=-1)
    with pytest.raises(AtlasError, match="at least 2 periods"):
        emerging_hotspots(cube[:, :1], _codes(n), _periods(1), adjacency)


def test_end_to_end_on_shipped_darlington_lsoas_with_libpysal_contiguity():
    import geopandas as gpd
    from libpysal import graph

    from geo.schema import data_dir

    areas = gpd.read_file(data_dir() / "boundaries" / "north_east_and_medway.gpkg", layer="lsoa",
                          where="lad_name = 'Darlington'")
    g = graph.Graph.build_contiguity(areas.set_index("code"), rook=False)
    codes = np.asarray(g.unique_ids, dtype=object)
    adjacency = g.sparse  # a scipy sparse *array* (coo), accepted as it is
    csr = sp.csr_matrix(adjacency)
    focal = int(np.flatnonzero(np.diff(csr.indptr) == 6)[0])
    cluster = np.r_[focal, csr[focal].indices]
    t = 12
    cube = np.random.default_rng(4).poisson(3.0, size=(len(codes), t)).astype(float)
    cube[np.ix_(cluster, range(t - 3, t))] += 12  # a cluster that flares up in the last 3 months
    out = emerging_hotspots(cube, codes, _periods(t), adjacency).set_index(AREA_CODE)
    assert len(out) == 65
    assert (out.loc[codes[cluster], EHSA_CATEGORY] == "Consecutive Hot Spot").all()
    assert out.loc[codes[focal], "n_hot"] == 3
    # Outside the cluster only its ring (areas touching it, whose neighbourhood includes it) turns hot.
    ring = set(codes[np.unique(csr[cluster].indices)]) - set(codes[cluster])
    hot = set(out.index[out[EHSA_CATEGORY].str.contains("Hot Spot")])
    assert hot - set(codes[cluster]) <= ring


def test_spatial_weights_from_geo_weights_are_aligned_by_code():
    import geopandas as gpd

    from geo.schema import data_dir
    from geo.weights import build_weights

    areas = gpd.read_file(data_dir() / "boundaries" / "north_east_and_medway.gpkg", layer="lsoa",
                          where="lad_name = 'Darlington'")
    weights, _ = build_weights(areas, method="queen")
    codes = np.asarray(weights.codes, dtype=object)
    t = 8
    cube = np.random.default_rng(8).poisson(3.0, size=(len(codes), t)).astype(float)
    cube[:5, -2:] += 10
    direct = emerging_hotspots(cube, codes, _periods(t), weights.binary)
    # The cube in reverse code order: the weights are re-ordered to match it, so nothing changes.
    via_weights = emerging_hotspots(cube[::-1], codes[::-1], _periods(t), weights)
    pd.testing.assert_frame_equal(direct, via_weights)
    with pytest.raises(AtlasError, match="1 weights area"):
        emerging_hotspots(cube[1:], codes[1:], _periods(t), weights)


# --- transitions ----------------------------------------------------------------------------------


def test_hot_spot_transitions_labels_every_change():
    codes = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
    prev = pd.Series([2, 0, 1, -1, 0, -3, 3, -1, 0], index=codes)
    curr = pd.Series([1, 3, 0, -2, -1, 0, -1, 2, 0], index=codes)
    out = hot_spot_transitions(prev.iloc[::-1], curr)
    assert out[AREA_CODE].tolist() == codes
    assert out[TRANSITION].tolist() == [STAYED_HOT, BECAME_HOT, STOPPED_HOT, STAYED_COLD, BECAME_COLD,
                                        STOPPED_COLD, HOT_TO_COLD, COLD_TO_HOT, NOT_SIGNIFICANT]
    assert out["prev_bin"].tolist() == prev.tolist() and out["curr_bin"].tolist() == curr.tolist()


def test_hot_spot_transitions_accepts_booleans_and_refuses_mismatched_areas():
    out = hot_spot_transitions(pd.Series([True, False], index=["x", "y"]), pd.Series([False, True], index=["x", "y"]))
    assert out[TRANSITION].tolist() == [STOPPED_HOT, BECAME_HOT]
    with pytest.raises(AtlasError, match=r"only in prev_bins: \['y'\]"):
        hot_spot_transitions(pd.Series([1, 0], index=["x", "y"]), pd.Series([1], index=["x"]))


# --- packaging and scale --------------------------------------------------------------------------


def test_analysis_modules_do_not_import_ui_libraries():
    code = ("import sys, analysis.emerging, analysis.trend; "
            "print(sorted(m for m in ('streamlit', 'folium', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_national_scale_cube_runs_quickly():
    # 32,844 LSOAs x 72 months is the England scale; a 182 x 181 queen lattice has 32,942 cells.
    adjacency = _queen_lattice(182, 181)
    n, t = adjacency.shape[0], 72
    rng = np.random.default_rng(0)
    cube = rng.poisson(rng.gamma(2.0, 2.0, size=(n, 1)), size=(n, t))
    start = time.perf_counter()
    out = emerging_hotspots(cube, _codes(n), _periods(t), adjacency)
    elapsed = time.perf_counter() - start
    assert len(out) == n and out[EHSA_CATEGORY].isin(EHSA_CATEGORIES).all()
    assert elapsed < 10.0, f"EHSA took {elapsed:.1f}s"  # ~1-1.5 s on an idle 2-core machine
