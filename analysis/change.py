"""Change between periods: count, % and rate change with an exact test, and the three-year seed table.

The test compares two Poisson counts conditionally on their total (Przyborowski & Wilenski 1940;
Breslow & Day 1987, section 2.4): given n1 + n2, n2 ~ Binomial(n1 + n2, t2 / (t1 + t2)) where t is
the exposure (population x months). The two-sided p-value is the exact binomial test's "minimum
likelihood" p-value, equal (to 1e-10 relative, tests/test_change.py) to
``scipy.stats.binomtest(n2, n1 + n2, t2/(t1+t2)).pvalue`` but computed for every area at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special

from analysis.periods import months_in
from analysis.rates import group_columns
from geo.schema import AREA_CODE, AREA_NAME, AtlasError, COUNT, GRAIN, GRAINS, PERIOD, POPULATION, RATE_PER_1000

CHANGE_LABELS = ("significant increase", "no significant change", "significant decrease")
# scipy.stats.binomtest counts outcomes as "as unlikely" within this relative tolerance.
_RERR = 1 + 1e-7


def poisson_rate_test(
    count_from: np.ndarray, count_to: np.ndarray, exposure_from: np.ndarray, exposure_to: np.ndarray
) -> np.ndarray:
    """Two-sided exact conditional p-value for equal Poisson rates: n2 | n1+n2 ~ Bin(n1+n2, t2/(t1+t2))."""
    n1 = np.asarray(count_from, dtype=float)
    n2 = np.asarray(count_to, dtype=float)
    t1 = np.asarray(exposure_from, dtype=float)
    t2 = np.asarray(exposure_to, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = t2 / (t1 + t2)
    return binom_test_two_sided(n2, n1 + n2, prob)


def binom_test_two_sided(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Vectorised two-sided exact binomial p-value, the "minlike" method of scipy.stats.binomtest.

    Sums the probabilities of every outcome no more likely than the observed one. The outcomes on the
    far side of the mode are found by bisection on the (monotone) pmf, run on all rows together.
    n = 0 gives 1; NaN inputs give NaN.
    """
    k, n, p = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, n, p)))
    bad = np.isnan(k) | np.isnan(n) | np.isnan(p) | (p < 0) | (p > 1)
    k = np.where(bad, 0, k)
    n = np.where(bad, 0, n)
    p = np.where(bad, 0.5, p)
    d = _binom_pmf(k, n, p) * _RERR
    mean = n * p
    below = k < mean
    # Below the mean: the far tail is the upper one, [first x >= ceil(np) with pmf(x) <= d, n].
    lo = np.where(below, np.ceil(mean), 0.0)
    hi = np.where(below, n + 1, np.floor(mean) + 1)
    # Bisection for the first x in [lo, hi) where the condition holds (hi if none): pmf is
    # non-increasing above the mean (condition pmf <= d) and non-decreasing below it (pmf > d).
    for _ in range(int(np.ceil(np.log2(np.max(n, initial=0) + 2))) + 1):
        mid = np.floor((lo + hi) / 2)
        active = lo < hi
        pm = _binom_pmf(mid, n, p)
        cond = np.where(below, pm <= d, pm > d)
        hi = np.where(active & cond, mid, hi)
        lo = np.where(active & ~cond, mid + 1, lo)
    upper_tail = _binom_cdf(k, n, p) + _binom_sf(lo - 1, n, p)
    # Above the mean: outcomes 0..lo-1 have pmf <= d.
    lower_tail = _binom_cdf(lo - 1, n, p) + _binom_sf(k - 1, n, p)
    pval = np.where(below, upper_tail, lower_tail)
    pval = np.where((k == mean) | (n == 0), 1.0, np.minimum(pval, 1.0))
    return np.where(bad, np.nan, pval)


