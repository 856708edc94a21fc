"""Analysis services shared by the command line and the app: one call from a stored dataset to a tidy table.

Every service loads the dataset's counts, rolls them up to ``level`` x ``grain`` (``analysis.rollup``),
keeps the areas of the level inside ``area_filter`` (a local authority code; None = the local
authorities with any incident in the data, see ``_lad_scope``), completes the grid with explicit zeros over those areas and over every period
from the first to the last period of the data at that grain, joins population, and runs one
analysis. Problems the user can fix (unknown period, grain, level, category) raise ``AtlasError``;
things worth knowing (rows left out by the roll-up, periods only partly covered, no population) are
listed in ``table.attrs["notes"]``. Column meanings: docs/output-columns.md.

Frames are memoised per process (``frame_cache``, keyed by ``Store.cache_token()`` and the
arguments) and each frame computes its rates table once, so the several services a page calls for
one selection load the data once. Frames are shared: treat them as read-only.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.change import period_change, seed_table
from analysis.emerging import emerging_hotspots, hot_spot_transitions
from analysis.hotspots import HotspotParams, gi_star_bins, local_hotspots_matrix
from analysis.periods import (
    first_month_index,
    months_per_period,
    period_range,
    period_sort_key,
    same_period_last_year,
)
from analysis.priority import (
    COUNT_LAST_YEAR,
    EHSA_CATEGORY,
    HOT_RECENT,
    IMD_SCORE,
    N_RECENT,
    PriorityWeights,
    compare_priority,
    priority_scores,
)
from analysis.rates import (
    COMPARED,
    INCIDENT_SHARE,
    RATE_NOTE,
    add_rates,
    compare_to_reference,
    denominator_column,
    overall_rate,
    rate_column,
)
from analysis.cube import Cells, CodedCounts, roll_up_cells
from analysis.perturbation import cell_keys, perturb, record_keys
from boundaries.hierarchy import localities_path, parent_map
from boundaries.load import load_area_table, load_areas
from boundaries.population import imd_table, population_table
from boundaries.registry import BoundarySet, get_boundary_set, missing_level_message, user_file
from geo.schema import (
    ALL_CATEGORIES,
    AREA_CODE,
    AREA_NAME,
    CATEGORY,
    CODE,
    COUNT,
    GRAIN,
    GRAINS,
    LAD_CODE,
    LAD_NAME,
    LEVEL,
    LEVELS,
    NAME,
    PERIOD,
    POPULATION,
    RATE_PER_1000,
    REPEAT_COUNT,
    AtlasError,
    atlas_home,
    data_dir,
)
from geo import weights_cache
from geo.weights import METHODS, SpatialWeights, WeightsReport, build_weights

STATISTICS: tuple[str, ...] = ("gi_star", "local_moran", "local_moran_rate")
NO_POPULATION_NOTE = "no population for this boundary set"
WHOLE_AREA_RATE = "whole_area_rate"
RATE_RATIO = "rate_ratio"
COMPARED_TO_WHOLE_AREA = "compared_to_whole_area"
DENOMINATOR = "denominator"
# EHSA's Mann-Kendall trend says little on fewer periods; priority leaves the category out below this.
MIN_EHSA_PERIODS = 4
# Frames up to this many area x period cells compute every period's rates at once (see _rates).
_SMALL_FRAME = 100_000


@dataclass(frozen=True, eq=False)
class AnalysisFrame:
    """A dataset prepared for analysis: the complete areas x periods counts cube, areas, periods, population.

    Read-only: ``load_frame`` hands the same frame to every caller of one selection (see
    ``frame_cache``), so never modify ``cube``, ``areas`` or ``population`` in place; derive new
    tables (``assign``, ``merge``, ``copy``) instead. ``counts`` (the tidy grid) is built from the
    cube on first use; national services read the cube, or ``counts_in`` a few periods, instead.
    """

    dataset: str
    boundary_set: str
    level: str
    grain: str
    category: str
    area_filter: str | None
    lad_codes: tuple[str, ...] | None  # local authorities analysed; None = every area of the level
    denominator: str
    areas: pd.DataFrame  # area_code, area_name, lad_code, lad_name; code order
    periods: tuple[str, ...]  # every period first..last, chronological
    cube: np.ndarray  # int64 [areas x periods] in ``areas`` and ``periods`` order: the complete grid
    repeat_cube: np.ndarray  # float64 [areas x periods] repeat-victim counts; NaN = not known
    population: pd.Series | None  # denominator by area code; None when the set has no population
    notes: tuple[str, ...]
    # Months of each period covered by the data (same order as ``periods``); only the first and
    # last period can be partly covered. Empty = every period whole.
    months_covered: tuple[int, ...] = ()
    # Publication mode only (``load_frame`` on ``Store.for_publication()``): ``cube`` then holds the published
    # (perturbed) counts, ``exact_cube`` the true ones and ``key_cube`` each cell's summed record keys, so a
    # total of several cells can be perturbed as a count of its own (``area_totals``, ``period_sums``).
    exact_cube: np.ndarray | None = None
    exact_repeat_cube: np.ndarray | None = None
    key_cube: np.ndarray | None = None
    # Tables derived from this frame (e.g. "rates"), computed once; not compared, not copied by replace().
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def perturbed(self) -> bool:
        """True for publication mode's frame, whose counts are perturbed (analysis.perturbation)."""
        return self.key_cube is not None

    def area_totals(self, rows: np.ndarray | None = None, cols: slice | np.ndarray | None = None) -> np.ndarray:
        """Per period (``cols`` of ``periods``; all by default), the counts of areas ``rows`` (a mask; None: all) summed.

        In a perturbed frame each total is a count of its own: the true total perturbed at the sum of its cells'
        keys, not the sum of the perturbed cells (which would tie the hidden cells to what is shown).
        """
        return self._summed(0, slice(None) if rows is None else rows, slice(None) if cols is None else cols)

    def period_sums(self, cols: slice | np.ndarray) -> np.ndarray:
        """Per area, the counts of periods ``cols`` summed (perturbed as a count of its own, as ``area_totals``)."""
        return self._summed(1, slice(None), cols)

    def _summed(self, axis: int, rows: Any, cols: Any) -> np.ndarray:
        if self.key_cube is None:
            return self.cube[rows][:, cols].sum(axis=axis).astype(float)
        exact = self.exact_cube[rows][:, cols].sum(axis=axis)
        return perturb(exact, cell_keys(self.key_cube[rows][:, cols].sum(axis=axis))).astype(float)

    @property
    def codes(self) -> list[str]:
        """Area codes in code order (the order of weights and matrices)."""
        return self.areas[AREA_CODE].tolist()

    @property
    def counts(self) -> pd.DataFrame:
        """The complete grid as a tidy counts table (one row per area x period, area then time order)."""
        table = self._memo.get("counts")
        if table is None:
            table = self._memo.setdefault("counts", self._tidy(np.arange(len(self.periods))))
        return table

    def counts_in(self, periods: list[str] | tuple[str, ...] | None) -> pd.DataFrame:
        """Tidy grid rows of ``periods`` (each checked) in area then time order; every period when None."""
        if periods is None:
            return self.counts
        return self._tidy(np.sort([self.check_period(p) for p in dict.fromkeys(periods)]))

    def matrix(self, periods: list[str] | tuple[str, ...]) -> np.ndarray:
        """int64 [areas x len(periods)] counts of the given periods, in that order."""
        return self.cube[:, [self.check_period(p) for p in periods]]

    def _tidy(self, cols: np.ndarray) -> pd.DataFrame:
        n, k = len(self.areas), len(cols)
        rep = self.repeat_cube[:, cols].ravel()
        unknown = np.isnan(rep)
        # Text columns by Arrow take/repeat: no Python string per row (a national grid has millions).
        periods = pd.Series(np.asarray(self.periods, dtype=object)[cols], dtype="str")
        table = pd.DataFrame({
            AREA_CODE: _repeat_each(self.areas[AREA_CODE].astype("str"), k),
            LEVEL: _same_text(self.level, n * k),
            PERIOD: _take_text(periods, np.tile(np.arange(k), n)),
            GRAIN: _same_text(self.grain, n * k),
            CATEGORY: _same_text(self.category, n * k),
            COUNT: self.cube[:, cols].ravel().astype(np.int64),
            REPEAT_COUNT: pd.arrays.IntegerArray(np.where(unknown, 0, rep).astype(np.int64), unknown),
        })
        return table.astype({c: "str" for c in (AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY)})

    def check_period(self, period: str) -> int:
        """Position of ``period`` in ``periods``; AtlasError naming the range when it is not there."""
        index = self._memo.get("period_index")
        if index is None:
            index = self._memo.setdefault("period_index", {p: i for i, p in enumerate(self.periods)})
        if period in index:
            return index[period]
        first_month_index([period], self.grain)  # malformed label -> clear error naming the grain
        raise AtlasError(
            f"period {period!r} is not in dataset {self.dataset!r} at grain {self.grain}; "
            f"the data runs {self.periods[0]} .. {self.periods[-1]}"
        )

    def in_period(self, table: pd.DataFrame, period: str | None) -> pd.DataFrame:
        """Rows of ``table`` in ``period`` (checked against the data); every row when period is None."""
        if period is None:
            return table
        self.check_period(period)
        return table[table[PERIOD] == period]


