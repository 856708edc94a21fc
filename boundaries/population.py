"""Area statistics for rates and context: population denominators and IMD 2019 deprivation.

Shipped set: ONS mid-2019 LSOA population estimates (SAPE22DT2, `data/population/lsoa_population_mid2019.csv`)
summed to coarser levels with `hierarchy.parent_map("lsoa", level)`, so every roll-up equals the sum
of its LSOAs (ward/locality totals inherit the best-fit LSOA->ward lookup, hence are approximate).
User sets: a population CSV added with `add_population` (stored under $ATLAS_HOME), else an empty
table, which callers report as "rates unavailable". IMD 2019 (MHCLG File 1/7) is per LSOA only.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from boundaries._files import fingerprint, read_csv_text, read_user_csv
from boundaries.hierarchy import parent_map
from boundaries.load import load_area_table
from boundaries.registry import DEFAULT_SET, BoundarySet, get_boundary_set, missing_level_message, user_dir, user_file
from boundaries.validate import list_items, normalise_codes
from geo.schema import CODE, DENOMINATORS, AtlasError, InputError, data_dir

POPULATION_COLUMNS: list[str] = list(DENOMINATORS.values())
IMD_COLUMNS = ["imd_score", "imd_rank", "imd_decile"]
_POPULATION_FILE = "lsoa_population_mid2019.csv"
_IMD_FILE = "imd2019_lsoa.csv"
# Column names accepted for the total in a user file besides the canonical one.
_TOTAL_ALIASES = ("population", "pop", "total")


def _empty(columns: list[str]) -> pd.DataFrame:
    """An empty table with the expected columns (no data for this set)."""
    return pd.DataFrame({CODE: pd.Series(dtype="str"), **{c: pd.Series(dtype="float64") for c in columns}})


def _lsoa_population() -> pd.DataFrame:
    """Shipped mid-2019 LSOA population as [code, population_* (int64)]."""
    raw = read_csv_text(data_dir() / "population" / _POPULATION_FILE)
    out = raw[["lsoa_code", *POPULATION_COLUMNS]].rename(columns={"lsoa_code": CODE})
    return out.astype({c: "int64" for c in POPULATION_COLUMNS})


@lru_cache(maxsize=8)
def _user_population(key: tuple[str, int, int]) -> pd.DataFrame:
    """A user set's stored population file, parsed once per file version (a national file has 32,844 rows)."""
    stored = read_csv_text(Path(key[0]))
    out = stored[[CODE]].copy()
    for c in POPULATION_COLUMNS:
        out[c] = pd.to_numeric(stored[c].replace("", np.nan)) if c in stored else np.nan
    return out.sort_values(CODE, ignore_index=True)


def population_table(level: str, boundary_set: str | BoundarySet = DEFAULT_SET) -> pd.DataFrame:
    """[code, population_total, population_16_plus, population_18_plus, population_16_plus_female], by code."""
    bs = get_boundary_set(boundary_set)
    if level not in bs.levels:
        raise AtlasError(missing_level_message(bs, level))
    if not bs.shipped:
        path = user_file(bs.name, ".population.csv")
        if not path.is_file():
            return _empty(POPULATION_COLUMNS)
        return _user_population(fingerprint(path)).copy()
    lsoa = _lsoa_population()
    if level == "lsoa":
        return lsoa.sort_values(CODE, ignore_index=True)
    parents = parent_map("lsoa", level, bs)
    lsoa[CODE] = lsoa[CODE].map(parents)
    if lsoa[CODE].isna().any():
        raise AtlasError(f"population LSOAs without a {level}: check data/lookups")
    return lsoa.groupby(CODE, as_index=False)[POPULATION_COLUMNS].sum().sort_values(CODE, ignore_index=True)


