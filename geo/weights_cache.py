"""Spatial weights cached on disk, so a second process reuses them instead of rebuilding (1-2 s nationally).

One ``.npz`` file per key under ``$ATLAS_HOME/cache/weights``: the binary CSR matrix, the area codes
and the build report. The key holds the boundary file's (path, mtime_ns, size) and everything the
build depends on, so a replaced boundary file, another level, other authorities or another method
get a new file; ``FORMAT`` changes when the way weights are built changes. A file that cannot be
read is rebuilt, never trusted. Writes go through a temporary file and an atomic rename, so two
processes building at once both end with a whole file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Hashable
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from geo import weights as weights_module
from geo.schema import atlas_home
from geo.weights import SpatialWeights, WeightsReport, _row_standardise

# Bump when the file layout changes. The key also holds a digest of geo/weights.py, so any change
# to how weights are built invalidates every cached file without anyone having to remember to bump.
FORMAT = 1
_TUPLE_FIELDS = ("isolates", "notes")


def cache_dir() -> Path:
    """Where cached weights live ($ATLAS_HOME/cache/weights)."""
    return atlas_home() / "cache" / "weights"


@lru_cache(maxsize=1)
def _builder_digest() -> str:
    """sha256 of the weights builder's source (geo/weights.py)."""
    return hashlib.sha256(Path(weights_module.__file__).read_bytes()).hexdigest()


def cache_path(key: Hashable) -> Path:
    """The cache file for ``key`` (a tuple of str/int/None describing the areas and the method)."""
    digest = hashlib.sha256(repr((FORMAT, _builder_digest(), key)).encode()).hexdigest()[:32]
    return cache_dir() / f"{digest}.npz"


def save(path: Path, weights: SpatialWeights, report: WeightsReport) -> None:
    """Write weights and report to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    b = weights.binary.tocsr()
    meta = json.dumps(dataclasses.asdict(report))
    atomic_savez(
        path, indptr=b.indptr.astype(np.int64), indices=b.indices.astype(np.int32),
        data=b.data.astype(np.float64), codes=np.asarray(weights.codes, dtype=str),
        method=np.asarray(weights.method), report=np.asarray(meta),
    )


def atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` to ``path`` through a temporary file in the same folder, so a reader never sees half a file.

    The on-disk caches (weights here, analysis frames, display outlines) all write this way.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> tuple[SpatialWeights, WeightsReport] | None:
    """Weights and report from ``path``; None when it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            codes = tuple(z["codes"].tolist())
            n = len(codes)
            binary = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(n, n))
            binary.sort_indices()
            method = str(z["method"])
            meta = json.loads(str(z["report"]))
    except (OSError, ValueError, KeyError):
        return None
    for name in _TUPLE_FIELDS:
        meta[name] = tuple(meta[name])
    meta["attached"] = tuple(tuple(pair) for pair in meta["attached"])
    row_std, card = _row_standardise(binary)
    return SpatialWeights(codes, binary, row_std, card, method), WeightsReport(**meta)


def cached(key: Hashable, build: Callable[[], tuple[SpatialWeights, WeightsReport]]) -> tuple[SpatialWeights, WeightsReport]:
    """Weights for ``key`` from the disk cache, else ``build()`` them and cache the result."""
    path = cache_path(key)
    hit = load(path) if path.exists() else None
    if hit is not None:
        return hit
    weights, report = build()
    try:
        save(path, weights, report)
    except OSError:
        pass  # a read-only home still gets correct (uncached) weights
    return weights, report


__all__ = ["cache_dir", "cache_path", "cached", "load", "save"]
