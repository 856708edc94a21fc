"""Crude rates per 1,000 residents with confidence intervals, rolling years, benchmarks and funnel limits.

Rates and intervals follow PHE/OHID "Technical guide: confidence intervals" (see ``analysis.intervals``);
funnel plot limits follow Spiegelhalter (2005) "Funnel plots for comparing institutional performance",
Statistics in Medicine 24:1185-1202.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

# scipy.special, not scipy.stats (~0.4 s to import): poisson.ppf/cdf are these functions plus edge
# handling, reproduced below and checked bit for bit in tests/test_special_functions.py.
from scipy import special

from analysis.intervals import CONFIDENCE_LEVELS, rate_interval
from analysis.periods import first_month_index, labels_from_month_index
from geo.schema import (
    AREA_CODE,
    AtlasError,
    CATEGORY,
    CODE,
    COUNT,
    DENOMINATORS,
    GRAIN,
    LEVEL,
    PERIOD,
    POPULATION,
    RATE_PER_1000,
    REPEAT_COUNT,
)

PER = 1000.0
RATE_NOTE = "rate_note"
NO_POPULATION = "no population"
# Grain label for rolling 12-month sums: period "2020-03" means April 2019 - March 2020.
ROLLING_12_GRAIN = "rolling12"
COMPARED = "compared_to_reference"
INCIDENT_SHARE = "incident_share"
POPULATION_SHARE = "population_share"
SHARE_RATIO = "share_ratio"

# Key columns that split a counts table into independent groups (one set of areas each).
GROUP_COLUMNS: tuple[str, ...] = (LEVEL, PERIOD, GRAIN, CATEGORY)


def rate_column(bound: str, level: str) -> str:
    """Name of an interval column, e.g. rate_column("lower", "95") -> "rate_lower_95"."""
    return f"rate_{bound}_{level}"


def group_columns(table: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """The grouping key columns (level, period, grain, category) present in a table."""
    return [c for c in GROUP_COLUMNS if c in table.columns and c not in set(exclude)]


def sum_within_groups(values: pd.Series | np.ndarray, table: pd.DataFrame) -> pd.Series:
    """Sum of ``values`` over each row's (level, period, grain, category) group, aligned to the rows."""
    values = pd.Series(np.asarray(values), index=table.index)
    keys = group_columns(table)
    if not keys:
        return pd.Series(values.sum(), index=values.index)
    return values.groupby([table[k] for k in keys], dropna=False).transform("sum")


def denominator_column(denominator: str) -> str:
    """Population column for a denominator given by CLI name ("16plus") or column name."""
    if denominator in DENOMINATORS:
        return DENOMINATORS[denominator]
    if denominator in DENOMINATORS.values():
        return denominator
    raise AtlasError(
        f"unknown denominator {denominator!r}; choose one of {sorted(DENOMINATORS)} "
        f"or {sorted(DENOMINATORS.values())}"
    )


def rate_per_1000(counts: pd.DataFrame, population: pd.DataFrame, denominator: str = "total") -> pd.DataFrame:
    """Crude rate per 1,000 with 95% and 99.8% Poisson limits (exact < 10 events, else Byar; PHE guide).

    ``counts`` is the tidy counts table (area_code, period, count, ...); ``population`` has ``code`` and
    the denominator columns of ``geo.schema.DENOMINATORS``. Every counts column is kept; appended are
    population, rate_per_1000, rate_lower/upper_95, rate_lower/upper_998 and rate_note ("no population"
    where the area has no or zero population: the rate is then NaN, never inf).
    """
    _require(counts, [AREA_CODE, COUNT], "counts table")
    col = denominator_column(denominator)
    _require(population, [CODE, col], "population table")
    if population[CODE].duplicated().any():
        dups = population.loc[population[CODE].duplicated(), CODE].head(5).tolist()
        raise AtlasError(f"population table: duplicate codes {dups}")
    pop = pd.Series(population[col].to_numpy(dtype=float), index=population[CODE].astype(str))
    out = counts.copy()
    out[POPULATION] = out[AREA_CODE].astype(str).map(pop).astype(float)
    return add_rates(out)


