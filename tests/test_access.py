"""Known-answer tests of need against provision (analysis.access): distances, centres, high need, bands.

Distances are straight-line km in British National Grid metres / 1000 (not travel time); the tiny
fixtures use 3-4-5 triangles so every answer can be checked with a pencil.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from analysis import access as ac
from geo.schema import AREA_CODE, CODE, RATE_PER_1000, AtlasError


def _services(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """(name, type, easting, northing) rows as ingest.services gives them."""
    t = pd.DataFrame(rows, columns=["service_name", "service_type", "easting", "northing"])
    return t.assign(type_key=t["service_type"].str.casefold())


def _centres(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[CODE, ac.CENTRE_X, ac.CENTRE_Y])


CENTRES = _centres([("A", 0.0, 0.0), ("B", 3000.0, 4000.0)])
SERVICES = _services([("R1", "Refuge", 0.0, 1000.0), ("O1", "Outreach", 6000.0, 8000.0)])


def test_distances_by_hand():
    near = ac.nearest_by_type(CENTRES, SERVICES).set_index([CODE, "service_type"])
    # A (0,0): refuge at (0,1000) is 1 km; outreach at (6000,8000) is a 6-8-10 triangle: 10 km.
    assert near.loc[("A", "Refuge"), "distance_km"] == pytest.approx(1.0)
    assert near.loc[("A", "Outreach"), "distance_km"] == pytest.approx(10.0)
    # B (3000,4000): outreach 3-4-5: 5 km; refuge (3000, 3000) away: 3 x sqrt(2) = 4.2426 km.
    assert near.loc[("B", "Outreach"), "distance_km"] == pytest.approx(5.0)
    assert near.loc[("B", "Refuge"), "distance_km"] == pytest.approx(3 * 2 ** 0.5)
    # Any type: the nearer of the two, with its name and type.
    assert near.loc[("A", "any")].tolist() == [pytest.approx(1.0), "R1", "Refuge"]
    assert near.loc[("B", "any")].tolist() == [pytest.approx(3 * 2 ** 0.5), "R1", "Refuge"]
    # Types in normalised order, then "any".
    assert near.reset_index()["service_type"].drop_duplicates().tolist() == ["Outreach", "Refuge", "any"]


def test_nearest_equals_brute_force_numpy():
    rng = np.random.default_rng(7)
    centres = _centres([(f"C{i}", *xy) for i, xy in enumerate(rng.uniform(400_000, 460_000, (300, 2)))])
    kinds = np.array(["Refuge", "IDVA", "Outreach"])[rng.integers(0, 3, 60)]
    svc = _services([(f"S{i}", k, *xy) for i, (k, xy) in enumerate(zip(kinds, rng.uniform(400_000, 460_000, (60, 2))))])
    near = ac.nearest_by_type(centres, svc)
    xy = centres[[ac.CENTRE_X, ac.CENTRE_Y]].to_numpy()
    for kind in [*np.unique(kinds), "any"]:
        sub = svc if kind == "any" else svc[svc["service_type"] == kind]
        d = np.hypot(xy[:, None, 0] - sub["easting"].to_numpy()[None, :],
                     xy[:, None, 1] - sub["northing"].to_numpy()[None, :])
        got = near[near["service_type"] == kind]
        np.testing.assert_allclose(got["distance_km"].to_numpy(), d.min(axis=1) / 1000, rtol=1e-12)
        assert got["nearest_name"].tolist() == sub["service_name"].to_numpy()[d.argmin(axis=1)].tolist()


def test_services_at_the_same_point_go_to_the_first_listed():
    svc = _services([("second in space, first in file", "Refuge", 500.0, 0.0), ("B", "Refuge", 0.0, 100.0),
                     ("C", "Refuge", 0.0, 100.0)])
    near = ac.nearest_by_type(_centres([("A", 0.0, 0.0)]), svc)
    assert near["nearest_name"].tolist() == ["B", "B"]  # B and C tie exactly: the file's order decides


def test_centres_without_a_location_get_blank_distances():
    near = ac.nearest_by_type(_centres([("A", np.nan, 0.0)]), SERVICES)
    assert near["distance_km"].isna().all() and near["nearest_name"].isna().all()


def test_population_weighted_centre_by_hand_tiny():
    pts = _centres([("L1", 0.0, 0.0), ("L2", 1000.0, 0.0), ("L3", 0.0, 3000.0), ("L4", 10.0, 10.0)])
    pop = pd.Series({"L1": 300.0, "L2": 100.0, "L3": 0.0, "L4": np.nan})
    parents = pd.Series({"L1": "W1", "L2": "W1", "L3": "W2", "L4": "W2"})
    out = ac.population_weighted_centres(pts, pop, parents).set_index(CODE)
    # W1: (300 x 0 + 100 x 1000) / 400 = 250 m east, 0 north.
    assert out.loc["W1", [ac.CENTRE_X, ac.CENTRE_Y]].tolist() == [250.0, 0.0]
    assert out.loc["W1", ac.CENTRE_POPULATION] == 400.0
    # W2: no population at all -> the plain mean of its LSOA points, (5, 1505).
    assert out.loc["W2", [ac.CENTRE_X, ac.CENTRE_Y]].tolist() == [5.0, 1505.0]
    # Without parents each LSOA is its own centre.
    same = ac.population_weighted_centres(pts, pop).set_index(CODE)
    assert same.loc["L3", [ac.CENTRE_X, ac.CENTRE_Y]].tolist() == [0.0, 3000.0]


def test_population_weighted_centres_of_shipped_wards_by_hand():
    """Real LSOAs: representative points (shapely point_on_surface) and ONS mid-2019 residents (shipped file).

    Middlehaven ward (E05001497, Middlesbrough): LSOA E01012068 (Middlesbrough 001A, 2,726 residents) at
    (449637.312, 520133.105) and E01033468 (001G, 2,998) at (449282.143, 520835.316). Weight of 001A =
    2726 / 5724 = 0.47624; x = 449282.143 + 0.47624 x 355.169 = 449451.289; y = 520835.316 - 0.47624 x
    702.211 = 520500.895. Bank Top ward (E05001553, Darlington): E01012304 (1,043) at (429795.693,
    514309.754), E01012305 (1,175) at (429735.904, 513981.000), E01012306 (1,491) at (430303.953,
    514033.616): x = (1043 x 429795.693 + 1175 x 429735.904 + 1491 x 430303.953) / 3709 = 429981.070,
    y = 514094.600.
    """
    from atlas.cli_services import area_centres
    from boundaries.load import load_areas

    lsoa = load_areas("lsoa")
    pts = ac.representative_points(lsoa[lsoa[CODE].isin(["E01012068", "E01033468", "E01012304"])]).set_index(CODE)
    assert pts.loc["E01012068"].tolist() == pytest.approx([449637.312, 520133.105], abs=1e-3)
    assert pts.loc["E01033468"].tolist() == pytest.approx([449282.143, 520835.316], abs=1e-3)
    assert pts.loc["E01012304"].tolist() == pytest.approx([429795.693, 514309.754], abs=1e-3)
    inside = lsoa.set_index(CODE).geometry.loc[pts.index]
    assert shapely.contains_xy(inside.to_numpy(), pts[ac.CENTRE_X].to_numpy(), pts[ac.CENTRE_Y].to_numpy()).all()

    centres, note = area_centres("ward", "ons2011-ne-medway")
    centres = centres.set_index(CODE)
    assert "population-weighted" in note
    assert centres.loc["E05001497", [ac.CENTRE_X, ac.CENTRE_Y]].tolist() == pytest.approx([449451.289, 520500.895],
                                                                                          abs=1e-3)
    assert centres.loc["E05001497", ac.CENTRE_POPULATION] == 5724
    assert centres.loc["E05001553", [ac.CENTRE_X, ac.CENTRE_Y]].tolist() == pytest.approx([429981.070, 514094.600],
                                                                                          abs=1e-3)
    assert centres.loc["E05001553", ac.CENTRE_POPULATION] == 3709
    # An LSOA's centre is its own representative point.
    lsoa_centres, lsoa_note = area_centres("lsoa", "ons2011-ne-medway", ("E06000002",))
    got = lsoa_centres.set_index(CODE).loc["E01012068", [ac.CENTRE_X, ac.CENTRE_Y]].tolist()
    assert got == pytest.approx([449637.312, 520133.105], abs=1e-3) and "representative point" in lsoa_note


def test_high_need_is_the_top_fifth_with_ties_at_the_cut():
    rank, flag = ac.high_need([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    assert flag.tolist() == [True, True] + [False] * 8  # 0.2 x 10 = 2 areas, not 3 (float rounding)
    assert rank.tolist() == list(range(1, 11))
    rank, flag = ac.high_need([5, 9, 9, 1, np.nan, 2, 3])  # 6 rated: ceil(1.2) = 2; 9 and 9 tie at rank 1
    assert flag.tolist() == [False, True, True, False, False, False, False]
    assert np.isnan(rank[4])
    _, flag = ac.high_need([9, 8, 8, 1, 0], share=0.4)  # 2 areas, but 8 and 8 tie at the cut: both in
    assert flag.tolist() == [True, True, True, False, False]
    for bad in (0, -0.1, 1.5):
        with pytest.raises(AtlasError, match="high-need share"):
            ac.high_need([1, 2], share=bad)


def test_need_table_ranks_high_need_areas_furthest_first():
    centres = _centres([("A", 0.0, 0.0), ("B", 3000.0, 4000.0), ("C", 0.0, 20_000.0), ("D", 100.0, 100.0),
                        ("E", 0.0, 2000.0)])
    rates = pd.DataFrame({AREA_CODE: ["A", "B", "C", "D", "E", "F"], RATE_PER_1000: [50.0, 40.0, 1.0, 30.0, 2.0, 3.0]})
    out = ac.need_against_provision(rates, centres, SERVICES, share=0.5)
    # 6 areas: top 3 by rate are A, B, D; furthest from any service first: B (4.24), A (1.0), D (0.906).
    assert out[AREA_CODE].tolist() == ["B", "A", "D", "F", "E", "C"]
    assert out[ac.HIGH_NEED].tolist() == [True, True, True, False, False, False]
    assert out[ac.NEED_RANK].tolist() == [2, 1, 3, 4, 5, 6]
    row = out.set_index(AREA_CODE).loc["B"]
    assert row[ac.NEAREST_KM] == pytest.approx(3 * 2 ** 0.5) and row[ac.NEAREST_NAME] == "R1"
    assert row[ac.km_column("Outreach")] == pytest.approx(5.0) and row[ac.km_column("Refuge")] == pytest.approx(4.2426, abs=1e-4)
    assert pd.isna(out.set_index(AREA_CODE).loc["F", ac.NEAREST_KM])  # F has no centre
    assert ac.furthest_high_need(out)[AREA_CODE].tolist() == ["B", "A", "D"]
    assert list(out.columns[-2:]) == [ac.CENTRE_X, ac.CENTRE_Y]
    with pytest.raises(AtlasError, match="no services"):
        ac.need_against_provision(rates, centres, SERVICES.iloc[:0])


def test_rounding_and_publication_bands():
    rates = pd.DataFrame({AREA_CODE: ["A", "B"], RATE_PER_1000: [1.0, 2.0]})
    out = ac.need_against_provision(rates, CENTRES, SERVICES)
    shown = ac.rounded(out).set_index(AREA_CODE)
    assert shown.loc["B", ac.NEAREST_KM] == 4.2 and shown.loc["B", ac.km_column("Outreach")] == 5.0
    published = ac.publication_view(out).set_index(AREA_CODE)
    assert ac.NEAREST_NAME not in published.columns and ac.CENTRE_X not in published.columns
    assert published.loc["A", ac.NEAREST_KM + "_band"] == "<2 km"
    assert published.loc["B", ac.NEAREST_KM + "_band"] == "2–5 km"
    assert published.loc["A", ac.km_column("Outreach") + "_band"] == ">10 km"
    assert published.loc["B", ac.km_column("Outreach") + "_band"] == "5–10 km"  # exactly 5: bands include their lower bound
    assert ac.distance_band([0, 1.99, 2, 4.99, 5, 9.99, 10, np.nan]).fillna("blank").tolist() == [
        "<2 km", "<2 km", "2–5 km", "2–5 km", "5–10 km", "5–10 km", ">10 km", "blank"]


def test_access_module_imports_no_streamlit():
    import subprocess
    import sys

    from geo.schema import PROJECT_ROOT

    code = "import sys, analysis.access; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT).returncode == 0
