"""Empirical Bayes rate smoothing, excess risk and EB-standardised rates.

Global EB: Marshall (1991) "Mapping disease and mortality rates using empirical Bayes estimators",
Applied Statistics 40:283-294, with the method-of-moments prior as in GeoDa (Anselin, Lozano &
Koschinsky 2006, "Rate transformations and smoothing"). Spatial EB: the same estimator with a prior
from each area's neighbourhood (the area plus its neighbours), as ``esda.smoothing.Spatial_Empirical_Bayes``.
EB standardisation: Assunção & Reis (1999) "A new proposal to adjust Moran's I for population density",
Statistics in Medicine 18:2147-2162, as ``esda.smoothing.assuncao_rate``.

Conventions shared by every function: each (level, period, grain, category) group is smoothed on its
own; an area with zero or missing population has no rate (NaN) and is left out of every sum; a
negative moment estimate of the prior variance is set to zero (Marshall 1991, GeoDa; esda does not clip
in the global estimators, so results differ from esda only in that case).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.rates import PER, group_columns, sum_within_groups
from geo.schema import AREA_CODE, AtlasError, COUNT, POPULATION

EB_RATE = "eb_rate_per_1000"
SPATIAL_EB_RATE = "spatial_eb_rate_per_1000"
EXPECTED_COUNT = "expected_count"
EXCESS_RISK = "excess_risk"
EB_Z = "eb_z"


def eb_rate(table: pd.DataFrame, per: float = PER) -> pd.DataFrame:
    """Global empirical Bayes smoothed rate per ``per`` (Marshall 1991 moment estimator, as GeoDa eb_rate).

    With b = sum(O)/sum(P), s2 = sum(P(r-b)^2)/sum(P), a = max(0, s2 - b/mean(P)), the smoothed rate
    is b + (r - b) * a / (a + b/P). Adds column eb_rate_per_1000.
    """
    e, p, defined = _event_pop(table)
    prior = _global_prior(table, e, p, defined)
    out = table.copy()
    out[EB_RATE] = _shrink(e, p, defined, prior["mean"], prior["var"]) * per
    return out


def spatial_eb_rate(
    table: pd.DataFrame, weights: Any, ids: Sequence[str] | None = None, per: float = PER
) -> pd.DataFrame:
    """Spatial EB smoothed rate: Marshall's estimator with each area's neighbourhood as its prior.

    As ``esda.smoothing.Spatial_Empirical_Bayes``: the neighbourhood N(i) is area i plus its neighbours
    (any non-zero weight, i.e. binary contiguity); b_i = sum_N O / sum_N P;
    a_i = max(0, sum_N P(r-b_i)^2 / sum_N P - b_i / mean_N P). ``weights`` is a libpysal ``W`` (its
    ``id_order`` names the areas) or a scipy sparse matrix with ``ids`` giving its row order.
    Adds column spatial_eb_rate_per_1000.
    """
    adjacency, codes = _adjacency(weights, ids)
    position = pd.Index(codes)
    e_all, p_all, defined_all = _event_pop(table)
    out = table.copy()
    result = np.full(len(table), np.nan)
    area = table[AREA_CODE].astype(str)
    unknown = sorted(set(area) - set(codes))
    if unknown:
        raise AtlasError(f"{len(unknown)} area codes are not in the spatial weights, e.g. {unknown[:5]}")
    keys = group_columns(table)
    groups = table.groupby(keys, sort=False, dropna=False).indices if keys else {None: np.arange(len(table))}
    # One sparse product per group (period/category), never a loop over areas.
    for rows in groups.values():
        rows = np.asarray(rows)
        at = position.get_indexer(area.iloc[rows])
        if pd.Index(at).has_duplicates:
            raise AtlasError("an area appears more than once in one period/category group")
        e = np.zeros(len(codes))
        p = np.zeros(len(codes))
        d = np.zeros(len(codes), dtype=bool)
        e[at], p[at], d[at] = e_all[rows], p_all[rows], defined_all[rows]
        # Areas absent from the table or without population drop out of every neighbourhood.
        e, p = np.where(d, e, 0.0), np.where(d, p, 0.0)
        r = np.where(d, e / np.where(d, p, 1.0), 0.0)
        s_p = adjacency @ p
        s_e = adjacency @ e
        n_def = adjacency @ d.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            b = s_e / s_p
            # sum_N P (r - b)^2 expanded so it is three sparse products.
            ss = adjacency @ (p * r * r) - 2 * b * (adjacency @ (p * r)) + b * b * s_p
            a = np.maximum(ss / s_p - b / (s_p / n_def), 0.0)
        smoothed = _shrink(e, p, d & (s_p > 0), b, a)
        result[rows] = smoothed[at]
    out[SPATIAL_EB_RATE] = result * per
    return out


def excess_risk(table: pd.DataFrame) -> pd.DataFrame:
    """Excess risk (standardised incidence ratio) O / E with E = P x the group's global rate (GeoDa).

    Adds expected_count and excess_risk; NaN for areas without population.
    """
    e, p, defined = _event_pop(table)
    prior = _global_prior(table, e, p, defined)
    expected = np.where(defined, p * prior["mean"], np.nan)
    out = table.copy()
    out[EXPECTED_COUNT] = expected
    with np.errstate(divide="ignore", invalid="ignore"):
        out[EXCESS_RISK] = np.where(expected > 0, e / expected, np.nan)
    return out


def eb_standardised_rate(table: pd.DataFrame) -> pd.DataFrame:
    """Assunção-Reis (1999) EB-standardised rate z = (r - b) / sqrt(a + b/P), a clipped at 0 (GeoDa).

    The input variable for Moran's I on rates (esda.Moran_Rate). Adds column eb_z; NaN without population.
    """
    e, p, defined = _event_pop(table)
    prior = _global_prior(table, e, p, defined)
    b, a = prior["mean"], prior["var"]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = e / p
        z = (r - b) / np.sqrt(a + b / p)
    out = table.copy()
    out[EB_Z] = np.where(defined & (a + b / np.where(defined, p, 1.0) > 0), z, np.nan)
    return out


def _event_pop(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in (COUNT, POPULATION) if c not in table.columns]
    if missing:
        raise AtlasError(f"table is missing columns {missing}; it has {list(table.columns)}")
    e = table[COUNT].to_numpy(dtype=float, na_value=np.nan)
    p = table[POPULATION].to_numpy(dtype=float, na_value=np.nan)
    if np.any(e < 0):
        raise AtlasError("counts must be >= 0")
    defined = (p > 0) & ~np.isnan(e)
    return e, p, defined


def _global_prior(table: pd.DataFrame, e: np.ndarray, p: np.ndarray, defined: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row prior mean b and variance a of the row's group (method of moments, Marshall 1991)."""
    e0, p0 = np.where(defined, e, 0.0), np.where(defined, p, 0.0)
    s_e = sum_within_groups(e0, table).to_numpy()
    s_p = sum_within_groups(p0, table).to_numpy()
    n = sum_within_groups(defined.astype(float), table).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        b = s_e / s_p
        r = np.where(defined, e0 / np.where(defined, p0, 1.0), 0.0)
        s_dev = sum_within_groups(p0 * (r - b) ** 2, table).to_numpy()
        a = np.maximum(s_dev / s_p - b / (s_p / n), 0.0)
    return {"mean": b, "var": a}


