"""Emerging Hot Spot Analysis on an areas x periods cube, after ArcGIS Pro's tool of that name.

Method (ArcGIS Pro, "How Emerging Hot Spot Analysis works"; Getis & Ord 1992, Ord & Getis 1995):

1. Space-time Gi*. Each bin (area i, period t) has as neighbours the bins of i and of i's spatial
   neighbours in periods t, t-1, ..., t-k (``time_lag`` = k, ArcGIS's "neighborhood time step"),
   all with weight 1. With x̄ and S the mean and (population) standard deviation over *all*
   n = areas x periods bins, W_i the number of neighbour bins and S1_i = W_i (binary weights),
   ``Gi* = (sum_j w_ij x_j - x̄ W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1)))``. The lag of the whole
   cube is one sparse product (spatial lag per period) and one T x T band product (the time window);
   the same weights are ``kron(band, A + I)`` over period-major bins (``space_time_weights``).
   Bins in the first k periods simply have fewer temporal neighbours, so a steady hot spot's |z| is
   a little smaller there (as in ArcGIS); over many periods this barely moves the trend. A cube with zero variance gets
   z = 0, p = 1 everywhere (no pattern), as does a bin whose neighbourhood is the whole cube.
2. Significance. p is two-sided normal. A bin is a hot spot when z > 0 and p < alpha, a cold spot
   when z < 0 and p < alpha; alpha = 0.10 is ArcGIS's 90 % confidence bin. ArcGIS Pro's recent
   releases apply a false-discovery-rate correction to the bins; ``fdr=True`` does the same with
   Benjamini-Hochberg over all bins of the cube, and the reported p-values are then the adjusted ones.
   ``st_bin`` is ArcGIS's Gi_Bin: +-3 / +-2 / +-1 for p < 0.01 / 0.05 / 0.10, else 0.
3. Trend. As ArcGIS does, the Mann-Kendall test (``analysis.trend``) runs on each area's series of
   Gi* z-scores over all periods; a trend is significant when its p < ``trend_alpha`` (default: alpha).
4. Categories (17). "90 %" means n_hot >= 0.9 x periods, in integer arithmetic (72 periods -> 65).
   Definitions for hot spots (cold spots mirror them with hot and cold swapped and, for the trend,
   "intensifying" meaning z-scores falling):

   - New: hot in the final period and in no other period.
   - Consecutive: an unbroken run of >= 2 hot periods ending in the final period, no hot period
     before the run, and < 90 % of periods hot.
   - Intensifying: >= 90 % hot, final period hot, significant upward trend in z.
   - Persistent: >= 90 % hot, final period hot, no significant trend.
   - Diminishing: >= 90 % hot, final period hot, significant downward trend in z.
   - Oscillating: final period hot, < 90 % hot, and cold in some earlier period.
   - Sporadic: final period hot, < 90 % hot, never cold (and, by precedence, not new or
     consecutive: it has an earlier hot period separated from the final one).
   - Historical: final period not hot, but >= 90 % of periods hot.

   Interpretations where ArcGIS's wording leaves room, each a deliberate choice:

   - Persistent requires the final period hot. ArcGIS's wording does not say so, but a location hot
     >= 90 % of the time and not hot now is exactly its "historical" definition; this keeps the
     two apart and makes intensifying / persistent / diminishing a partition of "hot >= 90 %
     including the final period" by trend.
   - New and consecutive look only at hot history ("never been a statistically significant hot spot
     before"), so earlier cold periods are allowed and take precedence over oscillating. (R's sfdep
     instead requires no significant bin of either sign before.)
   - Historical is tested last: when the final period is significant the other sign's final-state
     category wins (e.g. hot in 65 of 72 periods, cold in the final one -> New Cold Spot).

   Precedence (first match wins; within a step hot and cold cannot both match because they need
   opposite final-period states, and the two historical rules need >= 90 % of each sign):
   new, consecutive, intensifying, persistent, diminishing, oscillating, sporadic, historical,
   then "No Pattern Detected".

Inputs: ``counts_cube`` is areas x periods (any finite values: counts or rates); ``adjacency`` is a
binary ``scipy.sparse`` n x n matrix in ``area_codes`` order (self loops are ignored and any non-zero
weight counts as 1), or a ``geo.weights.SpatialWeights``, whose ``binary`` matrix is re-ordered to
``area_codes`` by code (its areas must be exactly the cube's).

Every area is analysed, including areas with no incidents at all (ArcGIS drops locations without
points only for cubes aggregated from points; ours come from defined areas). Periods must be given in
chronological order (the cube's columns); rows of every output are sorted by area code so results
do not depend on the input row order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special

from analysis.trend import mann_kendall
from geo.schema import AREA_CODE, PERIOD, AtlasError

__all__ = [
    # functions
    "classify_emerging_hotspots", "emerging_hotspots", "hot_spot_transitions", "space_time_gi_star",
    "space_time_weights",
    # output columns
    "ST_GI_Z", "ST_GI_P", "ST_BIN", "EHSA_CATEGORY", "N_HOT", "N_COLD", "SHARE_HOT", "FINAL_Z", "FINAL_P",
    "TREND_TAU", "TREND_Z", "TREND_P", "TREND_DIRECTION", "PREV_BIN", "CURR_BIN", "TRANSITION",
    # category and transition labels
    "NO_PATTERN", "PATTERNS", "EHSA_CATEGORIES", "BECAME_HOT", "STAYED_HOT", "STOPPED_HOT", "BECAME_COLD",
    "STAYED_COLD", "STOPPED_COLD", "HOT_TO_COLD", "COLD_TO_HOT", "NOT_SIGNIFICANT",
]

# Output columns.
ST_GI_Z = "st_gi_z"
ST_GI_P = "st_gi_p"
ST_BIN = "st_bin"
EHSA_CATEGORY = "ehsa_category"
N_HOT = "n_hot"
N_COLD = "n_cold"
SHARE_HOT = "share_hot"
FINAL_Z = "final_z"
FINAL_P = "final_p"
TREND_TAU = "trend_tau"
TREND_Z = "trend_z"
TREND_P = "trend_p"
TREND_DIRECTION = "trend_direction"
PREV_BIN = "prev_bin"
CURR_BIN = "curr_bin"
TRANSITION = "transition"

NO_PATTERN = "No Pattern Detected"
# Pattern names in precedence order (see the module docstring).
PATTERNS: tuple[str, ...] = (
    "New", "Consecutive", "Intensifying", "Persistent", "Diminishing", "Oscillating", "Sporadic", "Historical",
)
EHSA_CATEGORIES: tuple[str, ...] = (
    NO_PATTERN, *(f"{p} Hot Spot" for p in PATTERNS), *(f"{p} Cold Spot" for p in PATTERNS),
)

# Transition labels for hot_spot_transitions.
BECAME_HOT = "became hot"
STAYED_HOT = "stayed hot"
STOPPED_HOT = "stopped being hot"
BECAME_COLD = "became cold"
STAYED_COLD = "stayed cold"
STOPPED_COLD = "stopped being cold"
HOT_TO_COLD = "hot to cold"
COLD_TO_HOT = "cold to hot"
NOT_SIGNIFICANT = "not significant"

# ArcGIS Gi_Bin confidence levels: (p threshold, bin magnitude), strictest first.
_BIN_LEVELS: tuple[tuple[float, int], ...] = ((0.01, 3), (0.05, 2), (0.10, 1))


def space_time_weights(adjacency: sp.spmatrix | sp.sparray, n_periods: int, time_lag: int = 1) -> sp.csr_matrix:
    """Binary space-time Gi* weights over period-major bins (bin = t * n_areas + i), self included."""
    star = _spatial_star(adjacency)
    band = sp.csr_matrix(_time_band(_check_periods_count(n_periods), _check_lag(time_lag)))
    return sp.csr_matrix(sp.kron(band, star, format="csr"))


def space_time_gi_star(
    counts_cube: np.ndarray,
    area_codes: Sequence[str],
    periods: Sequence[str],
    adjacency: Any,
    time_lag: int = 1,
    fdr: bool = False,
) -> pd.DataFrame:
    """Space-time Gi* per bin: DataFrame[area_code, period, st_gi_z, st_gi_p, st_bin] (ArcGIS EHSA)."""
    x, codes, labels, star = _prepare(counts_cube, area_codes, periods, adjacency)
    z = _space_time_z(x, star, _check_lag(time_lag))
    p = _p_values(z, fdr)
    order = np.argsort(codes, kind="stable")
    n, t = z.shape
    return pd.DataFrame({
        AREA_CODE: np.repeat(codes[order], t),
        PERIOD: np.tile(np.asarray(labels, dtype=object), n),
        ST_GI_Z: z[order].ravel(),
        ST_GI_P: p[order].ravel(),
        ST_BIN: _gi_bins(z, p)[order].ravel(),
    })


def emerging_hotspots(
    counts_cube: np.ndarray,
    area_codes: Sequence[str],
    periods: Sequence[str],
    adjacency: Any,
    time_lag: int = 1,
    alpha: float = 0.10,
    fdr: bool = False,
    trend_alpha: float | None = None,
) -> pd.DataFrame:
    """Emerging Hot Spot Analysis (ArcGIS Pro): one row per area with its category and trend."""
    alpha = _check_alpha(alpha, "alpha")
    trend_alpha = alpha if trend_alpha is None else _check_alpha(trend_alpha, "trend_alpha")
    x, codes, _, star = _prepare(counts_cube, area_codes, periods, adjacency)
    z = _space_time_z(x, star, _check_lag(time_lag))
    p = _p_values(z, fdr)
    significant = p < alpha
    hot, cold = significant & (z > 0), significant & (z < 0)
    trend = mann_kendall(z, alpha=trend_alpha)
    category = classify_emerging_hotspots(hot, cold, trend.z, trend.p, trend_alpha)
    n_hot = hot.sum(axis=1)
    order = np.argsort(codes, kind="stable")
    return pd.DataFrame({
        AREA_CODE: codes[order],
        EHSA_CATEGORY: category[order],
        N_HOT: n_hot[order].astype(np.int64),
        N_COLD: cold.sum(axis=1)[order].astype(np.int64),
        SHARE_HOT: (n_hot / x.shape[1])[order],
        FINAL_Z: z[order, -1],
        FINAL_P: p[order, -1],
        TREND_TAU: trend.tau[order],
        TREND_Z: trend.z[order],
        TREND_P: trend.p[order],
        TREND_DIRECTION: trend.direction[order],
    })


def classify_emerging_hotspots(
    hot: np.ndarray,
    cold: np.ndarray,
    trend_z: np.ndarray,
    trend_p: np.ndarray,
    trend_alpha: float = 0.10,
) -> np.ndarray:
    """One of the 17 ArcGIS EHSA categories per area from hot/cold bins (areas x periods) and MK trend."""
    hot, cold = np.asarray(hot, dtype=bool), np.asarray(cold, dtype=bool)
    if hot.ndim != 2 or hot.shape != cold.shape:
        raise AtlasError(f"hot and cold must be 2-D arrays of one shape; received {hot.shape} and {cold.shape}")
    if (hot & cold).any():
        raise AtlasError("a bin cannot be both a hot and a cold spot")
    trend_z, trend_p = np.asarray(trend_z, dtype=float), np.asarray(trend_p, dtype=float)
    if trend_z.shape != (hot.shape[0],) or trend_p.shape != (hot.shape[0],):
        raise AtlasError(f"trend_z and trend_p need one value per area ({hot.shape[0]})")
    trend_sig = trend_p < trend_alpha
    rising, falling = trend_sig & (trend_z > 0), trend_sig & (trend_z < 0)

    # For cold spots "intensifying" means z-scores falling (more extreme), so the trends swap.
    sides = (("Hot Spot", _Side(hot, cold, rising, falling)), ("Cold Spot", _Side(cold, hot, falling, rising)))
    # Work in small integer codes (index into EHSA_CATEGORIES); strings only at the end.
    code = np.zeros(hot.shape[0], dtype=np.int8)
    for pattern in PATTERNS:
        for suffix, side in sides:
            match = _RULES[pattern](side) & (code == 0)
            code[match] = EHSA_CATEGORIES.index(f"{pattern} {suffix}")
    return np.asarray(EHSA_CATEGORIES, dtype=object)[code]


def hot_spot_transitions(prev_bins: pd.Series, curr_bins: pd.Series) -> pd.DataFrame:
    """Compare two periods' bins (Series by area code; >0 hot, <0 cold, bool = hot): who became/stayed/stopped hot."""
    prev, curr = _str_index(prev_bins, "prev_bins"), _str_index(curr_bins, "curr_bins")
    only_prev = prev.index.difference(curr.index)
    only_curr = curr.index.difference(prev.index)
    if len(only_prev) or len(only_curr):
        raise AtlasError(
            "prev_bins and curr_bins must cover the same areas; "
            f"only in prev_bins: {list(only_prev[:5])}, only in curr_bins: {list(only_curr[:5])}"
        )
    codes = np.sort(prev.index.to_numpy(dtype=object))
    prev, curr = prev.loc[codes], curr.loc[codes]
    a, b = _bin_signs(prev, "prev_bins"), _bin_signs(curr, "curr_bins")
    conditions = [
        (a > 0) & (b > 0), (a == 0) & (b > 0), (a > 0) & (b == 0),
        (a < 0) & (b < 0), (a == 0) & (b < 0), (a < 0) & (b == 0),
        (a > 0) & (b < 0), (a < 0) & (b > 0),
    ]
    labels = [STAYED_HOT, BECAME_HOT, STOPPED_HOT, STAYED_COLD, BECAME_COLD, STOPPED_COLD, HOT_TO_COLD, COLD_TO_HOT]
    return pd.DataFrame({
        AREA_CODE: codes,
        PREV_BIN: prev.to_numpy(),
        CURR_BIN: curr.to_numpy(),
        TRANSITION: np.select(conditions, labels, default=NOT_SIGNIFICANT).astype(object),
    })