def add_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Append rate_per_1000, interval columns and rate_note to a table with count and population."""
    _require(table, [COUNT, POPULATION], "table")
    out = table.copy()
    count = out[COUNT].to_numpy(dtype=float, na_value=np.nan)
    pop = out[POPULATION].to_numpy(dtype=float, na_value=np.nan)
    has_pop = pop > 0
    safe_pop = np.where(has_pop, pop, np.nan)
    out[RATE_PER_1000] = count / safe_pop * PER
    for level, conf in CONFIDENCE_LEVELS.items():
        lower, upper = rate_interval(count, safe_pop, conf, PER)
        out[rate_column("lower", level)] = lower
        out[rate_column("upper", level)] = upper
    out[RATE_NOTE] = pd.Series(np.where(has_pop, None, NO_POPULATION), index=out.index, dtype="string")
    return out


def overall_rate(rates: pd.DataFrame) -> pd.DataFrame:
    """Whole-area (all areas summed) rate per 1,000 with intervals, one row per period/category group.

    Areas without population are left out of both the numerator and the denominator.
    """
    _require(rates, [COUNT, POPULATION], "rates table")
    keys = group_columns(rates)
    valid = rates[rates[POPULATION].astype(float) > 0]
    if keys:
        summed = valid.groupby(keys, sort=True, dropna=False)[[COUNT, POPULATION]].sum().reset_index()
    else:
        summed = pd.DataFrame({COUNT: [valid[COUNT].sum()], POPULATION: [valid[POPULATION].sum()]})
    return add_rates(summed).drop(columns=[RATE_NOTE])


def rolling_12_months(counts: pd.DataFrame) -> pd.DataFrame:
    """Rolling 12-month sums of monthly counts; period "YYYY-MM" = the 12 months ending that month.

    Missing rows inside the table's month range count as zero (counts tables are sparse). Only windows
    lying wholly inside the range of months present in the table are returned (complete windows).
    repeat_count is summed the same way and is <NA> when any month of the window lacks it.
    """
    _require(counts, [AREA_CODE, PERIOD, COUNT], "counts table")
    if GRAIN in counts.columns and (counts[GRAIN] != "month").any():
        bad = counts.loc[counts[GRAIN] != "month", GRAIN].unique()[:3].tolist()
        raise AtlasError(f"rolling 12 months needs monthly counts; received grain {bad}")
    if counts.empty:
        return counts.copy()
    month = first_month_index(counts[PERIOD].astype(str), "month")
    first, last = int(month.min()), int(month.max())
    if last - first + 1 < 12:
        raise AtlasError(
            f"rolling 12 months needs at least 12 months of data; the table covers {last - first + 1}"
        )
    n_months = last - first + 1
    keys = [AREA_CODE] + [c for c in (LEVEL, CATEGORY) if c in counts.columns]
    row_keys, row_idx = _factorize_rows(counts[keys])
    cell = (row_idx, month - first)

    def windows(values: np.ndarray) -> np.ndarray:
        # Wide rows x months matrix (absent rows stay 0); a cumulative-sum difference gives every window.
        mat = np.zeros((len(row_keys), n_months))
        np.add.at(mat, cell, values)
        return _window_sum(mat, 12).ravel()

    out = row_keys.loc[row_keys.index.repeat(n_months - 11)].reset_index(drop=True)
    ends = np.tile(np.arange(first + 11, last + 1), len(row_keys))
    out[PERIOD] = labels_from_month_index(ends, "month").to_numpy()
    out[GRAIN] = ROLLING_12_GRAIN
    out[COUNT] = windows(counts[COUNT].to_numpy(dtype=float)).round().astype(np.int64)
    if REPEAT_COUNT in counts.columns:
        repeat = counts[REPEAT_COUNT].to_numpy(dtype=float, na_value=np.nan)
        summed = windows(np.nan_to_num(repeat))
        unknown = windows(np.isnan(repeat).astype(float)) > 0
        out[REPEAT_COUNT] = pd.array(np.where(unknown, np.nan, summed.round()), dtype="Float64").astype("Int64")
    order = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY, COUNT, REPEAT_COUNT]
    return out[[c for c in order if c in out.columns]]


def compare_to_reference(
    rates: pd.DataFrame,
    reference_rate: float | pd.Series,
    reference_lower: float | pd.Series | None = None,
    reference_upper: float | pd.Series | None = None,
    level: str = "95",
) -> pd.DataFrame:
    """Label each area "higher"/"similar"/"lower" than a reference (e.g. whole-area) rate per 1,000.

    Convention (PHE Fingertips benchmarking): an area is "similar" when its confidence interval contains
    the reference value, "higher" when its lower limit is above it, "lower" when its upper limit is below
    it. When reference limits are given the stricter non-overlap rule is used instead: "higher" only when
    the area's lower limit exceeds the reference's upper limit (and vice versa). Reference values may be
    scalars or Series indexed by period. Areas without a rate get <NA>.
    """
    _require(rates, [rate_column("lower", level), rate_column("upper", level)], "rates table")
    if (reference_lower is None) != (reference_upper is None):
        raise AtlasError("give both reference_lower and reference_upper, or neither")
    ref = _by_period(rates, reference_rate)
    above_at = _by_period(rates, reference_upper) if reference_upper is not None else ref
    below_at = _by_period(rates, reference_lower) if reference_lower is not None else ref
    lo = rates[rate_column("lower", level)].to_numpy(dtype=float)
    hi = rates[rate_column("upper", level)].to_numpy(dtype=float)
    label = np.select([lo > above_at, hi < below_at], ["higher", "lower"], "similar")
    usable = ~(np.isnan(lo) | np.isnan(hi) | np.isnan(ref))
    out = rates.copy(deep=False)  # copy-on-write: the new column below never reaches ``rates``
    out[COMPARED] = pd.Series(np.where(usable, label, None), index=rates.index, dtype="string")
    return out


def funnel_limits(reference_rate: float, population: Iterable[float] | np.ndarray) -> pd.DataFrame:
    """Funnel plot control limits (rate per 1,000) around a reference rate at each population size.

    Exact Poisson limits around the expected count E = rate x population / 1,000, interpolated between
    integer quantiles as in Spiegelhalter (2005, appendix A.1.1): with r the p-quantile of Poisson(E),
    limit = (r - a) / population with a = (P(X<=r) - p) / (P(X<=r) - P(X<=r-1)). Columns: population,
    expected_count, lower_95, upper_95, lower_998, upper_998.
    """
    if not np.isfinite(reference_rate) or reference_rate < 0:
        raise AtlasError(f"reference rate must be a finite number >= 0; received {reference_rate!r}")
    pop = np.asarray(population, dtype=float)
    pop = np.where(pop > 0, pop, np.nan)
    expected = reference_rate * pop / PER
    out = pd.DataFrame({POPULATION: pop, "expected_count": expected})
    for level, conf in CONFIDENCE_LEVELS.items():
        for bound, p in (("lower", (1 - conf) / 2), ("upper", (1 + conf) / 2)):
            out[f"{bound}_{level}"] = _interpolated_poisson_quantile(p, expected) / pop * PER
    return out


def flag_funnel(rates: pd.DataFrame, reference_rate: float) -> pd.DataFrame:
    """Mark each area "above"/"inside"/"below" the funnel limits at 95% (funnel_position_95) and 99.8%."""
    _require(rates, [POPULATION, RATE_PER_1000], "rates table")
    limits = funnel_limits(reference_rate, rates[POPULATION].to_numpy(dtype=float))
    rate = rates[RATE_PER_1000].to_numpy(dtype=float)
    out = rates.copy()
    for level in CONFIDENCE_LEVELS:
        lo, hi = limits[f"lower_{level}"].to_numpy(), limits[f"upper_{level}"].to_numpy()
        pos = np.select([rate > hi, rate < lo], ["above", "below"], "inside")
        ok = ~(np.isnan(rate) | np.isnan(lo))
        out[f"funnel_position_{level}"] = pd.Series(np.where(ok, pos, None), index=rates.index, dtype="string")
    return out


def share_of_incidents(rates: pd.DataFrame) -> pd.DataFrame:
    """Each area's share of incidents and of population within its period/category, and their ratio.

    share_ratio > 1 means the area has more than its population's share of incidents. Areas without
    population get NaN population_share and share_ratio (their incidents still count in the total).
    An incident_share already in the table (a rates table's, of the whole area's count, which in
    publication mode is a published count of its own: atlas.analyses) is kept.
    """
    _require(rates, [COUNT, POPULATION], "rates table")
    out = rates.copy()
    pop = out[POPULATION].astype(float).where(lambda s: s > 0)
    total_pop = sum_within_groups(pop, out)
    if INCIDENT_SHARE in out.columns:
        out[INCIDENT_SHARE] = out.pop(INCIDENT_SHARE)  # kept, placed with the other shares
    else:
        count = out[COUNT].astype(float)
        total_count = sum_within_groups(count, out)
        out[INCIDENT_SHARE] = count / total_count.where(total_count > 0)
    out[POPULATION_SHARE] = pop / total_pop
    out[SHARE_RATIO] = out[INCIDENT_SHARE] / out[POPULATION_SHARE]
    return out


def _interpolated_poisson_quantile(p: float, mean: np.ndarray) -> np.ndarray:
    """Spiegelhalter's continuous Poisson quantile: r - (F(r) - p) / (F(r) - F(r-1))."""
    r = poisson_ppf(p, mean)
    f_r = poisson_cdf(r, mean)
    f_r1 = poisson_cdf(r - 1, mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(f_r > f_r1, (f_r - p) / (f_r - f_r1), 0.0)
    return np.where(np.isnan(mean), np.nan, np.maximum(r - a, 0.0))


def poisson_cdf(k: np.ndarray | float, mu: np.ndarray | float) -> np.ndarray:
    """P(X <= k) for X ~ Poisson(mu), = scipy.stats.poisson.cdf: special.pdtr(floor(k), mu) with its edges."""
    k, mu = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(mu, dtype=float))
    with np.errstate(invalid="ignore"):
        inside = (k >= 0) & np.isfinite(k)
        cdf = special.pdtr(np.floor(np.where(inside, k, 0.0)), np.where(mu >= 0, mu, 0.0))
        out = np.where(inside, np.clip(cdf, 0, 1), 0.0)
        out = np.where(k == np.inf, 1.0, out)  # k < 0 (and -inf) stay 0
        out = np.where(~(mu >= 0) | np.isnan(k), np.nan, out)
    return out[()] if out.ndim == 0 else out


