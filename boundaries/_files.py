"""Read boundary files (GeoJSON, GeoPackage, zipped Shapefile, GeoParquet) and cache shipped/stored layers."""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path, PurePosixPath

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd

# geopandas, shapely, pyproj and pyogrio are imported where files are read: commands that only
# read codes and names (analysis of stored counts) skip ~0.2-0.7 s of imports.

from boundaries.validate import BoundaryReport, clean_areas, list_items
from geo.schema import WGS84, BoundaryError, InputError

_Reader = Callable[[Path, str | None], "tuple[gpd.GeoDataFrame, str | None]"]


# Largest boundary file read (it is read into memory whole): $ATLAS_MAX_BOUNDARY_MB megabytes.
DEFAULT_MAX_BOUNDARY_MB = 1024
MAX_BOUNDARY_MB_ENV = "ATLAS_MAX_BOUNDARY_MB"
# Files picked by mistake: named in the message instead of a driver error.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"), (b"\xd0\xcf\x11\xe0", "an old Excel or Word file"),
)


def _driver_problem(exc: Exception) -> str:
    """GDAL's complaint without its file path and driver-prefix advice (which mean nothing to a user)."""
    msg = str(exc)
    if "not recognized as being in a supported file format" in msg or "not recognised" in msg:
        return "it is not in a format that can be read (is the file damaged, or not really this type?)"
    msg = re.sub(r";?\s*It might help to specify the correct driver.*$", "", msg, flags=re.S)
    msg = re.sub(r"'?/?(?:vsizip/)?[^' ]*/", "", msg)  # directories of temporary upload paths
    return " ".join(msg.split())[:200]


