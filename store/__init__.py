"""Embedded DuckDB store of datasets, import log and aggregated counts."""
