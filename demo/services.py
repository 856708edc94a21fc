"""Seeded SYNTHETIC service locations for County Durham and Darlington (refuges, outreach, IDVA, GP leads).

Made up, never real: each service is placed near the representative point of an LSOA drawn in
proportion to its residents, jittered by up to 1.5 km and then moved to the centre of its 1 km
National Grid square, so no point is an address (real refuge addresses are confidential). Every
name says "synthetic" and every row carries a note saying so. Shipped as
data/demo/services_synthetic_county_durham_darlington.csv (``write_demo_services_csv``); see
docs/demo-data.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from demo._inputs import POPULATION_COL, demo_areas
from geo.schema import SYNTHETIC_LABEL, data_dir

__all__ = ["DEMO_SERVICES_FILE", "DEMO_SERVICES_SEED", "GRID_M", "SERVICE_COUNTS", "demo_services_path",
           "generate_demo_services", "write_demo_services_csv"]

DEMO_SERVICES_SEED = 20240401
DEMO_SERVICES_FILE = Path("demo") / "services_synthetic_county_durham_darlington.csv"
GRID_M = 1000  # points are 1 km grid-square centres: never an address
JITTER_M = 1500.0
# How many of each type (a county-sized partnership's order of magnitude, not a count of real services).
SERVICE_COUNTS: dict[str, int] = {"Refuge": 3, "Outreach": 6, "IDVA": 5, "GP safeguarding lead": 12}
NOTE = f"{SYNTHETIC_LABEL}: not a real service or address (1 km grid-square centre)"


def generate_demo_services(seed: int = DEMO_SERVICES_SEED) -> pd.DataFrame:
    """[name, type, easting, northing, note]: the synthetic services, seeded, in type then number order."""
    rng = np.random.default_rng(seed)
    areas = demo_areas()
    pop = areas[POPULATION_COL].to_numpy(dtype=float)
    points = shapely.point_on_surface(areas.geometry.to_numpy())
    x, y = shapely.get_x(points), shapely.get_y(points)
    n = sum(SERVICE_COUNTS.values())
    pick = rng.choice(len(areas), size=n, p=pop / pop.sum())
    jx, jy = rng.uniform(-JITTER_M, JITTER_M, size=(2, n))
    # The centre of the 1 km square the jittered point falls in.
    east = (np.floor((x[pick] + jx) / GRID_M) * GRID_M + GRID_M / 2).astype("int64")
    north = (np.floor((y[pick] + jy) / GRID_M) * GRID_M + GRID_M / 2).astype("int64")
    kinds = [kind for kind, k in SERVICE_COUNTS.items() for _ in range(k)]
    numbers = [i + 1 for k in SERVICE_COUNTS.values() for i in range(k)]
    return pd.DataFrame({
        "name": [f"Synthetic {kind} {i}" for kind, i in zip(kinds, numbers)],
        "type": kinds, "easting": east, "northing": north, "note": NOTE,
    })


def demo_services_path() -> Path:
    """Where the shipped synthetic services file is (data/demo/...)."""
    return data_dir() / DEMO_SERVICES_FILE


def write_demo_services_csv(path: str | Path | None = None, seed: int = DEMO_SERVICES_SEED) -> Path:
    """Write the synthetic services CSV (default: the shipped file's place) and return its path."""
    path = Path(path) if path is not None else demo_services_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_demo_services(seed).to_csv(path, index=False, lineterminator="\n")
    return path


if __name__ == "__main__":  # python -m demo.services: rebuild the shipped file
    print(write_demo_services_csv())
