"""Rebuild data/ (the shipped reference data) from ../shared/data.

Run once by a maintainer: `python scripts/build_reference_data.py [SHARED_DATA_DIR]`.
It copies the 7-authority boundary GeoPackage unchanged, filters the England-wide
population and IMD tables to the 904 LSOAs of those authorities, copies the
LSOA->ward lookup and derives the LSOA->MSOA lookup (checked spatially).
Provenance is recorded in data/README.md.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data"


def main(shared: Path) -> None:
    gpkg = shared / "boundaries" / "north_east_and_medway.gpkg"
    shutil.copyfile(gpkg, OUT / "boundaries" / "north_east_and_medway.gpkg")
    lsoa = gpd.read_file(gpkg, layer="lsoa")
    msoa = gpd.read_file(gpkg, layer="msoa")
    codes = set(lsoa["code"])

    pop = pd.read_csv(shared / "population" / "lsoa_population.csv", dtype={"lsoa_code": str})
    pop = pop[pop["lsoa_code"].isin(codes)].sort_values("lsoa_code")
    assert len(pop) == len(codes), "population does not cover every shipped LSOA"
    pop.to_csv(OUT / "population" / "lsoa_population_mid2019.csv", index=False)

    imd = pd.read_csv(shared / "deprivation" / "imd2019_lsoa.csv", dtype={"lsoa_code": str})
    imd = imd[imd["lsoa_code"].isin(codes)].sort_values("lsoa_code")
    assert len(imd) == len(codes), "IMD does not cover every shipped LSOA"
    imd.to_csv(OUT / "deprivation" / "imd2019_lsoa.csv", index=False)

    shutil.copyfile(shared / "lookups" / "lsoa_to_ward.csv", OUT / "lookups" / "lsoa_to_ward.csv")

    # ONS nests LSOAs in MSOAs by name ("County Durham 015A" -> "County Durham 015");
    # confirm each by containment of the LSOA's representative point.
    by_name = dict(zip(msoa["name"], msoa["code"]))
    lk = pd.DataFrame({"lsoa_code": lsoa["code"], "lsoa_name": lsoa["name"]})
    lk["msoa_name"] = lk["lsoa_name"].str[:-1]
    lk["msoa_code"] = lk["msoa_name"].map(by_name)
    pts = gpd.GeoDataFrame(lk[["lsoa_code"]], geometry=lsoa.representative_point(), crs=lsoa.crs)
    joined = gpd.sjoin(pts, msoa[["code", "geometry"]], predicate="within")
    spatial = dict(zip(joined["lsoa_code"], joined["code"]))
    mismatch = lk[lk["lsoa_code"].map(spatial) != lk["msoa_code"]]
    assert lk["msoa_code"].notna().all() and mismatch.empty, mismatch
    lk["lad_code"] = lsoa["lad_code"].values
    lk["method"] = "name_nesting_checked_by_point_in_polygon"
    lk.sort_values("lsoa_code").to_csv(OUT / "lookups" / "lsoa_to_msoa.csv", index=False)
    print("data/ rebuilt from", shared)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
