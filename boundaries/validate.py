"""Validate a raw boundary layer into canonical areas: code/name columns, EPSG:27700, clean polygons.

Rules (each failure raises `BoundaryError` naming the file and the offending codes or rows):

- code/name columns: explicit `code_col`/`name_col`, else a column literally called `code`, else an ONS
  column `<PREFIX><yy>CD` (WD13CD, LSOA11CD, MSOA21CD, LAD19CD...; case-insensitive), narrowed to the
  level's prefixes when the level is known; the name is the paired `<PREFIX><yy>NM` (or `name`).
- codes are stripped, upper-cased strings; blank codes and duplicate codes are errors.
- a missing CRS is an error (GeoJSON is WGS84 by RFC 7946, so its reader supplies that CRS itself);
  everything is reprojected to EPSG:27700 and must then lie within Great Britain's grid.
- null/empty and non-polygonal geometries are errors; invalid polygons are repaired with
  `shapely.make_valid` (polygonal parts kept) and listed in `BoundaryReport.repaired_codes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

# geopandas, shapely, pyproj and pyogrio are imported where files are read: commands that only
# read codes and names (analysis of stored counts) skip ~0.2-0.7 s of imports.

from geo.schema import BNG, CODE, LAD_CODE, LAD_NAME, LEVELS, NAME, BoundaryError

# ONS code columns look like WD13CD / LSOA11CD / MSOA21CD / LAD19CD; names pair as ...NM.
_ONS_CODE = re.compile(r"^([a-z]+)(\d{2})cd$", re.IGNORECASE)
# Prefixes an ONS code column may carry for each level (used to resolve files holding several).
_LEVEL_PREFIXES: dict[str, tuple[str, ...]] = {
    "lsoa": ("lsoa",),
    "msoa": ("msoa",),
    "ward": ("wd", "ward"),
    "locality": (),
    "lad": ("lad", "ltla", "utla", "ctyua"),
}
_LAD_PREFIXES = _LEVEL_PREFIXES["lad"]
# Generous British National Grid envelope (metres); anything outside means a wrong or missing CRS.
_GB_BOUNDS = (-100_000.0, -100_000.0, 800_000.0, 1_400_000.0)
_POLYGONAL = {"Polygon", "MultiPolygon"}
_MAX_LISTED = 10


@dataclass
class BoundaryReport:
    """What reading a boundary file found and changed (shown to the user after an upload)."""

    file: str
    n_features: int
    repaired_codes: list[str] = field(default_factory=list)
    reprojected_from: str | None = None
    code_col: str | None = None
    name_col: str | None = None
    notes: list[str] = field(default_factory=list)
    layer: str | None = None


@dataclass(frozen=True)
class ColumnMap:
    """Source column chosen for each canonical column (None = not present in the file)."""

    code: str
    name: str | None
    lad_code: str | None
    lad_name: str | None


def list_items(items: Iterable[object], limit: int = _MAX_LISTED) -> str:
    """Comma-join the first `limit` items and say how many more there are."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def _find(columns: Sequence[str], wanted: str) -> str | None:
    """The column matching `wanted` case-insensitively, or None."""
    lower = {c.lower(): c for c in columns}
    return lower.get(wanted.lower())


def _ons_codes(columns: Sequence[str], prefixes: tuple[str, ...] | None) -> list[str]:
    """Columns shaped like an ONS code column, optionally restricted to some prefixes."""
    out = []
    for c in columns:
        m = _ONS_CODE.match(c)
        if m and (prefixes is None or m.group(1).lower() in prefixes):
            out.append(c)
    return out


def _paired_name(columns: Sequence[str], code_col: str) -> str | None:
    """Name column paired with a code column: XXyyCD -> XXyyNM, x_code -> x_name, code -> name."""
    low = code_col.lower()
    if low.endswith("cd"):
        found = _find(columns, code_col[:-2] + "NM")
        if found:
            return found
    if low.endswith("code"):
        found = _find(columns, code_col[:-4] + "name")
        if found:
            return found
    return _find(columns, NAME)