def _shrink(e: np.ndarray, p: np.ndarray, defined: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """b + (r - b) * a / (a + b/P); when a + b/P is 0 (no events anywhere) the prior mean."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = e / p
        denom = a + b / p
        weight = np.where(denom > 0, a / denom, 0.0)
        smoothed = b + (r - b) * weight
    return np.where(defined, smoothed, np.nan)


def _adjacency(weights: Any, ids: Sequence[str] | None) -> tuple[sparse.csr_matrix, list[str]]:
    """Binary neighbourhood matrix including the diagonal (self), and the area code of each row."""
    if sparse.issparse(weights):
        if ids is None:
            raise AtlasError("a sparse weights matrix needs ids: the area code of each row")
        matrix = sparse.csr_matrix(weights)
        codes = [str(i) for i in ids]
    elif hasattr(weights, "sparse") and hasattr(weights, "id_order"):
        matrix = sparse.csr_matrix(weights.sparse)
        codes = [str(i) for i in (ids if ids is not None else weights.id_order)]
    else:
        raise AtlasError(f"weights must be a libpysal W or a scipy sparse matrix; received {type(weights).__name__}")
    if matrix.shape != (len(codes), len(codes)):
        raise AtlasError(f"weights are {matrix.shape} but {len(codes)} ids were given")
    if len(set(codes)) != len(codes):
        raise AtlasError("weights ids contain duplicates")
    binary = sparse.csr_matrix((matrix != 0).astype(float))
    # Every area belongs to its own neighbourhood; rebuilding the diagonal avoids sparse setdiag warnings.
    binary = binary - sparse.diags(binary.diagonal()) + sparse.identity(len(codes), format="csr")
    return sparse.csr_matrix(binary), codes
