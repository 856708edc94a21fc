"""Local hot spot statistics, local Moran's I (LISA) and Getis-Ord Gi*, for every period of a counts table.

Global Moran's I (one figure per period) is in ``analysis.moran``; it shares this module's parameters
(``HotspotParams``) and variables (count, rate or EB rate).

References
- Local Moran: Anselin (1995) "Local indicators of spatial association - LISA", Geogr. Anal. 27(2).
- Gi*: Getis & Ord (1992) Geogr. Anal. 24(3); Ord & Getis (1995) Geogr. Anal. 27(4) (analytical z).
- Rates: empirical Bayes standardisation of Assuncao & Reis (1999) Stat. Med. 18 (esda
  ``Moran_Local_Rate(adjusted=True)``).
- Multiple testing: Benjamini & Hochberg (1995); Bonferroni.
- Gi* bins: ArcGIS Pro "Hot Spot Analysis (Getis-Ord Gi*)" Gi_Bin (+-3/2/1 = 99/95/90 % confidence).

Weights are built once (``geo.weights.build_weights``) and reused for every period and statistic;
one table of conditional permutations (``analysis._permutation``) serves all periods. Areas the
weights mark isolated take no part (not in n, the mean or the permutation pool) and get the label
"Isolated" with NaN statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from analysis._permutation import (
    ALTERNATIVES,
    conditional_distribution,
    permutation_table,
    pseudo_p,
)
from analysis.intervals import norm_sf
from geo.schema import AREA_CODE, CORRECTIONS, COUNT, PERIOD, AtlasError  # CORRECTIONS: re-exported
from geo.weights import SpatialWeights

HIGH_HIGH, LOW_LOW, HIGH_LOW, LOW_HIGH = "High-High", "Low-Low", "High-Low", "Low-High"
NOT_SIGNIFICANT, ISOLATED = "Not significant", "Isolated"
# GeoDa's LISA cluster map colours (Neighborless = GeoDa's colour for areas without neighbours).
LISA_COLOURS: dict[str, str] = {
    HIGH_HIGH: "#FF0000",
    LOW_LOW: "#0000FF",
    LOW_HIGH: "#A7ADF9",
    HIGH_LOW: "#F4ADA8",
    NOT_SIGNIFICANT: "#EEEEEE",
    ISOLATED: "#999999",
}
# Gi_Bin -> label, as ArcGIS's hot spot renderer.
GI_LABELS: dict[int, str] = {
    3: "Hot spot 99%",
    2: "Hot spot 95%",
    1: "Hot spot 90%",
    0: NOT_SIGNIFICANT,
    -1: "Cold spot 90%",
    -2: "Cold spot 95%",
    -3: "Cold spot 99%",
}
# ArcGIS Pro's default hot spot colours, by label.
GI_COLOURS: dict[str, str] = {
    "Hot spot 99%": "#D62F27",
    "Hot spot 95%": "#ED7551",
    "Hot spot 90%": "#FAB984",
    NOT_SIGNIFICANT: "#F7F7F2",
    "Cold spot 90%": "#C0CCBE",
    "Cold spot 95%": "#849EBA",
    "Cold spot 99%": "#4575B5",
    ISOLATED: "#999999",
}
_GI_CONFIDENCE = ((0.01, 3), (0.05, 2), (0.10, 1))
_CORRECTION_WORDS = {"none": "no multiple-testing correction", "fdr": "false discovery rate (Benjamini-Hochberg) "
                     "across the areas of each period", "bonferroni": "Bonferroni across the areas of each period"}


@dataclass(frozen=True)
class HotspotParams:
    """Inference settings; hashable so the app can use it as a cache key."""

    permutations: int = 999
    alpha: float = 0.05
    correction: Literal["none", "fdr", "bonferroni"] = "none"
    alternative: Literal["folded", "directed", "greater", "lesser"] = "folded"
    seed: int = 20240101
    lisa_on: Literal["count", "rate", "eb_rate"] = "count"
    gi_on: Literal["count", "rate"] = "count"
    # Gi* bins as ArcGIS's Find Hot Spots / Optimized Hot Spot Analysis: the analytical z-score's two-sided p,
    # Benjamini-Hochberg FDR across each period's areas (gi_z and gi_p stay uncorrected, as ArcGIS's fields).
    # The conditional-permutation p holds the area's own count fixed, so it tests only its neighbours and
    # misses an area hot by itself with ordinary neighbours; it stays as gi_p_sim and as an option. FDR
    # because a map of 300 areas at 95% shows ~15 hot or cold spots by chance alone; the price is that a
    # lone hot ward with ordinary neighbours (the demo's planted ward in 2024/25: z 2.46, p 0.014, FDR p 0.29)
    # is flagged only before correction (gi_bin_uncorrected), while its planted LSOAs are flagged after it.
    gi_inference: Literal["analytical", "permutation"] = "analytical"
    gi_correction: Literal["none", "fdr", "bonferroni"] = "fdr"

    def __post_init__(self) -> None:
        if self.permutations < 1:
            raise ValueError(f"permutations must be >= 1, got {self.permutations}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {CORRECTIONS}, got {self.correction!r}")
        if self.alternative not in ALTERNATIVES:
            raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {self.alternative!r}")
        if self.lisa_on not in ("count", "rate", "eb_rate"):
            raise ValueError(f"lisa_on must be count, rate or eb_rate, got {self.lisa_on!r}")
        if self.gi_on not in ("count", "rate"):
            raise ValueError(f"gi_on must be count or rate, got {self.gi_on!r}")
        if self.gi_inference not in ("permutation", "analytical"):
            raise ValueError(f"gi_inference must be permutation or analytical, got {self.gi_inference!r}")
        if self.gi_correction not in CORRECTIONS:
            raise ValueError(f"gi_correction must be one of {CORRECTIONS}, got {self.gi_correction!r}")

    def gi_method(self) -> str:
        """How the Gi* bins were decided, in words for legends, notes and the gi_inference column."""
        p = ("analytical z-score" if self.gi_inference == "analytical"
             else f"{self.permutations} conditional permutations")
        return f"Gi* bins from {p}, {_CORRECTION_WORDS[self.gi_correction]}"


# ---------------------------------------------------------------------------- inputs


def counts_matrix(counts: pd.DataFrame, weights: SpatialWeights) -> tuple[np.ndarray, list[str]]:
    """(areas x periods) matrix in ``weights.codes`` order from a tidy counts table.

    Areas without a row count zero (the grid is complete by definition); rows for areas the
    weights do not know, or several rows for one (area, period), are errors.
    """
    missing = [c for c in (AREA_CODE, PERIOD, COUNT) if c not in counts.columns]
    if missing:
        raise AtlasError(f"counts table lacks column(s) {missing}; has {list(counts.columns)}")
    codes = counts[AREA_CODE].astype(str)
    pos = weights.index.get_indexer(codes)
    if (pos < 0).any():
        bad = codes[pos < 0].unique()
        raise AtlasError(
            f"{len(bad)} area code(s) in the counts are not in the weights' areas, e.g. {', '.join(bad[:5])}"
        )
    periods = sorted(counts[PERIOD].astype(str).unique())
    dup = counts.assign(_c=codes)[["_c", PERIOD]].duplicated()
    if dup.any():
        first = counts.loc[dup].iloc[0]
        raise AtlasError(
            f"counts have several rows for area {first[AREA_CODE]} in period {first[PERIOD]}: "
            "filter to one category (or sum them) first"
        )
    col = pd.Index(periods).get_indexer(counts[PERIOD].astype(str))
    values = pd.to_numeric(counts[COUNT], errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any():
        raise AtlasError("counts must be non-negative numbers")
    mat = np.zeros((weights.n, len(periods)))
    mat[pos, col] = values
    return mat, periods


def _population_vector(population: pd.Series | None, weights: SpatialWeights, active: np.ndarray) -> np.ndarray:
    if population is None:
        raise AtlasError("rates need a population per area (pass population=Series indexed by area code)")
    pop = pd.Series(population)
    pop.index = pop.index.astype(str)
    b = pop.reindex(list(weights.codes)).to_numpy(dtype=float)
    bad = active & ~(b > 0)
    if bad.any():
        codes = np.asarray(weights.codes)[bad]
        raise AtlasError(f"{bad.sum()} area(s) have no positive population, e.g. {', '.join(codes[:5])}")
    return b


def eb_standardised_rates(events: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Assuncao-Reis (1999) empirical Bayes standardised rates, column by column (as esda.assuncao_rate)."""
    e = np.asarray(events, dtype=float)
    e = e[:, None] if e.ndim == 1 else e
    b = np.asarray(population, dtype=float).reshape(-1, 1)
    y = e / b
    b_sum = b.sum()
    m = e.sum(axis=0) / b_sum
    s2 = (b * (y - m) ** 2).sum(axis=0) / b_sum
    a = s2 - m / (b_sum / len(b))
    v = a + m / b
    v = np.where(v < 0, m / b, v)  # esda's guard against a negative variance estimate
    with np.errstate(invalid="ignore", divide="ignore"):
        return (y - m) / np.sqrt(v)


