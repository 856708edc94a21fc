"""Registry of boundary sets: the shipped ONS 2011 set and user-registered files (vintage, source, levels).

The shipped set `ons2011-ne-medway` covers 7 local authorities (County Durham, Darlington, Hartlepool,
Middlesbrough, Redcar and Cleveland, Stockton-on-Tees, Medway) from `data/boundaries/north_east_and_medway.gpkg`
(provenance in ../shared/data/SOURCES.md): LSOA 2011 (904), MSOA 2011 (193), ONS wards WD13 as at
December 2013 (191), localities (wards dissolved by a localities CSV; the shipped CSV is example localities,
not an official geography) and local authorities (LSOAs dissolved by lad_code, 7).

User sets hold one level. `register_boundary_set` validates the file (boundaries.validate), writes a
GeoParquet copy to `$ATLAS_HOME/boundaries/<name>.parquet` and records it in
`$ATLAS_HOME/boundaries/registry.json`; population and localities files for a set sit beside it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from boundaries._files import read_boundary_file
from boundaries.validate import BoundaryReport
from geo.schema import LEVELS, AtlasError, BoundaryError, atlas_home, data_dir

DEFAULT_SET = "ons2011-ne-medway"
SHIPPED_GPKG = "north_east_and_medway.gpkg"
EXAMPLE_LOCALITIES = "county_durham_example_localities.csv"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_REGISTRY_FILE = "registry.json"

_ATTRIBUTION = (
    "Contains Ordnance Survey data (c) Crown copyright and database right 2016; contains National Statistics "
    "data (c) Crown copyright and database right; Open Government Licence v3.0 and OS OpenData."
)


@dataclass(frozen=True)
class LevelInfo:
    """One level of a boundary set: what it is, its vintage, and where it comes from."""

    level: str
    description: str
    vintage: str
    n_areas: int | None
    layer: str | None  # layer in the set's file; None when derived from another level
    derived_from: str | None = None


@dataclass(frozen=True)
class BoundarySet:
    """A named set of boundary levels with vintage and source (hashable, so usable as a cache key)."""

    name: str
    levels: tuple[str, ...]
    vintage: str
    source: str
    shipped: bool
    path: Path
    level_info: tuple[LevelInfo, ...] = ()
    registered_at: str | None = None

    def level(self, level: str) -> LevelInfo:
        """The LevelInfo for `level`, or an AtlasError naming the levels this set has."""
        for info in self.level_info:
            if info.level == level:
                return info
        raise AtlasError(missing_level_message(self, level))


def missing_level_message(bs: BoundarySet, level: str) -> str:
    """Explain that a set lacks a level (user sets hold exactly one)."""
    if level not in LEVELS:
        return f"unknown level {level!r}; expected one of {', '.join(LEVELS)}"
    kind = "shipped" if bs.shipped else "user-registered"
    return (
        f"boundary set {bs.name!r} ({kind}) has no {level!r} level; it has: {', '.join(bs.levels)}"
        + ("" if bs.shipped else ". A user-registered set holds only the level it was registered with.")
    )


def _shipped_sets() -> dict[str, BoundarySet]:
    """The shipped sets (built per call so ATLAS_DATA_DIR changes are honoured)."""
    gpkg = data_dir() / "boundaries" / SHIPPED_GPKG
    info = (
        LevelInfo("lsoa", "Lower layer Super Output Areas", "LSOA 2011", 904, "lsoa"),
        LevelInfo("msoa", "Middle layer Super Output Areas", "MSOA 2011", 193, "msoa"),
        LevelInfo("ward", "Electoral wards/divisions", "WD13 (ONS wards, December 2013)", 191, "wards"),
        LevelInfo(
            "locality",
            "Localities: wards grouped by a localities CSV (example localities, not an official geography)",
            "user-defined",
            None,
            None,
            f"dissolve of wards by data/localities/{EXAMPLE_LOCALITIES} (or the CSV set with set_localities)",
        ),
        LevelInfo("lad", "Local authority districts", "LAD codes as at 2019 (7 authorities)", 7, None,
                  "dissolve of LSOAs by lad_code"),
    )
    source = (
        "ONS generalised clipped boundaries (OS-derived) redistributed by GitHub martinjc/UK-GeoJSON @ 8833900; "
        "LSOA/MSOA rebuilt from its TopoJSON (edges shared within, not across, local authorities); "
        "LSOA->ward best-fit lookup derived here by representative point (not an official ONS lookup); "
        "localities: example localities, not an official geography. " + _ATTRIBUTION
    )
    bs = BoundarySet(
        name=DEFAULT_SET,
        levels=tuple(i.level for i in info),
        vintage="LSOA/MSOA 2011; wards WD13 (December 2013); population ONS mid-2019; IMD 2019",
        source=source,
        shipped=True,
        path=gpkg,
        level_info=info,
    )
    return {bs.name: bs}


def user_dir() -> Path:
    """Directory holding user-registered sets, their population and localities files."""
    return atlas_home() / "boundaries"


def user_file(name: str, suffix: str) -> Path:
    """Path of a user set's companion file, e.g. suffix '.parquet' or '.population.csv'."""
    return user_dir() / f"{check_set_name(name)}{suffix}"