class FrameCache:
    """Process-wide LRU of AnalysisFrames and stored counts, keyed by the store file's version.

    The store is copy-on-write (every write atomically replaces the file), so ``Store.cache_token()``
    (path, mtime_ns, inode, size) changes with every write and an entry can never be stale; boundary,
    localities and population files are versioned the same way (``_boundary_version``). Stores
    without ``cache_token`` (test fakes) or whose file cannot be stat'ed are never cached.
    Thread-safe (Streamlit serves sessions from threads); a race costs a duplicate load, never a wrong frame.
    """

    def __init__(self, maxsize: int = 16, max_datasets: int = 2):
        self.maxsize = maxsize
        self.max_datasets = max_datasets
        self._frames: OrderedDict[Hashable, tuple[Hashable, AnalysisFrame]] = OrderedDict()
        self._stored: OrderedDict[Hashable, tuple[str, pd.DataFrame]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        """Forget every cached frame and stored-counts table."""
        with self._lock:
            self._frames.clear()
            self._stored.clear()

    def get_frame(self, key: Hashable) -> tuple[Hashable, AnalysisFrame] | None:
        """(boundary version, frame) cached under ``key``, or None."""
        return self._get(self._frames, key)

    def put_frame(self, key: Hashable, version: Hashable, frame: AnalysisFrame) -> None:
        """Cache a frame with the boundary version it was built from; evicts the least recently used."""
        self._put(self._frames, key, (version, frame), self.maxsize)

    def get_stored(self, key: Hashable) -> tuple[str, pd.DataFrame] | None:
        """(boundary set, stored counts) cached under ``key`` = (store token, dataset), or None."""
        return self._get(self._stored, key)

    def put_stored(self, key: Hashable, value: tuple[str, pd.DataFrame]) -> None:
        """Cache a dataset's stored counts (few: a national dataset's can be large)."""
        self._put(self._stored, key, value, self.max_datasets)

    def _get(self, table: OrderedDict, key: Hashable) -> Any:
        with self._lock:
            value = table.get(key)
            if value is not None:
                table.move_to_end(key)
            return value

    def _put(self, table: OrderedDict, key: Hashable, value: Any, maxsize: int) -> None:
        with self._lock:
            table[key] = value
            table.move_to_end(key)
            while len(table) > maxsize:
                table.popitem(last=False)


frame_cache = FrameCache()


def load_frame(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
) -> AnalysisFrame:
    """Load, roll up and complete a dataset's counts for ``level`` x ``grain`` (one category, or all summed).

    Memoised per process (``frame_cache``): a second call for the same selection of an unchanged store
    returns the same read-only frame without touching the store. A store opened for publication
    (``Store.for_publication``) gives the frame with perturbed counts (``perturbed_frame``), so every table
    built on it shows and computes from the published counts.
    """
    if getattr(store, "perturb_counts", False):
        base = load_frame(store.exact_counts(), dataset, level, grain, area_filter, denominator, category)
        frame = base._memo.get("perturbed")
        return frame if frame is not None else base._memo.setdefault("perturbed", perturbed_frame(store, base))
    token = _store_token(store)
    area_filter = area_filter.strip().upper() if area_filter else None
    if token is None:
        return _build_frame(store, dataset, level, grain, area_filter, denominator, category, None)
    key = (token, dataset, level, grain, area_filter, denominator, category)
    hit = frame_cache.get_frame(key)
    if hit is not None and hit[0] == _boundary_version(hit[1].boundary_set):
        return hit[1]
    data_version = _dataset_version(store, dataset)
    disk_key = (data_version, *key[1:]) if data_version is not None else None
    disk = _disk_frame_path(disk_key) if disk_key is not None else None
    loaded = _load_disk_frame(disk, disk_key) if disk is not None else None
    if loaded is not None:
        frame, version = loaded
    else:
        frame = _build_frame(store, dataset, level, grain, area_filter, denominator, category, token)
        version = _boundary_version(frame.boundary_set)
        # Only when no import landed in this dataset while it was built: the file must hold what its key names.
        if disk is not None and _dataset_version(store, dataset) == data_version:
            _save_disk_frame(disk, disk_key, frame, version)
    if version is not None:
        frame_cache.put_frame(key, version, frame)
    return frame


PERTURBED_NOTE = ("publication mode: counts are perturbed by up to 2 (the cell-key method of ONS Census 2021; zeros "
                  "stay zero and no true count below 5 is shown), so tables need not add up exactly")


def perturbed_frame(store: Any, frame: AnalysisFrame) -> AnalysisFrame:
    """``frame`` with its counts perturbed for publication (analysis.perturbation): the cube holds published counts.

    A cell's key is the sum of the record keys of the stored rows rolled into it, computed by the same roll-up
    as its count, so a cell of the same rows gets the same key at any level, grain or category.
    """
    _, coded = _coded_counts(store, frame.dataset, _store_token(store))
    keyed = replace(coded, count=stored_record_keys(store, frame.dataset, coded), repeat=np.full(len(coded), np.nan))
    if frame.category != ALL_CATEGORIES:
        keyed = keyed.only_category(frame.category)
    cells = roll_up_cells(keyed, frame.level, frame.grain, boundary_set=frame.boundary_set)
    key_cube, _ = _place_cells(cells, frame.areas[AREA_CODE], list(frame.periods))
    cube = perturb(frame.cube, cell_keys(key_cube))
    repeat = frame.repeat_cube
    known = ~np.isnan(repeat)
    if known.any():  # a repeat count is a count of its own (another key of the same rows), never above the count
        moved = perturb(np.where(known, repeat, 0).astype(np.int64), repeat_keys(key_cube))
        repeat = np.where(known, np.minimum(moved, cube), np.nan)
    return replace(frame, cube=cube, repeat_cube=repeat, exact_cube=frame.cube, exact_repeat_cube=frame.repeat_cube,
                   key_cube=key_cube, notes=(*frame.notes, PERTURBED_NOTE))


def stored_record_keys(store: Any, dataset: str, coded: CodedCounts) -> np.ndarray:
    """analysis.perturbation.record_keys of a dataset's stored rows, from its secret (``cell_key_secret``)."""
    return record_keys(cell_key_secret(store, dataset),
                       [coded.area_codes, coded.levels, coded.periods, coded.grains, coded.categories],
                       [coded.area, coded.level, coded.period, coded.grain, coded.category], coded.count)


def repeat_keys(key_cube: np.ndarray) -> np.ndarray:
    """Cell keys for the repeat counts of cells with summed record keys ``key_cube`` (another key of the same rows)."""
    return cell_keys(key_cube * 3 + 1)


def cell_key_secret(store: Any, dataset: str) -> bytes:
    """The dataset's cell-key secret: its name and the sha256 of its first imported file.

    It names the data, not the machine: two stores holding the same import publish the same perturbed
    counts (two different perturbations of one table would let a reader average them).
    """
    version = store.dataset_version(dataset) if hasattr(store, "dataset_version") else None
    first = version[2][0][1] if version and version[2] else ""
    return hashlib.blake2b(f"hotspot-atlas cell key v1\x1f{dataset}\x1f{first}".encode(), digest_size=32).digest()


def _dataset_version(store: Any, dataset: str) -> str | None:
    """repr(Store.dataset_version): the disk caches' key (one dataset's data, not the whole store file's
    version, so an import into another dataset leaves this one's frames valid); None for stores without it.

    Remembered on disk per store file version (``_store_token``: a write replaces the file, so the answer for
    one token never changes): a command's process reads it in a millisecond instead of opening DuckDB (~60 ms).
    """
    query = getattr(store, "dataset_version", None)
    if query is None:
        return None
    token = _store_token(store)
    memo = _version_memo_path(token) if token is not None else None
    known = _read_version_memo(memo) if memo is not None else {}
    if dataset in known:
        return known[dataset]
    try:
        found = query(dataset)
    except Exception:  # noqa: BLE001  (an unreadable store: the build reports it)
        return None
    if found is None:
        return None
    version = repr(found)
    if memo is not None:
        import json

        _save_array(memo, meta=np.asarray(json.dumps({**known, dataset: version})))
    return version


def _version_memo_path(token: Hashable) -> Path | None:
    try:
        import hashlib

        return frame_cache_dir() / f"versions-{hashlib.sha256(repr(token).encode()).hexdigest()[:32]}.npz"
    except OSError:
        return None


def _read_version_memo(path: Path) -> dict[str, str]:
    import json

    try:
        with np.load(path, allow_pickle=False) as z:
            known = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return {}
    return {str(k): v for k, v in known.items() if isinstance(v, str)} if isinstance(known, dict) else {}


def _store_token(store: Any) -> Hashable | None:
    """The store's cache token, or None (uncacheable) for stores that cannot tell their version."""
    method = getattr(store, "cache_token", None)
    if not callable(method):
        return None
    try:
        return method()
    except Exception:  # noqa: BLE001 - a store that cannot say its version is simply not cached
        return None


def _boundary_version(boundary_set: str) -> tuple | None:
    """The boundary set and the versions of the files a frame reads besides the store; None = unknown."""
    try:
        bs = get_boundary_set(boundary_set)
        files = [bs.path]
        if "locality" in bs.levels:
            files.append(localities_path(bs))
        if not bs.shipped:
            files.append(user_file(bs.name, ".population.csv"))
    except AtlasError:
        return None
    return (bs, *(_file_version(p) for p in files))


# ---------------------------------------------------------------------------- frames on disk
# A national frame takes about a second to build (DuckDB read and coding of millions of stored rows,
# roll-up, area names, population); the next process asking for the same selection of the same store
# version reads it back from $ATLAS_HOME/cache/frames in milliseconds (as geo.weights_cache does for
# weights). The file name is a digest of the load_frame key (with the dataset's version, Store.dataset_version:
# the store path, its creation time and imports, in place of the whole store's token, so an import into
# another dataset does not invalidate this one's frames), the versions of the shipped lookup and population
# files, ``DISK_FRAME_FORMAT`` and the source of the modules that build frames, so an edit to the
# builder invalidates every file. The boundary version (_boundary_version: the set's registry entry,
# boundary, localities and population files) is stored inside and compared on every read. Only large
# frames of user boundary sets are written (small ones build in milliseconds); a file that cannot be
# read, or describes another key or version, is rebuilt, never trusted. Arrays only (no pickle).
DISK_FRAME_FORMAT = 1
DISK_FRAME_MIN_CELLS = _SMALL_FRAME
DISK_FRAME_KEEP = 24  # most recently used files (frames, coded counts, version notes) kept; older ones go
_FRAME_BUILDER_MODULES = (
    "atlas.analyses", "analysis.cube", "analysis.rollup", "analysis.periods", "store.coded", "boundaries.load",
    "boundaries.population", "boundaries.hierarchy", "boundaries.registry", "boundaries._files",
    "boundaries.validate", "geo.schema",
)
_STR_COLUMNS = (AREA_CODE, AREA_NAME, LAD_CODE, LAD_NAME)


def frame_cache_dir() -> Path:
    """Where frames are cached on disk ($ATLAS_HOME/cache/frames)."""
    return atlas_home() / "cache" / "frames"


@lru_cache(maxsize=1)
def _frame_builder_digest() -> str:
    """sha256 over the source of the modules that build a frame."""
    import hashlib
    import importlib.util

    h = hashlib.sha256()
    for name in _FRAME_BUILDER_MODULES:
        spec = importlib.util.find_spec(name)
        h.update(name.encode())
        if spec is not None and spec.origin:
            h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()


def _shipped_data_versions() -> tuple:
    """(path, mtime_ns, size) of the shipped lookup and population files (roll-ups and rates read them)."""
    root = data_dir()
    files = sorted([*(root / "lookups").glob("*.csv"), *(root / "population").glob("*.csv")])
    return tuple(_file_version(f) for f in files)


def _disk_frame_path(key: tuple) -> Path | None:
    """The cache file of a load_frame ``key``; None when the key cannot be written down exactly."""
    try:
        text = repr((DISK_FRAME_FORMAT, _frame_builder_digest(), key, _shipped_data_versions()))
        import hashlib

        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        return frame_cache_dir() / f"{digest}.npz"
    except OSError:
        return None


def _save_disk_frame(path: Path, key: tuple, frame: AnalysisFrame, version: tuple | None) -> None:
    """Write a large frame of a user boundary set to ``path`` atomically; anything else is left alone."""
    if version is None or frame.cube.size < DISK_FRAME_MIN_CELLS or getattr(version[0], "shipped", True):
        return
    str_dtype = pd.Series([], dtype="str").dtype
    if list(frame.areas.columns) != list(_STR_COLUMNS) or any(frame.areas[c].dtype != str_dtype for c in _STR_COLUMNS):
        return
    pop = frame.population
    if pop is not None and not (pop.dtype == np.float64 and pop.name is None and pop.index.name == AREA_CODE
                                and pop.index.equals(pd.Index(frame.areas[AREA_CODE]))):
        return
    import json

    repeat_all_nan = bool(np.isnan(frame.repeat_cube).all())
    arrays: dict[str, np.ndarray] = {"cube": _narrow_counts(frame.cube)}
    if not repeat_all_nan:
        arrays["repeat"] = np.ascontiguousarray(frame.repeat_cube, dtype=np.float64)
    for i, col in enumerate(_STR_COLUMNS):
        values = frame.areas[col]
        if values.str.contains("\x00", regex=False).any():
            return  # numpy text arrays drop trailing NUL characters: such a name would not come back the same
        missing = values.isna().to_numpy()
        arrays[f"s{i}"] = np.asarray(values.fillna("").to_numpy(dtype=object), dtype=str)
        arrays[f"m{i}"] = missing
    if pop is not None:
        arrays["population"] = pop.to_numpy(dtype=np.float64)
    meta = {
        "key": repr(key), "version": repr(version), "dataset": frame.dataset, "boundary_set": frame.boundary_set,
        "level": frame.level, "grain": frame.grain, "category": frame.category, "area_filter": frame.area_filter,
        "lad_codes": None if frame.lad_codes is None else list(frame.lad_codes), "denominator": frame.denominator,
        "periods": list(frame.periods), "notes": list(frame.notes), "months_covered": list(frame.months_covered),
        "shape": list(frame.cube.shape), "repeat_all_nan": repeat_all_nan, "population": pop is not None,
    }
    _save_array(path, meta=np.asarray(json.dumps(meta)), **arrays)  # a read-only home: uncached, still correct


def _narrow_counts(cube: np.ndarray) -> np.ndarray:
    """The count cube in the narrowest unsigned integer type holding every value (a national monthly cube of
    small counts: 2.4 MB instead of 19 MB on disk); int64 as it is when a value is negative."""
    cube = np.ascontiguousarray(cube, dtype=np.int64)
    if cube.size == 0 or cube.min() < 0:
        return cube
    top = int(cube.max())
    for kind in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(kind).max:
            return cube.astype(kind)
    return cube


def _prune_disk_frames(folder: Path) -> None:
    """Keep the ``DISK_FRAME_KEEP`` most recently used cache files (earlier store versions go)."""
    files = []
    for f in folder.glob("*.npz"):
        try:
            files.append((f.stat().st_mtime_ns, f))
        except OSError:
            continue
    for _, f in sorted(files, reverse=True)[DISK_FRAME_KEEP:]:
        f.unlink(missing_ok=True)


def _load_disk_frame(path: Path, key: tuple) -> tuple[AnalysisFrame, tuple] | None:
    """(frame, boundary version) from ``path``; None when missing, unreadable, or for another key or version."""
    import json

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("key") != repr(key):
                return None
            version = _boundary_version(meta["boundary_set"])
            if version is None or meta.get("version") != repr(version):
                return None
            shape = tuple(meta["shape"])
            stored_cube = z["cube"]
            if stored_cube.dtype.kind not in "iu":
                return None
            cube = stored_cube.astype(np.int64)  # stored in the narrowest unsigned type that holds it
            repeat_cube = np.full(shape, np.nan) if meta["repeat_all_nan"] else z["repeat"]
            columns = {}
            for i, col in enumerate(_STR_COLUMNS):
                values = z[f"s{i}"].astype(object)
                values[z[f"m{i}"]] = None
                columns[col] = pd.Series(values, dtype="str")
            population_values = z["population"] if meta["population"] else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None
    if cube.shape != shape or repeat_cube.shape != shape or cube.dtype != np.int64:
        return None
    areas = pd.DataFrame(columns)
    population = None
    if population_values is not None:
        population = pd.Series(population_values, index=pd.Index(areas[AREA_CODE]))
    try:
        os.utime(path)  # recently used: kept by _prune_disk_frames
    except OSError:
        pass
    frame = AnalysisFrame(
        dataset=meta["dataset"], boundary_set=meta["boundary_set"], level=meta["level"], grain=meta["grain"],
        category=meta["category"], area_filter=meta["area_filter"],
        lad_codes=None if meta["lad_codes"] is None else tuple(meta["lad_codes"]), denominator=meta["denominator"],
        areas=areas, periods=tuple(meta["periods"]), cube=cube, repeat_cube=repeat_cube, population=population,
        notes=tuple(meta["notes"]), months_covered=tuple(meta["months_covered"]),
    )
    return frame, version


def stored_counts(store: Any, dataset: str) -> pd.DataFrame:
    """A dataset's stored counts (Store.counts), shared with the frames: read once per store version. Read-only."""
    return _stored_counts(store, dataset, _store_token(store))[1]


def _stored_counts(store: Any, dataset: str, token: Hashable | None) -> tuple[str, pd.DataFrame]:
    """(boundary set, stored counts) of a dataset, read once per store version when ``token`` is given."""
    key = (token, dataset)
    hit = frame_cache.get_stored(key) if token is not None else None
    if hit is not None:
        return hit
    info = store.dataset(dataset)
    value = (str(info["boundary_set"]), store.counts(dataset))
    if token is not None:
        frame_cache.put_stored(key, value)
    return value


def coded_counts(store: Any, dataset: str) -> CodedCounts:
    """A dataset's stored counts as integer codes, shared with the frames: read once per store version. Read-only."""
    return _coded_counts(store, dataset, _store_token(store))[1]


def _coded_counts(store: Any, dataset: str, token: Hashable | None) -> tuple[str, CodedCounts]:
    """(boundary set, stored counts as integer codes): coded inside DuckDB for a real store, read once per version.

    Stores that cannot be read directly (test fakes) are coded from their tidy ``counts()``.
    """
    key = (token, dataset, "coded")
    hit = frame_cache.get_stored(key) if token is not None else None
    if hit is not None:
        return hit
    if isinstance(getattr(store, "path", None), os.PathLike) and hasattr(store, "cache_token"):
        value = _coded_counts_via_disk(store, dataset)
    else:
        bs_name, tidy = _stored_counts(store, dataset, token)
        value = (bs_name, CodedCounts.from_frame(tidy))
    if token is not None:
        frame_cache.put_stored(key, value)
    return value


def _coded_counts_via_disk(store: Any, dataset: str) -> tuple[str, CodedCounts]:
    """store.coded.read_coded_counts, cached on disk beside the frames for a large dataset.

    Keyed by the dataset's version (Store.dataset_version) and the builder's source, like a frame: the
    sidebar of a first visit needs the dataset's grains, periods and categories (and the map's coverage),
    which the DuckDB read gives in ~0.1 s for 360,000 rows and this file in a few milliseconds.
    """
    from store.coded import read_coded_counts

    version = _dataset_version(store, dataset)
    path = _disk_coded_path(version, dataset) if version is not None else None
    loaded = _load_disk_coded(path, version, dataset) if path is not None else None
    if loaded is not None:
        return loaded
    value = read_coded_counts(store, dataset)
    if path is not None and len(value[1]) >= DISK_FRAME_MIN_CELLS and _dataset_version(store, dataset) == version:
        _save_disk_coded(path, version, dataset, *value)
    return value


_CODED_ARRAYS = ("area", "level", "period", "grain", "category", "count", "repeat")
_CODED_LABELS = ("levels", "periods", "grains", "categories")


def _disk_coded_path(version: str, dataset: str) -> Path | None:
    try:
        import hashlib

        text = repr((DISK_FRAME_FORMAT, _frame_builder_digest(), "coded", version, dataset))
        return frame_cache_dir() / f"coded-{hashlib.sha256(text.encode()).hexdigest()[:32]}.npz"
    except OSError:
        return None


def _save_disk_coded(path: Path, version: str, dataset: str, boundary_set: str, coded: CodedCounts) -> None:
    import json

    repeat_all_nan = bool(np.isnan(coded.repeat).all())
    meta = {"version": version, "dataset": dataset, "boundary_set": boundary_set, "rows": len(coded),
            "repeat_all_nan": repeat_all_nan, "area_codes": [str(c) for c in coded.area_codes],
            **{k: list(getattr(coded, k)) for k in _CODED_LABELS}}
    # Each column in the narrowest type that holds it (a national dataset: ~19 MB on disk instead of 86 MB).
    arrays = {k: _narrow_counts(getattr(coded, k)) for k in _CODED_ARRAYS[:6]}
    if not repeat_all_nan:
        arrays["repeat"] = np.ascontiguousarray(coded.repeat, dtype=np.float64)
    _save_array(path, meta=np.asarray(json.dumps(meta)), **arrays)


def _load_disk_coded(path: Path, version: str, dataset: str) -> tuple[str, CodedCounts] | None:
    """(boundary set, coded counts) from ``path``; None when missing, unreadable or written for another version."""
    import json

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("version") != version or meta.get("dataset") != dataset:
                return None
            stored = {k: z[k] for k in _CODED_ARRAYS[:6]}
            n = int(meta["rows"])
            repeat = np.full(n, np.nan) if meta["repeat_all_nan"] else z["repeat"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None
    if any(a.dtype.kind not in "iu" or len(a) != n for a in stored.values()) or repeat.dtype != np.float64 \
            or len(repeat) != n:
        return None
    arrays = {k: stored[k].astype(np.int32) for k in _CODED_ARRAYS[:5]}
    arrays |= {"count": stored["count"].astype(np.int64), "repeat": repeat}
    try:
        os.utime(path)  # recently used: kept by _prune_disk_frames
    except OSError:
        pass
    return str(meta["boundary_set"]), CodedCounts(
        **arrays, area_codes=np.asarray(meta["area_codes"], dtype=object),
        **{k: tuple(meta[k]) for k in _CODED_LABELS})


def _build_frame(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    area_filter: str | None,
    denominator: str,
    category: str | None,
    token: Hashable | None,
) -> AnalysisFrame:
    """load_frame without the cache (``token`` only keys the stored-counts read).

    Works on integer codes throughout (``analysis.cube``): stored rows are rolled up into
    (area, period) cells, which are placed into the areas x periods cube by position.
    """
    bs_name, stored = _coded_counts(store, dataset, token)
    if grain not in GRAINS:
        raise AtlasError(f"unknown period grain {grain!r}; choose one of {', '.join(GRAINS)}")
    if level not in LEVELS:
        raise AtlasError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    bs = get_boundary_set(bs_name)
    if level not in bs.levels:
        raise AtlasError(missing_level_message(bs, level))
    pop_col = denominator_column(denominator)

    if len(stored) == 0:
        raise AtlasError(f"dataset {dataset!r} holds no counts yet: import a file first")
    coded = stored
    if category is not None:
        if category not in stored.categories:
            known = sorted(stored.categories)
            raise AtlasError(f"dataset {dataset!r} has no category {category!r}; it has: {', '.join(known)}")
        coded = stored.only_category(category)
    notes: list[str] = []
    cells = roll_up_cells(coded, level, grain, boundary_set=bs_name)
    for _, row in cells.excluded.iterrows():
        notes.append(f"{row['rows']} stored rows ({row[COUNT]} incidents) left out: {row['reason']}")
    if len(cells) == 0:
        raise AtlasError(f"dataset {dataset!r} has no counts that can be shown at {level} level by {grain}")

    all_areas = load_area_table(level, bs_name)
    # Look-ups are made per distinct label, then applied to the cells by position.
    known_at = pd.Index(all_areas[CODE]).get_indexer(cells.area_codes)  # -1: not in the boundary set
    if area_filter is None and (known_at < 0).any():
        unknown = known_at[cells.area] < 0
        notes.append(
            f"{int(unknown.sum())} rows ({int(cells.count[unknown].sum())} incidents) left out: "
            f"area codes not in {level} of boundary set {bs_name!r}"
        )
    with_data = np.bincount(cells.area[cells.count > 0], minlength=len(cells.area_codes)) > 0
    lad_codes = _lad_scope(all_areas, known_at[with_data & (known_at >= 0)], area_filter, notes)
    areas = load_area_table(level, bs_name, lad_codes=list(lad_codes)) if lad_codes is not None else all_areas
    area_table = pd.DataFrame({
        AREA_CODE: areas[CODE].astype(str), AREA_NAME: areas[NAME].astype(str),
        LAD_CODE: areas[LAD_CODE], LAD_NAME: areas[LAD_NAME],
    }).reset_index(drop=True)
    periods = _period_span(pd.Series(cells.periods, dtype="str"), grain)
    # Audit fix: coverage is a property of the extract, not of one category: a rare category with no
    # incident in the last month must not make that month look uncovered. So use every stored row.
    covered = _months_covered(stored.grain_periods(), periods, grain)
    notes.extend(_partial_period_notes(covered, periods, grain))
    cube, repeat_cube = _place_cells(cells, area_table[AREA_CODE], periods)

    pop_table = population_table(level, bs_name)
    population = None
    if pop_table.empty:
        notes.append(f"{NO_POPULATION_NOTE} ({bs_name!r}): rates are blank; add one with `atlas population add`")
    else:
        population = pd.Series(pop_table[pop_col].to_numpy(dtype=float), index=pop_table[CODE].astype(str))
        population = population.reindex(area_table[AREA_CODE])
    return AnalysisFrame(
        dataset=dataset, boundary_set=bs_name, level=level, grain=grain, category=category or ALL_CATEGORIES,
        area_filter=area_filter, lad_codes=lad_codes, denominator=denominator, areas=area_table,
        periods=tuple(periods), cube=cube, repeat_cube=repeat_cube, population=population, notes=tuple(notes),
        months_covered=tuple(covered),
    )


# ---------------------------------------------------------------------------- services


def rates_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    period: str | None = None,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
) -> pd.DataFrame:
    """Count, rate per 1,000 with 95%/99.8% intervals, and comparison with the whole area; per area x period."""
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    table = _rates(f, None if period is None else [period])
    cols = [AREA_CODE, AREA_NAME, LAD_CODE, PERIOD, CATEGORY, COUNT, REPEAT_COUNT, POPULATION, DENOMINATOR,
            RATE_PER_1000, rate_column("lower", "95"), rate_column("upper", "95"), rate_column("lower", "998"),
            rate_column("upper", "998"), WHOLE_AREA_RATE, RATE_RATIO, COMPARED_TO_WHOLE_AREA, INCIDENT_SHARE,
            RATE_NOTE]
    return _finish(table[cols], f)


def whole_area_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
) -> pd.DataFrame:
    """All areas with a population summed, per period: count, population, rate with intervals (overall_rate).

    In publication mode the count is a published count of its own (``AnalysisFrame.area_totals``), the one the
    rates table's whole-area rate is computed from.
    """
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    return _whole_area(f, _rates(f))


