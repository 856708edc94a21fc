"""analysis.hotspots.gi_star_bins (what priority uses) is the gi_bin column of local_hotspots_matrix as a matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis.hotspots import HotspotParams, gi_star_bins, local_hotspots_matrix
from geo.weights import SpatialWeights


def _lattice_weights(side: int, isolated: int = 2) -> SpatialWeights:
    """Rook lattice of side x side cells plus ``isolated`` cells with no neighbour."""
    n = side * side
    rows, cols = [], []
    for i in range(n):
        r, c = divmod(i, side)
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < side and 0 <= cc < side:
                rows.append(i)
                cols.append(rr * side + cc)
    total = n + isolated
    binary = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(total, total))
    card = np.asarray(binary.sum(axis=1)).ravel()
    row_std = sp.csr_matrix(sp.diags(1.0 / np.where(card > 0, card, 1)) @ binary)
    return SpatialWeights(tuple(f"A{i:04d}" for i in range(total)), binary, row_std, card.astype(int), "test")


@pytest.mark.parametrize("params", [
    HotspotParams(),  # z with FDR
    HotspotParams(gi_correction="none"),
    # 99 permutations cannot give a p below 0.01, which FDR across 146 areas needs: no correction here.
    HotspotParams(gi_inference="permutation", permutations=99, seed=3, gi_correction="none"),
])
def test_bins_equal_the_gi_bin_column(params):
    w = _lattice_weights(12)
    counts = np.random.default_rng(5).poisson(3.0, (w.n, 4)).astype(float)
    counts[:30, 1] += 8  # a hot corner in one period
    periods = ["p1", "p2", "p3", "p4"]
    tidy = local_hotspots_matrix(counts, periods, w, params, statistics=("gi_star",), gi_permutations=False)
    want = tidy.pivot(index="area_code", columns="period", values="gi_bin").reindex(
        index=list(w.codes), columns=periods).to_numpy()
    got = gi_star_bins(counts, w, params)
    assert got.shape == (w.n, 4) and got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert (got[-2:] == 0).all()  # isolated areas
    assert (got > 0).any()
    assert pd.Series(got.ravel()).isin([-3, -2, -1, 0, 1, 2, 3]).all()
