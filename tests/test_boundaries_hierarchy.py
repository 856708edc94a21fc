"""LSOA lookups, parent maps, localities and population roll-ups for the shipped set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from boundaries.hierarchy import (
    LOOKUP_COLUMNS,
    load_localities,
    locality_code,
    localities_path,
    lsoa_lookup,
    parent_map,
    reset_localities,
    set_localities,
    ward_localities,
)
from boundaries.load import load_areas
from boundaries.population import POPULATION_COLUMNS, imd_table, population_table
from geo.schema import AtlasError, InputError, data_dir

DURHAM = "E06000047"
DARLINGTON = "E06000005"
EXAMPLE_CSV = data_dir() / "localities" / "county_durham_example_localities.csv"

# How the shipped example CSV was built: each County Durham ward goes to the nearest of these approximate
# town centres (British National Grid metres) by its representative point.
EXAMPLE_TOWNS = [
    ("Durham City", 427400, 542300, "Durham City (example)"),
    ("Chester-le-Street", 427500, 551300, "Chester-le-Street (example)"),
    ("Consett", 410500, 551000, "Consett and Derwentside (example)"),
    ("Stanley", 419500, 552500, "Stanley (example)"),
    ("Seaham", 442000, 549500, "Seaham (example)"),
    ("Peterlee", 443000, 540700, "Peterlee and Easington (example)"),
    ("Bishop Auckland", 421300, 529300, "Bishop Auckland and Shildon (example)"),
    ("Shildon", 423300, 526100, "Bishop Auckland and Shildon (example)"),
    ("Spennymoor", 425500, 533600, "Spennymoor and Ferryhill (example)"),
    ("Sedgefield", 435600, 528700, "Sedgefield (example)"),
    ("Newton Aycliffe", 427400, 524300, "Newton Aycliffe (example)"),
    ("Crook", 416500, 535600, "Crook and Weardale (example)"),
    ("Stanhope", 399600, 539300, "Crook and Weardale (example)"),
    ("Barnard Castle", 405000, 516500, "Teesdale (example)"),
]

# Published ONS mid-2019 totals (../shared/data/SOURCES.md).
LAD_POPULATION = {
    "E06000047": 530_094,  # County Durham
    "E06000005": 106_803,  # Darlington
    "E06000001": 93_663,  # Hartlepool
    "E06000002": 140_980,  # Middlesbrough
    "E06000003": 137_150,  # Redcar and Cleveland
    "E06000004": 197_348,  # Stockton-on-Tees
    "E06000035": 278_556,  # Medway
}


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    pd.DataFrame(rows, columns=["ward_code", "locality"]).to_csv(path, index=False)
    return path


# --- LSOA lookup ------------------------------------------------------------------------------------------------


def test_every_lsoa_has_exactly_one_msoa_ward_locality_and_lad():
    lookup = lsoa_lookup()
    lsoa = load_areas("lsoa")
    assert list(lookup.columns) == LOOKUP_COLUMNS
    assert len(lookup) == 904 and lookup["lsoa_code"].is_unique
    assert lookup["lsoa_code"].tolist() == lsoa["code"].tolist()
    assert lookup.notna().all().all()
    # Every parent exists in its layer and every parent area receives at least one LSOA.
    assert set(lookup["msoa_code"]) == set(load_areas("msoa")["code"])
    assert set(lookup["ward_code"]) == set(load_areas("ward")["code"])
    assert set(lookup["locality_code"]) == set(load_areas("locality")["code"])
    assert (lookup["lad_code"].to_numpy() == lsoa["lad_code"].to_numpy()).all()


def test_lsoa_parents_lie_in_the_same_authority():
    lookup = lsoa_lookup()
    msoa_lad = load_areas("msoa").set_index("code")["lad_code"]
    ward_lad = load_areas("ward").set_index("code")["lad_code"]
    assert (lookup["msoa_code"].map(msoa_lad) == lookup["lad_code"]).all()
    assert (lookup["ward_code"].map(ward_lad) == lookup["lad_code"]).all()


def test_msoa_lookup_agrees_with_names():
    """SOURCES.md: the LSOA name minus its final letter is its MSOA's name ("County Durham 015A" in "... 015")."""
    lookup = lsoa_lookup()
    lsoa_names = load_areas("lsoa").set_index("code")["name"]
    msoa_names = load_areas("msoa").set_index("code")["name"]
    assert (lookup["lsoa_code"].map(lsoa_names).str[:-1] == lookup["msoa_code"].map(msoa_names)).all()


