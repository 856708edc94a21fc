"""Display outlines (geo.display_areas) cached on disk, so a new server process does not simplify them again.

Simplifying and encoding 5,000 LSOA outlines takes 1.5-2 s (``shapely.coverage_is_valid`` on the whole
set and per local authority, then ``coverage_simplify``); the result depends only on the boundary file,
the level and which areas are shown, in which order. One ``.npz`` file per key under
``$ATLAS_HOME/cache/display``, as geo.weights_cache does for weights: the key holds the boundary set's
registry entry and file version (path, mtime_ns, size), the level, a digest of the area codes in order,
the tolerance asked for (None = geo.display_areas.display_tolerance), the source of geo/display_areas.py
and the shapely/GEOS and pyproj versions, so a replaced boundary file, other areas, a changed builder or
another geometry library get a new file. A file that cannot be read, or was written for another key,
is rebuilt, never trusted. Arrays and text only (no pickle); writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from geo import display_areas as display_module
from geo.display_areas import DisplayAreas
from geo.schema import atlas_home
from geo.weights_cache import atomic_savez

FORMAT = 1
KEEP = 16  # most recently used files kept


def cache_dir() -> Path:
    """Where cached display outlines live ($ATLAS_HOME/cache/display)."""
    return atlas_home() / "cache" / "display"


@lru_cache(maxsize=1)
def _builder_digest() -> str:
    """sha256 of the builder's source (geo/display_areas.py) and the geometry libraries' versions."""
    import pyproj
    import shapely

    text = Path(display_module.__file__).read_bytes() + repr(
        (shapely.__version__, shapely.geos_version_string, pyproj.__version__, pyproj.proj_version_str)).encode()
    return hashlib.sha256(text).hexdigest()


def file_version(path: os.PathLike | str) -> tuple[str, int, int]:
    """(path, mtime_ns, size) of a boundary file: a replaced file gets new outlines."""
    st = os.stat(path)
    return str(Path(path).resolve()), st.st_mtime_ns, st.st_size


def cache_key(boundary: Hashable, level: str, codes: Sequence[str], tolerance_m: float | None) -> tuple:
    """The key of one selection's outlines; ``boundary`` is the set's entry and file version(s)."""
    codes_digest = hashlib.sha256("\n".join(map(str, codes)).encode()).hexdigest()
    return (FORMAT, _builder_digest(), repr(boundary), level, len(codes), codes_digest, tolerance_m)


def cache_path(key: tuple) -> Path:
    return cache_dir() / f"{hashlib.sha256(repr(key).encode()).hexdigest()[:32]}.npz"


def save(path: Path, key: tuple, areas: DisplayAreas) -> None:
    """Write ``areas`` to ``path`` atomically (the table as Parquet bytes, the outlines as UTF-8)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(areas.table, preserve_index=False), buf)
    meta = json.dumps({"key": repr(key), "bounds": list(areas.bounds), "outline_key": areas.key,
                       "columns": list(map(str, areas.table.columns))})
    atomic_savez(path, meta=np.asarray(meta), table=np.frombuffer(buf.getvalue(), dtype=np.uint8),
                 outlines=np.frombuffer(areas.outlines.encode(), dtype=np.uint8))


def load(path: Path, key: tuple) -> DisplayAreas | None:
    """The outlines saved at ``path`` for ``key``; None when missing, unreadable or written for another key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta["key"] != repr(key):
                return None
            table = pq.read_table(pa.BufferReader(z["table"].tobytes())).to_pandas()
            outlines = z["outlines"].tobytes().decode()
        bounds = tuple(float(b) for b in meta["bounds"])
        if len(bounds) != 4 or list(table.columns) != meta["columns"]:
            return None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, pa.ArrowException):
        return None
    table = pd.DataFrame(table).reset_index(drop=True)
    return DisplayAreas(table, outlines, bounds, str(meta["outline_key"]))


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)


def cached(key: tuple, build: Callable[[], DisplayAreas]) -> DisplayAreas:
    """Outlines for ``key`` from the disk cache, else ``build()`` them and cache the result."""
    path = cache_path(key)
    hit = load(path, key) if path.exists() else None
    if hit is not None:
        try:
            os.utime(path)  # most recently used: kept by _prune
        except OSError:
            pass
        return hit
    areas = build()
    try:
        save(path, key, areas)
        _prune(path.parent)
    except OSError:
        pass  # a read-only home still gets correct (uncached) outlines
    return areas


__all__ = ["FORMAT", "cache_dir", "cache_key", "cache_path", "cached", "file_version", "load", "save"]
