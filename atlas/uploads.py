"""Handlers for files uploaded through the app: incidents, boundaries, localities (no Streamlit here)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyogrio

from atlas.importing import ImportSummary, import_file
from boundaries.hierarchy import set_localities, ward_localities
from boundaries.registry import BoundarySet, register_boundary_set
from boundaries.validate import BoundaryReport
from store import Store
from store.store import validate_dataset_name


@dataclass(frozen=True)
class ImportOptions:
    """What the import form chose; kind/date_format None = detect; boundary_set only for a new dataset."""

    dataset: str
    kind: str | None = None
    date_format: str | None = None
    boundary_set: str | None = None
    description: str = ""


@dataclass
class ImportDone:
    """An import's summary plus its rejected rows as CSV bytes (formula cells escaped) for download."""

    summary: ImportSummary
    rejected_csv: bytes | None


@dataclass(frozen=True)
class BoundaryOptions:
    """Boundary upload choices; layer/code_col/name_col None = detect."""

    name: str
    level: str
    layer: str | None = None
    code_col: str | None = None
    name_col: str | None = None
    vintage: str = ""


def saved_upload(data: bytes, file_name: str, folder: Path) -> Path:
    """Write an upload under its own base name, so reports and errors name the user's file."""
    path = folder / (Path(file_name).name or "upload")  # a browser-supplied name is never a path
    path.write_bytes(data)
    return path


def handle_import(data: bytes, file_name: str, options: ImportOptions, store: Store | None = None) -> ImportDone:
    """Import uploaded bytes through atlas.importing.import_file; the rejected rows come back as bytes."""
    store = store or Store()
    existing = set(store.datasets()["name"])
    if options.dataset not in existing:
        validate_dataset_name(options.dataset)  # a bad name fails before the file is read
    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as tmp:
        (Path(tmp) / "in").mkdir()
        path = saved_upload(data, file_name, Path(tmp) / "in")
        rejected = Path(tmp) / "rejected.csv"
        summary = import_file(
            store, path, options.dataset, kind=options.kind, date_format=options.date_format,
            boundary_set=options.boundary_set if options.dataset not in existing else None,
            rejected_out=rejected, source_name=path.name, description=options.description,
        )
        csv = rejected.read_bytes() if rejected.is_file() else None
    # Rejected rows keep the user's original columns: hand them back, keep no copy on the server.
    summary.report.rejected_file = None
    from atlas.warm import warm_after_import

    warm_after_import(store, options.dataset, summary)  # as `atlas import` does: the map's caches, in the background
    return ImportDone(summary, csv)


def boundary_layers(data: bytes, file_name: str) -> list[str]:
    """Layer names of an uploaded GeoPackage ([] for other file types)."""
    if not file_name.lower().endswith(".gpkg"):
        return []
    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as tmp:
        try:
            return [str(n) for n, _ in pyogrio.list_layers(saved_upload(data, file_name, Path(tmp)))]
        except Exception:  # unreadable: register_boundary_set reports it properly
            return []


def boundary_columns(data: bytes, file_name: str, layer: str | None) -> list[str]:
    """Attribute columns of an uploaded boundary file (for choosing code/name when detection fails)."""
    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as tmp:
        path = saved_upload(data, file_name, Path(tmp))
        try:
            if path.suffix.lower() == ".parquet":
                import pyarrow.parquet as pq

                return [c for c in pq.read_schema(path).names if c != "geometry"]
            return [str(c) for c in pyogrio.read_info(path, layer=layer)["fields"]]
        except Exception:  # unreadable: register_boundary_set reports it properly
            return []


def handle_boundaries(data: bytes, file_name: str, options: BoundaryOptions) -> tuple[BoundarySet, BoundaryReport]:
    """Validate and register an uploaded boundary file as a one-level user set."""
    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as tmp:
        path = saved_upload(data, file_name, Path(tmp))
        return register_boundary_set(
            path, options.name.strip(), options.level, layer=options.layer, code_col=options.code_col,
            name_col=options.name_col, vintage=options.vintage.strip(),
        )


def locality_summary(boundary_set: str) -> pd.DataFrame:
    """Localities in force for a set: locality, code, local authority, wards (most wards first)."""
    wl = ward_localities(boundary_set)
    out = wl.groupby(["locality_name", "locality_code", "lad_name"], as_index=False).agg(wards=("ward_code", "size"))
    out.columns = ["Locality", "Code", "Local authority", "Wards"]
    return out.sort_values(["Local authority", "Wards", "Locality"], ascending=[True, False, True], ignore_index=True)


def handle_localities(data: bytes, file_name: str, boundary_set: str) -> pd.DataFrame:
    """Validate and keep an uploaded ward_code,locality CSV; returns the new locality summary."""
    with tempfile.TemporaryDirectory(prefix="atlas-upload-") as tmp:
        set_localities(boundary_set, saved_upload(data, file_name, Path(tmp)))
    return locality_summary(boundary_set)
