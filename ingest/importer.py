"""Entry point: read an incident file of any supported kind into tidy counts plus an import report.

Kinds: ``counts`` (area code, period, [category], count), ``records`` (one incident per row with
coordinates) and ``policeuk`` (data.police.uk street-level CSV). Nothing here writes to the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from boundaries.registry import DEFAULT_SET, BoundarySet, get_boundary_set
from analysis.periods import DATE_FORMATS
from geo.schema import COUNT, AtlasError, InputError
from ingest.columns import find_roles, is_policeuk, role_label
from ingest.counts import COUNTS_ROLES, import_counts
from ingest.reader import RawTable, read_table, system_arrow_memory
from ingest.rejections import RowReasons
from ingest.report import ImportReport, ImportResult

__all__ = ["KINDS", "detect_kind", "read_incident_file"]

KINDS: tuple[str, ...] = ("counts", "records", "policeuk")

_EXPECTED = {
    "counts": "an area code column (area_code, lsoa_code, ward_code, LSOA11CD, WD13CD, code...), a period "
    "column (period, month, date, quarter, year...), a count column (count, incidents, n...) and optionally category",
    "records": "longitude/latitude or easting/northing columns, a date or month column, and optionally "
    "category, repeat flag and incident id",
    "policeuk": "the police.uk street-level header (Crime ID, Month, Reported by, Falls within, Longitude, "
    "Latitude, Location, LSOA code, LSOA name, Crime type, ...)",
}

_Importer = Callable[..., tuple[pd.DataFrame, RowReasons, list[str]]]


def _records():
    """ingest.records, imported when a file has (or may have) coordinates: its point-in-polygon join
    imports geopandas, shapely and pyproj (~0.25 s), which a counts import never uses."""
    from ingest import records

    return records


def detect_kind(columns: list[str], file_name: str = "file") -> str:
    """Guess the kind from the header: police.uk header, coordinates -> records, area+count -> counts."""
    if is_policeuk(columns):
        return "policeuk"
    roles = find_roles(columns, _records().RECORDS_ROLES + ("area", "count"), file_name)
    has_xy = {"longitude", "latitude"} <= roles.keys() or {"easting", "northing"} <= roles.keys()
    has_counts = {"area", "count"} <= roles.keys()
    if has_xy and has_counts:
        raise InputError(
            file_name, "has both coordinates and area code + count columns; say which kind it is (counts or records)"
        )
    if has_xy:
        return "records"
    if has_counts:
        return "counts"
    raise InputError(
        file_name,
        f"no recognisable columns: saw {_seen(columns)}; expected either {_EXPECTED['counts']}, "
        f"or {_EXPECTED['records']}",
    )


def read_incident_file(
    path: str | Path,
    kind: str | None = None,
    date_format: str | None = None,
    boundary_set: str | BoundarySet = DEFAULT_SET,
    source_name: str | None = None,
    *,
    sheet: str | None = None,
    today: dt.date | None = None,
    stored_keys: pd.DataFrame | None = None,
) -> ImportResult:
    """Read, validate and aggregate one incident file (CSV, CSV.GZ or XLSX) against a boundary set.

    Returns ImportResult(counts, report) with rows_read == rows_accepted + rows_rejected and the sum
    of accepted counts (records: accepted rows) equal to the sum of output counts. Raises InputError
    when the file cannot be read at all (empty, no data rows, no recognisable columns...).
    ``sheet`` picks an XLSX sheet (default the first); ``today`` fixes the "future date" cut-off;
    ``stored_keys`` (area_code, level, period, grain, category) are keys already in the target
    dataset: rows that would add to one are rejected as "duplicate key (already in dataset)".
    """
    if kind is not None and kind not in KINDS:
        raise InputError(source_name or Path(path).name, f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if date_format is not None and date_format not in DATE_FORMATS:
        raise AtlasError(f"unknown date format {date_format!r}; choose one of {', '.join(DATE_FORMATS)}")
    with system_arrow_memory():
        return _read_incident_file(path, kind, date_format, boundary_set, source_name, sheet, today, stored_keys)


def _read_incident_file(
    path: str | Path,
    kind: str | None,
    date_format: str | None,
    boundary_set: str | BoundarySet,
    source_name: str | None,
    sheet: str | None,
    today: dt.date | None,
    stored_keys: pd.DataFrame | None,
) -> ImportResult:
    bs = get_boundary_set(boundary_set)
    raw = read_table(path, file_name=source_name, sheet=sheet)
    columns = list(raw.frame.columns)
    try:
        if kind is None:
            kind = detect_kind(columns, raw.file_name)
        roles = _roles_for(kind, columns, raw.file_name)
    except InputError as exc:
        if not raw.sheet_hint():
            raise
        raise InputError(raw.file_name, exc.problem + raw.sheet_hint()) from exc
    _check_duplicate_columns(raw, roles)
    importer: _Importer = import_counts if kind == "counts" else _records().import_records
    counts, rr, notes = importer(raw, roles, bs, date_format, today, stored_keys)
    if kind == "policeuk":
        notes.append("police.uk file: rows placed by Longitude/Latitude; its 'LSOA code' column was not used")

    kept = set(roles.values()) - _not_kept(kind, roles)
    reasons = rr.counts()
    n_rejected = sum(reasons.values())
    report = ImportReport(
        file_name=raw.file_name,
        sha256=raw.sha256,
        kind=kind,
        rows_read=len(raw.frame),
        rows_accepted=len(raw.frame) - n_rejected,
        rows_rejected=n_rejected,
        reasons=reasons,
        rejected=rr.rejected_frame(raw.frame, raw.row_number),
        dropped_columns=[c for c in columns if c not in kept],
        notes=raw.notes + notes,
    )
    _check_conservation(kind, counts, report, raw)
    return ImportResult(counts=counts, report=report)


def _roles_for(kind: str, columns: list[str], file_name: str) -> dict[str, str]:
    """Columns for each role of ``kind``; InputError naming what was seen and expected when incomplete."""
    if kind == "policeuk":
        if not is_policeuk(columns):
            raise InputError(file_name, f"is not a police.uk street-level file: saw {_seen(columns)}; "
                             f"expected {_EXPECTED['policeuk']}")
        return _records().policeuk_roles(columns)
    if kind == "counts":
        roles = find_roles(columns, COUNTS_ROLES, file_name)
        missing = [r for r in ("area", "period", "count") if r not in roles]
    else:
        roles = find_roles(columns, _records().RECORDS_ROLES, file_name)
        has_xy = {"longitude", "latitude"} <= roles.keys() or {"easting", "northing"} <= roles.keys()
        missing = ([] if has_xy else ["coordinates"]) + ([] if "period" in roles else ["period"])
    if missing:
        raise InputError(
            file_name, f"no {' or '.join(m.replace('_', ' ') for m in missing)} column found for a {kind} file: "
            f"saw {_seen(columns)}; expected {_EXPECTED[kind]}",
        )
    return roles


def _check_duplicate_columns(raw: RawTable, roles: dict[str, str]) -> None:
    """Refuse a header that leaves unclear which column holds a role: a repeated name, or a merged cell.

    In a workbook, values in an unnamed column just right of a used one mean a header cell merged
    across both (e.g. 'Counts' over 'DA' and 'Stalking'): importing only the first would lose the rest.
    """
    cols = raw.file_columns
    for role, col in roles.items():
        j = cols.index(col) if col in cols else -1
        nxt = cols[j + 1] if 0 <= j < len(cols) - 1 else ""
        if raw.sheets and nxt.startswith("Unnamed: ") and nxt in raw.frame.columns:
            raise InputError(
                raw.file_name,
                f"column {j + 2} has values but no name, next to the {role_label(role)} column {col!r} (column "
                f"{j + 1}): is {col!r} a header cell merged across both? Give every column its own name in one "
                "header row",
            )
        positions = raw.duplicates.get(col)
        if positions:
            where = ", ".join(map(str, positions[:-1])) + f" and {positions[-1]}"
            raise InputError(
                raw.file_name,
                f"the header names {len(positions)} columns {col!r} (columns {where}), so it is not clear which "
                f"holds the {role_label(role)}; rename or remove all but one",
            )


def _not_kept(kind: str, roles: dict[str, str]) -> set[str]:
    """Role columns used during import but not carried into the counts (locations and ids)."""
    if kind == "counts":
        return set()
    return {roles[r] for r in ("easting", "northing", "longitude", "latitude", "incident_id") if r in roles}


def _seen(columns: list[str]) -> str:
    shown = ", ".join(repr(str(c)[:60]) for c in columns[:20])
    return shown + (f" and {len(columns) - 20} more" if len(columns) > 20 else "")


def _check_conservation(kind: str, counts: pd.DataFrame, report: ImportReport, raw: RawTable) -> None:
    """Accepted rows (records) or accepted counts (counts) must equal what the table holds."""
    if kind == "counts":
        # Counts rows map one-to-one to accepted rows (nothing is summed), so their sums agree too.
        if len(counts) != report.rows_accepted:
            raise RuntimeError(f"{raw.file_name}: {report.rows_accepted} rows accepted but {len(counts)} counted")
    elif int(counts[COUNT].sum()) != report.rows_accepted:
        raise RuntimeError(
            f"{raw.file_name}: {report.rows_accepted} records accepted but counts sum to {int(counts[COUNT].sum())}"
        )
