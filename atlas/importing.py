"""Import a file into a dataset: read and validate it, commit its counts, keep the rejected rows."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boundaries.registry import DEFAULT_SET, get_boundary_set
from geo.schema import AREA_CODE, CATEGORY, GRAIN, LEVEL, PERIOD, AtlasError, InputError, atlas_home
from ingest import ImportReport, read_incident_file
from ingest.reader import system_arrow_memory
from store import NewDataset, Store

KEY_COLUMNS = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY]
DEFAULT_MAX_FILE_MB = 200
MAX_FILE_MB_ENV = "ATLAS_MAX_FILE_MB"


def max_file_bytes() -> int:
    """Largest incident file accepted: $ATLAS_MAX_FILE_MB megabytes (default 200)."""
    raw = os.environ.get(MAX_FILE_MB_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_FILE_MB
    except ValueError as exc:
        raise AtlasError(f"{MAX_FILE_MB_ENV} must be a number of megabytes; received {raw!r}") from exc
    if mb <= 0:
        raise AtlasError(f"{MAX_FILE_MB_ENV} must be above 0; received {raw!r}")
    return int(mb * 2**20)


def check_file_size(path: str | Path, name: str | None = None, limit: int | None = None) -> None:
    """InputError before anything is read when the file is larger than the cap (it is read into memory)."""
    limit = max_file_bytes() if limit is None else limit
    try:
        size = os.stat(path).st_size
    except OSError:
        return  # the reader reports a missing or unreadable file, naming it
    if size > limit:
        raise InputError(
            name or Path(path).name,
            f"is {size / 2**20:,.0f} MB, above the {limit / 2**20:,.0f} MB limit for one import; split it "
            f"(e.g. by year) or raise the limit with {MAX_FILE_MB_ENV}",
        )


@dataclass
class ImportSummary:
    """What happened to one file: the validation report plus what the store did with it."""

    dataset: str
    status: str  # "imported", "already imported" or "nothing imported"
    import_id: int | None
    rows_added: int
    report: ImportReport

    @property
    def rows_accepted(self) -> int:
        return self.report.rows_accepted

    def to_dict(self) -> dict[str, Any]:
        """One JSON-ready object: the report's keys plus dataset, status and import_id."""
        return {"dataset": self.dataset, "status": self.status, "import_id": self.import_id,
                "rows_added": self.rows_added, **self.report.to_dict()}

    def summary(self) -> str:
        """Plain-text report for the terminal."""
        r = self.report
        lines = [
            f"{r.file_name} -> dataset {self.dataset!r}: {self.status}",
            f"  kind: {r.kind}; rows read {r.rows_read:,}, accepted {r.rows_accepted:,}, rejected {r.rows_rejected:,}",
        ]
        for reason, n in sorted(r.reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"  rejected {n:,}: {reason}")
        if r.rejected_file:
            lines.append(f"  rejected rows written to {r.rejected_file}")
        if r.dropped_columns:
            lines.append(f"  columns not kept: {', '.join(r.dropped_columns)}")
        lines += [f"  note: {n}" for n in r.notes]
        return "\n".join(lines)


def import_file(
    store: Store,
    path: str | Path,
    dataset: str,
    *,
    kind: str | None = None,
    date_format: str | None = None,
    boundary_set: str | None = None,
    rejected_out: str | Path | None = None,
    source_name: str | None = None,
    synthetic: bool = False,
    description: str = "",
    max_bytes: int | None = None,
    sheet: str | None = None,
) -> ImportSummary:
    """Import one file into ``dataset`` (created on first import), all or nothing.

    Rows whose key is already stored are rejected, so importing overlapping files never doubles a
    count, and the same file twice changes nothing. Rejected rows are written to ``rejected_out``
    (default: ``$ATLAS_HOME/rejected/``) whenever there are any. A file above ``max_bytes``
    (default ``$ATLAS_MAX_FILE_MB``, 200 MB) is refused before it is read. ``sheet`` names the sheet
    of an XLSX workbook to read (default: the first sheet with data); each sheet of a workbook is its
    own import (its digest in the import log is the file's with the sheet name added).
    """
    check_file_size(path, source_name, max_bytes)
    # Reading, checking and committing a large file all make big Arrow buffers: see system_arrow_memory.
    with system_arrow_memory():
        return _import_file(store, path, dataset, kind, date_format, boundary_set, rejected_out, source_name,
                            synthetic, description, sheet)


def _import_file(
    store: Store,
    path: str | Path,
    dataset: str,
    kind: str | None,
    date_format: str | None,
    boundary_set: str | None,
    rejected_out: str | Path | None,
    source_name: str | None,
    synthetic: bool,
    description: str,
    sheet: str | None = None,
) -> ImportSummary:
    existing = store.datasets()
    row = existing[existing["name"] == dataset]
    if row.empty:
        bs = boundary_set or DEFAULT_SET
        get_boundary_set(bs)  # fail early, naming the set, before reading the file
        stored_keys = None
    else:
        bs = row.iloc[0]["boundary_set"]
        if boundary_set is not None and boundary_set != bs:
            raise AtlasError(f"dataset {dataset!r} uses boundary set {bs!r}, not {boundary_set!r}")
        log = store.import_log(dataset)
        digest = _sha256(path, sheet)
        if digest in set(log["sha256"]):
            # Same bytes (and sheet) as an earlier import: report on the file, change nothing.
            result = read_incident_file(path, kind=kind, date_format=date_format, boundary_set=bs,
                                        source_name=source_name, sheet=sheet)
            done = log[log["sha256"] == digest].iloc[0]
            result.report.notes.append(f"this file was already imported (import {done['import_id']}); nothing changed")
            return ImportSummary(dataset, "already imported", int(done["import_id"]), 0, result.report)
        stored_keys = store.count_keys(dataset)[KEY_COLUMNS]

    result = read_incident_file(
        path, kind=kind, date_format=date_format, boundary_set=bs, source_name=source_name,
        stored_keys=stored_keys, sheet=sheet,
    )
    report = result.report
    if sheet is not None:
        # Another sheet of the same workbook is another import: without this, the second sheet would be
        # taken for "this file was already imported" and silently not read.
        report.sha256 = _sha256(path, sheet)
        report.notes.append(f"sheet {sheet!r} of the workbook was read")
    if report.rows_rejected:
        report.write_rejected(rejected_out or _default_rejected_path(dataset, report))
    if report.rows_accepted == 0:
        return ImportSummary(dataset, "nothing imported", None, 0, report)

    outcome = store.commit_import(
        dataset, result, create=NewDataset(bs, synthetic=synthetic, description=description)
    )
    if len(outcome.duplicate_keys):
        # Only possible if another import of overlapping data landed between our read and commit.
        report.notes.append(
            f"{len(outcome.duplicate_keys)} count rows were already stored by a concurrent import and were not added"
        )
    return ImportSummary(dataset, outcome.status, outcome.import_id, outcome.rows_added, report)


def _sha256(path: str | Path, sheet: str | None = None) -> str:
    """The file's SHA-256; with a sheet, of the file's bytes followed by a NUL and the sheet name."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if sheet is not None:
        h.update(b"\0sheet:" + sheet.encode("utf-8"))
    return h.hexdigest()


def _default_rejected_path(dataset: str, report: ImportReport) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", dataset).strip("-").lower() or "dataset"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(report.file_name).name)
    return atlas_home() / "rejected" / f"{slug}__{stem}__{report.sha256[:12]}__rejected.csv"