def detect_columns(
    columns: Sequence[str],
    file: str,
    code_col: str | None = None,
    name_col: str | None = None,
    level: str | None = None,
) -> ColumnMap:
    """Choose the source columns for code, name and (when present) the local authority code/name."""
    columns = [c for c in columns if c != "geometry"]
    seen = f"columns seen: {', '.join(columns) or '(none)'}"
    if level is not None and level not in LEVELS:
        raise BoundaryError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")

    if code_col is not None:
        code = _find(columns, code_col)
        if code is None:
            raise BoundaryError(f"{file}: code column {code_col!r} not found; {seen}")
    else:
        code = _find(columns, CODE) or (level and _find(columns, f"{level}_code")) or None
        if code is None:
            prefixes = _LEVEL_PREFIXES[level] if level else None
            candidates = _ons_codes(columns, prefixes)
            if len(candidates) != 1:
                what = f"{level} code column" if level else "area code column"
                problem = "could not find" if not candidates else f"several candidates ({', '.join(candidates)}) for"
                raise BoundaryError(
                    f"{file}: {problem} the {what} (e.g. WD13CD, LSOA11CD, MSOA21CD, LAD19CD or 'code'); "
                    f"{seen}. Pass code_col= (and name_col=) to choose."
                )
            code = candidates[0]

    if name_col is not None:
        name = _find(columns, name_col)
        if name is None:
            raise BoundaryError(f"{file}: name column {name_col!r} not found; {seen}")
    else:
        name = _paired_name(columns, code)

    lad_code = lad_name = None
    code_is_lad = level == "lad" or bool(
        (m := _ONS_CODE.match(code)) and m.group(1).lower() in _LAD_PREFIXES
    )
    if not code_is_lad:
        lad_code = _find(columns, LAD_CODE)
        if lad_code is None:
            lads = [c for c in _ons_codes(columns, ("lad",)) if c != code]
            lad_code = lads[0] if len(lads) == 1 else None
        if lad_code is not None:
            lad_name = _find(columns, LAD_NAME) if lad_code.lower() == LAD_CODE else _paired_name(columns, lad_code)
            if lad_name is not None and lad_name.lower() == NAME:
                lad_name = None  # the generic "name" column belongs to the area, not its authority
    return ColumnMap(code=code, name=name, lad_code=lad_code, lad_name=lad_name)


def normalise_codes(values: pd.Series) -> pd.Series:
    """Codes as stripped, upper-cased strings (NA stays NA)."""
    return values.astype("string").str.strip().str.upper().astype("str")


