"""Benchmark inputs: areas (England LSOAs or a square lattice), seeded synthetic counts, records files.

Everything is deterministic for a seed so ours, esda and pygeoda see exactly the same data.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.schema import BNG, CODE, LAD_CODE, LAD_NAME, NAME, shared_data_dir

ENGLAND_LSOA = Path("boundaries") / "england_lsoa_2011.parquet"
N_ENGLAND = 32_844  # LSOA 2011 in England: the lattice stand-in has the same size
N_QUICK = 324  # County Durham's LSOAs
N_MONTHS = 72
FIRST_MONTH = "2019-04"
SEED = 20240101
CELL_M = 500.0  # lattice cell side (metres)


@dataclass(frozen=True)
class Areas:
    """Benchmark areas plus where they came from (for the table's caption)."""

    frame: gpd.GeoDataFrame
    source: str


def lattice_areas(n: int) -> gpd.GeoDataFrame:
    """n square cells (row-major on a near-square grid) in EPSG:27700, two 'local authorities'."""
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    col, row = i % side, i // side
    x0, y0 = 400_000.0 + col * CELL_M, 500_000.0 + row * CELL_M
    geoms = shapely.box(x0, y0, x0 + CELL_M, y0 + CELL_M)
    lad = np.where(col < side // 2, "L0000001", "L0000002")
    return gpd.GeoDataFrame(
        {
            CODE: np.char.add("Q", np.char.zfill(i.astype(str), 8)),
            NAME: np.char.add("cell ", i.astype(str)),
            LAD_CODE: lad,
            LAD_NAME: lad,
        },
        geometry=geoms,
        crs=BNG,
    )


def benchmark_areas(quick: bool) -> Areas:
    """England LSOA 2011 polygons from ../shared/data when present (not with quick); else a lattice."""
    shared = shared_data_dir()
    if not quick and shared is not None and (shared / ENGLAND_LSOA).is_file():
        gdf = gpd.read_parquet(shared / ENGLAND_LSOA)
        return Areas(gdf, f"England LSOA 2011 polygons ({len(gdf):,}) from shared/data/{ENGLAND_LSOA.as_posix()}")
    n = N_QUICK if quick else N_ENGLAND
    return Areas(lattice_areas(n), f"generated square lattice of {n:,} cells (queen contiguity)")


def month_labels(n: int = N_MONTHS, first: str = FIRST_MONTH) -> list[str]:
    """n consecutive month labels starting at ``first`` (YYYY-MM)."""
    start = np.datetime64(first, "M")
    return [str(start + k) for k in range(n)]


def synthetic_counts(centroids: np.ndarray, n_periods: int = N_MONTHS, seed: int = SEED) -> np.ndarray:
    """(areas x periods) Poisson counts around a smooth spatial surface with a seasonal cycle and a local trend."""
    rng = np.random.default_rng(seed)
    xy = np.asarray(centroids, dtype=float)
    span = np.ptp(xy, axis=0)
    u = (xy - xy.min(axis=0)) / np.where(span > 0, span, 1.0)
    # Two bumps (one growing, one fading over time) on a gentle gradient: real hot and cold spots + trends.
    bump_a = np.exp(-((u[:, 0] - 0.3) ** 2 + (u[:, 1] - 0.6) ** 2) / 0.02)
    bump_b = np.exp(-((u[:, 0] - 0.7) ** 2 + (u[:, 1] - 0.3) ** 2) / 0.03)
    t = np.arange(n_periods) / max(n_periods - 1, 1)
    season = 1.0 + 0.15 * np.sin(2 * np.pi * np.arange(n_periods) / 12.0)
    log_mu = (
        np.log(1.5)
        + 0.4 * u[:, [0]]
        + 1.2 * bump_a[:, None] * t[None, :]
        + 1.0 * bump_b[:, None] * (1.0 - t[None, :])
    )
    return rng.poisson(np.exp(log_mu) * season[None, :]).astype(np.float64)


def sample_points_in(geoms: np.ndarray, area_idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Whole-metre points uniformly inside each given polygon (bounding-box draws, filtered by contains_xy)."""
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    x, y = np.empty(area_idx.size), np.empty(area_idx.size)
    todo = np.arange(area_idx.size)
    for _ in range(500):
        if todo.size == 0:
            return x, y
        b = bounds[area_idx[todo]]
        px = np.round(b[:, 0] + rng.random(todo.size) * (b[:, 2] - b[:, 0]))
        py = np.round(b[:, 1] + rng.random(todo.size) * (b[:, 3] - b[:, 1]))
        ok = shapely.contains_xy(geoms[area_idx[todo]], px, py)
        x[todo[ok]], y[todo[ok]] = px[ok], py[ok]
        todo = todo[~ok]
    raise RuntimeError(f"could not place {todo.size} points inside their polygons")


def write_records_file(path: Path, n_records: int, areas: gpd.GeoDataFrame, seed: int = SEED) -> pd.Series:
    """Write n anonymised records (easting, northing, date, category) inside ``areas``; return true counts by code.

    Points on a polygon's boundary are avoided (contains_xy), and points where generalised polygons
    overlap are redrawn, so each point's area is unambiguous.
    """
    rng = np.random.default_rng(seed)
    geoms = np.asarray(areas.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)
    area_idx = rng.integers(0, len(areas), n_records)
    x, y = sample_points_in(geoms, area_idx, rng)
    for _ in range(50):
        hits, _poly = tree.query(shapely.points(x, y), predicate="intersects")
        again = np.flatnonzero(np.bincount(hits, minlength=n_records) > 1)
        if again.size == 0:
            break
        x[again], y[again] = sample_points_in(geoms, area_idx[again], rng)
    months = np.array(month_labels(), dtype="datetime64[M]")
    day = months[rng.integers(0, months.size, n_records)].astype("datetime64[D]") + rng.integers(0, 28, n_records)
    cats = np.array(["Violence", "Harassment", "Criminal damage", "Other"])
    pd.DataFrame(
        {
            "easting": x.astype(np.int64),
            "northing": y.astype(np.int64),
            "date": np.datetime_as_string(day, unit="D"),
            "category": cats[rng.integers(0, cats.size, n_records)],
        }
    ).to_csv(path, index=False)
    codes = areas[CODE].astype(str).to_numpy()
    return pd.Series(np.bincount(area_idx, minlength=len(areas)), index=codes)


def write_gal(path: Path, binary, n: int) -> list[str]:
    """GAL file (GeoDa's format, ids 1..n) for a binary sparse matrix; returns the id list for pygeoda.read_gal."""
    csr = binary.tocsr()
    lines = [f"0 {n} benchmark ID"]  # GeoDa reads the 4-field header only
    for i in range(n):
        nb = csr.indices[csr.indptr[i] : csr.indptr[i + 1]] + 1
        lines.append(f"{i + 1} {len(nb)}")
        lines.append(" ".join(map(str, nb)))
    path.write_text("\n".join(lines) + "\n")
    return [str(i) for i in range(1, n + 1)]


def _version(module: str) -> str:
    try:
        mod = __import__(module)
    except ImportError:
        return "not installed"
    return str(getattr(mod, "__version__", "?"))


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux) or platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, str]:
    """Cores, CPU, memory, OS and library versions printed above the table."""
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        mem_gb = float("nan")
    facts = {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "usable cores": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "memory": f"{mem_gb:.1f} GB",
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }
    for mod in ("numpy", "scipy", "pandas", "shapely", "geopandas", "esda", "libpysal", "pygeoda", "numba"):
        facts[mod] = _version(mod)
    return facts


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB; ru_maxrss is KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1e6 if sys.platform == "darwin" else r / 1024.0