def check_set_name(name: str) -> str:
    """Return `name` if it is a safe set name (letters, digits, - and _; max 64), else BoundaryError."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise BoundaryError(
            f"invalid boundary set name {name!r}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def _read_registry() -> dict[str, dict]:
    """User registry entries by name ({} when none registered)."""
    path = user_dir() / _REGISTRY_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))["sets"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise BoundaryError(f"{path}: the boundary registry is corrupt ({exc})") from exc


def _write_registry(sets: dict[str, dict]) -> None:
    """Write the registry atomically (temp file + rename) so readers never see half a file."""
    user_dir().mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": 1, "sets": sets}, indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=user_dir(), suffix=".json.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, user_dir() / _REGISTRY_FILE)


def _from_entry(name: str, entry: dict) -> BoundarySet:
    """BoundarySet for a registry entry."""
    level = entry["level"]
    info = LevelInfo(level, f"user boundaries ({entry['file']})", entry["vintage"], entry["n_features"], None)
    return BoundarySet(
        name=name,
        levels=(level,),
        vintage=entry["vintage"],
        source=entry["source"],
        shipped=False,
        path=user_dir() / entry["stored"],
        level_info=(info,),
        registered_at=entry.get("registered_at"),
    )


def list_boundary_sets() -> list[BoundarySet]:
    """Shipped sets first, then user-registered sets by name."""
    user = _read_registry()
    return list(_shipped_sets().values()) + [_from_entry(n, user[n]) for n in sorted(user)]


def get_boundary_set(name: str | BoundarySet) -> BoundarySet:
    """The set called `name` (a BoundarySet passes through), or BoundaryError listing the known sets."""
    if isinstance(name, BoundarySet):
        return name
    shipped = _shipped_sets()
    if name in shipped:
        return shipped[name]
    user = _read_registry()
    if name in user:
        return _from_entry(name, user[name])
    known = ", ".join([*shipped, *sorted(user)])
    raise BoundaryError(f"unknown boundary set {name!r}; known sets: {known}")


def register_boundary_set(
    path: str | Path,
    name: str,
    level: str,
    layer: str | None = None,
    code_col: str | None = None,
    name_col: str | None = None,
    *,
    vintage: str = "",
    source: str | None = None,
    replace: bool = False,
) -> tuple[BoundarySet, BoundaryReport]:
    """Validate a user boundary file and store it (GeoParquet, EPSG:27700) as a one-level set."""
    check_set_name(name)
    if name in _shipped_sets():
        raise BoundaryError(f"{name!r} is a shipped boundary set and cannot be overwritten; choose another name")
    if level not in LEVELS:
        raise BoundaryError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    sets = _read_registry()
    if name in sets and not replace:
        raise BoundaryError(f"boundary set {name!r} is already registered; remove it first or pass replace=True")

    areas, report = read_boundary_file(path, layer=layer, code_col=code_col, name_col=name_col, level=level)
    report.notes += _shared_code_notes(set(areas["code"]), name)
    user_dir().mkdir(parents=True, exist_ok=True)
    stored = user_file(name, ".parquet")
    tmp = stored.with_suffix(".parquet.tmp")
    areas.to_parquet(tmp, index=False)
    os.replace(tmp, stored)
    if name in sets:
        # Replaced areas may have different codes: drop companion files that referred to the old ones.
        for suffix in (".population.csv", ".localities.csv"):
            old = user_file(name, suffix)
            if old.exists():
                old.unlink()
                report.notes.append(f"removed {old.name} that belonged to the replaced set")

    sets[name] = {
        "level": level,
        "vintage": vintage or "unknown (user file)",
        "source": source or f"user file {Path(path).name}" + (f", layer {report.layer}" if report.layer else ""),
        "file": Path(path).name,
        "layer": report.layer,
        "stored": stored.name,
        "n_features": report.n_features,
        "code_col": report.code_col,
        "name_col": report.name_col,
        "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_registry(sets)
    return _from_entry(name, sets[name]), report


def _shared_code_notes(codes: set[str], name: str) -> list[str]:
    """Notes naming other sets that hold some of the same codes (a second copy, or another vintage).

    Not an error: sets are independent and each dataset uses one. But the same codes with different
    shapes mean rates and maps differ by set, so the user is told which sets overlap.
    """
    from boundaries._files import read_parquet_column  # local: _files imports this module's callers
    from boundaries.load import load_area_table  # local: load imports this module

    notes = []
    for other in list_boundary_sets():
        if other.name == name:
            continue
        for info in other.level_info:
            if other.shipped and info.layer is None:
                continue  # a derived level (localities, local authorities): its codes are not area codes of a file
            try:
                known = set(read_parquet_column(other.path, "code").astype(str)) if not other.shipped else set(
                    load_area_table(info.level, other)["code"])
            except (AtlasError, OSError, KeyError, ValueError):
                continue
            shared = sorted(codes & known)
            if shared:
                notes.append(
                    f"{len(shared):,} of its {len(codes):,} codes are also {info.level} codes of boundary set "
                    f"{other.name!r} (e.g. {', '.join(shared[:3])}); datasets use one set each, so check this is "
                    "meant as a separate set (another vintage or extent) rather than a copy"
                )
    return notes


def remove_boundary_set(name: str) -> None:
    """Delete a user-registered set and its companion files (shipped sets cannot be removed)."""
    if name in _shipped_sets():
        raise BoundaryError(f"{name!r} is a shipped boundary set and cannot be removed")
    sets = _read_registry()
    if name not in sets:
        raise BoundaryError(f"unknown boundary set {name!r}; registered sets: {', '.join(sorted(sets)) or '(none)'}")
    entry = sets.pop(name)
    _write_registry(sets)
    for p in (user_dir() / entry["stored"], user_file(name, ".population.csv"), user_file(name, ".localities.csv")):
        p.unlink(missing_ok=True)