# --- categorisation rules -------------------------------------------------------------------------


class _Side:
    """Per-area features of one sign (hot or cold) used by the category rules."""

    def __init__(self, own: np.ndarray, other: np.ndarray, toward: np.ndarray, away: np.ndarray):
        n_periods = own.shape[1]
        self.count = own.sum(axis=1)
        self.final = own[:, -1]
        # "90 %" in integers so 72 periods need 65, with no float rounding at the boundary.
        self.ninety = self.count * 10 >= 9 * n_periods
        # Length of the unbroken run of own-sign bins ending in the final period.
        gaps = ~own[:, ::-1]
        self.final_run = np.where(gaps.any(axis=1), gaps.argmax(axis=1), n_periods)
        self.ever_other = other.any(axis=1)
        self.toward, self.away = toward, away  # significant trend towards / away from this sign


_RULES: dict[str, Callable[[_Side], np.ndarray]] = {
    "New": lambda s: s.final & (s.count == 1),
    "Consecutive": lambda s: s.final & (s.final_run >= 2) & (s.final_run == s.count) & ~s.ninety,
    "Intensifying": lambda s: s.final & s.ninety & s.toward,
    "Persistent": lambda s: s.final & s.ninety & ~s.toward & ~s.away,
    "Diminishing": lambda s: s.final & s.ninety & s.away,
    "Oscillating": lambda s: s.final & ~s.ninety & s.ever_other,
    "Sporadic": lambda s: s.final & ~s.ninety & ~s.ever_other,
    "Historical": lambda s: ~s.final & s.ninety,
}