def poisson_ppf(q: np.ndarray | float, mu: np.ndarray | float) -> np.ndarray:
    """Smallest k with P(X <= k) >= q, X ~ Poisson(mu), = scipy.stats.poisson.ppf (q = 0 -> -1, q = 1 -> inf)."""
    q, mu = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(mu, dtype=float))
    with np.errstate(invalid="ignore"):
        inner = (q > 0) & (q < 1) & (mu >= 0)
        qq, mm = np.where(inner, q, 0.5), np.where(inner, mu, 1.0)
        # scipy's poisson._ppf: invert the continuous pdtrik, then step back one if that count already reaches q.
        vals = np.ceil(special.pdtrik(qq, mm))
        vals1 = np.maximum(vals - 1, 0)
        k = np.where(special.pdtr(vals1, mm) >= qq, vals1, vals)
        out = np.select([q == 0, q == 1, inner], [-1.0, np.inf, k], np.nan)
        out = np.where(mu >= 0, out, np.nan)
    return out[()] if out.ndim == 0 else out


def _by_period(rates: pd.DataFrame, value: float | pd.Series) -> np.ndarray:
    """A reference value aligned to rows: scalar broadcast, or a Series looked up by period."""
    if isinstance(value, pd.Series):
        _require(rates, [PERIOD], "rates table")
        missing = sorted(set(rates[PERIOD].astype(str).unique()) - set(value.index.astype(str)))
        if missing:
            raise AtlasError(f"no reference value for periods {missing[:5]}")
        lookup = pd.Series(value.to_numpy(dtype=float), index=value.index.astype(str))
        # Looked up once per distinct period (a national table has ~200,000 rows but a few periods).
        codes, uniques = pd.factorize(rates[PERIOD].astype(str))
        per_value = pd.Series(uniques).map(lookup).to_numpy(dtype=float)
        return np.where(codes >= 0, per_value[np.maximum(codes, 0)] if len(per_value) else np.nan, np.nan)
    return np.full(len(rates), float(value))


def _factorize_rows(keys: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Unique key rows (sorted) and each input row's position among them."""
    uniq = keys.drop_duplicates().sort_values(list(keys.columns)).reset_index(drop=True)
    pos = pd.MultiIndex.from_frame(uniq.astype(str)).get_indexer(pd.MultiIndex.from_frame(keys.astype(str)))
    return uniq, pos


def _window_sum(mat: np.ndarray, width: int) -> np.ndarray:
    """Sums over every complete trailing window of ``width`` columns."""
    c = np.cumsum(np.pad(mat, ((0, 0), (1, 0))), axis=1)
    return c[:, width:] - c[:, :-width]


def _require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise AtlasError(f"{what} is missing columns {missing}; it has {list(table.columns)}")
