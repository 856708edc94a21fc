"""Incident import: counts, anonymised records and police.uk files, with validation reports."""

from ingest.importer import KINDS, detect_kind, read_incident_file
from ingest.report import ImportReport, ImportResult

__all__ = ["KINDS", "ImportReport", "ImportResult", "detect_kind", "read_incident_file"]