# --- space-time Gi* -------------------------------------------------------------------------------


def _space_time_z(x: np.ndarray, star: sp.csr_matrix, time_lag: int) -> np.ndarray:
    """Analytic Gi* z-score of every bin of the cube (areas x periods), Getis & Ord (1992) eq. for binary w."""
    n_areas, n_periods = x.shape
    band = _time_band(n_periods, time_lag)
    # Spatial lag of every period at once, then the backward time window as a small dense product.
    lag = np.asarray(star @ x) @ band.T
    weight_sum = np.asarray(star.sum(axis=1)).ravel()[:, None] * band.sum(axis=1)[None, :]
    n = x.size
    mean, sd = x.mean(), x.std()
    den = sd * np.sqrt(np.maximum(n * weight_sum - weight_sum**2, 0.0) / (n - 1))
    ok = den > 0
    return np.where(ok, (lag - mean * weight_sum) / np.where(ok, den, 1.0), 0.0)


def _time_band(n_periods: int, time_lag: int) -> np.ndarray:
    """T x T matrix with band[t, s] = 1 when t - time_lag <= s <= t (backward window incl. t)."""
    return np.tri(n_periods, n_periods, 0) - np.tri(n_periods, n_periods, -(time_lag + 1))


def _p_values(z: np.ndarray, fdr: bool) -> np.ndarray:
    """Two-sided normal p-values, Benjamini-Hochberg adjusted over the whole cube when fdr."""
    p = 2.0 * special.ndtr(-np.abs(z))  # ndtr(-|z|) = normal sf, without scipy.stats' overhead
    return _bh_adjust(p.ravel()).reshape(p.shape) if fdr else p