def _whole_area(f: AnalysisFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """overall_rate of a rates table of ``f``; in a perturbed frame each period's count is a count of its own."""
    whole = overall_rate(rates[[PERIOD, COUNT, POPULATION]])
    if f.perturbed and f.population is not None:
        cols = [f.check_period(p) for p in whole[PERIOD]]
        whole[COUNT] = f.area_totals(f.population.to_numpy(dtype=float) > 0, cols).astype(np.int64)
        whole = add_rates(whole).drop(columns=[RATE_NOTE])
    return whole


def hotspots_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    period: str | None = None,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
    statistic: str = "gi_star",
    params: HotspotParams = HotspotParams(),
    weights_method: str = "queen",
) -> pd.DataFrame:
    """Local hot spot statistics per area x period: Gi* on counts, local Moran on counts or EB rates.

    ``statistic``: gi_star (Getis-Ord Gi*), local_moran (Anselin's LISA on counts) or local_moran_rate
    (LISA on Assuncao-Reis empirical Bayes standardised rates, as esda ``Moran_Local_Rate``).
    """
    if statistic not in STATISTICS:
        raise AtlasError(f"unknown statistic {statistic!r}; choose one of {', '.join(STATISTICS)}")
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    weights, report = area_weights(f.boundary_set, level, f.lad_codes, weights_method)
    chosen = list(f.periods) if period is None else [f.periods[f.check_period(period)]]
    if statistic == "local_moran_rate":
        if f.population is None:
            raise AtlasError(f"local_moran_rate needs population: {NO_POPULATION_NOTE} {f.boundary_set!r}")
        params = replace(params, lisa_on="eb_rate")
    stats = local_hotspots_matrix(_weights_matrix(f, weights, chosen), chosen, weights, params, population=f.population,
                                  statistics=("gi_star",) if statistic == "gi_star" else ("lisa",))
    base = _rates(f, None if period is None else chosen)[[AREA_CODE, AREA_NAME, PERIOD, COUNT, POPULATION, RATE_PER_1000]]
    table = base.merge(stats.drop(columns=[COUNT]), on=[AREA_CODE, PERIOD], how="inner")
    table.insert(3, "statistic", statistic)
    table = _sort_by_period(table, f)
    return _finish(table, f, extra_notes=[report.summary()])