def add_population(path: str | Path, boundary_set: str | BoundarySet, code_col: str = CODE) -> pd.DataFrame:
    """Validate a user population CSV (code + population columns) for a user set and store it under $ATLAS_HOME."""
    path = Path(path)
    file = path.name
    bs = get_boundary_set(boundary_set)
    if bs.shipped:
        raise AtlasError(
            f"{bs.name!r} is shipped with ONS mid-2019 population; register your own boundary set to add population"
        )
    raw = read_user_csv(path)
    cols = {c.strip().lower(): c for c in raw.columns}
    seen = f"columns seen: {', '.join(raw.columns)}"
    if code_col.lower() not in cols:
        raise InputError(file, f"no code column {code_col!r}; {seen}")
    rename = {cols[code_col.lower()]: CODE}
    rename |= {cols[c]: c for c in POPULATION_COLUMNS if c in cols}
    if "population_total" not in cols:
        alias = next((cols[a] for a in _TOTAL_ALIASES if a in cols), None)
        if alias is not None:
            rename[alias] = "population_total"
    pop_cols = [c for c in POPULATION_COLUMNS if c in rename.values()]
    if not pop_cols:
        expected = ", ".join(POPULATION_COLUMNS)
        raise InputError(file, f"no population column (expected one of {expected} or 'population'); {seen}")
    df = raw[list(rename)].rename(columns=rename)
    df[CODE] = normalise_codes(df[CODE])

    def rows(mask: pd.Series) -> str:
        # The index is the data row number of the file (read_user_csv), blank rows included.
        return list_items(df.index[mask.to_numpy(dtype=bool)].tolist())

    codes = set(load_area_table(bs.levels[0], bs)[CODE])
    unknown = ~df[CODE].isin(codes)
    if unknown.any():
        bad = list_items(df.loc[unknown, CODE])
        raise InputError(file, f"codes not in boundary set {bs.name!r}: {bad} (data rows {rows(unknown)})")
    dup = df[CODE].duplicated(keep=False)
    if dup.any():
        bad = list_items(df.loc[dup, CODE].unique())
        raise InputError(file, f"codes listed more than once: {bad} (data rows {rows(dup)})")
    for c in pop_cols:
        values = pd.to_numeric(df[c].str.replace(",", "", regex=False).str.strip(), errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))  # "inf" is not a population
        bad = pd.Series(bad, index=values.index)
        if bad.any():
            raise InputError(file, f"{c} is missing or not a number in data rows {rows(bad)}")
        if (values < 0).any():
            raise InputError(file, f"{c} is negative in data rows {rows(values < 0)}")
        df[c] = values.astype("int64") if (values == values.round()).all() else values
    absent = sorted(codes - set(df[CODE]))
    if absent:
        raise InputError(file, f"no population for {len(absent)} areas of {bs.name!r}: {list_items(absent)}")
    user_dir().mkdir(parents=True, exist_ok=True)
    dest = user_file(bs.name, ".population.csv")
    tmp = dest.with_suffix(".tmp")
    df.sort_values(CODE).to_csv(tmp, index=False)
    tmp.replace(dest)
    return population_table(bs.levels[0], bs)


def imd_table(boundary_set: str | BoundarySet = DEFAULT_SET) -> pd.DataFrame:
    """IMD 2019 per LSOA: [code, imd_score, imd_rank, imd_decile] (rank/decile 1 = most deprived; ranks can tie)."""
    bs = get_boundary_set(boundary_set)
    if "lsoa" not in bs.levels:
        return _empty(IMD_COLUMNS)
    raw = read_csv_text(data_dir() / "deprivation" / _IMD_FILE)
    out = raw[["lsoa_code", *IMD_COLUMNS]].rename(columns={"lsoa_code": CODE})
    out = out.astype({"imd_score": "float64", "imd_rank": "int64", "imd_decile": "int64"})
    if not bs.shipped:
        # A user LSOA set gets the shipped IMD rows whose codes it shares (the shipped file covers 7 LADs).
        # Hash lookup on object arrays: Series.isin on Arrow strings builds a Python list of the 32,844 codes
        # of an England set (0.4-0.6 s per call, on every priority run).
        known = pd.Index(load_area_table("lsoa", bs)[CODE].to_numpy(dtype=object))
        out = out[known.get_indexer(out[CODE].to_numpy(dtype=object)) >= 0]
    return out.sort_values(CODE, ignore_index=True)


__all__ = ["IMD_COLUMNS", "POPULATION_COLUMNS", "add_population", "imd_table", "population_table"]
