"""How concentrated incidents are: top-area shares, Lorenz curves, Gini coefficients, repeat shares.

Lorenz curve and Gini coefficient as in Cowell (2011) "Measuring Inequality", 3rd ed., ch. 2 and
Technical Appendix (Gini = 1 - sum of trapezoids under the Lorenz curve, which for discrete data
equals the mean absolute difference / (2 x mean)); concentration of crime in a few places as in
Weisburd (2015) "The law of crime concentration and the criminology of place", Criminology 53:133-157.
Repeat-victim shares use the Wilson score interval (``analysis.intervals``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis.intervals import wilson_interval
from analysis.rates import group_columns
from geo.schema import AREA_CODE, AtlasError, COUNT, POPULATION, RATE_PER_1000, REPEAT_COUNT

RANK_BY = ("rate", "count")
BASES = ("population", "areas")
REPEAT_SHARE = "repeat_share"

_ALL = "_all"  # stand-in group key for tables without period/category columns
_SORT_VALUE = {"rate": RATE_PER_1000, "count": COUNT}


def top_area_share(
    rates: pd.DataFrame, fractions: Iterable[float] = (0.1, 0.2), rank_by: Iterable[str] = RANK_BY
) -> pd.DataFrame:
    """Share of incidents (count share) in the top 10%/20% of areas, ranked by rate and by count.

    For each period/category group, areas are ranked highest first by rate per 1,000 (areas without a
    rate are left out) or by count (all areas); ties are broken by count, then area code, so results are
    reproducible. The top k = round(fraction x n) areas (at least 1, halves rounded up) are taken.
    Columns: group keys, ranked_by, top_fraction, n_areas, n_top_areas, top_count, total_count,
    top_count_share, top_population_share.
    """
    rank_by = tuple(rank_by)
    needed = [AREA_CODE, COUNT] + ([RATE_PER_1000] if "rate" in rank_by else [])
    _require(rates, needed)
    fractions = [float(f) for f in fractions]
    if any(not 0 < f <= 1 for f in fractions):
        raise AtlasError(f"fractions must be in (0, 1]; received {fractions}")
    rates, keys = _keyed(rates)
    pieces = []
    for by in rank_by:
        if by not in _SORT_VALUE:
            raise AtlasError(f"rank_by must be one of {RANK_BY}; received {by!r}")
        frame = _ranked(rates, keys, by)
        for f in fractions:
            n = frame.groupby(keys, dropna=False)[COUNT].transform("size")
            k = np.maximum(1, np.floor(f * n + 0.5))
            top = frame["_rank"] < k
            agg = frame.assign(
                _top_count=frame[COUNT].where(top, 0),
                _top_pop=frame["_pop"].where(top, 0),
                _one=1,
                _is_top=top.astype(int),
            )
            cols = {"n_areas": ("_one", "sum"), "n_top_areas": ("_is_top", "sum"),
                    "top_count": ("_top_count", "sum"), "total_count": (COUNT, "sum"),
                    "_top_pop": ("_top_pop", "sum"), "_total_pop": ("_pop", "sum")}
            summary = agg.groupby(keys, dropna=False).agg(**cols).reset_index()
            summary.insert(len(keys), "ranked_by", by)
            summary.insert(len(keys) + 1, "top_fraction", f)
            pieces.append(summary)
    out = pd.concat(pieces, ignore_index=True)
    total = out["total_count"].astype(float)
    out["top_count_share"] = out["top_count"] / total.where(total > 0)
    out["top_population_share"] = out.pop("_top_pop") / out.pop("_total_pop").where(lambda s: s > 0)
    return out.drop(columns=[_ALL], errors="ignore")


def lorenz_curve(rates: pd.DataFrame, basis: str = "population") -> pd.DataFrame:
    """Lorenz curve points of incidents, one set per period/category group, starting at (0, 0).

    basis="population": areas ordered by rate (lowest first), x = cumulative share of population,
    y = cumulative share of incidents (a concentration curve of rates; areas without population left
    out). basis="areas": areas ordered by count, x = cumulative share of areas. Columns: group keys,
    basis, point (0 = origin), area_code, cumulative_base_share, cumulative_incident_share.
    """
    rates, keys = _keyed(rates)
    frame = _lorenz_frame(rates, keys, basis)
    origin = frame.drop_duplicates(keys).copy()
    origin[AREA_CODE] = pd.NA
    origin[["_cum_w", "_cum_v"]] = 0.0
    origin["_i"] = 0
    frame["_i"] = frame["_i"] + 1
    both = pd.concat([origin, frame], ignore_index=True).sort_values(keys + ["_i"], kind="stable")
    out = both[keys + [AREA_CODE]].copy()
    out.insert(len(keys), "basis", basis)
    out.insert(len(keys) + 1, "point", both["_i"].to_numpy())
    out["cumulative_base_share"] = (both["_cum_w"] / both["_tot_w"]).to_numpy()
    out["cumulative_incident_share"] = (both["_cum_v"] / both["_tot_v"].where(both["_tot_v"] > 0)).to_numpy()
    return out.drop(columns=[_ALL], errors="ignore").reset_index(drop=True)


def gini_coefficient(rates: pd.DataFrame, basis: str = "population") -> pd.DataFrame:
    """Gini coefficient from the Lorenz curve: 1 - sum (x_k - x_k-1)(y_k + y_k-1) (Cowell 2011).

    basis="population" gives the population-weighted Gini of rates (0 = every area has the same rate);
    basis="areas" the Gini of counts across areas. NaN when there are no incidents. Columns: group keys,
    basis, n_areas, gini.
    """
    rates, keys = _keyed(rates)
    frame = _lorenz_frame(rates, keys, basis)
    x = frame["_cum_w"] / frame["_tot_w"]
    y = frame["_cum_v"] / frame["_tot_v"].where(frame["_tot_v"] > 0)
    x_prev = (frame["_cum_w"] - frame["_w"]) / frame["_tot_w"]
    y_prev = (frame["_cum_v"] - frame["_v"]) / frame["_tot_v"].where(frame["_tot_v"] > 0)
    frame["_area"] = (x - x_prev) * (y + y_prev)
    frame["_nan"] = frame["_area"].isna()
    out = frame.groupby(keys, dropna=False).agg(n_areas=("_w", "size"), _s=("_area", "sum"), _nan=("_nan", "any"))
    out = out.reset_index()
    out.insert(len(keys), "basis", basis)
    # No incidents in a group: the Lorenz curve is undefined, so is the Gini.
    out["gini"] = (1 - out.pop("_s")).where(~out.pop("_nan"))
    return out.drop(columns=[_ALL], errors="ignore")


def repeat_share(counts: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Share of incidents flagged as repeat victimisation, with a Wilson (1927) score interval.

    Adds repeat_share, repeat_share_lower_<c>, repeat_share_upper_<c> (c = 95 for 95%). NaN where the
    data has no repeat flag (repeat_count <NA> or absent) or the count is zero.
    """
    _require(counts, [COUNT])
    out = counts.copy()
    n = out[COUNT].to_numpy(dtype=float, na_value=np.nan)
    if REPEAT_COUNT in out.columns:
        x = pd.to_numeric(out[REPEAT_COUNT], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        x = np.full(len(out), np.nan)
    bad = x > n
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        where = f" (area {out[AREA_CODE].iloc[row]})" if AREA_CODE in out.columns else ""
        raise AtlasError(f"repeat_count exceeds count in {int(bad.sum())} rows, first at row {row}{where}")
    suffix = f"{confidence * 100:g}".replace(".", "")
    lower, upper = wilson_interval(x, n, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[REPEAT_SHARE] = np.where(n > 0, x / n, np.nan)
    out[f"{REPEAT_SHARE}_lower_{suffix}"] = lower
    out[f"{REPEAT_SHARE}_upper_{suffix}"] = upper
    return out


def _ranked(rates: pd.DataFrame, keys: list[str], by: str) -> pd.DataFrame:
    """Rows sorted highest first within each group, with a 0-based rank column."""
    frame = rates.copy()
    frame["_pop"] = frame[POPULATION].astype(float).where(lambda s: s > 0) if POPULATION in frame else np.nan
    if by == "rate":
        frame = frame[frame[RATE_PER_1000].notna()]
    frame = frame.sort_values(
        keys + [_SORT_VALUE[by], COUNT, AREA_CODE], ascending=[True] * len(keys) + [False, False, True], kind="stable"
    )
    frame["_rank"] = frame.groupby(keys, dropna=False).cumcount()
    return frame


def _lorenz_frame(rates: pd.DataFrame, keys: list[str], basis: str) -> pd.DataFrame:
    """Areas ordered lowest first with weights _w, incidents _v, and their group cumulative sums."""
    if basis not in BASES:
        raise AtlasError(f"basis must be one of {BASES}; received {basis!r}")
    _require(rates, [AREA_CODE, COUNT] + ([POPULATION] if basis == "population" else []))
    frame = rates[keys + [AREA_CODE]].copy()
    frame["_v"] = rates[COUNT].astype(float)
    if basis == "population":
        pop = rates[POPULATION].astype(float)
        frame["_w"] = pop
        frame["_order"] = frame["_v"] / pop
        frame = frame[pop > 0]
    else:
        frame["_w"] = 1.0
        frame["_order"] = frame["_v"]
    frame = frame.sort_values(keys + ["_order", AREA_CODE], kind="stable")
    grouped = frame.groupby(keys, dropna=False)
    for src, cum, tot in (("_w", "_cum_w", "_tot_w"), ("_v", "_cum_v", "_tot_v")):
        frame[cum] = grouped[src].cumsum()
        frame[tot] = grouped[src].transform("sum")
    frame["_i"] = grouped.cumcount()
    return frame


def _keyed(rates: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The table and its period/category key columns; a constant key when it has none (one group)."""
    keys = group_columns(rates)
    if keys:
        return rates, keys
    return rates.assign(**{_ALL: 0}), [_ALL]


def _require(table: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise AtlasError(f"table is missing columns {missing}; it has {list(table.columns)}")