def emerging_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    period: str | None = None,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
    time_lag: int = 1,
    alpha: float = 0.10,
    fdr: bool = False,
    weights_method: str = "queen",
) -> pd.DataFrame:
    """Emerging Hot Spot Analysis (space-time Gi* + Mann-Kendall, ArcGIS categories) up to ``period``; one row per area."""
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    weights, report = area_weights(f.boundary_set, level, f.lad_codes, weights_method)
    last = f.check_period(period) if period is not None else len(f.periods) - 1
    periods = list(f.periods[: last + 1])
    if len(periods) < 2:
        raise AtlasError(f"emerging hot spot analysis needs at least 2 periods; the data up to {periods[-1]} has 1")
    cube = f.cube[:, : last + 1].astype(float)
    ehsa = emerging_hotspots(cube, f.codes, periods, weights, time_lag=time_lag, alpha=alpha, fdr=fdr)
    meta = f.areas[[AREA_CODE, AREA_NAME]].assign(
        first_period=periods[0], last_period=periods[-1], n_periods=len(periods),
        count=cube[:, -1].astype(np.int64), total_count=f.period_sums(slice(0, last + 1)).astype(np.int64),
    )
    table = meta.merge(ehsa, on=AREA_CODE, how="inner")
    notes = [report.summary()]
    if len(periods) < 10:
        notes.append(f"only {len(periods)} periods: ArcGIS recommends at least 10 for the Mann-Kendall trend")
    return _finish(table, f, extra_notes=notes)


