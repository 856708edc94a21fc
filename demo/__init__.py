"""Seeded generator of synthetic domestic abuse demo data (labelled synthetic everywhere)."""

from demo.dataset import DEMO_DATASET, ensure_demo_dataset
from demo.generator import DEFAULT_SEED, generate_demo_records
from demo.model import PLANTED_PATTERNS, demo_expected_rates

__all__ = [
    "DEFAULT_SEED",
    "DEMO_DATASET",
    "PLANTED_PATTERNS",
    "demo_expected_rates",
    "ensure_demo_dataset",
    "generate_demo_records",
]
