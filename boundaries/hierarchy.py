"""Nesting between levels (LSOA -> MSOA/ward/locality/LAD) and user-defined localities built from wards.

Lookups for the shipped set come from `data/lookups/`: `lsoa_to_msoa.csv` (exact nesting, checked by name
and point-in-polygon) and `lsoa_to_ward.csv` (a best-fit lookup derived by each LSOA's representative
point; 82 of 904 LSOAs straddle wards, so ward roll-ups of LSOA data are approximate).

Localities: a CSV with columns `ward_code,locality` groups wards into named localities.
`locality_code` is derived from the name: "LOC-" + upper-case ASCII slug (e.g. "Durham City (example)" ->
"LOC-DURHAM-CITY-EXAMPLE"). **Wards not listed in the CSV form one locality per local authority, named
after it** (e.g. all Darlington wards -> "Darlington", LOC-DARLINGTON). Locality polygons are the
dissolve of their wards (boundaries.load).

The shipped `data/localities/county_durham_example_localities.csv` is *example localities, not an official
geography*: County Durham's 63 WD13 divisions, each assigned to the nearest of 14 approximate town
centres (British National Grid, by the ward's representative point), giving 12 named areas whose names
end in "(example)". Replace it with `set_localities(boundary_set, path)`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pandas as pd

from boundaries._files import fingerprint, read_csv_text, read_layer, read_user_csv
from boundaries.registry import (
    DEFAULT_SET,
    EXAMPLE_LOCALITIES,
    BoundarySet,
    get_boundary_set,
    missing_level_message,
    user_dir,
    user_file,
)
from boundaries.validate import list_items
from geo.schema import CODE, LAD_CODE, LAD_NAME, LEVELS, AtlasError, InputError, data_dir

LOOKUP_COLUMNS = ["lsoa_code", "msoa_code", "ward_code", "locality_code", "lad_code"]
LOCALITY_COLUMNS = ["ward_code", "locality_code", "locality_name"]
_LOOKUP_FILES = ("lsoa_to_msoa.csv", "lsoa_to_ward.csv")
_LOCALITY_ALIASES = {"ward_code": ("ward_code",), "locality": ("locality", "locality_name")}


def locality_code(name: str) -> str:
    """Deterministic locality code from its name: "LOC-" + upper-case ASCII slug."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Z0-9]+", "-", ascii_name.upper()).strip("-")
    if not slug:
        raise AtlasError(f"locality name {name!r} has no letters or digits to build a code from")
    return f"LOC-{slug}"


def _rows(mask: pd.Series) -> str:
    """Data-row numbers (header excluded; read_user_csv's index) where mask is true."""
    return list_items(mask.index[mask.to_numpy(dtype=bool)].tolist())


def _ward_table(bs: BoundarySet) -> pd.DataFrame:
    """Ward attributes [code, name, lad_code, lad_name] of a set that has wards."""
    info = bs.level("ward")
    return pd.DataFrame(read_layer(bs.path, info.layer).drop(columns="geometry"))


def load_localities(path: str | Path, boundary_set: str | BoundarySet = DEFAULT_SET) -> pd.DataFrame:
    """Read a ward_code,locality CSV or XLSX into [ward_code, locality_code, locality_name]; refuse bad rows."""
    path = Path(path)
    file = path.name
    raw = read_user_csv(path)
    cols = {c.strip().lower(): c for c in raw.columns}
    found = {}
    for want, aliases in _LOCALITY_ALIASES.items():
        hit = next((cols[a] for a in aliases if a in cols), None)
        if hit is None:
            raise InputError(file, f"needs columns ward_code and locality; columns seen: {', '.join(raw.columns)}")
        found[want] = hit
    wards = raw[found["ward_code"]].str.strip().str.upper()
    names = raw[found["locality"]].str.strip()
    blank = (wards == "") | (names == "")
    if blank.any():
        raise InputError(file, f"blank ward_code or locality in data rows {_rows(blank)}")

    known = set(_ward_table(get_boundary_set(boundary_set))[CODE])
    unknown = ~wards.isin(known)
    if unknown.any():
        raise InputError(
            file,
            f"unknown ward codes {list_items(wards[unknown].unique())} in data rows {_rows(unknown)} "
            f"(not wards of boundary set {get_boundary_set(boundary_set).name!r})",
        )
    dup = wards.duplicated(keep=False)
    if dup.any():
        raise InputError(
            file, f"wards listed more than once: {list_items(wards[dup].unique())} in data rows {_rows(dup)}"
        )

    try:
        codes = names.map(locality_code)
    except AtlasError as exc:
        raise InputError(file, str(exc)) from exc
    pairs = pd.DataFrame({"code": codes, "name": names}).drop_duplicates()
    clash = pairs["code"].duplicated(keep=False)
    if clash.any():
        same = list_items(sorted(pairs.loc[clash, "name"]))
        raise InputError(file, f"different locality names give the same code: {same}")
    return pd.DataFrame({"ward_code": wards, "locality_code": codes, "locality_name": names}, columns=LOCALITY_COLUMNS)