# Binomial pmf/cdf/sf from scipy.special (log-gamma and the incomplete beta, as scipy.stats.binom does
# underneath) rather than scipy.stats, whose import costs ~0.4 s on the app's first page. They agree
# with scipy.stats.binomtest to 1e-10 (tests/test_change.py); the "as likely" comparison has a
# relative tolerance of 1e-7, far above their rounding differences.
def _binom_args(n: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, p, valid): as scipy.stats.binom, a non-integer or negative n or p outside [0, 1] gives NaN."""
    valid = (n >= 0) & (n == np.floor(n)) & (p >= 0) & (p <= 1)
    return np.where(valid, n, 0.0), np.where(valid, p, 0.5), valid


def _binom_pmf(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(X = k), X ~ Binomial(n, p); 0 outside 0..n."""
    n, p, valid = _binom_args(n, p)
    inside = (k >= 0) & (k <= n) & (k == np.floor(k))
    kk = np.where(inside, k, 0.0)
    log_pmf = (special.gammaln(n + 1) - special.gammaln(kk + 1) - special.gammaln(n - kk + 1)
               + special.xlogy(kk, p) + special.xlog1py(n - kk, -p))
    return np.where(valid, np.where(inside, np.exp(log_pmf), 0.0), np.nan)


def _binom_cdf(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(X <= k); 0 below 0, 1 from n on."""
    n, p, valid = _binom_args(n, p)
    k = np.floor(k)
    inner = special.bdtr(np.clip(k, 0, n), n.astype(np.int64), p)
    return np.where(valid, np.where(k < 0, 0.0, np.where(k >= n, 1.0, inner)), np.nan)


def _binom_sf(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(X > k); 1 below 0, 0 from n on."""
    n, p, valid = _binom_args(n, p)
    k = np.floor(k)
    inner = special.bdtrc(np.clip(k, 0, n), n.astype(np.int64), p)
    return np.where(valid, np.where(k < 0, 1.0, np.where(k >= n, 0.0, inner)), np.nan)


def period_change(
    rates: pd.DataFrame,
    period_from: str,
    period_to: str,
    alpha: float = 0.05,
    months: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Change per area from ``period_from`` to ``period_to`` with an exact conditional Poisson test.

    Input: a rates table (rate_per_1000 output, or a counts table with a population column). Output one
    row per area (and level/category): period_from, period_to, count_from, count_to, count_change,
    pct_change (of the count; NaN from zero), rate_from, rate_to, rate_change, p_value, change_label.
    Exposure is population x months in the period; when population is missing for either period the
    populations are taken as equal (the count test then compares counts over equal-length periods).
    ``months`` (period label -> months) overrides the months of a period, e.g. with the months the
    data actually covers when a period is only partly covered. An area missing from one period counts 0 there.
    """
    for col in (AREA_CODE, PERIOD, COUNT):
        if col not in rates.columns:
            raise AtlasError(f"rates table is missing column {col!r}; it has {list(rates.columns)}")
    have = set(rates[PERIOD].astype(str))
    for label in (period_from, period_to):
        if label not in have:
            raise AtlasError(f"period {label!r} is not in the table; it has {sorted(have)[:10]}")
    keys = [AREA_CODE] + group_columns(rates, exclude=[PERIOD, GRAIN])
    value_cols = [COUNT] + [c for c in (POPULATION, RATE_PER_1000) if c in rates.columns]
    sub = rates[rates[PERIOD].astype(str).isin([period_from, period_to])]
    if sub.duplicated(keys + [PERIOD]).any():
        raise AtlasError("the table has more than one row for an area in a period; filter it first")
    wide = sub.pivot(index=keys, columns=PERIOD, values=value_cols)

    def col(name: str, label: str) -> np.ndarray:
        if (name, label) not in wide.columns:
            return np.full(len(wide), np.nan)
        return wide[(name, label)].to_numpy(dtype=float, na_value=np.nan)

    out = wide.index.to_frame(index=False)
    out["period_from"], out["period_to"] = period_from, period_to
    n1, n2 = np.nan_to_num(col(COUNT, period_from)), np.nan_to_num(col(COUNT, period_to))
    out["count_from"], out["count_to"] = n1.astype(np.int64), n2.astype(np.int64)
    out["count_change"] = (n2 - n1).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["pct_change"] = np.where(n1 > 0, (n2 - n1) / n1 * 100, np.nan)
    out["rate_from"], out["rate_to"] = col(RATE_PER_1000, period_from), col(RATE_PER_1000, period_to)
    out["rate_change"] = out["rate_to"] - out["rate_from"]
    pop1, pop2 = col(POPULATION, period_from), col(POPULATION, period_to)
    known = (pop1 > 0) & (pop2 > 0)
    # Audit fix: a partly covered period (e.g. the current financial year, 6 of 12 months) has only the
    # covered months of exposure; counting it as a whole period made every area a "significant decrease".
    m1 = float(months[period_from]) if months and period_from in months else _months(rates, period_from)
    m2 = float(months[period_to]) if months and period_to in months else _months(rates, period_to)
    if not (m1 > 0 and m2 > 0):
        raise AtlasError(f"periods {period_from!r} and {period_to!r} need a positive number of months; got {m1}, {m2}")
    t1, t2 = np.where(known, pop1, 1.0) * m1, np.where(known, pop2, 1.0) * m2
    pval = poisson_rate_test(n1, n2, t1, t2)
    out["p_value"] = pval
    rising = n2 / t2 > n1 / t1
    label = np.where(pval < alpha, np.where(rising, CHANGE_LABELS[0], CHANGE_LABELS[2]), CHANGE_LABELS[1])
    out["change_label"] = pd.Series(label, dtype="string")
    return out


def seed_table(rates_long: pd.DataFrame, periods: Sequence[str], category: str | None = None) -> pd.DataFrame:
    """Rates per 1,000 for several periods side by side, % change first-to-last, ranked by latest rate.

    One row per area: area_code (and area_name if present), count_<p> and rate_<p> for each period
    (p made column-safe: "2022/23" -> "2022_23"), pct_change_<first>_to_<last> (of the rate; NaN from a
    zero rate), and rank (1 = highest rate in the last period, ties share the lowest rank; <NA> without a
    rate). Sorted by rank.
    """
    if len(periods) < 2:
        raise AtlasError(f"the seed table needs at least two periods; received {list(periods)}")
    table = rates_long
    if category is not None:
        table = table[table["category"] == category]
    for key in group_columns(table, exclude=[PERIOD, GRAIN]):
        if table[key].nunique() > 1:
            raise AtlasError(
                f"the seed table takes one {key} at a time; the table has {sorted(table[key].astype(str).unique())[:5]}"
            )
    present = set(table[PERIOD].astype(str).unique())  # distinct labels: no Python loop over rows
    missing = [p for p in periods if p not in present]
    if missing:
        raise AtlasError(f"periods {missing} are not in the table")
    sub = table[table[PERIOD].astype(str).isin(periods)]
    if sub.duplicated([AREA_CODE, PERIOD]).any():
        raise AtlasError("the table has more than one row for an area in a period")
    wide = sub.pivot(index=AREA_CODE, columns=PERIOD, values=[COUNT, RATE_PER_1000])
    out = pd.DataFrame(index=wide.index)
    if AREA_NAME in sub.columns:
        out[AREA_NAME] = sub.drop_duplicates(AREA_CODE).set_index(AREA_CODE)[AREA_NAME]
    safe = {p: safe_period_name(p) for p in periods}
    for p in periods:
        count = wide[(COUNT, p)] if (COUNT, p) in wide.columns else pd.Series(np.nan, index=wide.index)
        out[f"count_{safe[p]}"] = count.fillna(0).astype(np.int64)
        out[f"rate_{safe[p]}"] = wide[(RATE_PER_1000, p)].astype(float)
    first, last = out[f"rate_{safe[periods[0]]}"], out[f"rate_{safe[periods[-1]]}"]
    out[f"pct_change_{safe[periods[0]]}_to_{safe[periods[-1]]}"] = (last - first) / first.where(first > 0) * 100
    out["rank"] = last.rank(ascending=False, method="min").astype("Int64")
    out = out.reset_index().sort_values(["rank", AREA_CODE], na_position="last", kind="stable")
    return out.reset_index(drop=True)


def safe_period_name(label: str) -> str:
    """A period label as a column-name fragment: "2022/23" -> "2022_23", "2019/20-Q1" -> "2019_20_q1"."""
    return re.sub(r"[^0-9a-z]+", "_", str(label).lower()).strip("_")


def _months(rates: pd.DataFrame, label: str) -> float:
    """Months covered by a period label (1 when the grain is unknown), for the exposure."""
    if GRAIN not in rates.columns:
        return 1.0
    grains = rates.loc[rates[PERIOD].astype(str) == label, GRAIN].astype(str).unique()
    if len(grains) != 1 or grains[0] not in GRAINS:
        return 1.0
    return float(len(months_in(label, grains[0])))