def compare_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    period: str,
    against: str,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
    alpha: float = 0.05,
    params: HotspotParams = HotspotParams(),
    weights_method: str = "queen",
) -> pd.DataFrame:
    """Change per area from ``against`` to ``period``: counts, % change, rates and an exact Poisson test,
    plus each period's Gi* bin and the hot spot transition (became hot, stopped being hot, ...)."""
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    f.check_period(period)
    f.check_period(against)
    if period == against:
        raise AtlasError(f"--period and --against are both {period!r}: choose two different periods")
    rates = _rates(f, [against, period])[[AREA_CODE, PERIOD, GRAIN, COUNT, POPULATION, RATE_PER_1000]]
    # Audit fix: the test's exposure is population x months the data covers, so a partly covered
    # period is compared fairly (its counts and rates stay as recorded; the notes say it is partial).
    months = dict(zip(f.periods, f.months_covered)) if f.months_covered else None
    change = period_change(rates, against, period, alpha=alpha, months=months)
    table = f.areas[[AREA_CODE, AREA_NAME]].merge(change, on=AREA_CODE, how="inner")
    weights, report = area_weights(f.boundary_set, level, f.lad_codes, weights_method)
    pair = [against, period]
    gi = local_hotspots_matrix(_weights_matrix(f, weights, pair), pair, weights, params, population=f.population,
                               statistics=("gi_star",), gi_permutations=False)  # only the bins are used
    bins = gi.pivot(index=AREA_CODE, columns=PERIOD, values="gi_bin")
    moves = hot_spot_transitions(bins[against], bins[period]).rename(
        columns={"prev_bin": "gi_bin_from", "curr_bin": "gi_bin_to", "transition": "hot_spot_transition"})
    table = table.merge(moves, on=AREA_CODE, how="left")
    table["gi_inference"] = params.gi_method()  # which inference made gi_bin_from / gi_bin_to
    extra = [report.summary()]
    if months and any(months[p] < months_per_period(f.grain) for p in (period, against)):
        extra.append("p-values allow for the partly covered period: exposure is population x months covered")
    return _finish(table, f, extra_notes=extra)


def priority_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str,
    period: str | None = None,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
    weights: PriorityWeights = PriorityWeights(),
    params: HotspotParams = HotspotParams(),
    weights_method: str = "queen",
    recent_periods: int = 4,
    top_n: int = 10,
) -> pd.DataFrame:
    """Ranked priority table for ``period`` (default: the latest) with reasons and change since the period before."""
    if recent_periods < 1:
        raise AtlasError(f"recent periods must be at least 1; received {recent_periods}")
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    t = f.check_period(period) if period is not None else len(f.periods) - 1
    sw, report = area_weights(f.boundary_set, level, f.lad_codes, weights_method)
    # Only the periods the two tables look back over (each period's Gi* is independent of the others).
    start = max(0, t - recent_periods)
    recent = list(f.periods[start: t + 1])
    # Only the bins are used: Gi* bins as a matrix (gi_star_bins is the gi_bin column of local_hotspots_matrix),
    # without building and pivoting its tidy table. Areas x every period, hot only where bins of recent are > 0.
    bins = gi_star_bins(_weights_matrix(f, sw, recent), sw, params)
    hot = np.zeros((len(f.areas), len(f.periods)), dtype=bool)
    hot[:, start: t + 1] = bins[sw.index.get_indexer(f.codes)] > 0
    cube = f.cube.astype(float)
    imd = _imd_by_area(f)
    label = _reference_label(f)

    def table_at(i: int, with_reasons: bool = True) -> pd.DataFrame:
        lo = max(0, i - recent_periods + 1)
        inputs = f.areas[[AREA_CODE, AREA_NAME]].assign(**{
            COUNT: cube[:, i].astype(np.int64),
            POPULATION: f.population.to_numpy(dtype=float) if f.population is not None else np.nan,
            HOT_RECENT: hot[:, lo: i + 1].sum(axis=1), N_RECENT: i + 1 - lo, IMD_SCORE: imd,
        })
        last_year = same_period_last_year(f.periods[i], f.grain)
        if last_year in f.periods:
            inputs[COUNT_LAST_YEAR] = cube[:, f.periods.index(last_year)]
        if i + 1 >= MIN_EHSA_PERIODS:
            ehsa = emerging_hotspots(cube[:, : i + 1], f.codes, list(f.periods[: i + 1]), sw)
            inputs[EHSA_CATEGORY] = inputs[AREA_CODE].map(ehsa.set_index(AREA_CODE)[EHSA_CATEGORY])
        totals = None
        if f.perturbed:  # the whole area's counts are published counts of their own
            has_pop = inputs[POPULATION].to_numpy(dtype=float) > 0
            totals = (float(f.area_totals(has_pop, [i])[0]), float(f.area_totals(None, [i])[0]))
        return priority_scores(inputs, weights, reference_label=label, with_reasons=with_reasons, totals=totals)

    current = table_at(t)
    notes = list(current.attrs.get("notes", []))
    if t + 1 < MIN_EHSA_PERIODS:
        notes.append(f"emerging hot spot category left out: fewer than {MIN_EHSA_PERIODS} periods up to {f.periods[t]}")
    previous = table_at(t - 1, with_reasons=False) if t >= 1 else None  # only its ranks and scores are used
    table = compare_priority(current, previous, top_n=top_n)
    table.insert(3, PERIOD, f.periods[t])
    table["gi_inference"] = params.gi_method()  # which inference made the hot_recent bins
    if previous is None:
        notes.append("no earlier period: change_status is blank")
    return _finish(table, f, extra_notes=[report.summary(), *notes])


