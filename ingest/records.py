"""Import incident records (one row per incident with a location) and police.uk street-level files.

Records are placed in the finest level of the boundary set by point-in-polygon (geo.points; ties on
shared edges go to the lowest code) and aggregated to area x month x category. Coordinates, ids and
every other column are dropped after assignment. Suspicious coordinates (British National Grid
numbers in longitude/latitude columns, swapped axes: out of the grid's range, or a point outside every
area that would fall inside one with its axes exchanged) are rejected with a reason, never "fixed".
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from boundaries.registry import BoundarySet
from geo.points import locate_points
from geo.schema import (
    ALL_CATEGORIES, AREA_CODE, BNG, CATEGORY, CODE, COUNT, GRAIN, LEVEL, PERIOD, REPEAT_COUNT, WGS84, InputError,
)
from ingest.areas import finest_areas
from ingest.fields import is_blank, parse_flags, parse_numbers, parse_periods_column, too_long
from ingest.reader import RawTable, repeated_header_rows, short_rows
from ingest.rejections import REASONS, RowReasons, reject_missing, reject_stored_keys
from ingest.report import COUNTS_COLUMNS

__all__ = ["RECORDS_ROLES", "check_coordinates", "import_records", "policeuk_roles"]

RECORDS_ROLES: tuple[str, ...] = (
    "easting", "northing", "longitude", "latitude", "period", "category", "repeat_flag", "incident_id",
)
# British National Grid extent (metres): eastings 0-700 km, northings 0-1300 km.
_BNG_MAX_E, _BNG_MAX_N = 700_000.0, 1_300_000.0


def policeuk_roles(columns: list[str]) -> dict[str, str]:
    """police.uk columns used: Longitude, Latitude, Month, Crime type (joined by location, not LSOA code)."""
    from ingest.columns import normalise_name

    by_norm = {normalise_name(c): c for c in columns}
    return {
        "longitude": by_norm["longitude"],
        "latitude": by_norm["latitude"],
        "period": by_norm["month"],
        "category": by_norm["crime_type"],
    }


def import_records(
    raw: RawTable,
    roles: dict[str, str],
    boundary_set: str | BoundarySet,
    date_format: str | None,
    today: dt.date | None,
    stored_keys: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, RowReasons, list[str]]:
    """Validate, locate and aggregate records to area x month x category (count, repeat_count).

    ``stored_keys``: keys already in the target dataset; records falling in one are rejected, so
    overlapping files never double a month.
    """
    f = raw.frame
    n = len(f)
    rr = RowReasons(n)
    notes: list[str] = []

    if "easting" in roles and "northing" in roles:
        xcol, ycol, crs = roles["easting"], roles["northing"], BNG
        if "longitude" in roles or "latitude" in roles:
            notes.append("both easting/northing and longitude/latitude present: easting/northing used")
    elif "longitude" in roles and "latitude" in roles:
        xcol, ycol, crs = roles["longitude"], roles["latitude"], WGS84
    else:
        raise InputError(raw.file_name, "records need longitude/latitude or easting/northing columns")
    notes.append(f"located by {xcol!r}/{ycol!r} ({'British National Grid' if crs == BNG else 'WGS84'})")

    cat_col = roles.get("category")
    category = f[cat_col].str.strip() if cat_col else pd.Series(ALL_CATEGORIES, index=f.index, dtype="str")

    # Order of checks = which reason a row gets when several apply.
    used = list(roles.values())
    rr.reject(short_rows(raw, used), REASONS["short_row"])
    rr.reject(repeated_header_rows(raw, [xcol, ycol, *[c for c in used if c not in (xcol, ycol)]]),
              REASONS["repeated_header"])
    rr.reject(is_blank(f[xcol]) | is_blank(f[ycol]), REASONS["missing_coords"])
    blanks = {"period": is_blank(f[roles["period"]])} | ({"category": is_blank(category)} if cat_col else {})
    notes += reject_missing(rr, blanks, raw.row_number)
    if cat_col:
        rr.reject(too_long(category), REASONS["long_text"])

    x, x_bad = parse_numbers(f[xcol])
    y, y_bad = parse_numbers(f[ycol])
    rr.reject(x_bad | y_bad, REASONS["bad_coords"])
    check_coordinates(x, y, crs, rr)

    period, grain, period_reason, period_notes = parse_periods_column(f[roles["period"]], date_format, today)
    notes += period_notes
    rr.reject(~pd.isna(period_reason), period_reason)
    rr.reject((grain != "month").to_numpy(dtype=bool), REASONS["not_monthly"])

    repeat = None
    if "repeat_flag" in roles:
        repeat, bad_flag = parse_flags(f[roles["repeat_flag"]])
        rr.reject(bad_flag, REASONS["bad_flag"])

    level, areas = finest_areas(boundary_set)
    area_pos = np.full(n, -1, dtype=np.int64)
    ok = rr.ok
    if ok.any():
        area_pos[ok] = locate_points(x[ok], y[ok], areas, crs=crs)
    outside = ok & (area_pos < 0)
    if outside.any():
        # A point that lands inside only with its axes exchanged was almost surely written swapped.
        swapped_in = np.zeros(n, dtype=bool)
        swapped_in[outside] = locate_points(y[outside], x[outside], areas, crs=crs) >= 0
        rr.reject(swapped_in, REASONS["lonlat_swapped"] if crs == WGS84 else REASONS["en_swapped"])
    rr.reject(outside, REASONS["outside"])

    if "incident_id" in roles:
        # Later rows repeating an id already accepted are duplicates; blank ids are not compared.
        ids = f[roles["incident_id"]].str.strip()
        ok = rr.ok & ~is_blank(ids)
        dup = np.zeros(n, dtype=bool)
        dup[ok] = ids[ok].duplicated(keep="first").to_numpy(dtype=bool)
        rr.reject(dup, REASONS["duplicate"])

    area_codes = areas[CODE].astype(str).to_numpy()
    if stored_keys is not None:
        row_code = np.where(area_pos >= 0, area_codes[np.maximum(area_pos, 0)], None)
        keys = pd.DataFrame({AREA_CODE: row_code, LEVEL: level, PERIOD: period, GRAIN: "month", CATEGORY: category})
        reject_stored_keys(rr, keys, stored_keys)
    out = _aggregate(rr.ok, area_pos, area_codes, period, category, repeat, level)
    notes.append(f"records assigned to {level} areas by location and aggregated by {level} x month x category")
    return out, rr, notes


def _aggregate(
    ok: np.ndarray,
    area_pos: np.ndarray,
    area_codes: np.ndarray,
    period: pd.Series,
    category: pd.Series,
    repeat: np.ndarray | None,
    level: str,
) -> pd.DataFrame:
    """Count accepted records (and repeat-flagged ones) per area x month x category via integer keys."""
    p_codes, p_uniq = pd.factorize(period[ok], sort=True)
    c_codes, c_uniq = pd.factorize(category[ok], sort=True)
    a = area_pos[ok]
    # Areas are ranked by code so the output is sorted by (area code, period, category).
    a_order = np.argsort(area_codes, kind="stable")
    a_rank = np.empty_like(a_order)
    a_rank[a_order] = np.arange(len(a_order))
    key = (a_rank[a].astype(np.int64) * len(p_uniq) + p_codes) * max(len(c_uniq), 1) + c_codes
    uniq, inverse, size = np.unique(key, return_inverse=True, return_counts=True)
    a_k, rest = np.divmod(uniq, len(p_uniq) * max(len(c_uniq), 1))
    p_k, c_k = np.divmod(rest, max(len(c_uniq), 1))
    if repeat is not None:
        rep = pd.array(np.bincount(inverse, weights=repeat[ok], minlength=len(uniq)).astype(np.int64), dtype="Int64")
    else:
        rep = pd.array([pd.NA] * len(uniq), dtype="Int64")
    return pd.DataFrame(
        {
            AREA_CODE: pd.Series(area_codes[a_order][a_k], dtype="str"),
            LEVEL: pd.Series([level] * len(uniq), dtype="str"),
            PERIOD: pd.Series(np.asarray(p_uniq, dtype=object)[p_k], dtype="str"),
            GRAIN: pd.Series(["month"] * len(uniq), dtype="str"),
            CATEGORY: pd.Series(np.asarray(c_uniq, dtype=object)[c_k], dtype="str"),
            COUNT: size.astype("int64"),
            REPEAT_COUNT: rep,
        }
    )[list(COUNTS_COLUMNS)]


def check_coordinates(x: np.ndarray, y: np.ndarray, crs: str, rr: RowReasons) -> None:
    """Reject coordinates in the wrong system or order (the reason names the suspected mix-up)."""
    with np.errstate(invalid="ignore"):
        if crs == WGS84:
            lon, lat = x, y
            out_of_range = (np.abs(lon) > 180) | (np.abs(lat) > 90)
            # Metres, not degrees: both well above any degree value and inside the grid's extent.
            bng_like = out_of_range & (lon >= 1000) & (lon <= _BNG_MAX_E) & (lat >= 1000) & (lat <= _BNG_MAX_N)
            # UK latitudes are 49-61 and longitudes -10-3: the reverse means the columns are swapped.
            swapped = (lat >= -10) & (lat <= 3) & (lon >= 49) & (lon <= 61)
            rr.reject(bng_like, REASONS["en_in_lonlat"])
            rr.reject(swapped, REASONS["lonlat_swapped"])
            rr.reject(out_of_range, REASONS["out_of_range"])
        else:
            e, nn = x, y
            lonlat_like = (np.abs(e) <= 180) & (np.abs(nn) <= 90)
            swapped = (e > _BNG_MAX_E) & (e <= _BNG_MAX_N) & (nn >= 0) & (nn <= _BNG_MAX_E)
            rr.reject(lonlat_like, REASONS["lonlat_in_en"])
            rr.reject(swapped, REASONS["en_swapped"])
            rr.reject((e < 0) | (e > _BNG_MAX_E) | (nn < 0) | (nn > _BNG_MAX_N), REASONS["out_of_range"])
