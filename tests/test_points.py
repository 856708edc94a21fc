"""geo.points.assign_points_to_areas on the shipped LSOAs: correctness, tie rule, CRS handling."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from boundaries.load import load_areas
from geo.points import assign_points_to_areas, to_crs_xy
from geo.schema import BNG, WGS84


@pytest.fixture(scope="module")
def darlington() -> gpd.GeoDataFrame:
    lsoa = load_areas("lsoa")
    return lsoa[lsoa["lad_code"] == "E06000005"].reset_index(drop=True)


def shared_segment(areas: gpd.GeoDataFrame) -> tuple[str, str, np.ndarray, np.ndarray]:
    """Two neighbouring areas and a segment (two consecutive vertices) on both boundaries."""
    geoms = areas.geometry.to_numpy()
    for i in range(len(areas)):
        ring_i = shapely.get_coordinates(geoms[i])
        set_i = {tuple(c) for c in ring_i}
        for j in range(i + 1, len(areas)):
            set_j = {tuple(c) for c in shapely.get_coordinates(geoms[j])}
            for a, b in zip(ring_i[:-1], ring_i[1:]):
                if tuple(a) in set_j and tuple(b) in set_j and tuple(a) != tuple(b) and tuple(a) in set_i:
                    seg = shapely.linestrings([a, b])
                    if shapely.covers(geoms[j].boundary, seg):
                        return areas.loc[i, "code"], areas.loc[j, "code"], a, b
    raise AssertionError("no shared edge found")


def test_interior_points_get_their_area_in_any_input_order(darlington: gpd.GeoDataFrame) -> None:
    pts = darlington.geometry.representative_point()
    got = assign_points_to_areas(pts.x.to_numpy(), pts.y.to_numpy(), darlington)
    assert got.tolist() == darlington["code"].tolist()
    shuffled = darlington.sample(frac=1, random_state=3)
    got2 = assign_points_to_areas(pts.x.to_numpy(), pts.y.to_numpy(), shuffled)
    assert got2.tolist() == got.tolist()


def test_points_outside_or_not_finite_are_none(darlington: gpd.GeoDataFrame) -> None:
    got = assign_points_to_areas([0.0, np.nan, 700000.0], [0.0, 500000.0, np.inf], darlington)
    assert got.tolist() == [None, None, None]


def test_empty_input_gives_empty_output(darlington: gpd.GeoDataFrame) -> None:
    assert len(assign_points_to_areas([], [], darlington)) == 0


def test_shared_vertex_goes_to_the_lowest_code_once(darlington: gpd.GeoDataFrame) -> None:
    a, b, v, _ = shared_segment(darlington)
    touching = darlington[darlington.geometry.intersects(shapely.Point(v))]["code"]
    assert len(touching) >= 2  # the vertex really is on both boundaries
    got = assign_points_to_areas([v[0]], [v[1]], darlington)
    assert got.tolist() == [min(touching)]
    # Reordering the areas must not change the winner.
    got_rev = assign_points_to_areas([v[0]], [v[1]], darlington.iloc[::-1])
    assert got_rev.tolist() == [min(touching)]


def test_point_on_shared_edge_is_counted_exactly_once(darlington: gpd.GeoDataFrame) -> None:
    a, b, v, w = shared_segment(darlington)
    mid = (v + w) / 2
    got = assign_points_to_areas([mid[0]], [mid[1]], darlington)
    assert got[0] in {a, b}
    hits = darlington.geometry.intersects(shapely.Point(mid)).sum()
    if hits == 2:  # exactly on the line in floating point: the tie rule applies
        assert got[0] == min(a, b)


def test_wgs84_input_is_reprojected(darlington: gpd.GeoDataFrame) -> None:
    pts = darlington.geometry.representative_point()
    lon, lat = to_crs_xy(pts.x.to_numpy(), pts.y.to_numpy(), BNG, WGS84)
    assert np.all((lon > -2) & (lon < -1) & (lat > 54) & (lat < 55))
    got = assign_points_to_areas(lon, lat, darlington, crs=WGS84)
    assert got.tolist() == darlington["code"].tolist()


def test_agrees_with_geopandas_sjoin_on_random_points(darlington: gpd.GeoDataFrame) -> None:
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = darlington.total_bounds
    x = rng.uniform(minx - 1000, maxx + 1000, 3000)
    y = rng.uniform(miny - 1000, maxy + 1000, 3000)
    got = assign_points_to_areas(x, y, darlington)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=BNG)
    joined = gpd.sjoin(pts, darlington[["code", "geometry"]], predicate="intersects", how="left")
    expected = joined.groupby(level=0)["code"].min().reindex(range(len(x)))
    assert [g if g is not None else None for g in got] == [e if isinstance(e, str) else None for e in expected]
    assert 1000 < sum(g is not None for g in got) < 3000


def test_rejects_mismatched_inputs(darlington: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="equal length"):
        assign_points_to_areas([1.0, 2.0], [1.0], darlington)


def test_every_polygon_vertex_is_assigned_to_the_lowest_touching_code(darlington: gpd.GeoDataFrame) -> None:
    # Vertices lie exactly on boundaries (and on bounding-box edges): the hardest case for binning.
    xy = np.unique(shapely.get_coordinates(darlington.geometry.to_numpy()), axis=0)
    got = assign_points_to_areas(xy[:, 0], xy[:, 1], darlington)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=BNG)
    joined = gpd.sjoin(pts, darlington[["code", "geometry"]], predicate="intersects", how="left")
    expected = joined.groupby(level=0)["code"].min().reindex(range(len(xy)))
    assert expected.notna().all()
    assert got.tolist() == expected.tolist()