# --- parent maps ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "parent"),
    [("lsoa", "msoa"), ("lsoa", "ward"), ("lsoa", "locality"), ("lsoa", "lad"), ("msoa", "lad"),
     ("ward", "locality"), ("ward", "lad"), ("locality", "lad")],
)
def test_parent_map_covers_every_child_with_a_real_parent(child, parent):
    pm = parent_map(child, parent)
    assert pm.index.tolist() == load_areas(child)["code"].tolist()
    assert pm.notna().all()
    assert set(pm) == set(load_areas(parent)["code"])
    assert (pm.index.name, pm.name) == (f"{child}_code", f"{parent}_code")


def test_parent_map_same_level_is_identity():
    pm = parent_map("ward", "ward")
    assert (pm.index == pm.to_numpy()).all() and len(pm) == 191


@pytest.mark.parametrize(("child", "parent"), [("msoa", "ward"), ("ward", "msoa"), ("lad", "lsoa"), ("msoa", "locality"), ("ward", "lsoa")])
def test_impossible_roll_ups_are_refused(child, parent):
    with pytest.raises(AtlasError, match=rf"cannot roll {child} up to {parent}.*do not nest"):
        parent_map(child, parent)


def test_parent_map_counts_match_published_structure():
    assert parent_map("lsoa", "lad").value_counts()[DURHAM] == 324
    assert parent_map("ward", "lad").value_counts()[DURHAM] == 63
    assert parent_map("msoa", "lad").value_counts()[DARLINGTON] == 15


# --- localities -------------------------------------------------------------------------------------------------


def test_locality_code_is_a_deterministic_slug():
    assert locality_code("Durham City (example)") == "LOC-DURHAM-CITY-EXAMPLE"
    assert locality_code("  Chester-le-Street ") == "LOC-CHESTER-LE-STREET"
    assert locality_code("Brancepeth & Willington") == "LOC-BRANCEPETH-WILLINGTON"
    with pytest.raises(AtlasError, match="no letters or digits"):
        locality_code("!!!")


def test_example_localities_group_county_durham_by_nearest_town():
    table = load_localities(EXAMPLE_CSV)
    durham = load_areas("ward", lad_codes=[DURHAM])
    assert sorted(table["ward_code"]) == durham["code"].tolist()  # all 63, each once
    assert table["locality_name"].str.endswith("(example)").all()
    assert table["locality_code"].nunique() == 12
    pts = durham.representative_point()
    towns = np.array([(e, n) for _, e, n, _ in EXAMPLE_TOWNS], dtype=float)
    d2 = (pts.x.to_numpy()[:, None] - towns[:, 0]) ** 2 + (pts.y.to_numpy()[:, None] - towns[:, 1]) ** 2
    nearest = pd.Series(np.array([t[3] for t in EXAMPLE_TOWNS])[d2.argmin(axis=1)], index=durham["code"].to_numpy())
    assert (table.set_index("ward_code")["locality_name"] == nearest.reindex(table["ward_code"]).to_numpy()).all()


def test_unlisted_wards_form_a_locality_named_after_their_authority():
    wl = ward_localities()
    darlington = wl[wl["lad_code"] == DARLINGTON]
    assert len(darlington) == 24
    assert set(darlington["locality_name"]) == {"Darlington"}
    assert set(darlington["locality_code"]) == {"LOC-DARLINGTON"}
    assert load_areas("locality")["code"].str.endswith("EXAMPLE").sum() == 12


def test_locality_polygon_area_equals_sum_of_its_ward_areas():
    wards = load_areas("ward").merge(ward_localities()[["ward_code", "locality_code"]], left_on="code", right_on="ward_code")
    ward_sums = wards.assign(a=wards.area).groupby("locality_code")["a"].sum()
    localities = load_areas("locality").set_index("code")
    np.testing.assert_allclose(localities.area.sort_index().to_numpy(), ward_sums.sort_index().to_numpy(), rtol=1e-6)
    assert localities.loc["LOC-DURHAM-CITY-EXAMPLE", "lad_code"] == DURHAM


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("E05009038", "A"), ("E99999999", "B")], r"unknown ward codes E99999999 in data rows 2"),
        ([("E05009038", "A"), ("E05009050", "B"), ("e05009038 ", "C")], r"wards listed more than once: E05009038 in data rows 1, 3"),
        ([("E05009038", "")], r"blank ward_code or locality in data rows 1"),
        ([("E05009038", "North-East"), ("E05009050", "North East")], r"different locality names give the same code"),
    ],
)
def test_bad_localities_csv_names_the_rows(tmp_path, rows, message):
    path = _write_csv(tmp_path / "loc.csv", rows)
    with pytest.raises(InputError, match=rf"loc\.csv: {message}"):
        load_localities(path)


