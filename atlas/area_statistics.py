"""Services for smoothed rates, rolling rates, concentration and global Moran's I (CLI and app)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from analysis.concentration import gini_coefficient, repeat_share, top_area_share
from analysis.hotspots import HotspotParams
from analysis.moran import global_moran
from analysis.rates import add_rates, flag_funnel, rolling_12_months, share_of_incidents
from analysis.smoothing import eb_rate, eb_standardised_rate, excess_risk, spatial_eb_rate
from analysis.perturbation import cell_keys, perturb
from atlas.analyses import (
    WHOLE_AREA_RATE,
    AnalysisFrame,
    _finish,
    _rates,
    _sort_by_period,
    area_weights,
    load_frame,
    repeat_keys,
)
from geo.schema import AREA_CODE, COUNT, PERIOD, POPULATION, RATE_PER_1000, REPEAT_COUNT, AtlasError

ROLLING_12 = "rolling12"


def smoothed_rates_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    period: str | None = None,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
    weights_method: str = "queen",
) -> pd.DataFrame:
    """Crude, EB and spatial EB rates, excess risk, funnel position, shares and repeat share per area x period.

    Empirical Bayes after Marshall (1991); spatial EB with each area's neighbourhood as prior; funnel
    limits after Spiegelhalter (2005) around the whole area's rate; repeat share with a Wilson interval.
    """
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    if f.population is None:
        raise AtlasError(f"smoothed rates need population; boundary set {f.boundary_set!r} has none "
                         "(add one with `atlas population add`)")
    weights, report = area_weights(f.boundary_set, level, f.lad_codes, weights_method)
    base = f.in_period(_rates(f), period)
    pieces = []
    for _, t in base.groupby(PERIOD, sort=False):
        t = eb_rate(t)
        t = spatial_eb_rate(t, weights.binary, ids=weights.codes)
        t = excess_risk(t)
        t = eb_standardised_rate(t)
        whole = float(t[WHOLE_AREA_RATE].iloc[0])  # the rates table's (publication mode: a published total's)
        t = flag_funnel(t, whole)
        pieces.append(t)
    table = pd.concat(pieces, ignore_index=True)
    table = repeat_share(share_of_incidents(table))
    table = _sort_by_period(table, f)
    return _finish(table, f, extra_notes=[report.summary()])


def rolling_rates_table(
    store: Any,
    dataset: str,
    level: str,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
) -> pd.DataFrame:
    """Rates per 1,000 over rolling 12-month windows; period = the last month of each window."""
    f = load_frame(store, dataset, level, "month", area_filter, denominator, category)
    rolled = _rolling_counts(f)
    t = rolled.merge(f.areas, on=AREA_CODE, how="left")
    t[POPULATION] = t[AREA_CODE].map(f.population).astype(float) if f.population is not None else np.nan
    t = add_rates(t)
    return _finish(t.sort_values([AREA_CODE, PERIOD], kind="stable"), f,
                   extra_notes=["period = the 12 months ending in that month"])


def _rolling_counts(f: AnalysisFrame) -> pd.DataFrame:
    """rolling_12_months of the frame's counts; in publication mode each window is a published count of its own.

    (A window summed from perturbed months, less the next window, would give a hidden month back exactly.)
    """
    if not f.perturbed:
        return rolling_12_months(f.counts)
    exact = rolling_12_months(replace(f, cube=f.exact_cube, repeat_cube=f.exact_repeat_cube).counts)
    keys = rolling_12_months(replace(f, cube=f.key_cube, repeat_cube=np.full(f.cube.shape, np.nan)).counts)
    count = perturb(exact[COUNT].to_numpy(), cell_keys(keys[COUNT].to_numpy()))
    out = exact.assign(**{COUNT: count})
    if REPEAT_COUNT in exact.columns:
        known = exact[REPEAT_COUNT].notna().to_numpy()
        moved = perturb(exact[REPEAT_COUNT].fillna(0).to_numpy(dtype=np.int64), repeat_keys(keys[COUNT].to_numpy()))
        out[REPEAT_COUNT] = pd.array(np.where(known, np.minimum(moved, count), np.nan), dtype="Float64").astype("Int64")
    return out


def concentration_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    period: str | None = None,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
) -> pd.DataFrame:
    """Per period: share of incidents in the top 10%/20% of areas (by rate and by count) and Gini coefficients.

    Gini from the Lorenz curve (Cowell 2011): population-weighted Gini of rates and the Gini of counts
    across areas.
    """
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    rates = f.in_period(_rates(f), period)[[AREA_CODE, PERIOD, COUNT, POPULATION, RATE_PER_1000]]
    rank_by = ("rate", "count") if f.population is not None else ("count",)
    top = top_area_share(rates, rank_by=rank_by)
    wide = top.pivot_table(index=PERIOD, columns=["ranked_by", "top_fraction"], values="top_count_share")
    wide.columns = [f"top_{int(round(frac * 100))}pct_share_by_{by}" for by, frac in wide.columns]
    out = wide.reset_index()
    out.insert(1, "n_areas", out[PERIOD].map(rates.groupby(PERIOD).size()))
    totals = pd.Series(f.area_totals(), index=list(f.periods))  # publication mode: a count of its own
    out.insert(2, "total_count", out[PERIOD].map(totals).astype(np.int64))
    gini_areas = gini_coefficient(rates, basis="areas").set_index(PERIOD)["gini"]
    out["gini_counts_across_areas"] = out[PERIOD].map(gini_areas)
    if f.population is not None:
        gini_pop = gini_coefficient(rates, basis="population").set_index(PERIOD)["gini"]
        out["gini_rates_population_weighted"] = out[PERIOD].map(gini_pop)
    order = pd.Index(f.periods).get_indexer(out[PERIOD])
    out = out.assign(_o=order).sort_values("_o").drop(columns="_o")
    return _finish(out, f)


def global_moran_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    period: str | None = None,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
    on: str = "count",
    params: HotspotParams = HotspotParams(),
    weights_method: str = "queen",
) -> pd.DataFrame:
    """Global Moran's I per period (Moran 1950; pseudo p from permutations) on counts, rates or EB rates."""
    from dataclasses import replace

    if on not in ("count", "rate", "eb_rate"):
        raise AtlasError(f"global Moran's I is computed on count, rate or eb_rate; received {on!r}")
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    if on != "count" and f.population is None:
        raise AtlasError(f"Moran's I on {on} needs population; boundary set {f.boundary_set!r} has none")
    weights, report = area_weights(f.boundary_set, level, f.lad_codes, weights_method)
    counts = f.in_period(f.counts, period)
    table = global_moran(counts, weights, replace(params, lisa_on=on), population=f.population)
    table.insert(1, "variable", on)
    order = pd.Index(f.periods).get_indexer(table[PERIOD])
    table = table.assign(_o=order).sort_values("_o").drop(columns="_o")
    return _finish(table, f, extra_notes=[report.summary()])


__all__ = ["ROLLING_12", "concentration_table", "global_moran_table", "rolling_rates_table", "smoothed_rates_table"]
