"""Read a services file (refuges, outreach, IDVA, GP safeguarding leads): a type and a location per row.

Columns (header names matched case-insensitively, as for incident files: ``ingest.columns``): ``type``
(required; also "service type", "category", "kind"), ``name`` (optional; also "service name",
"provider", "site"), and either ``easting``/``northing`` (British National Grid, EPSG:27700 metres) or
``longitude``/``latitude`` (WGS84 degrees; also lon/lng/long, lat). Every row is accepted or rejected
with one problem, so rows read = accepted + rejected; each rejection names the file, the row as a
spreadsheet shows it (the header is row 1) and the problem. Nothing is escaped here: the writers
(``atlas.safe_output``) neutralise formula cells, the pages show names as text.

Locations of services such as refuges are confidential: this module never stores them (the app holds
the file for the session only), see docs/services.md.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geo.points import to_crs_xy
from geo.schema import BNG, WGS84, InputError
from ingest.columns import find_roles, normalise_name
from ingest.fields import MAX_TEXT_CHARS, is_blank, parse_numbers
from ingest.reader import RawTable, read_table, repeated_header_rows, short_rows
from ingest.records import check_coordinates
from ingest.rejections import REASONS, RowReasons

__all__ = [
    "EASTING", "MESSAGE", "NORTHING", "PROBLEM", "ROW", "SERVICE_COLUMNS", "SERVICE_NAME", "SERVICE_TYPE",
    "SERVICES_REASONS", "ServicesResult", "TYPE_KEY", "read_services", "read_services_bytes", "rejected_csv",
    "type_key",
]

# Accepted services: one row per service, in file order.
SERVICE_NAME = "service_name"
SERVICE_TYPE = "service_type"  # the user's spelling (the first seen for each normalised type)
TYPE_KEY = "type_key"  # normalised type: stripped, inner spaces collapsed, case folded
EASTING, NORTHING = "easting", "northing"  # EPSG:27700 metres (lon/lat files are converted)
ROW = "row"  # the row as a spreadsheet shows it: the header is row 1, the first service row 2
SERVICE_COLUMNS: tuple[str, ...] = (SERVICE_NAME, SERVICE_TYPE, TYPE_KEY, EASTING, NORTHING, ROW)
# Rejected rows: row, problem, the full message, then the original cells as text.
PROBLEM, MESSAGE = "problem", "message"

# Header patterns for the two text roles (full match on ingest.columns.normalise_name); order = priority.
_TEXT_ROLES: dict[str, tuple[str, ...]] = {
    "type": (r"type", r"service_?type", r"type_of_service", r"category", r"service_?category", r"kind",
             r"service"),
    "name": (r"name", r"service_?name", r"site_?name", r"provider", r"provider_?name", r"site", r"label"),
}
_COORD_ROLES: tuple[str, ...] = ("easting", "northing", "longitude", "latitude")
# Great Britain in WGS84 degrees (Scilly to Shetland, St Kilda to Lowestoft, with a margin): a point
# outside is not a British service; converted points must then also lie on the National Grid.
_GB_LON, _GB_LAT = (-9.0, 2.0), (49.5, 61.0)
_BNG_MAX_E, _BNG_MAX_N = 700_000.0, 1_300_000.0

SERVICES_REASONS: dict[str, str] = {
    "short_row": REASONS["short_row"],
    "repeated_header": REASONS["repeated_header"],
    "missing_type": "missing service type",
    "long_type": f"service type longer than {MAX_TEXT_CHARS} characters",
    "long_name": f"service name longer than {MAX_TEXT_CHARS} characters",
    "missing_coords": REASONS["missing_coords"],
    "bad_coords": "coordinates are not numbers",
    "outside_gb": "coordinates outside Great Britain",
}


@dataclass
class ServicesResult:
    """Accepted services (``SERVICE_COLUMNS``) and rejected rows of one file; read == accepted + rejected."""

    file_name: str
    rows_read: int
    services: pd.DataFrame
    rejected: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.rows_read != len(self.services) + len(self.rejected):
            raise ValueError(f"services report of {self.file_name} does not add up: read {self.rows_read}, "
                             f"accepted {len(self.services)}, rejected {len(self.rejected)}")

    @property
    def rows_accepted(self) -> int:
        """Services kept."""
        return len(self.services)

    @property
    def rows_rejected(self) -> int:
        """Rows rejected, each with its message."""
        return len(self.rejected)

    @property
    def reasons(self) -> dict[str, int]:
        """problem -> number of rows, most frequent first."""
        if self.rejected.empty:
            return {}
        return {str(k): int(v) for k, v in self.rejected[PROBLEM].value_counts().items()}

    def summary(self) -> str:
        """One line for people: rows read, accepted and rejected (with the problems)."""
        text = (f"{self.file_name}: {self.rows_read} rows read, {self.rows_accepted} services accepted, "
                f"{self.rows_rejected} rejected")
        if self.reasons:
            text += " (" + "; ".join(f"{k}: {v}" for k, v in self.reasons.items()) + ")"
        return text


def type_key(labels: pd.Series) -> pd.Series:
    """Normalised service types: stripped, runs of whitespace made one space, case folded ('IDVA ' -> 'idva')."""
    return labels.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()


def read_services(path: str | Path, file_name: str | None = None) -> ServicesResult:
    """Read and check a services CSV or XLSX; InputError when the file or its header cannot be used at all."""
    raw = read_table(path, file_name)
    return _services(raw)


def read_services_bytes(data: bytes, file_name: str) -> ServicesResult:
    """``read_services`` of uploaded bytes (written to a temporary file only for the reader, then deleted)."""
    with tempfile.TemporaryDirectory(prefix="atlas-services-") as tmp:
        path = Path(tmp) / (Path(file_name).name or "services.csv")
        path.write_bytes(data)
        return read_services(path, file_name)


def rejected_csv(result: ServicesResult) -> bytes:
    """The rejected rows as CSV bytes for a download: every cell text, formula-like ones neutralised."""
    from atlas.safe_output import csv_bytes
    from ingest.report import escape_formula_cells

    return csv_bytes(escape_formula_cells(result.rejected))


# ---------------------------------------------------------------------------- checks


def _roles(raw: RawTable) -> dict[str, str]:
    """Columns of each role; InputError naming what is missing or ambiguous."""
    columns = list(raw.frame.columns)
    roles = find_roles(columns, _COORD_ROLES, raw.file_name)
    rest = [c for c in columns if c not in roles.values()]
    norm = {c: normalise_name(c) for c in rest}
    for role, patterns in _TEXT_ROLES.items():
        for pat in patterns:
            hits = [c for c in rest if re.fullmatch(pat, norm[c]) and c not in roles.values()]
            if len(hits) > 1:
                raise InputError(raw.file_name, f"several columns could be the service {role}: "
                                 f"{', '.join(map(repr, hits))}; rename or remove all but one")
            if hits:
                roles[role] = hits[0]
                break
    if "type" not in roles:
        raise InputError(raw.file_name, f"no service type column (columns: {', '.join(map(repr, columns))}); "
                         "add a 'type' column, e.g. Refuge, Outreach, IDVA, GP safeguarding lead")
    has_en = "easting" in roles and "northing" in roles
    has_ll = "longitude" in roles and "latitude" in roles
    if not has_en and not has_ll:
        raise InputError(raw.file_name, "services need easting and northing (British National Grid) or "
                         f"longitude and latitude (WGS84) columns; columns: {', '.join(map(repr, columns))}")
    return roles


def _services(raw: RawTable) -> ServicesResult:
    """Validate every row of ``raw``: one problem per rejected row, the first check it fails."""
    f = raw.frame
    n = len(f)
    roles = _roles(raw)
    notes = list(raw.notes)
    if "easting" in roles and "northing" in roles:
        xcol, ycol, crs = roles["easting"], roles["northing"], BNG
        if "longitude" in roles or "latitude" in roles:
            notes.append("both easting/northing and longitude/latitude present: easting/northing used")
    else:
        xcol, ycol, crs = roles["longitude"], roles["latitude"], WGS84
    notes.append(f"located by {xcol!r}/{ycol!r} ({'British National Grid' if crs == BNG else 'WGS84, converted'})")
    type_text = f[roles["type"]].str.strip().str.replace(r"\s+", " ", regex=True)
    name_text = (f[roles["name"]].str.strip() if "name" in roles else pd.Series("", index=f.index, dtype="str"))

    rr = RowReasons(n)
    used = list(roles.values())
    rr.reject(short_rows(raw, used), SERVICES_REASONS["short_row"])
    rr.reject(repeated_header_rows(raw, [roles["type"], xcol, ycol]), SERVICES_REASONS["repeated_header"])
    rr.reject(is_blank(type_text), SERVICES_REASONS["missing_type"])
    rr.reject((type_text.str.len() > MAX_TEXT_CHARS).to_numpy(dtype=bool), SERVICES_REASONS["long_type"])
    rr.reject((name_text.str.len() > MAX_TEXT_CHARS).to_numpy(dtype=bool), SERVICES_REASONS["long_name"])
    rr.reject(is_blank(f[xcol]) | is_blank(f[ycol]), SERVICES_REASONS["missing_coords"])
    x, x_bad = parse_numbers(f[xcol])
    y, y_bad = parse_numbers(f[ycol])
    rr.reject(x_bad | y_bad, SERVICES_REASONS["bad_coords"])
    # The records importer's checks name a suspected mix-up (swapped axes, degrees in metre columns).
    check_coordinates(x, y, crs, rr)
    easting, northing = _to_bng(x, y, crs, rr)

    ok = rr.ok
    keys = type_key(type_text)
    # One spelling per type for display: the first the file uses (e.g. "IDVA" for "idva" further down).
    first = type_text[ok].groupby(keys[ok].to_numpy(), sort=False).first()
    if ok.any() and (type_text[ok] != keys[ok].map(first)).any():
        notes.append("service types differing only in case or spacing were merged; each is shown as first written")
    services = pd.DataFrame({
        SERVICE_NAME: name_text[ok].to_numpy(dtype=object),
        SERVICE_TYPE: keys[ok].map(first).to_numpy(dtype=object),
        TYPE_KEY: keys[ok].to_numpy(dtype=object),
        EASTING: easting[ok], NORTHING: northing[ok],
        ROW: (raw.row_number[ok] + 1).astype("int64"),
    }).astype({SERVICE_NAME: "str", SERVICE_TYPE: "str", TYPE_KEY: "str"})
    return ServicesResult(raw.file_name, n, services, _rejected(raw, rr, x, y, crs, xcol, ycol), notes)


def _to_bng(x: np.ndarray, y: np.ndarray, crs: str, rr: RowReasons) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing of every row (NaN where rejected); rows off Great Britain are rejected here."""
    ok = rr.ok
    e = np.full(len(x), np.nan)
    nn = np.full(len(x), np.nan)
    if crs == WGS84:
        with np.errstate(invalid="ignore"):
            inside = (x >= _GB_LON[0]) & (x <= _GB_LON[1]) & (y >= _GB_LAT[0]) & (y <= _GB_LAT[1])
        rr.reject(ok & ~inside, SERVICES_REASONS["outside_gb"])
        ok = rr.ok
        if ok.any():
            e[ok], nn[ok] = to_crs_xy(x[ok], y[ok], WGS84, BNG)
    else:
        e[ok], nn[ok] = x[ok], y[ok]
    with np.errstate(invalid="ignore"):
        off_grid = ok & ((e < 0) | (e > _BNG_MAX_E) | (nn < 0) | (nn > _BNG_MAX_N))
    rr.reject(off_grid, SERVICES_REASONS["outside_gb"])
    return e, nn


