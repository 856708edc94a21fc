"""Seeded generator of synthetic domestic abuse incident records for County Durham and Darlington.

The numbers are SYNTHETIC: sampled from demo.model's intensity, never real incidents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from demo._inputs import SAMPLING_GEOMETRY_COL, demo_areas
from demo.model import (
    CATEGORY_SHARES,
    MONTHS,
    NB_SHAPE,
    PLANTED_PATTERNS,
    intensity_cube,
    repeat_probabilities,
)

__all__ = ["DEFAULT_SEED", "PLANTED_PATTERNS", "RECORD_COLUMNS", "generate_demo_records"]

DEFAULT_SEED = 20190401
# Columns written to the import CSV, in order; generate_demo_records adds lsoa_code (the truth).
RECORD_COLUMNS: tuple[str, ...] = ("easting", "northing", "date", "category", "repeat_victim", "incident_id")
TRUTH_COLUMN = "lsoa_code"

# Day-of-incident weights within a month: weekends and the Christmas/New Year days are busier.
WEEKEND_WEIGHT = 1.15
HOLIDAY_WEIGHT = 1.6  # 25 and 26 December, 1 January
_MAX_REJECTION_ROUNDS = 200


def _day_weights() -> tuple[np.ndarray, np.ndarray]:
    """(days, cumulative weights) over every day of the 72 months."""
    stop = (np.datetime64(MONTHS[-1], "M") + 1).astype("datetime64[D]")
    days = np.arange(np.datetime64(MONTHS[0], "M").astype("datetime64[D]"), stop)
    weekday = (days.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    month_day = pd.DatetimeIndex(days).strftime("%m-%d").to_numpy()
    weight = np.where(weekday >= 5, WEEKEND_WEIGHT, 1.0)
    weight = np.where(np.isin(month_day, ["12-25", "12-26", "01-01"]), HOLIDAY_WEIGHT, weight)
    return days, np.cumsum(weight)


def _sample_dates(month_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A day within its month for each incident, drawn from the day weights (inverse CDF)."""
    days, cum = _day_weights()
    starts = np.searchsorted(days, np.array([np.datetime64(f"{m}-01") for m in MONTHS]))
    ends = np.append(starts[1:], days.size)
    lo = np.where(starts > 0, cum[starts - 1], 0.0)[month_idx]
    hi = cum[ends - 1][month_idx]
    pos = lo + rng.random(month_idx.size) * (hi - lo)
    # side="left" maps pos in (cum[k-1], cum[k]] to day k; the clip keeps pos == lo (u = 0) in its month.
    day = np.clip(np.searchsorted(cum, pos, side="left"), starts[month_idx], ends[month_idx] - 1)
    return days[day]


def _sample_points(geoms: np.ndarray, area_idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Whole-metre points uniformly inside each incident's polygon (vectorised rejection sampling in bounding boxes)."""
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    x = np.empty(area_idx.size)
    y = np.empty(area_idx.size)
    todo = np.arange(area_idx.size)
    for _ in range(_MAX_REJECTION_ROUNDS):
        if todo.size == 0:
            return x, y
        b = bounds[area_idx[todo]]
        # Rounded before the test, so the published coordinates themselves are inside.
        px = np.round(b[:, 0] + rng.random(todo.size) * (b[:, 2] - b[:, 0]))
        py = np.round(b[:, 1] + rng.random(todo.size) * (b[:, 3] - b[:, 1]))
        ok = shapely.contains_xy(geoms[area_idx[todo]], px, py)
        x[todo[ok]], y[todo[ok]] = px[ok], py[ok]
        todo = todo[~ok]
    raise RuntimeError(f"rejection sampling left {todo.size} points unplaced after {_MAX_REJECTION_ROUNDS} rounds")


def generate_demo_records(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Synthetic incident records: incident_id, easting, northing (whole metres, EPSG:27700), date, category,
    repeat_victim (Y/N), lsoa_code (the LSOA it was drawn in; not written to the import CSV).

    Counts per LSOA-month are gamma-Poisson (negative binomial) draws around demo.model's
    intensity; each incident gets a weighted day, a category, a repeat flag and a point inside
    its LSOA. Deterministic for a seed (numpy Generator, PCG64).
    """
    rng = np.random.default_rng(seed)
    codes, months, cube = intensity_cube()
    mean = cube * rng.gamma(NB_SHAPE, 1.0 / NB_SHAPE, size=cube.shape)
    counts = rng.poisson(mean)
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    area_idx, month_idx = np.divmod(cell, len(months))

    dates = _sample_dates(month_idx, rng)
    categories = np.asarray(list(CATEGORY_SHARES))
    category = categories[rng.choice(categories.size, size=cell.size, p=np.fromiter(CATEGORY_SHARES.values(), float))]
    repeat = np.where(rng.random(cell.size) < repeat_probabilities()[area_idx], "Y", "N")
    geoms = demo_areas()[SAMPLING_GEOMETRY_COL].to_numpy()
    easting, northing = _sample_points(geoms, area_idx, rng)

    order = np.lexsort((area_idx, dates))  # by date, then LSOA: IDs read chronologically
    n = cell.size
    return pd.DataFrame(
        {
            "incident_id": np.char.add("DEMO-", np.char.zfill(np.arange(1, n + 1).astype(str), 6)),
            "easting": easting[order].astype("int64"),
            "northing": northing[order].astype("int64"),
            "date": np.datetime_as_string(dates[order], unit="D"),
            "category": category[order],
            "repeat_victim": repeat[order],
            TRUTH_COLUMN: np.asarray(codes)[area_idx[order]],
        }
    )
