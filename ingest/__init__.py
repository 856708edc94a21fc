"""Incident import: counts, anonymised records and police.uk files, with validation reports."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.importer import KINDS, detect_kind, read_incident_file
    from ingest.report import ImportReport, ImportResult

# Loaded on first use (PEP 562): `from ingest.report import ...` (every CSV writer escapes formulas
# with it) must not pull in the importers, whose point-in-polygon join imports geopandas.
_HOMES = {"KINDS": "ingest.importer", "detect_kind": "ingest.importer", "read_incident_file": "ingest.importer",
          "ImportReport": "ingest.report", "ImportResult": "ingest.report"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")


__all__ = ["KINDS", "ImportReport", "ImportResult", "detect_kind", "read_incident_file"]
