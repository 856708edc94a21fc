"""Canonical names, CRS constants and error types shared by every layer."""

from __future__ import annotations

import os
from pathlib import Path

BNG = "EPSG:27700"
WGS84 = "EPSG:4326"

# Areas GeoDataFrame columns.
CODE = "code"
NAME = "name"
LAD_CODE = "lad_code"
LAD_NAME = "lad_name"

# Tidy count-table columns.
AREA_CODE = "area_code"
AREA_NAME = "area_name"
LEVEL = "level"
PERIOD = "period"
GRAIN = "grain"
CATEGORY = "category"
COUNT = "count"
REPEAT_COUNT = "repeat_count"
POPULATION = "population"
RATE_PER_1000 = "rate_per_1000"

# Boundary levels, finest first. "lad" = local authority district.
LEVELS: tuple[str, ...] = ("lsoa", "msoa", "ward", "locality", "lad")
# Period grains. fyquarter: financial quarter, Q1 = Apr-Jun; fy: financial year "2019/20".
GRAINS: tuple[str, ...] = ("month", "quarter", "fyquarter", "fy", "year")
# Category used when an import carries none.
ALL_CATEGORIES = "All"

# Population denominators: CLI/app name -> column in the population table.
DENOMINATORS: dict[str, str] = {
    "total": "population_total",
    "16plus": "population_16_plus",
    "18plus": "population_18_plus",
    "female16plus": "population_16_plus_female",
}

SYNTHETIC_LABEL = "synthetic demo data"

# Spatial weights methods (geo.weights) and multiple-testing corrections (analysis.hotspots): defined
# here, in a module without heavy imports, so the `atlas` parser can offer them without numpy/geopandas.
WEIGHTS_METHODS: tuple[str, ...] = ("queen", "rook", "knn", "distance")
CORRECTIONS: tuple[str, ...] = ("none", "fdr", "bonferroni")

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """Directory of the shipped reference data (env ATLAS_DATA_DIR overrides)."""
    return Path(os.environ.get("ATLAS_DATA_DIR", PROJECT_ROOT / "data"))


def atlas_home() -> Path:
    """Writable directory for the store and user boundary sets (env ATLAS_HOME overrides)."""
    return Path(os.environ.get("ATLAS_HOME", PROJECT_ROOT / "data" / "store"))


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout when present (env ATLAS_SHARED_DATA overrides)."""
    p = Path(os.environ.get("ATLAS_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
    return p if p.is_dir() else None


class AtlasError(ValueError):
    """Base class for errors a user can act on; the message says what was received."""


class BoundaryError(AtlasError):
    """A boundary file cannot be used (missing CRS, duplicate codes, bad geometry...)."""


class InputError(AtlasError):
    """An incident or lookup file cannot be read at all (not per-row rejections)."""

    def __init__(self, file: str, problem: str, row: int | None = None):
        self.file, self.problem, self.row = file, problem, row
        where = f"{file}, row {row}" if row is not None else file
        super().__init__(f"{where}: {problem}")


class StoreError(AtlasError):
    """The store refused an operation (unknown dataset, name clash, ...)."""
