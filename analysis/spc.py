"""Statistical process control: XmR charts of many series at once, with the Making Data Count rules.

Follows NHS England's "Making Data Count" (MDC) guidance and its reference implementation, the NHS-R
community's R package NHSRplotthedots (``ptd_spc``; files R/ptd_spc_standard.R and
R/ptd_calculate_point_type.R). Every function works on an ``[series x periods]`` matrix (one row
per area, plus the whole area): the limits and rules are array operations, with no loop over series.

Limits (MDC; NHSRplotthedots ``ptd_spc_standard``):

* centre line = mean of the baseline points (default every point; ``baseline`` = the first n
  periods, as ``fix_after_n_points``, or a boolean mask of periods);
* moving ranges ``|x_t - x_(t-1)|`` between consecutive baseline points, MR-bar = their mean;
* with ``screen_outliers`` (default on, as NHSRplotthedots) ranges above 3.267 x MR-bar (the
  upper limit of a moving-range chart, D4 for n = 2) are left out and MR-bar is recomputed once;
* process limits = mean +/- 2.66 x MR-bar (2.66 = 3 / d2, d2 = 1.128, so sigma = MR-bar / 1.128);
  the 2-sigma lines = mean +/- (2/3) x 2.66 x MR-bar;
* ``floor_zero`` (default on, for counts and rates, which cannot be negative) raises a negative lower
  limit and 2-sigma line to 0. NHSRplotthedots does not floor; for non-negative data this changes
  no rule, as no value can fall below 0.

Rules (MDC; NHSRplotthedots ``ptd_calculate_point_type``), each marking every point of the pattern:

* ``outside_limits``: a point above the upper or below the lower process limit (strictly);
* ``shift``: a run of ``shift_run`` (7) or more consecutive points all above or all below the mean;
  a point exactly on the mean belongs to neither side and breaks the run (as NHSRplotthedots);
* ``trend``: ``trend_run`` (default 6, as MDC's current guidance and the brief; NHSRplotthedots
  uses 7) or more consecutive points each strictly higher (or lower) than the one before; a tie
  breaks the trend (as NHSRplotthedots);
* ``two_in_three``: two of three consecutive points beyond the same 2-sigma line (and not outside
  the process limits), all three on the same side of the mean; the points beyond the line are
  marked (as NHSRplotthedots ``ptd_two_in_three``).

A missing value (NaN) belongs to no side, breaks every run and every moving range (the ranges either
side of it are not counted). The direction of a special cause follows NHSRplotthedots' precedence
(outside limits, trend, two in three, shift): the side of the mean, or for a trend its direction
(the later one where a point ends one trend and starts another); with a polarity it becomes the MDC
variation category: special cause concern or improvement. Assurance against a target (MDC;
``ptd_calculate_assurance_type``): a target outside the process limits is consistently passed or
failed, inside them it is hit and miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LIMIT = 2.66  # MDC's 3 / d2 (d2 = 1.128 for ranges of two points), rounded as NHSRplotthedots
D2 = 1.128
SCREEN = 3.267  # D4 for n = 2: upper limit of the moving-range chart (NHSRplotthedots screen_outliers)
RULES: tuple[str, ...] = ("outside_limits", "shift", "trend", "two_in_three")
POLARITIES: tuple[str, ...] = ("higher_is_worse", "higher_is_better", "neutral")
COMMON = "common cause"
CONCERN = "special cause concern"
IMPROVEMENT = "special cause improvement"
NEUTRAL_HIGH = "special cause (high)"
NEUTRAL_LOW = "special cause (low)"
PASSES = "consistently passes"
FAILS = "consistently fails"
HIT_AND_MISS = "hit and miss"
# NHSRplotthedots (ptd_add_short_group_warnings) warns when limits rest on fewer than 12 points.
MIN_POINTS = 12


@dataclass(frozen=True, eq=False)
class XmR:
    """XmR limits and Making Data Count rules for a [series x periods] matrix (arrays; read-only)."""

    values: np.ndarray  # float [s x p]
    moving_range: np.ndarray  # float [s x p]; NaN at the first point and next to a gap
    mr_counted: np.ndarray  # bool [s x p]: ranges in MR-bar (baseline, not screened out)
    in_baseline: np.ndarray  # bool [s x p]: points the mean is taken over (and present)
    mean: np.ndarray  # [s]
    mr_bar: np.ndarray  # [s]
    upper: np.ndarray  # [s] process limits
    lower: np.ndarray
    upper_2s: np.ndarray  # [s] 2-sigma lines
    lower_2s: np.ndarray
    outside_limits: np.ndarray  # bool [s x p], one per rule
    shift: np.ndarray
    trend: np.ndarray
    two_in_three: np.ndarray
    side: np.ndarray  # int8 [s x p]: +1 above the mean, -1 below, 0 on it or missing
    shift_length: np.ndarray  # int [s x p]: length of the same-side run holding the point (0 = none)
    trend_length: np.ndarray  # int [s x p]: points in the qualifying trend holding the point (0 = none)
    trend_direction: np.ndarray  # int8 [s x p]: +1 rising, -1 falling, 0 not in a trend

    @property
    def special(self) -> np.ndarray:
        """bool [s x p]: any rule fired at the point."""
        return self.outside_limits | self.shift | self.trend | self.two_in_three

    @property
    def direction(self) -> np.ndarray:
        """int8 [s x p]: +1 a high special cause, -1 a low one, 0 none (NHSRplotthedots' precedence)."""
        by_side = np.where(self.special, self.side, 0)
        return np.where(self.trend & ~self.outside_limits, self.trend_direction, by_side).astype(np.int8)

    def rule(self, name: str) -> np.ndarray:
        """bool [s x p] of one rule of RULES."""
        if name not in RULES:
            raise ValueError(f"unknown rule {name!r}; choose one of {', '.join(RULES)}")
        return getattr(self, name)


def xmr(
    values: np.ndarray,
    baseline: int | np.ndarray | None = None,
    screen_outliers: bool = True,
    floor_zero: bool = True,
    shift_run: int = 7,
    trend_run: int = 6,
    multiplier: float = LIMIT,
) -> XmR:
    """XmR chart of every row of ``values`` (NHS England Making Data Count; NHSRplotthedots ptd_spc).

    ``baseline``: None = every point; an int n = the first n periods (``fix_after_n_points``); or a
    boolean mask over the periods. ``multiplier`` is 2.66 (MDC); 3 / 1.128 gives the unrounded limits.
    """
    x = np.atleast_2d(np.asarray(values, dtype=float))
    n_series, n = x.shape
    if shift_run < 2 or trend_run < 2:
        raise ValueError("shift_run and trend_run must be at least 2")
    present = ~np.isnan(x)
    base = _baseline_mask(baseline, n)
    in_base = present & base[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        n_base = in_base.sum(axis=1)
        mean = np.where(n_base > 0, np.where(in_base, x, 0.0).sum(axis=1) / np.maximum(n_base, 1), np.nan)
    mr = np.full_like(x, np.nan)
    mr[:, 1:] = np.abs(np.diff(x, axis=1))
    counted = np.zeros_like(present)
    counted[:, 1:] = in_base[:, 1:] & in_base[:, :-1]
    mr_bar = _row_mean(mr, counted)
    if screen_outliers:
        # NHSRplotthedots keeps ranges strictly below 3.267 x MR-bar; "at or below" differs only for a
        # constant series, where "below 0" would drop every range and leave no limits at all.
        counted = counted & (mr <= SCREEN * mr_bar[:, None])
        mr_bar = _row_mean(mr, counted)
    upper, lower = mean + multiplier * mr_bar, mean - multiplier * mr_bar
    upper_2s, lower_2s = mean + multiplier * 2 / 3 * mr_bar, mean - multiplier * 2 / 3 * mr_bar
    if floor_zero:
        lower, lower_2s = np.maximum(lower, 0.0), np.maximum(lower_2s, 0.0)  # NaN stays NaN

    with np.errstate(invalid="ignore"):
        side = np.where(present, np.sign(x - mean[:, None]), 0).astype(np.int8)
        outside = present & ((x > upper[:, None]) | (x < lower[:, None]))
        beyond_2s = present & ~outside & ((x > upper_2s[:, None]) | (x < lower_2s[:, None]))
    above_len, below_len = _run_length(side > 0), _run_length(side < 0)
    shift_len = np.where(side > 0, above_len, below_len)
    shift = shift_len >= shift_run
    trend, trend_len, trend_dir = _trends(x, trend_run)
    return XmR(
        values=x, moving_range=mr, mr_counted=counted, in_baseline=in_base, mean=mean, mr_bar=mr_bar,
        upper=upper, lower=lower, upper_2s=upper_2s, lower_2s=lower_2s, outside_limits=outside, shift=shift,
        trend=trend, two_in_three=_two_in_three(beyond_2s, side), side=side,
        shift_length=np.where(shift, shift_len, 0), trend_length=trend_len, trend_direction=trend_dir,
    )


def _baseline_mask(baseline: int | np.ndarray | None, n: int) -> np.ndarray:
    """bool [n] of the baseline periods."""
    if baseline is None:
        return np.ones(n, dtype=bool)
    if isinstance(baseline, (int, np.integer)) and not isinstance(baseline, bool):
        if baseline < 1:
            raise ValueError(f"baseline must be at least 1 period; received {baseline}")
        return np.arange(n) < baseline
    mask = np.asarray(baseline, dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"baseline mask has {mask.size} entries; the series have {n} periods")
    return mask


def _row_mean(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each row of ``a`` over ``mask`` (NaN for a row with nothing counted)."""
    k = mask.sum(axis=1)
    total = np.where(mask, a, 0.0).sum(axis=1)
    return np.where(k > 0, total / np.maximum(k, 1), np.nan)


def _run_length(mask: np.ndarray) -> np.ndarray:
    """int [s x p]: length of the run of True holding each cell (0 where False), row-wise and vectorised."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape[1] == 0:
        return np.zeros(mask.shape, dtype=np.int64)
    idx = np.arange(1, mask.shape[1] + 1)
    ending = idx - np.maximum.accumulate(np.where(~mask, idx, 0), axis=1)  # run length ending here
    rev = mask[:, ::-1]
    starting = (idx - np.maximum.accumulate(np.where(~rev, idx, 0), axis=1))[:, ::-1]  # run starting here
    return np.where(mask, ending + starting - 1, 0)


def _trends(x: np.ndarray, run: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(in a trend, points in that trend, +1 rising / -1 falling) for trends of ``run`` or more points."""
    s, n = x.shape
    if n < 2:
        zeros = np.zeros((s, n), dtype=np.int64)
        return zeros.astype(bool), zeros, zeros.astype(np.int8)
    with np.errstate(invalid="ignore"):
        d = np.diff(x, axis=1)
        up, down = d > 0, d < 0  # NaN compares False: a gap breaks a trend; a tie (0) too
    # A trend of k points is k - 1 consecutive steps the same way; steps_in[j] = length of that run at step j.
    steps = np.where(up, _run_length(up), 0) - np.where(down, _run_length(down), 0)  # signed
    qualifies = np.abs(steps) >= run - 1
    pad = np.zeros((s, 1), dtype=steps.dtype)
    left = np.hstack([pad, np.where(qualifies, steps, 0)])  # the step into each point
    right = np.hstack([np.where(qualifies, steps, 0), pad])  # the step out of it
    # NHSRplotthedots: a point in trends on both sides takes the later one's direction.
    chosen = np.where(right != 0, right, left)
    in_trend = chosen != 0
    return in_trend, np.abs(chosen) + np.where(in_trend, 1, 0), np.sign(chosen).astype(np.int8)


def _two_in_three(beyond: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Points beyond a 2-sigma line in a window of 3 with 2+ such points, all 3 on one side (ptd_two_in_three)."""
    s, n = beyond.shape
    if n < 3:
        return np.zeros((s, n), dtype=bool)
    b = beyond.astype(np.int64)
    k = b[:, :-2] + b[:, 1:-1] + b[:, 2:]  # windows starting at 0 .. n-3
    one_side = np.abs(side[:, :-2].astype(np.int64) + side[:, 1:-1] + side[:, 2:]) == 3
    window = (k >= 2) & one_side
    pad = np.zeros((s, 2), dtype=bool)
    padded = np.hstack([pad, window, pad])  # padded[j + 2] = window starting at j
    # point t lies in the windows starting at t-2, t-1 and t
    hit = padded[:, 0:n] | padded[:, 1:n + 1] | padded[:, 2:n + 2]
    return hit & beyond


def variation(result: XmR, polarity: str = "higher_is_worse") -> np.ndarray:
    """MDC variation category of each point: common cause, special cause concern / improvement (object [s x p])."""
    _check_polarity(polarity)
    d = result.direction
    if polarity == "neutral":
        out = np.where(d > 0, NEUTRAL_HIGH, np.where(d < 0, NEUTRAL_LOW, COMMON))
    else:
        worse = 1 if polarity == "higher_is_worse" else -1
        out = np.where(d == worse, CONCERN, np.where(d == -worse, IMPROVEMENT, COMMON))
    out = out.astype(object)
    out[np.isnan(result.values)] = None
    return out


def rules_fired(result: XmR) -> np.ndarray:
    """object [s x p]: the rules that fired at each point, ';'-separated in RULES order ('' for none)."""
    return _join([np.where(result.rule(r), r, "") for r in RULES], ";")


def notes(result: XmR, polarity: str = "higher_is_worse", unit: str = "month") -> np.ndarray:
    """object [s x p]: each point's reading in plain English, e.g. "special cause concern: 7 months in a row above the average"."""
    units = {"month": "months", "quarter": "quarters"}.get(unit, f"{unit}s" if unit else "periods")
    hi = result.side > 0
    outside = np.where(result.outside_limits, np.where(hi, "above the upper process limit",
                                                       "below the lower process limit"), "")
    shift = np.where(result.shift, np.char.add(result.shift_length.astype(str),
                                               np.where(hi, f" {units} in a row above the average",
                                                        f" {units} in a row below the average")), "")
    rising = result.trend_direction > 0
    trend = np.where(result.trend, np.char.add(result.trend_length.astype(str),
                                               np.where(rising, f" {units} in a row rising",
                                                        f" {units} in a row falling")), "")
    near = np.where(result.two_in_three, np.where(hi, f"2 of 3 {units} in a row near the upper limit (beyond 2 sigma)",
                                                  f"2 of 3 {units} in a row near the lower limit (beyond 2 sigma)"), "")
    reasons = _join([outside, trend, near, shift], "; ")
    category = variation(result, polarity)
    text = np.where(result.special, np.char.add(np.char.add(category.astype(str), ": "), reasons.astype(str)),
                    "common cause: within the process limits, no special-cause pattern")
    if polarity == "neutral":
        text = np.where(result.special, np.char.add(text, " (improvement or concern depends on direction)"), text)
    out = text.astype(object)
    out[np.isnan(result.values)] = None
    return out


def assurance(result: XmR, target: float | np.ndarray | None, polarity: str = "higher_is_worse") -> np.ndarray:
    """object [s]: MDC assurance against ``target``: consistently passes / fails (target outside the limits) or hit and miss.

    As NHSRplotthedots ``ptd_calculate_assurance_type``: none without a target or with a neutral polarity.
    """
    _check_polarity(polarity)
    s = len(result.mean)
    if target is None or polarity == "neutral":
        return np.full(s, None, dtype=object)
    t = np.broadcast_to(np.asarray(target, dtype=float), (s,))
    better_high = polarity == "higher_is_better"
    with np.errstate(invalid="ignore"):
        above, below = t > result.upper, t < result.lower
    out = np.where(above, FAILS if better_high else PASSES,
                   np.where(below, PASSES if better_high else FAILS, HIT_AND_MISS)).astype(object)
    out[np.isnan(t) | np.isnan(result.upper)] = None
    return out


def xmr_table(
    values: np.ndarray,
    series: pd.DataFrame,
    periods: list[str] | tuple[str, ...],
    target: float | None = None,
    polarity: str = "higher_is_worse",
    unit: str = "month",
    **options,
) -> pd.DataFrame:
    """One row per series x period: value, mean, limits, 2-sigma lines, rules, note, variation, assurance.

    ``series``: one row per row of ``values`` (its columns lead the table, e.g. area_code, area_name);
    ``options`` go to ``xmr`` (baseline, screen_outliers, floor_zero, shift_run, trend_run, multiplier).
    """
    r = xmr(values, **options)
    s, n = r.values.shape
    if len(series) != s or len(periods) != n:
        raise ValueError(f"values are {s} x {n}; series has {len(series)} rows and there are {len(periods)} periods")
    each = lambda a: np.repeat(a, n)  # noqa: E731  (a per-series figure on each of its rows)
    table = series.loc[series.index.repeat(n)].reset_index(drop=True)
    flags = {f"rule_{name}": r.rule(name).ravel() for name in RULES}
    table = table.assign(
        period=np.tile(np.asarray(periods, dtype=object), s), value=r.values.ravel(), mean=each(r.mean),
        upper_limit=each(r.upper), lower_limit=each(r.lower), upper_2sigma=each(r.upper_2s),
        lower_2sigma=each(r.lower_2s), moving_range=r.moving_range.ravel(), mr_bar=each(r.mr_bar),
        mr_counted=r.mr_counted.ravel(), in_baseline=r.in_baseline.ravel(), special_cause=r.special.ravel(),
        **flags, rules=rules_fired(r).ravel(), variation=variation(r, polarity).ravel(),
        note=notes(r, polarity, unit).ravel(), target=np.nan if target is None else float(target),
        assurance=each(assurance(r, target, polarity)), polarity=polarity,
    )
    return table


def _join(parts: list[np.ndarray], sep: str) -> np.ndarray:
    """Element-wise join of string arrays, skipping empty pieces."""
    out = np.asarray(parts[0], dtype=str)
    for p in parts[1:]:
        p = np.asarray(p, dtype=str)
        both = np.char.add(np.char.add(out, sep), p)
        out = np.where(out == "", p, np.where(p == "", out, both))
    return out.astype(object)


def _check_polarity(polarity: str) -> None:
    if polarity not in POLARITIES:
        raise ValueError(f"unknown polarity {polarity!r}; choose one of {', '.join(POLARITIES)}")


__all__ = [
    "COMMON", "CONCERN", "D2", "FAILS", "HIT_AND_MISS", "IMPROVEMENT", "LIMIT", "MIN_POINTS", "NEUTRAL_HIGH",
    "NEUTRAL_LOW", "PASSES", "POLARITIES", "RULES", "SCREEN", "XmR", "assurance", "notes", "rules_fired",
    "variation", "xmr", "xmr_table",
]