def _check_crs(gdf: gpd.GeoDataFrame, file: str, report: BoundaryReport) -> gpd.GeoDataFrame:
    """Reproject to EPSG:27700, refusing a missing CRS or coordinates that cannot be in Great Britain."""
    from pyproj import CRS

    if gdf.crs is None:
        raise BoundaryError(
            f"{file}: no coordinate reference system (CRS) is defined, so the coordinates cannot be placed "
            "on a map. Re-export the file with its CRS (for a Shapefile, include the .prj file)."
        )
    crs = CRS.from_user_input(gdf.crs)
    minx, miny, maxx, maxy = gdf.total_bounds
    if crs.is_geographic and not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise BoundaryError(
            f"{file}: the file says its CRS is {crs.to_string()} (longitude/latitude) but the coordinates "
            f"reach ({minx:.0f}, {miny:.0f})-({maxx:.0f}, {maxy:.0f}), which look projected (e.g. British "
            "National Grid metres). Re-export it with the correct CRS."
        )
    if crs.is_projected and -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        # Metres this small would make every area a speck near the grid's origin: these are degrees.
        raise BoundaryError(
            f"{file}: the file says its CRS is {crs.to_string()} (metres) but every coordinate lies within "
            f"({minx:.2f}, {miny:.2f})-({maxx:.2f}, {maxy:.2f}), which look like longitude/latitude degrees. "
            "Re-export it with the correct CRS (e.g. EPSG:4326)."
        )
    if crs.equals(CRS.from_user_input(BNG)) or crs.to_epsg() == 27700:
        gdf = gdf.set_crs(BNG, allow_override=True)
    else:
        report.reprojected_from = crs.to_string()
        gdf = gdf.to_crs(BNG)
    minx, miny, maxx, maxy = gdf.total_bounds
    gx0, gy0, gx1, gy1 = _GB_BOUNDS
    inside = gx0 <= minx and gy0 <= miny and maxx <= gx1 and maxy <= gy1
    if not (np.isfinite([minx, miny, maxx, maxy]).all() and inside):
        raise BoundaryError(
            f"{file}: after reading it as {crs.to_string()} the areas fall outside Great Britain "
            f"(British National Grid bounds {minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f}); check the file's CRS."
        )
    return gdf


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal parts of a geometry (make_valid may return a collection with stray lines)."""
    import shapely

    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL]
    if not parts:
        return shapely.MultiPolygon()
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(
        [q for p in parts for q in (p.geoms if p.geom_type == "MultiPolygon" else [p])]
    )


def _features(mask: pd.Series | np.ndarray) -> str:
    """'feature 3' / 'features 2, 7' (1-based, in the file's order) for messages."""
    idx = (np.flatnonzero(np.asarray(mask, dtype=bool)) + 1).tolist()
    return f"feature{'s' if len(idx) > 1 else ''} {list_items(idx)}"


def _check_types(geom: gpd.GeoSeries, codes: pd.Series, file: str) -> None:
    """Refuse missing, empty and non-polygonal geometries, naming the codes and features."""
    empty = (geom.isna() | geom.is_empty).to_numpy(dtype=bool)
    if empty.any():
        raise BoundaryError(
            f"{file}: empty or missing geometry for codes {list_items(codes[empty])} ({_features(empty)}, counted "
            "from 1 in the file's order)"
        )
    types = geom.geom_type
    bad = (~types.isin(_POLYGONAL)).to_numpy(dtype=bool)
    if bad.any():
        found = ", ".join(sorted(types[bad].unique()))
        raise BoundaryError(
            f"{file}: areas must be polygons, found {found} for codes {list_items(codes[bad])} ({_features(bad)}, "
            "counted from 1 in the file's order)"
        )


def _repair(geom: gpd.GeoSeries, codes: pd.Series, file: str, report: BoundaryReport) -> gpd.GeoSeries:
    """Repair invalid polygons with shapely.make_valid, keeping polygonal parts; report the codes."""
    import geopandas as gpd
    import shapely

    invalid = ~geom.is_valid
    if not invalid.any():
        return geom
    fixed = gpd.GeoSeries(
        [_polygonal_part(g) for g in shapely.make_valid(geom[invalid].to_numpy())],
        index=geom.index[invalid],
        crs=geom.crs,
    )
    lost = fixed.is_empty
    if lost.any():
        raise BoundaryError(
            f"{file}: geometry could not be repaired (no area left) for codes {list_items(codes[invalid][lost])}"
        )
    report.repaired_codes = sorted(codes[invalid].tolist())
    report.notes.append(
        f"repaired {len(report.repaired_codes)} invalid geometries with shapely.make_valid: "
        f"{list_items(report.repaired_codes)}"
    )
    geom = geom.copy()
    geom[invalid] = fixed
    return geom


def clean_areas(
    raw: gpd.GeoDataFrame,
    file: str,
    code_col: str | None = None,
    name_col: str | None = None,
    level: str | None = None,
    layer: str | None = None,
) -> tuple[gpd.GeoDataFrame, BoundaryReport]:
    """Canonical areas [code, name, lad_code, lad_name, geometry] in EPSG:27700, sorted by code, plus a report."""
    import geopandas as gpd

    if len(raw) == 0:
        raise BoundaryError(f"{file}: the layer has no features")
    cols = detect_columns(list(raw.columns), file, code_col, name_col, level)
    report = BoundaryReport(file=file, n_features=len(raw), code_col=cols.code, name_col=cols.name, layer=layer)
    raw = raw.reset_index(drop=True)

    codes = normalise_codes(raw[cols.code])
    blank = codes.isna() | (codes == "")
    if blank.any():
        raise BoundaryError(
            f"{file}: blank {cols.code} in {_features(blank)} (counted from 1 in the file's order)"
        )
    dup = codes.duplicated(keep=False)
    if dup.any():
        raise BoundaryError(
            f"{file}: duplicate codes in {cols.code}: {list_items(sorted(codes[dup].unique()))} ({_features(dup)}, "
            "counted from 1 in the file's order; codes are compared ignoring surrounding spaces and case); "
            "each area must appear once (dissolve multi-part areas before uploading)"
        )

    if cols.name is None:
        names = codes.copy()
        report.notes.append("no name column found; names are set to the codes")
    else:
        names = raw[cols.name].astype("string").str.strip().astype("str")
        missing = names.isna() | (names == "")
        if missing.any():
            names = names.where(~missing, codes)
            report.notes.append(f"{int(missing.sum())} areas without a name use their code as name")

    _check_types(raw.geometry, codes, file)
    gdf = _check_crs(gpd.GeoDataFrame(geometry=raw.geometry, crs=raw.crs), file, report)
    # Repair after reprojection so validity holds in the coordinates we store.
    geometry = _repair(gdf.geometry, codes, file, report)

    absent = pd.Series(pd.NA, index=raw.index, dtype="str")
    out = gpd.GeoDataFrame(
        {
            CODE: codes,
            NAME: names,
            LAD_CODE: normalise_codes(raw[cols.lad_code]) if cols.lad_code else absent,
            LAD_NAME: raw[cols.lad_name].astype("str") if cols.lad_name else absent,
        },
        geometry=geometry.rename("geometry"),
        crs=BNG,
    )
    if cols.lad_code:
        report.notes.append(f"local authority codes taken from {cols.lad_code}")
    return out.sort_values(CODE, ignore_index=True), report
