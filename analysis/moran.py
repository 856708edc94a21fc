"""Global Moran's I per period, with a permutation pseudo p-value.

References: Moran (1950); inference by permutation, Cliff & Ord (1981). The variable is a count, a
rate per 1,000 or an empirical Bayes standardised rate (Assuncao & Reis 1999), as for local Moran's I
(``analysis.hotspots``), with the same ``HotspotParams``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis._permutation import dense_pseudo_p
from analysis.hotspots import HotspotParams, _population_vector, counts_matrix, eb_standardised_rates
from geo.schema import PERIOD
from geo.weights import SpatialWeights

__all__ = ["global_moran", "global_moran_matrix"]


def global_moran(
    counts: pd.DataFrame,
    weights: SpatialWeights,
    params: HotspotParams = HotspotParams(),
    population: pd.Series | None = None,
) -> pd.DataFrame:
    """Global Moran's I per period (row-standardised weights) with pseudo p from total permutations.

    Columns: period, moran_i, moran_ei (= -1/(n-1)), moran_z_sim, moran_p (alternative
    ``params.alternative``), n_areas. The variable is ``params.lisa_on`` (count, rate or EB rate).
    """
    mat, periods = counts_matrix(counts, weights)
    return global_moran_matrix(mat, periods, weights, params, population)


def global_moran_matrix(
    counts: np.ndarray,
    periods: list[str],
    weights: SpatialWeights,
    params: HotspotParams = HotspotParams(),
    population: pd.Series | None = None,
    chunk: int = 64,
) -> pd.DataFrame:
    """As ``global_moran`` for an (areas x periods) matrix in ``weights.codes`` order."""
    active = ~weights.isolated
    idx = np.flatnonzero(active)
    W = weights.row_standardised[idx][:, idx]
    x = np.asarray(counts, dtype=float).reshape(weights.n, -1)[idx]
    if params.lisa_on != "count":
        pop = _population_vector(population, weights, active)[idx]
        x = x / pop[:, None] * 1000.0 if params.lisa_on == "rate" else eb_standardised_rates(x, pop)
    n, T = x.shape
    if n < 3:
        # Moran's I needs at least three connected areas (E[I] = -1/(n-1), variance from n-2 terms).
        frame = pd.DataFrame({PERIOD: periods, "moran_i": np.nan, "moran_ei": np.nan, "moran_z_sim": np.nan,
                              "moran_p": np.nan, "n_areas": n})
        frame.attrs["notes"] = [f"global Moran's I not computable: {n} areas with neighbours (needs 3 or more)"]
        return frame
    s0 = W.sum()
    z = x - x.mean(axis=0)
    zz = (z * z).sum(axis=0)

    def moran(zm: np.ndarray, denom: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return n / s0 * (zm * (W @ zm)).sum(axis=0) / denom

    obs = moran(z, zz)
    rng = np.random.default_rng(params.seed)
    sims = np.empty((params.permutations, T))
    for start in range(0, params.permutations, chunk):
        c = min(chunk, params.permutations - start)
        perms = rng.permuted(np.tile(np.arange(n), (c, 1)), axis=1)  # (c, n)
        zp = z[perms.T]  # (n, c, T): a permutation is applied to every period alike
        sims[start : start + c] = moran(zp.reshape(n, c * T), np.tile(zz, c)).reshape(c, T)
    p = dense_pseudo_p(obs, sims, params.alternative, np.abs(obs) + sims.std(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        z_sim = (obs - sims.mean(axis=0)) / sims.std(axis=0)
    # No variation (e.g. all counts zero): I is 0/0, and a p-value from NaN comparisons would be garbage.
    flat = ~(zz > 0)
    p = np.where(flat, np.nan, p)
    z_sim = np.where(flat, np.nan, z_sim)
    frame = pd.DataFrame(
        {
            PERIOD: periods,
            "moran_i": obs,
            "moran_ei": np.full(T, -1.0 / (n - 1)),
            "moran_z_sim": z_sim,
            "moran_p": p,
            "n_areas": n,
        }
    )
    if flat.any():
        frame.attrs["notes"] = [f"global Moran's I not computable for {int(flat.sum())} periods: every area has "
                                "the same value (e.g. no incidents)"]
    return frame