# ---------------------------------------------------------------------------- statistics


def _adjust(p: np.ndarray, correction: str) -> np.ndarray:
    """Adjust p-values per period (column) over the areas tested; NaN stays NaN."""
    if correction == "none":
        return p.copy()
    out = np.full_like(p, np.nan)
    for t in range(p.shape[1]):
        ok = np.isfinite(p[:, t])
        if not ok.any():
            continue
        if correction == "bonferroni":
            out[ok, t] = np.minimum(p[ok, t] * ok.sum(), 1.0)
        else:
            out[ok, t] = bh_adjust(p[ok, t])
    return out


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg (1995) adjusted p-values, = scipy.stats.false_discovery_control(p, method="bh").

    The same steps as scipy's (sort, p * m / rank, running minimum from the top, unsort, clip), so
    the same floats, without importing scipy.stats (tests/test_special_functions.py compares them).
    """
    p = np.asarray(p, dtype=float)
    if p.size <= 1:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ps = p[order] * (len(p) / np.arange(1, len(p) + 1, dtype=float))
    ps = np.minimum.accumulate(ps[::-1])[::-1]
    out = np.empty_like(ps)
    out[order] = ps
    return np.clip(out, 0.0, 1.0)


def _gi_bins(p_adj: np.ndarray, z: np.ndarray) -> np.ndarray:
    """ArcGIS-style Gi_Bin from the (adjusted) p-value, signed by the analytical z-score."""
    level = np.zeros(p_adj.shape, dtype=np.int64)
    for cut, b in reversed(_GI_CONFIDENCE):  # widest first, narrower cuts overwrite
        level = np.where(p_adj <= cut, b, level)
    return (level * np.sign(np.nan_to_num(z))).astype(np.int64)


def _local_gi_star(x: np.ndarray, binary, card: np.ndarray, dist, params: HotspotParams) -> dict[str, np.ndarray]:
    """Gi* (Getis & Ord 1992; Ord & Getis 1995), self included with weight 1."""
    n = x.shape[0]
    total = x.sum(axis=0)
    obs = binary @ x  # neighbour sums, self excluded
    k1 = card[:, None] + 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        g_binary = (x + obs) / total
        mean = total / n
        var = (x**2).sum(axis=0) / n - mean**2
        expected = k1 / n
        variance = k1 * (n - k1) / (n - 1) / n**2 * var / mean**2
        z = (g_binary - expected) / np.sqrt(variance)
    p_z = 2.0 * norm_sf(np.abs(z))  # two-sided, as ArcGIS's Gi_Bin (|z| > 1.65 / 1.96 / 2.58)
    p_sim = pseudo_p(dist, obs, np.ones_like(obs), params.alternative) if dist is not None else np.full_like(z, np.nan)
    degenerate = ~(total > 0) | ~(var > 0)
    for arr in (z, p_z, p_sim, g_binary):
        arr[:, degenerate] = np.nan
    p = p_z if params.gi_inference == "analytical" else p_sim
    # Reported statistic with row-standardised weights including self (GeoDa, esda default).
    return {"gi_star": g_binary / k1, "gi_z": z, "gi_p": p, "gi_p_sim": p_sim}


def _local_moran(x: np.ndarray, row_std, binary, card: np.ndarray, dist, params: HotspotParams) -> dict[str, np.ndarray]:
    """Local Moran's I_i = (n-1) z_i sum_j w_ij z_j / sum z^2, row-standardised w (Anselin 1995)."""
    n = x.shape[0]
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - mean) / sd
        lag = row_std @ z
        I = (n - 1) * z * lag / (z * z).sum(axis=0)
    obs = binary @ x
    orientation = np.sign(z)
    p = pseudo_p(dist, obs, orientation, params.alternative)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Permutation z (esda's z_sim): I is affine in the neighbour sum with slope sign(z_i).
        z_sim = np.where(orientation == 0, 0.0, orientation * (obs - dist.mean) / dist.sd)
    quadrant = np.select(
        [(z > 0) & (lag > 0), (z <= 0) & (lag <= 0), (z > 0) & (lag <= 0)],
        [HIGH_HIGH, LOW_LOW, HIGH_LOW],
        default=LOW_HIGH,
    ).astype(object)
    degenerate = ~(sd > 0)
    for arr in (I, z_sim, p):
        arr[:, degenerate] = np.nan
    return {"lisa_i": I, "lisa_z": z_sim, "lisa_p": p, "lisa_quadrant": quadrant, "_lag": lag}


def local_hotspots(
    counts: pd.DataFrame,
    weights: SpatialWeights,
    params: HotspotParams = HotspotParams(),
    population: pd.Series | None = None,
    statistics: tuple[str, ...] = ("gi_star", "lisa"),
) -> pd.DataFrame:
    """Gi* and local Moran for every area and period: one tidy row per (area_code, period).

    Local Moran p-values are pseudo p-values from ``params.permutations`` conditional permutations (seeded,
    so reproducible), alternative ``params.alternative`` (default "folded": two-sided about the
    permutation mean, esda's definition); ``lisa_p_adjusted`` applies ``params.correction`` per period.
    Gi*: ``gi_p`` is the p of ``params.gi_inference`` (default the analytical z-score's two-sided p, as
    ArcGIS), ``gi_p_adjusted`` applies ``params.gi_correction`` (default FDR, as ArcGIS's Gi_Bin in Find Hot Spots)
    per period, ``gi_p_sim`` is
    the permutation pseudo p; gi_bin/gi_label use ``gi_p_adjusted`` with the sign of z (``gi_bin_uncorrected``
    the unadjusted ``gi_p``), and ``gi_inference`` says which inference made the bins.
    """
    mat, periods = counts_matrix(counts, weights)
    return local_hotspots_matrix(mat, periods, weights, params, population, statistics)


def _local_inputs(counts: np.ndarray, weights: SpatialWeights, params: HotspotParams,
                  population: pd.Series | None, statistics: tuple[str, ...], gi_permutations: bool) -> dict:
    """What Gi* and local Moran share: the active (non-isolated) areas, their weights, counts and draws."""
    counts = np.asarray(counts, dtype=float).reshape(weights.n, -1)
    unknown = set(statistics) - {"gi_star", "lisa"}
    if unknown:
        raise ValueError(f"unknown statistics {sorted(unknown)}; choose from gi_star, lisa")
    active = ~weights.isolated
    idx = np.flatnonzero(active)
    binary = weights.binary[idx][:, idx]
    # Row-standardised weights only for local Moran (slicing a national matrix is not free).
    row_std = weights.row_standardised[idx][:, idx] if "lisa" in statistics else None
    card = weights.cardinalities[idx]
    na = len(idx)
    needs_pop = params.lisa_on != "count" or params.gi_on != "count"
    pop = _population_vector(population, weights, active)[idx] if needs_pop else None
    sim = gi_permutations or params.gi_inference == "permutation"
    # One table of draws serves Gi* and local Moran; not built when neither needs permutations.
    table = (permutation_table(na, int(card.max()) + 1 if na else 1, params.permutations, params.seed)
             if "lisa" in statistics or ("gi_star" in statistics and sim) else None)
    return {"counts": counts, "idx": idx, "binary": binary, "row_std": row_std, "card": card, "pop": pop,
            "x_count": counts[idx], "sim": sim, "table": table}


def _gi_star_of(inputs: dict, params: HotspotParams) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(Gi* results, adjusted p, bins) of the active areas."""
    x_count, pop, card = inputs["x_count"], inputs["pop"], inputs["card"]
    x = x_count if params.gi_on == "count" else x_count / pop[:, None] * 1000.0
    dist = conditional_distribution(x, card, inputs["table"]) if inputs["sim"] else None
    gi = _local_gi_star(x, inputs["binary"], card, dist, params)
    gi_p_adj = _adjust(gi["gi_p"], params.gi_correction)
    bins = _gi_bins(np.nan_to_num(gi_p_adj, nan=1.0), gi["gi_z"])
    return gi, gi_p_adj, bins


def gi_star_bins(
    counts: np.ndarray, weights: SpatialWeights, params: HotspotParams = HotspotParams(),
    population: pd.Series | None = None, gi_permutations: bool = False,
) -> np.ndarray:
    """int64 [areas x periods] Gi* bins in ``weights.codes`` order: the ``gi_bin`` column of
    ``local_hotspots_matrix(..., statistics=("gi_star",))`` as a matrix (isolated areas 0), without the table."""
    inputs = _local_inputs(counts, weights, params, population, ("gi_star",), gi_permutations)
    _, _, bins = _gi_star_of(inputs, params)
    out = np.zeros((weights.n, inputs["counts"].shape[1]), dtype=bins.dtype)
    out[inputs["idx"]] = bins
    return out


def local_hotspots_matrix(
    counts: np.ndarray,
    periods: list[str],
    weights: SpatialWeights,
    params: HotspotParams = HotspotParams(),
    population: pd.Series | None = None,
    statistics: tuple[str, ...] = ("gi_star", "lisa"),
    gi_permutations: bool = True,
) -> pd.DataFrame:
    """As ``local_hotspots`` for an (areas x periods) matrix already in ``weights.codes`` order.

    ``gi_permutations=False`` skips Gi*'s permutation p (gi_p_sim is NaN) when the bins do not use it:
    a caller that needs only the z-based bins (priority) saves the permutation work.
    """
    inputs = _local_inputs(counts, weights, params, population, statistics, gi_permutations)
    counts, idx, binary, row_std = inputs["counts"], inputs["idx"], inputs["binary"], inputs["row_std"]
    card, pop, x_count, table = inputs["card"], inputs["pop"], inputs["x_count"], inputs["table"]
    T = counts.shape[1]

    out: dict[str, np.ndarray] = {}

    def full(a: np.ndarray, fill) -> np.ndarray:
        res = np.full((weights.n, T), fill, dtype=a.dtype if a.dtype != object else object)
        res[idx] = a
        return res

    if "gi_star" in statistics:
        gi, gi_p_adj, bins = _gi_star_of(inputs, params)
        out["gi_star"] = full(gi["gi_star"], np.nan)
        out["gi_z"] = full(gi["gi_z"], np.nan)
        out["gi_p"] = full(gi["gi_p"], np.nan)
        out["gi_p_adjusted"] = full(gi_p_adj, np.nan)
        out["gi_p_sim"] = full(gi["gi_p_sim"], np.nan)
        out["gi_bin"] = full(bins, 0)
        labels = np.vectorize(GI_LABELS.get, otypes=[object])(bins) if bins.size else bins.astype(object)
        out["gi_label"] = full(labels, ISOLATED)
        # The bin before the multiple-testing correction (= gi_bin when there is none), so a table can say
        # "hot spot at 95% before FDR" for an area the corrected map leaves uncoloured.
        out["gi_bin_uncorrected"] = full(_gi_bins(np.nan_to_num(gi["gi_p"], nan=1.0), gi["gi_z"]), 0)
    if "lisa" in statistics:
        if params.lisa_on == "count":
            x = x_count
        elif params.lisa_on == "rate":
            x = x_count / pop[:, None] * 1000.0
        else:
            x = eb_standardised_rates(x_count, pop)
        dist = conditional_distribution(x, card, table)
        lm = _local_moran(x, row_std, binary, card, dist, params)
        p_adj = _adjust(lm["lisa_p"], params.correction)
        sig = p_adj <= params.alpha
        label = np.where(sig, lm["lisa_quadrant"], NOT_SIGNIFICANT).astype(object)
        out["lisa_i"] = full(lm["lisa_i"], np.nan)
        out["lisa_z"] = full(lm["lisa_z"], np.nan)
        out["lisa_p"] = full(lm["lisa_p"], np.nan)
        out["lisa_p_adjusted"] = full(p_adj, np.nan)
        out["lisa_quadrant"] = full(lm["lisa_quadrant"], ISOLATED)
        out["lisa_label"] = full(label, ISOLATED)

    frame = pd.DataFrame(
        {
            AREA_CODE: np.repeat(np.asarray(weights.codes, dtype=object), T),
            PERIOD: np.tile(np.asarray(periods, dtype=object), weights.n),
            COUNT: counts.ravel(),
            "n_neighbours": np.repeat(weights.cardinalities, T),
        }
    )
    for name, arr in out.items():
        frame[name] = arr.ravel()
    for name in ("gi_label", "lisa_quadrant", "lisa_label"):
        if name in frame:
            frame[name] = frame[name].astype(str)
    if "gi_star" in statistics:
        # One text repeated on every row: categorical, so a national table holds it once.
        frame["gi_inference"] = pd.Categorical.from_codes(np.zeros(len(frame), dtype=np.int8), [params.gi_method()])
    return frame