def seed_rates(
    store: Any,
    dataset: str,
    level: str = "locality",
    last_fy: str | None = None,
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
    n_years: int = 3,
) -> pd.DataFrame:
    """Incidents per 1,000 by area for the last ``n_years`` financial years side by side, ranked, with % change."""
    f = load_frame(store, dataset, level, "fy", area_filter, denominator, category)
    last = f.check_period(last_fy) if last_fy is not None else len(f.periods) - 1
    years = list(f.periods[max(0, last - n_years + 1): last + 1])
    if len(years) < 2:
        raise AtlasError(f"the seed table needs at least two financial years; the data up to {years[-1]} has one")
    table = seed_table(_rates(f, years), years)
    pop = f.population.reindex(table[AREA_CODE]).to_numpy(dtype=float) if f.population is not None else np.nan
    table.insert(2, POPULATION, pop)
    table.insert(3, DENOMINATOR, f.denominator)
    notes = [] if len(years) == n_years else [f"only {len(years)} financial years of data up to {years[-1]}"]
    table.attrs["periods"] = years
    return _finish(table, f, extra_notes=notes)


def seed_count_columns(table: pd.DataFrame) -> dict[str, list[str]]:
    """count_<fy> -> [rate_<fy>, pct_change_*] of a seed table (for disclosure control)."""
    pct = [c for c in table.columns if c.startswith("pct_change_")]
    return {c: [f"rate_{c[len('count_'):]}", *pct] for c in table.columns if c.startswith("count_")}



WHOLE_AREA_CODE = "all"  # area_code of the whole-area series in spc_table
SPC_MEASURES: tuple[str, ...] = ("count", "rate")
SPC_SERIES_COLUMNS = ("mean", "upper_limit", "lower_limit", "upper_2sigma", "lower_2sigma", "mr_bar", "assurance")


def spc_table(
    store: Any,
    dataset: str,
    level: str,
    grain: str = "month",
    area_filter: str | None = None,
    denominator: str = "total",
    category: str | None = None,
    measure: str = "count",
    area: str | None = None,
    target: float | None = None,
    polarity: str = "higher_is_worse",
    baseline: int | None = None,
    screen_outliers: bool = True,
) -> pd.DataFrame:
    """XmR chart rows (analysis.spc, NHS Making Data Count) per area x period, the whole area first.

    ``measure``: count, or rate per 1,000 (the whole area's rate = its areas' counts over their
    population). ``area``: one area code, or ``WHOLE_AREA_CODE`` for the whole area alone; None = the
    whole area and every area. Periods only partly covered by the data are left blank (a part month
    would read as a fall).
    """
    from analysis.spc import MIN_POINTS, xmr_table

    if measure not in SPC_MEASURES:
        raise AtlasError(f"unknown measure {measure!r}; choose one of {', '.join(SPC_MEASURES)}")
    f = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    counts = np.vstack([f.area_totals()[None, :], f.cube]).astype(float)
    lads = f.areas[LAD_NAME].dropna().unique().tolist()
    series = pd.DataFrame({
        AREA_CODE: [WHOLE_AREA_CODE, *f.codes],
        AREA_NAME: ["Whole area" + (f": {' and '.join(sorted(lads))}" if lads else ""), *f.areas[AREA_NAME]],
        LEVEL: [WHOLE_AREA_CODE, *[level] * len(f.areas)],
    })
    pop = np.full(len(series), np.nan)
    if measure == "rate":
        if f.population is None:
            raise AtlasError(f"the rate measure needs population: {NO_POPULATION_NOTE} {f.boundary_set!r}")
        area_pop = f.population.to_numpy(dtype=float)
        known = ~np.isnan(area_pop)
        counts[0] = f.area_totals(known)  # the whole area's rate: areas with a population only
        pop = np.concatenate([[area_pop[known].sum()], area_pop])
        with np.errstate(divide="ignore", invalid="ignore"):
            values = counts / np.where(pop > 0, pop, np.nan)[:, None] * 1000
    else:
        values = counts.copy()
    notes: list[str] = []
    if f.months_covered:
        partial = np.asarray(f.months_covered) < months_per_period(grain)
        if partial.any():
            values[:, partial] = np.nan
            notes.append("partly covered periods left out of the chart: "
                         + ", ".join(p for p, x in zip(f.periods, partial) if x))
    if area is not None:
        keep = series[AREA_CODE].to_numpy() == area
        if not keep.any():
            raise AtlasError(f"area {area!r} is not among the {level} areas of this selection "
                             f"(or use {WHOLE_AREA_CODE!r} for the whole area)")
        series, values, counts, pop = series[keep].reset_index(drop=True), values[keep], counts[keep], pop[keep]
    unit = grain if grain in ("month", "quarter") else "period"
    table = xmr_table(values, series, f.periods, target=target, polarity=polarity, unit=unit,
                      baseline=baseline, screen_outliers=screen_outliers)
    n = len(f.periods)
    table.insert(3, "measure", measure)
    table.insert(5, COUNT, counts.ravel().astype(np.int64))
    table.insert(6, POPULATION, np.repeat(pop, n))
    table.insert(7, CATEGORY, f.category)
    points = int(np.isfinite(values[0]).sum()) if baseline is None else min(baseline, n)
    if points < MIN_POINTS:
        notes.append(f"the limits rest on {points} points: NHSRplotthedots warns below {MIN_POINTS}; "
                     "read them with care")
    notes.append("lower limits below 0 are shown as 0 (counts and rates cannot be negative)")
    return _finish(table, f, extra_notes=notes)


def publish_spc_table(table: pd.DataFrame, threshold: int | None = None, symbol: str = "<") -> pd.DataFrame:
    """spc_table in publication mode: atlas.publication's "spc" rules, plus what an XmR chart could give back.

    The area series get secondary suppression within each period, since the whole-area series shows
    each period's total; a whole-area point is hidden where that total cannot be protected (or is small).
    A series' mean, limits and MR-bar are sums of its points, so they are blanked for every series with
    a hidden point, and a moving range next to a hidden point is blanked too.
    """
    from analysis.disclosure import SECONDARY_SYMBOL, secondary_mask
    from atlas.publication import DISCLOSURE, NOTE_ATTR, PUBLICATION_THRESHOLD, publish

    threshold = threshold or PUBLICATION_THRESHOLD
    whole = (table[AREA_CODE] == WHOLE_AREA_CODE).to_numpy()
    areas = publish(table[~whole], "spc", threshold, symbol)
    # The whole-area points: primary suppression with the spc rules (a table of one row per period has no
    # other cell to hide), then hidden where the areas' secondary suppression cannot protect the total.
    totals = publish(table[whole], "counts", threshold, symbol, rules=DISCLOSURE["spc"])
    _, withheld = secondary_mask(table.loc[~whole, COUNT], table.loc[~whole, PERIOD], threshold)
    unsafe = totals[PERIOD].isin(set(table.loc[~whole, PERIOD][withheld])).to_numpy()
    lone = unsafe & ~totals["suppressed"].astype(bool).to_numpy()
    if lone.any():
        totals[COUNT] = totals[COUNT].astype(object)
        totals.loc[lone, COUNT] = SECONDARY_SYMBOL
        totals.loc[lone, [c for c in DISCLOSURE["spc"][COUNT] if c in totals]] = np.nan
        totals["suppressed"] = totals["suppressed"].astype(bool) | lone
    result = pd.concat([areas, totals]).loc[table.index]
    hidden = result["suppressed"].astype(bool).to_numpy()
    key = result[AREA_CODE].astype(str).to_numpy()
    series_hidden = pd.Series(hidden).groupby(key).transform("any").to_numpy()
    for col in SPC_SERIES_COLUMNS:
        result[col] = result[col].mask(pd.Series(series_hidden, index=result.index))
    after_hidden = np.concatenate([[False], hidden[:-1] & (key[1:] == key[:-1])])
    result["moving_range"] = result["moving_range"].mask(pd.Series(after_hidden, index=result.index))
    result.attrs = {**table.attrs, NOTE_ATTR: areas.attrs.get(NOTE_ATTR, "")
                    + f"; the mean and limits of {len(set(key[series_hidden]))} series with a hidden point are blanked"}
    return result.reset_index(drop=True)


