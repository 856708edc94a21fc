"""Embedded DuckDB store of datasets, import log and aggregated counts."""

from store.store import ImportOutcome, NewDataset, Store, default_store_path, validate_dataset_name

__all__ = ["ImportOutcome", "NewDataset", "Store", "default_store_path", "validate_dataset_name"]