def test_localities_csv_needs_its_columns(tmp_path):
    path = tmp_path / "loc.csv"
    path.write_text("ward,area\nE05009038,A\n")
    with pytest.raises(InputError, match=r"needs columns ward_code and locality; columns seen: ward, area"):
        load_localities(path)


def test_set_localities_replaces_the_example_and_reset_restores_it(tmp_path, atlas_home):
    darlington = load_areas("ward", lad_codes=[DARLINGTON])["code"].tolist()
    rows = [(c, "Darlington North" if i < 12 else "Darlington South") for i, c in enumerate(darlington)]
    set_localities("ons2011-ne-medway", _write_csv(tmp_path / "mine.csv", rows))
    assert localities_path().parent == atlas_home / "boundaries"
    loc = load_areas("locality")
    # County Durham is no longer listed, so it becomes one locality named after the authority.
    assert {"LOC-DARLINGTON-NORTH", "LOC-DARLINGTON-SOUTH", "LOC-COUNTY-DURHAM"} <= set(loc["code"])
    assert len(loc) == 8
    assert population_table("locality").set_index("code").loc["LOC-COUNTY-DURHAM", "population_total"] == 530_094
    reset_localities()
    assert len(load_areas("locality")) == 18


def test_locality_spanning_authorities_cannot_roll_up_to_lad(tmp_path):
    a_darlington_ward = load_areas("ward", lad_codes=[DARLINGTON])["code"].iloc[0]
    set_localities("ons2011-ne-medway", _write_csv(tmp_path / "span.csv", [("E05009038", "Border"), (a_darlington_ward, "Border")]))
    with pytest.raises(AtlasError, match=r"LOC-BORDER \(County Durham, Darlington\)"):
        parent_map("locality", "lad")
    border = load_areas("locality").set_index("code").loc["LOC-BORDER"]
    assert pd.isna(border["lad_code"])


# --- population and deprivation ---------------------------------------------------------------------------------


def test_lad_population_matches_published_totals():
    pop = population_table("lad").set_index("code")["population_total"]
    assert pop.to_dict() == LAD_POPULATION


@pytest.mark.parametrize("level", ["msoa", "ward", "locality", "lad"])
def test_roll_ups_equal_the_sum_of_their_lsoas(level):
    lsoa = population_table("lsoa")
    lookup = lsoa_lookup().set_index("lsoa_code")
    expected = lsoa.groupby(lsoa["code"].map(lookup[f"{level}_code"]))[POPULATION_COLUMNS].sum()
    got = population_table(level).set_index("code")
    assert list(got.index) == load_areas(level)["code"].tolist()
    pd.testing.assert_frame_equal(got, expected.rename_axis("code"), check_dtype=False)
    assert got["population_total"].sum() == sum(LAD_POPULATION.values())


def test_population_columns_are_consistent():
    pop = population_table("lsoa")
    assert list(pop.columns) == ["code", *POPULATION_COLUMNS]
    assert len(pop) == 904
    assert (pop["population_18_plus"] <= pop["population_16_plus"]).all()
    assert (pop["population_16_plus"] <= pop["population_total"]).all()
    assert (pop["population_16_plus_female"] <= pop["population_16_plus"]).all()


def test_imd_table_has_one_row_per_lsoa():
    imd = imd_table()
    assert list(imd.columns) == ["code", "imd_score", "imd_rank", "imd_decile"]
    assert imd["code"].tolist() == load_areas("lsoa")["code"].tolist()
    assert imd["imd_decile"].between(1, 10).all()
    # Rank 1 = most deprived: scores fall as ranks rise.
    ordered = imd.sort_values("imd_rank")
    assert ordered["imd_score"].is_monotonic_decreasing