def _rejected(raw: RawTable, rr: RowReasons, x: np.ndarray, y: np.ndarray, crs: str, xcol: str,
              ycol: str) -> pd.DataFrame:
    """row, problem, message ("file, row N: problem (values)"), then the original cells as text."""
    bad = np.flatnonzero(~rr.ok)
    rows = (raw.row_number[bad] + 1).astype("int64")
    problem = pd.Series(rr.reason[bad], dtype="str")
    # Coordinate problems quote the values read, so the user can find and fix them.
    coord = problem.isin([REASONS[k] for k in ("en_in_lonlat", "lonlat_swapped", "lonlat_in_en", "en_swapped",
                                                "out_of_range")] + [SERVICES_REASONS["outside_gb"],
                                                                    SERVICES_REASONS["bad_coords"]])
    shown = (f"{xcol} " + raw.frame[xcol].iloc[bad].str.strip().str.slice(0, 40).reset_index(drop=True)
             + f", {ycol} " + raw.frame[ycol].iloc[bad].str.strip().str.slice(0, 40).reset_index(drop=True))
    detail = problem.where(~coord, problem + " (" + shown + ")")
    message = raw.file_name + ", row " + pd.Series(rows).astype("str") + ": " + detail
    orig = raw.frame.iloc[bad].reset_index(drop=True).astype("str")
    orig.columns = [f"{c} (file)" if c in (ROW, PROBLEM, MESSAGE) else c for c in orig.columns]
    head = pd.DataFrame({ROW: rows, PROBLEM: problem, MESSAGE: message.astype("str")})
    return pd.concat([head, orig], axis=1)