# ---------------------------------------------------------------------------- weights


def area_weights(
    boundary_set: str, level: str, lad_codes: tuple[str, ...] | None = None, method: str = "queen"
) -> tuple[SpatialWeights, WeightsReport]:
    """Spatial weights over the level's areas in ``lad_codes`` (None = all), built once per file version."""
    if method not in METHODS:
        raise AtlasError(f"unknown weights method {method!r}; choose one of {', '.join(METHODS)}")
    bs = get_boundary_set(boundary_set)
    version: tuple = (_file_version(bs.path),)
    if level == "locality" and bs.shipped:
        version += (_file_version(localities_path(bs)),)
    lads = tuple(sorted(lad_codes)) if lad_codes is not None else None
    return _cached_weights(bs, level, lads, method, version)


@lru_cache(maxsize=32)
def _cached_weights(
    bs: BoundarySet, level: str, lad_codes: tuple[str, ...] | None, method: str, version: tuple
) -> tuple[SpatialWeights, WeightsReport]:
    """Weights keyed by small hashables only (the set, level, authorities, method and file versions).

    Also cached on disk (geo.weights_cache), so the next process of the same selection reads them.
    """
    def build() -> tuple[SpatialWeights, WeightsReport]:
        areas = load_areas(level, bs, lad_codes=list(lad_codes) if lad_codes is not None else None)
        if len(areas) < 2:
            raise AtlasError(f"hot spot statistics need at least 2 areas; {level} has {len(areas)} here")
        return build_weights(areas, method=method)

    return weights_cache.cached(("area_weights", bs.name, str(bs.path), level, lad_codes, method, version), build)


def _file_version(path: Any) -> tuple[str, int, int]:
    """(path, mtime_ns, size), so a replaced boundary or localities file gets fresh weights."""
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), 0, 0)
    return (str(path), st.st_mtime_ns, st.st_size)


# ---------------------------------------------------------------------------- helpers


def _lad_scope(
    all_areas: pd.DataFrame, with_data: np.ndarray, area_filter: str | None, notes: list[str]
) -> tuple[str, ...] | None:
    """Local authorities to analyse: the filter, else those with any incident in the data.

    ``with_data``: positions in ``all_areas`` of areas with a positive count. Without a filter,
    authorities of the boundary set with no incident at all are taken to lie outside the data's
    coverage (a County Durham extract says nothing about Medway): counting them as zeros would
    dilute the whole-area rate and the hot spot statistics. None = every area (sets without
    lad_code, or data covering every authority).
    """
    if area_filter is not None:
        return (area_filter,)
    lads = all_areas[LAD_CODE]
    if lads.isna().all():
        return None
    has_data = np.bincount(with_data, minlength=len(all_areas)) > 0 if len(with_data) else np.zeros(len(lads), bool)
    covered = sorted(lads[has_data].dropna().unique())
    if not covered or len(covered) == lads.dropna().nunique():  # covered is a subset: equal sizes = every one
        return None
    names = all_areas.loc[lads.isin(covered), LAD_NAME].dropna().unique().tolist()
    notes.append(f"areas limited to the local authorities with incidents in the data: {', '.join(sorted(names))}")
    return tuple(covered)