def _bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini & Hochberg (1995) adjusted p-values (q-values)."""
    m = p.size
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty_like(q)
    out[order] = q
    return out


def _gi_bins(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ArcGIS Gi_Bin: +-3, +-2, +-1 for 99 / 95 / 90 % confidence, else 0."""
    magnitude = np.select([p < level for level, _ in _BIN_LEVELS], [b for _, b in _BIN_LEVELS], default=0)
    return (np.sign(z) * magnitude).astype(np.int8)


# --- validation -----------------------------------------------------------------------------------


def _prepare(
    counts_cube: np.ndarray, area_codes: Sequence[str], periods: Sequence[str], adjacency: Any
) -> tuple[np.ndarray, np.ndarray, list[str], sp.csr_matrix]:
    """Check the cube, codes, periods and adjacency agree; return them in working form."""
    x = np.asarray(counts_cube, dtype=np.float64)
    if x.ndim != 2:
        raise AtlasError(f"counts_cube must be 2-D (areas x periods); received shape {x.shape}")
    if not np.isfinite(x).all():
        i, t = np.argwhere(~np.isfinite(x))[0]
        raise AtlasError(f"counts_cube has a missing or infinite value at area row {i}, period column {t}")
    codes = np.asarray([str(c) for c in area_codes], dtype=object)
    labels = [str(p) for p in periods]
    if len(codes) != x.shape[0]:
        raise AtlasError(f"{len(codes)} area codes for a cube with {x.shape[0]} area rows")
    if len(labels) != x.shape[1]:
        raise AtlasError(f"{len(labels)} periods for a cube with {x.shape[1]} period columns")
    _check_periods_count(len(labels))
    for what, values in (("area code", codes), ("period", np.asarray(labels, dtype=object))):
        if not pd.Index(values, dtype=object).has_duplicates:  # a hash check; np.unique sorts 32,844 strings
            continue
        uniq, counts = np.unique(values, return_counts=True)
        if (counts > 1).any():
            raise AtlasError(f"duplicate {what}s: {list(uniq[counts > 1][:5])}")
    star = _spatial_star(_aligned_adjacency(adjacency, codes))
    if star.shape[0] != len(codes):
        raise AtlasError(f"adjacency is {star.shape[0]} x {star.shape[1]} but there are {len(codes)} areas")
    return x, codes, labels, star