def localities_path(boundary_set: str | BoundarySet = DEFAULT_SET) -> Path:
    """The localities CSV in force: one set with set_localities, else the shipped example."""
    bs = get_boundary_set(boundary_set)
    bs.level("locality")
    custom = user_file(bs.name, ".localities.csv")
    return custom if custom.is_file() else data_dir() / "localities" / EXAMPLE_LOCALITIES


def set_localities(boundary_set: str | BoundarySet, path: str | Path) -> pd.DataFrame:
    """Validate a localities CSV or XLSX and keep it under $ATLAS_HOME as the set's localities (a CSV).

    What is kept is the validated ward_code,locality pairs (UTF-8 CSV), so a workbook, another encoding
    or delimiter, extra columns or blank rows are read once here and never again.
    """
    bs = get_boundary_set(boundary_set)
    bs.level("locality")
    table = load_localities(path, bs)
    user_dir().mkdir(parents=True, exist_ok=True)
    dest = user_file(bs.name, ".localities.csv")
    tmp = dest.with_suffix(".tmp")
    # Internal file read back by load_localities only: no formula neutralising, which would change names.
    pd.DataFrame({"ward_code": table["ward_code"], "locality": table["locality_name"]}).to_csv(
        tmp, index=False, lineterminator="\n")
    tmp.replace(dest)
    return table


def reset_localities(boundary_set: str | BoundarySet = DEFAULT_SET) -> None:
    """Go back to the shipped example localities."""
    user_file(get_boundary_set(boundary_set).name, ".localities.csv").unlink(missing_ok=True)


def ward_localities(boundary_set: str | BoundarySet = DEFAULT_SET) -> pd.DataFrame:
    """Every ward's locality: [ward_code, locality_code, locality_name, lad_code, lad_name] (unlisted -> its LAD)."""
    bs = get_boundary_set(boundary_set)
    return _ward_localities(bs, fingerprint(bs.path), fingerprint(localities_path(bs))).copy()


@lru_cache(maxsize=8)
def _ward_localities(bs: BoundarySet, set_key: tuple, csv_key: tuple) -> pd.DataFrame:
    """ward_localities, cached per version of the set file and the localities CSV."""
    wards = _ward_table(bs)
    listed = load_localities(localities_path(bs), bs)
    out = wards[[CODE, LAD_CODE, LAD_NAME]].rename(columns={CODE: "ward_code"})
    out = out.merge(listed, on="ward_code", how="left")
    unlisted = out["locality_code"].isna()
    # Rule: wards the CSV does not list form one locality per local authority, named after it.
    out.loc[unlisted, "locality_name"] = out.loc[unlisted, LAD_NAME]
    out.loc[unlisted, "locality_code"] = out.loc[unlisted, LAD_NAME].map(locality_code)
    return out[[*LOCALITY_COLUMNS, LAD_CODE, LAD_NAME]].sort_values("ward_code", ignore_index=True)


def _lookup_csv(name: str, columns: list[str]) -> pd.DataFrame:
    """A shipped lookup CSV restricted to `columns`, with unique lsoa_code."""
    path = data_dir() / "lookups" / name
    df = read_csv_text(path)[columns]
    if df["lsoa_code"].duplicated().any():
        raise AtlasError(f"{path}: LSOAs listed twice: {list_items(df.loc[df['lsoa_code'].duplicated(), 'lsoa_code'])}")
    return df


def lsoa_lookup(boundary_set: str | BoundarySet = DEFAULT_SET) -> pd.DataFrame:
    """One row per LSOA: [lsoa_code, msoa_code, ward_code, locality_code, lad_code] (NA where a set lacks a level)."""
    bs = get_boundary_set(boundary_set)
    keys = [fingerprint(bs.path)]
    if bs.shipped:
        keys += [fingerprint(localities_path(bs))] + [fingerprint(data_dir() / "lookups" / f) for f in _LOOKUP_FILES]
    return _lsoa_lookup(bs, tuple(keys)).copy()


@lru_cache(maxsize=8)
def _lsoa_lookup(bs: BoundarySet, keys: tuple) -> pd.DataFrame:
    """lsoa_lookup, cached per version of every file it reads."""
    if not bs.shipped:
        if bs.levels != ("lsoa",):
            raise AtlasError(missing_level_message(bs, "lsoa"))
        areas = read_layer(bs.path)
        out = pd.DataFrame({c: pd.Series(pd.NA, index=areas.index, dtype="str") for c in LOOKUP_COLUMNS})
        out["lsoa_code"], out["lad_code"] = areas[CODE], areas[LAD_CODE]
        return out.sort_values("lsoa_code", ignore_index=True)
    msoa = _lookup_csv(_LOOKUP_FILES[0], ["lsoa_code", "msoa_code"])
    ward = _lookup_csv(_LOOKUP_FILES[1], ["lsoa_code", "ward_code", "lad_code"])
    out = msoa.merge(ward, on="lsoa_code", how="outer", indicator=True)
    if (out["_merge"] != "both").any():
        odd = out.loc[out["_merge"] != "both", "lsoa_code"]
        raise AtlasError(f"lookups lsoa_to_msoa.csv and lsoa_to_ward.csv disagree on LSOAs {list_items(odd)}")
    out = out.merge(ward_localities(bs)[["ward_code", "locality_code"]], on="ward_code", how="left")
    return out[LOOKUP_COLUMNS].sort_values("lsoa_code", ignore_index=True)