def _place_cells(cells: Cells, codes: pd.Series, periods: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(count cube, repeat cube) [len(codes) x len(periods)] from the cells; cells outside are left out.

    Cells with no stored row count 0 and, when the data records repeat victims at all, 0 repeats;
    a stored cell whose repeat count is unknown stays unknown (NaN).
    """
    shape = (len(codes), len(periods))
    row_of = pd.Index(codes).get_indexer(cells.area_codes)
    col_of = pd.Index(periods).get_indexer(list(cells.periods))
    flat = row_of[cells.area].astype(np.int64) * len(periods) + col_of[cells.period]
    everywhere = (row_of >= 0).all() and (col_of >= 0).all()
    inside = None if everywhere else (row_of[cells.area] >= 0) & (col_of[cells.period] >= 0)
    count, repeat = cells.count, cells.repeat
    if inside is not None:
        flat, count, repeat = flat[inside], count[inside], repeat[inside]
    known_any = bool((~np.isnan(repeat)).any())
    if flat.size == shape[0] * shape[1] and np.array_equal(flat, np.arange(flat.size)):
        # Every cell present, in grid order (a complete national extract): no scatter needed.
        return count.reshape(shape), repeat.reshape(shape)
    cube = np.zeros(shape, dtype=np.int64)
    repeat_cube = np.full(shape, 0.0 if known_any else np.nan)
    cube.ravel()[flat] = count
    repeat_cube.ravel()[flat] = repeat
    return cube, repeat_cube


def _period_span(labels: pd.Series, grain: str) -> list[str]:
    """Every period from the first to the last label present."""
    uniq = pd.unique(labels.astype(str))
    keys = period_sort_key(list(uniq), grain)
    return period_range(uniq[int(np.argmin(keys))], uniq[int(np.argmax(keys))], grain)


def _months_covered(
    stored: list[tuple[str, list[str]]] | pd.DataFrame, periods: list[str], grain: str
) -> list[int]:
    """Months of each period inside the span of the stored data (first to last month of any row).

    ``stored``: (grain, distinct period labels) of every stored grain (``CodedCounts.grain_periods``),
    or a tidy counts table. One ``first_month_index`` call per stored grain and one for ``periods``;
    a period starting at month index ``s`` covers months ``s .. s + n - 1``, clipped to the data's span.
    """
    if isinstance(stored, pd.DataFrame):
        pairs = stored[[GRAIN, PERIOD]].drop_duplicates().astype(str)
        stored = [(str(g), labels.tolist()) for g, labels in pairs.groupby(GRAIN, sort=False)[PERIOD]]
    step = months_per_period(grain)
    starts, ends = [], []
    for g, labels in stored:
        if str(g) not in GRAINS:
            continue
        first = first_month_index(list(labels), str(g))
        starts.append(int(first.min()))
        ends.append(int(first.max()) + months_per_period(str(g)) - 1)
    if not starts:
        return [step] * len(periods)
    begin = first_month_index(list(periods), grain)
    lo = np.maximum(begin, min(starts))
    hi = np.minimum(begin + step - 1, max(ends))
    return np.clip(hi - lo + 1, 0, step).astype(int).tolist()


def _partial_period_notes(covered: list[int], periods: list[str], grain: str) -> list[str]:
    """Say when the first or last period is only partly covered by the stored data (its rate is then low)."""
    notes = []
    for i in {0, len(periods) - 1}:
        n = months_per_period(grain)
        if covered[i] < n:
            notes.append(f"period {periods[i]} is only partly covered by the data ({covered[i]} of {n} months)")
    return sorted(notes)


def _rates(f: AnalysisFrame, periods: list[str] | None = None) -> pd.DataFrame:
    """The complete grid (or its ``periods``) with names, population, rates and whole-area comparison.

    Every period's rows depend on that period alone, so a few periods of a national frame are
    computed on their own; a frame of up to ``_SMALL_FRAME`` cells computes (and memoises) all of
    them once, as the app asks for one period after another. Returns a shallow copy: under pandas
    copy-on-write a caller that sets a column or a value on it copies first, so the memoised table
    is never changed (the copy costs no data copy).
    """
    table = f._memo.get("rates")
    if table is None and (periods is None or f.cube.size <= _SMALL_FRAME):
        table = f._memo.setdefault("rates", _compute_rates(f))
    if periods is None:
        return table.copy(deep=False)
    wanted = [f.periods[i] for i in sorted({f.check_period(p) for p in periods})]
    if table is not None:
        return table[table[PERIOD].isin(wanted)].reset_index(drop=True)
    return _compute_rates(f, wanted)


def _compute_rates(f: AnalysisFrame, periods: list[str] | None = None) -> pd.DataFrame:
    """The complete grid (or the rows of ``periods``) with names, population, rates and whole-area comparison."""
    t = f.counts_in(periods).copy(deep=False)  # counts_in(None) is the frame's own table: never add to it
    # The grid is area-major with every period of each area: area columns are repeated by position
    # (no string join of every row); same columns and dtypes as merging f.areas on area_code.
    k = len(t) // max(len(f.areas), 1)
    for col in (AREA_NAME, LAD_CODE, LAD_NAME):
        t[col] = (_repeat_each(f.areas[col], k) if f.areas[col].dtype == _STR_DTYPE
                  else pd.Series(np.repeat(f.areas[col].to_numpy(), k), dtype=f.areas[col].dtype))
    t[POPULATION] = np.repeat(f.population.to_numpy(dtype=float), k) if f.population is not None else np.nan
    t[DENOMINATOR] = f.denominator
    t = add_rates(t)
    if f.population is None:
        t[RATE_NOTE] = pd.Series(NO_POPULATION_NOTE, index=t.index, dtype="string")
        t[WHOLE_AREA_RATE] = np.nan
        t[COMPARED_TO_WHOLE_AREA] = pd.Series(pd.NA, index=t.index, dtype="string")
    else:
        whole = _whole_area(f, t).set_index(PERIOD)
        shown = list(dict.fromkeys(t[PERIOD].iloc[:k]))  # the k periods, in the order each area repeats them
        t[WHOLE_AREA_RATE] = np.tile(whole[RATE_PER_1000].reindex(shown).to_numpy(dtype=float), len(f.areas))
        t = compare_to_reference(t, whole[RATE_PER_1000])
        t = t.rename(columns={COMPARED: COMPARED_TO_WHOLE_AREA})
    with np.errstate(divide="ignore", invalid="ignore"):
        t[RATE_RATIO] = t[RATE_PER_1000] / t[WHOLE_AREA_RATE].where(t[WHOLE_AREA_RATE] > 0)
    totals = t.groupby(PERIOD)[COUNT].transform("sum").astype(float)
    if f.perturbed:
        in_order = dict.fromkeys(t[PERIOD].iloc[:k])  # the k periods, in the order each area repeats them
        totals = pd.Series(np.tile(f.area_totals(None, [f.check_period(p) for p in in_order]), len(f.areas)),
                           index=t.index)
    t[INCIDENT_SHARE] = t[COUNT] / totals.where(totals > 0)
    return t


_STR_DTYPE = pd.Series([], dtype="str").dtype


def _take_text(values: pd.Series, positions: np.ndarray) -> pd.Series:
    """A "str" column of ``values`` (a "str" Series) at ``positions``, taken by Arrow (missing stays missing)."""
    import pyarrow as pa

    taken = pa.array(values, from_pandas=True).take(pa.array(positions, type=pa.int64()))
    return pd.Series(pd.array(taken, dtype="str"))


def _repeat_each(values: pd.Series, k: int) -> pd.Series:
    """Each value of a "str" Series ``k`` times in a row (np.repeat order), as a "str" column."""
    return _take_text(values, np.repeat(np.arange(len(values)), k))


def _same_text(value: str, n: int) -> pd.Series:
    """A "str" column holding ``value`` ``n`` times."""
    import pyarrow as pa

    return pd.Series(pd.array(pa.repeat(pa.scalar(str(value), type=pa.large_string()), n), dtype="str"))


def _sort_by_period(table: pd.DataFrame, f: AnalysisFrame) -> pd.DataFrame:
    order = pd.Index(f.periods).get_indexer(table[PERIOD])
    return table.assign(_o=order).sort_values([AREA_CODE, "_o"], kind="stable").drop(columns="_o")


def _weights_matrix(f: AnalysisFrame, weights: SpatialWeights, periods: list[str]) -> np.ndarray:
    """float [areas x periods] counts of ``periods`` in ``weights.codes`` order (for the local statistics)."""
    pos = weights.index.get_indexer(f.codes)
    if (pos < 0).any():
        bad = [c for c, p in zip(f.codes, pos) if p < 0][:5]
        raise AtlasError(f"area code(s) of the data are not in the weights' areas, e.g. {', '.join(bad)}")
    out = np.zeros((weights.n, len(periods)))
    out[pos] = f.matrix(periods)
    return out


def _matrix(tidy: pd.DataFrame, column: str, f: AnalysisFrame) -> np.ndarray:
    """areas x periods array of one column of a tidy (area_code, period) table, in frame order."""
    wide = tidy.pivot(index=AREA_CODE, columns=PERIOD, values=column)
    return wide.reindex(index=f.codes, columns=list(f.periods)).to_numpy(dtype=float, na_value=np.nan)


def _imd_by_area(f: AnalysisFrame) -> np.ndarray:
    """Population-weighted mean IMD 2019 score of each area's LSOAs (NaN where unknown).

    A large frame's scores are also cached on disk beside the frames (``_imd_disk_path``): reading the
    population and IMD files and averaging 32,844 LSOAs is a quarter of a second of every priority run.
    """
    path = _imd_disk_path(f) if f.cube.size >= DISK_FRAME_MIN_CELLS else None
    if path is not None:
        try:
            with np.load(path, allow_pickle=False) as z:
                score = z["imd"]
            if score.shape == (len(f.areas),) and score.dtype == np.float64:
                os.utime(path)  # recently used: kept by _prune_disk_frames
                return score
        except (OSError, ValueError, KeyError):
            pass
    score = _compute_imd_by_area(f)
    if path is not None:
        _save_array(path, imd=np.asarray(score, dtype=np.float64))
    return score


def _imd_disk_path(f: AnalysisFrame) -> Path | None:
    """Cache file of a frame's IMD scores, named by everything they depend on; None when not cacheable.

    The name holds the boundary version (registry entry, boundary, localities and population files), the
    shipped lookup, population and deprivation files, the level, the area codes and the builder's source.
    """
    version = _boundary_version(f.boundary_set)
    if version is None or getattr(version[0], "shipped", True):
        return None
    try:
        import hashlib

        codes = hashlib.sha256("\n".join(f.areas[AREA_CODE].tolist()).encode()).hexdigest()
        deprivation = tuple(_file_version(p) for p in sorted((data_dir() / "deprivation").glob("*.csv")))
        text = repr(("imd_by_area", DISK_FRAME_FORMAT, _frame_builder_digest(), version, _shipped_data_versions(),
                     deprivation, f.level, codes))
        return frame_cache_dir() / f"imd-{hashlib.sha256(text.encode()).hexdigest()[:32]}.npz"
    except OSError:
        return None


def _save_array(path: Path, **arrays: np.ndarray) -> None:
    """Write arrays to an .npz at ``path`` atomically; a read-only home is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        weights_cache.atomic_savez(path, **arrays)
        _prune_disk_frames(path.parent)
    except OSError:
        pass


def _compute_imd_by_area(f: AnalysisFrame) -> np.ndarray:
    """_imd_by_area without the disk cache."""
    nan = np.full(len(f.areas), np.nan)
    try:
        imd = imd_table(f.boundary_set)
        if imd.empty:
            return nan
        lsoa = imd[[CODE, "imd_score"]].merge(population_table("lsoa", f.boundary_set), on=CODE, how="left")
        if f.level != "lsoa":
            lsoa[CODE] = lsoa[CODE].map(parent_map("lsoa", f.level, f.boundary_set))
    except AtlasError:
        return nan  # a set without LSOAs or without an LSOA -> level lookup has no IMD
    w = lsoa["population_total"].astype(float).fillna(0.0)
    lsoa = lsoa.assign(_w=w, _ws=w * lsoa["imd_score"].astype(float))
    g = lsoa.groupby(CODE)[["_w", "_ws"]].sum()
    score = (g["_ws"] / g["_w"].where(g["_w"] > 0)).reindex(f.codes)
    return score.to_numpy(dtype=float)


def _reference_label(f: AnalysisFrame) -> str:
    """How reasons name the whole area: "the County Durham rate" or "the whole-area rate"."""
    if f.lad_codes is not None:
        names = f.areas[LAD_NAME].dropna().unique()
        if len(names) == 1:
            return f"the {names[0]} rate"
    return "the whole-area rate"


def _finish(table: pd.DataFrame, f: AnalysisFrame, extra_notes: list[str] | None = None) -> pd.DataFrame:
    """Reset the index and attach notes and provenance to attrs."""
    out = table.reset_index(drop=True)
    out.attrs.update({
        "notes": list(f.notes) + list(extra_notes or []), "dataset": f.dataset, "boundary_set": f.boundary_set,
        "level": f.level, "grain": f.grain, "category": f.category, "area_filter": f.area_filter,
        "denominator": f.denominator,
    })
    return out


__all__ = [
    "AnalysisFrame", "FrameCache", "NO_POPULATION_NOTE", "STATISTICS", "area_weights", "coded_counts", "compare_table",
    "emerging_table", "frame_cache", "hotspots_table", "load_frame", "priority_table", "rates_table",
    "seed_count_columns", "seed_rates", "spc_table", "publish_spc_table",
]