def _aligned_adjacency(adjacency: Any, codes: np.ndarray) -> Any:
    """A sparse matrix as given; a ``geo.weights.SpatialWeights`` re-ordered to ``codes``."""
    binary, weight_codes = getattr(adjacency, "binary", None), getattr(adjacency, "codes", None)
    if binary is None or weight_codes is None:
        return adjacency
    # Duck-typed (binary + codes) so this module needs no geopandas import for plain matrices.
    if len(weight_codes) == len(codes) and np.array_equal(np.asarray([str(c) for c in weight_codes], dtype=object),
                                                          codes):
        return sp.csr_matrix(binary)  # already in the cube's order (the frame's): nothing to re-order
    index = pd.Index([str(c) for c in weight_codes])
    pos = index.get_indexer(codes)
    if (pos < 0).any() or len(index) != len(codes):
        missing = codes[pos < 0]
        extra = index.difference(pd.Index(codes))
        raise AtlasError(
            f"the weights' areas must be the cube's areas: {len(missing)} cube area(s) not in the weights "
            f"(e.g. {list(missing[:5])}), {len(extra)} weights area(s) not in the cube (e.g. {list(extra[:5])})"
        )
    return sp.csr_matrix(binary)[pos][:, pos]


def _spatial_star(adjacency: Any) -> sp.csr_matrix:
    """Binary spatial weights A + I from a sparse adjacency (any non-zero off-diagonal is a neighbour)."""
    if not sp.issparse(adjacency):
        raise AtlasError(
            f"adjacency must be a scipy.sparse matrix or SpatialWeights; received {type(adjacency).__name__}"
        )
    a = sp.csr_matrix(adjacency, dtype=np.float64, copy=True)
    if a.shape[0] != a.shape[1]:
        raise AtlasError(f"adjacency must be square; received shape {a.shape}")
    # Drop any self loops, then make every stored weight 1: Gi* here is binary with the self added once.
    a = sp.csr_matrix(a - sp.diags(a.diagonal()))
    a.eliminate_zeros()
    a.data[:] = 1.0
    return sp.csr_matrix(a + sp.identity(a.shape[0], format="csr"))