def _series(df: pd.DataFrame, child: str, parent: str, from_level: str, to_level: str) -> pd.Series:
    """child->parent Series named for the levels, sorted by child code."""
    s = df.set_index(child)[parent].astype("str").sort_index()
    s.index = s.index.astype("str").rename(f"{from_level}_code")
    return s.rename(f"{to_level}_code")


def _from_lookup(to_col: str) -> Callable[[BoundarySet], pd.DataFrame]:
    """LSOA -> level via lsoa_lookup."""
    return lambda bs: lsoa_lookup(bs)[["lsoa_code", to_col]].rename(columns={"lsoa_code": "child", to_col: "parent"})


def _layer_lad(level: str) -> Callable[[BoundarySet], pd.DataFrame]:
    """Level -> LAD from the layer's own lad_code column."""
    def build(bs: BoundarySet) -> pd.DataFrame:
        attrs = read_layer(bs.path, bs.level(level).layer)
        return pd.DataFrame({"child": attrs[CODE], "parent": attrs[LAD_CODE]})
    return build


def _ward_locality(bs: BoundarySet) -> pd.DataFrame:
    """Ward -> locality from the localities CSV in force."""
    wl = ward_localities(bs)
    return pd.DataFrame({"child": wl["ward_code"], "parent": wl["locality_code"]})


def _locality_lad(bs: BoundarySet) -> pd.DataFrame:
    """Locality -> LAD, only when every locality lies inside one local authority."""
    wl = ward_localities(bs)
    n = wl.groupby("locality_code")[LAD_CODE].nunique()
    if (n > 1).any():
        names = wl.groupby("locality_code")[LAD_NAME].agg(lambda s: ", ".join(sorted(s.unique())))
        spans = list_items(f"{c} ({names[c]})" for c in n[n > 1].index)
        raise AtlasError(f"localities span several local authorities, so locality->lad is not possible: {spans}")
    first = wl.drop_duplicates("locality_code")
    return pd.DataFrame({"child": first["locality_code"], "parent": first[LAD_CODE]})


# Finer -> coarser pairs the shipped set supports (msoa and ward do not nest in each other).
_SHIPPED_PAIRS: dict[tuple[str, str], Callable[[BoundarySet], pd.DataFrame]] = {
    ("lsoa", "msoa"): _from_lookup("msoa_code"),
    ("lsoa", "ward"): _from_lookup("ward_code"),
    ("lsoa", "locality"): _from_lookup("locality_code"),
    ("lsoa", "lad"): _from_lookup("lad_code"),
    ("msoa", "lad"): _layer_lad("msoa"),
    ("ward", "locality"): _ward_locality,
    ("ward", "lad"): _layer_lad("ward"),
    ("locality", "lad"): _locality_lad,
}


def _identity(bs: BoundarySet, level: str) -> pd.DataFrame:
    """Each area maps to itself."""
    from boundaries.load import load_areas  # local import: load depends on this module

    codes = load_areas(level, bs)[CODE]
    return pd.DataFrame({"child": codes, "parent": codes})


def parent_map(from_level: str, to_level: str, boundary_set: str | BoundarySet = DEFAULT_SET) -> pd.Series:
    """Series child code -> parent code for a finer -> coarser pair (identity when the levels are equal)."""
    bs = get_boundary_set(boundary_set)
    for level in (from_level, to_level):
        if level not in LEVELS or level not in bs.levels:
            raise AtlasError(missing_level_message(bs, level))
    if from_level == to_level:
        return _series(_identity(bs, from_level), "child", "parent", from_level, to_level)
    build = _SHIPPED_PAIRS.get((from_level, to_level)) if bs.shipped else None
    if build is None:
        pairs = ", ".join(f"{a}->{b}" for a, b in _SHIPPED_PAIRS)
        raise AtlasError(
            f"cannot roll {from_level} up to {to_level} in boundary set {bs.name!r}: "
            + (f"{from_level} areas do not nest in {to_level} areas. Possible roll-ups: {pairs}"
               if bs.shipped else "a user-registered set holds one level, so only that level is available")
        )
    return _series(build(bs), "child", "parent", from_level, to_level)


__all__ = [
    "LOOKUP_COLUMNS", "load_localities", "locality_code", "localities_path", "lsoa_lookup", "parent_map",
    "reset_localities", "set_localities", "ward_localities",
]