def _check_size(path: Path) -> None:
    """BoundaryError before reading a file above $ATLAS_MAX_BOUNDARY_MB (default 1,024 MB)."""
    raw = os.environ.get(MAX_BOUNDARY_MB_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_BOUNDARY_MB
    except ValueError:
        raise BoundaryError(f"{MAX_BOUNDARY_MB_ENV} must be a number of megabytes; received {raw!r}") from None
    size = path.stat().st_size
    if size > mb * 2**20:
        raise BoundaryError(
            f"{path.name}: is {size / 2**20:,.0f} MB, above the {mb:,.0f} MB limit for a boundary file; use a "
            f"generalised (simplified) version of the boundaries or raise the limit with {MAX_BOUNDARY_MB_ENV}"
        )


def _check_not_other_type(path: Path) -> None:
    """A picture or document renamed .gpkg/.geojson: say what it is."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise BoundaryError(f"{path.name}: is {what}, not a boundary file")


def _read_vector(source: str | Path, file: str, layer: str | None = None) -> gpd.GeoDataFrame:
    """pyogrio read that turns driver failures into a BoundaryError naming the file."""
    import geopandas as gpd
    from pyogrio.errors import DataSourceError

    try:
        return gpd.read_file(source, layer=layer, engine="pyogrio")
    except (DataSourceError, OSError, ValueError) as exc:
        raise BoundaryError(f"{file}: cannot be read as a boundary file: {_driver_problem(exc)}") from exc


def _read_geojson(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    """GeoJSON: WGS84 by RFC 7946 when the file names no CRS."""
    gdf = _read_vector(path, path.name)
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    return gdf, None


def _read_gpkg(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    """GeoPackage: the named layer, or the only layer; several layers and none named is an error."""
    import pyogrio
    from pyogrio.errors import DataSourceError

    try:
        layers = pyogrio.list_layers(path)
    except DataSourceError as exc:
        raise BoundaryError(f"{path.name}: cannot be read as a GeoPackage: {_driver_problem(exc)}") from exc
    described = ", ".join(f"{n} ({g or 'no geometry'})" for n, g in layers)
    names = [str(n) for n, _ in layers]
    if layer is None:
        if len(names) != 1:
            raise BoundaryError(f"{path.name}: holds {len(names)} layers, choose one with layer=: {described}")
        layer = names[0]
    elif layer not in names:
        raise BoundaryError(f"{path.name}: no layer {layer!r}; layers: {described}")
    return _read_vector(path, path.name, layer=layer), layer


def _read_zip(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    """Zipped Shapefile: one .shp (or the one named by layer) with its .shx, .dbf and .prj."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
    except zipfile.BadZipFile as exc:
        raise BoundaryError(f"{path.name}: is not a valid zip file") from exc
    shps = [m for m in members if m.lower().endswith(".shp")]
    if not shps:
        raise BoundaryError(f"{path.name}: the zip holds no .shp file; it holds {list_items(members)}")
    if layer is not None:
        shps = [m for m in shps if PurePosixPath(m).stem == layer]
        if not shps:
            raise BoundaryError(f"{path.name}: no shapefile {layer!r}; it holds {list_items(members)}")
    if len(shps) > 1:
        stems = ", ".join(PurePosixPath(m).stem for m in shps)
        raise BoundaryError(f"{path.name}: holds {len(shps)} shapefiles, choose one with layer=: {stems}")
    shp = shps[0]
    base = shp[:-4].lower()
    have = {m.lower() for m in members}
    missing = [ext for ext in (".shx", ".dbf") if base + ext not in have]
    if missing:
        raise BoundaryError(f"{path.name}: {shp} is incomplete, the zip lacks {', '.join(missing)}")
    if base + ".prj" not in have:
        raise BoundaryError(
            f"{path.name}: {shp} has no .prj file, so its coordinate reference system (CRS) is missing. "
            "Add the .prj that came with the shapefile to the zip."
        )
    return _read_vector(f"/vsizip/{path.resolve()}/{shp}", path.name), PurePosixPath(shp).stem


def _read_shp(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    """Plain Shapefile on disk (its sidecar files beside it)."""
    return _read_vector(path, path.name), None


def _read_parquet(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    """GeoParquet (geo metadata required)."""
    import geopandas as gpd

    try:
        return gpd.read_parquet(path), None
    except (ValueError, OSError) as exc:
        raise BoundaryError(f"{path.name}: cannot be read as GeoParquet ({exc})") from exc


# Suffix -> reader (a registry dict rather than an if/elif chain).
_READERS: dict[str, _Reader] = {
    ".geojson": _read_geojson,
    ".json": _read_geojson,
    ".gpkg": _read_gpkg,
    ".zip": _read_zip,
    ".shp": _read_shp,
    ".parquet": _read_parquet,
    ".geoparquet": _read_parquet,
}


def read_boundary_file(
    path: str | Path,
    layer: str | None = None,
    code_col: str | None = None,
    name_col: str | None = None,
    level: str | None = None,
) -> tuple[gpd.GeoDataFrame, BoundaryReport]:
    """Read and validate a user's boundary file into [code, name, lad_code, lad_name, geometry] in EPSG:27700."""
    path = Path(path)
    if not path.is_file():
        raise BoundaryError(f"{path}: file not found")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise BoundaryError(
            f"{path.name}: unsupported file type {path.suffix or '(none)'}; use GeoJSON (.geojson), "
            "GeoPackage (.gpkg), a zipped Shapefile (.zip) or GeoParquet (.parquet)"
        )
    _check_size(path)
    _check_not_other_type(path)
    raw, used_layer = reader(path, layer)
    return clean_areas(raw, path.name, code_col=code_col, name_col=name_col, level=level, layer=used_layer)


def fingerprint(path: Path) -> tuple[str, int, int]:
    """(path, mtime_ns, size): a cache key that changes when the file is replaced."""
    st = os.stat(path)
    return str(path.resolve()), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=32)
def _cached_layer(key: tuple[str, int, int], layer: str | None) -> gpd.GeoDataFrame:
    """Read one stored/shipped layer once per file version."""
    import geopandas as gpd

    path = Path(key[0])
    if path.suffix == ".parquet":
        return gpd.read_parquet(path)
    return gpd.read_file(path, layer=layer, engine="pyogrio")


def read_layer(path: Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Cached read of a trusted (shipped or already validated) layer; returns a copy."""
    return _cached_layer(fingerprint(path), layer).copy()


@lru_cache(maxsize=32)
def _cached_parquet_column(key: tuple[str, int, int], column: str) -> pd.Series:
    import pyarrow.parquet as pq  # local: only the stored-set code lookup needs it

    return pq.read_table(key[0], columns=[column]).column(0).to_pandas()


def read_parquet_column(path: Path, column: str) -> pd.Series:
    """Cached read of one column of a stored GeoParquet layer, without its geometry; returns a copy.

    Checking an import's area codes needs only the code column: reading the polygons of a national
    set for that costs seconds and hundreds of MB.
    """
    return _cached_parquet_column(fingerprint(path), column).copy()


@lru_cache(maxsize=32)
def _cached_csv(key: tuple[str, int, int]) -> pd.DataFrame:
    """Read one CSV once per file version, every column as text."""
    return pd.read_csv(key[0], dtype=str, keep_default_na=False)


def read_csv_text(path: Path) -> pd.DataFrame:
    """Cached read of a CSV with every column as text (blank = ""); returns a copy."""
    return _cached_csv(fingerprint(path)).copy()


def read_user_csv(path: str | Path) -> pd.DataFrame:
    """Read a user's small CSV or XLSX (localities, population) as text, indexed by data row number.

    The incident reader is used, so these files get the same encodings, delimiters and messages
    (naming the file and data row); blank rows are dropped but keep their numbers, so the index is
    the data row a user sees. InputError naming the file when unreadable.
    """
    from ingest.reader import read_table  # local: the reader pulls in pyarrow

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found")
    raw = read_table(path)
    for col, positions in raw.duplicates.items():
        raise InputError(path.name, f"the header names {len(positions)} columns {col!r} (columns "
                         f"{list_items(positions)}), so it is not clear which to use; rename or remove all but one")
    short = raw.n_fields is not None and (raw.n_fields < raw.frame.shape[1])
    if short is not False and short.any():
        rows = raw.row_number[short]
        raise InputError(path.name, f"data row{'s' if len(rows) > 1 else ''} {list_items(rows.tolist())} "
                         f"{'have' if len(rows) > 1 else 'has'} fewer fields than the header")
    frame = raw.frame.astype(object)
    frame.index = pd.Index(raw.row_number, name="data row")
    return frame