def _str_index(bins: pd.Series, name: str) -> pd.Series:
    """The Series re-indexed by string area codes, refusing duplicates."""
    if not isinstance(bins, pd.Series):
        raise AtlasError(f"{name} must be a pandas Series indexed by area code; received {type(bins).__name__}")
    out = bins.set_axis(bins.index.astype(str))
    if out.index.has_duplicates:
        raise AtlasError(f"{name} has duplicate area codes: {list(out.index[out.index.duplicated()][:5])}")
    return out


def _bin_signs(bins: pd.Series, name: str) -> np.ndarray:
    """-1 / 0 / +1 per area from a bins Series (bool True counts as hot)."""
    values = pd.to_numeric(bins.astype("float64") if bins.dtype == bool else bins, errors="coerce")
    if values.isna().any():
        raise AtlasError(f"{name} has missing or non-numeric bins for areas {list(bins.index[values.isna()][:5])}")
    return np.sign(values.to_numpy(dtype=float))


def _check_lag(time_lag: int) -> int:
    if isinstance(time_lag, bool) or not isinstance(time_lag, (int, np.integer)) or time_lag < 0:
        raise AtlasError(f"time_lag must be a whole number of periods >= 0; received {time_lag!r}")
    return int(time_lag)


def _check_periods_count(n_periods: int) -> int:
    if n_periods < 2:
        raise AtlasError(f"emerging hot spot analysis needs at least 2 periods; received {n_periods}")
    return int(n_periods)


def _check_alpha(alpha: float, name: str) -> float:
    if not 0 < alpha < 1:
        raise AtlasError(f"{name} must be between 0 and 1; received {alpha}")
    return float(alpha)
