"""Record imports: location to LSOA, aggregation, repeat flags, ids, coordinate checks, tie rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from boundaries.load import load_areas
from geo.points import to_crs_xy
from geo.schema import BNG, WGS84, InputError
from ingest import read_incident_file
from ingest.report import COUNTS_COLUMNS

TODAY = dt.date(2024, 6, 15)


@pytest.fixture(scope="module")
def places() -> pd.DataFrame:
    """Representative points of five Darlington LSOAs in both coordinate systems."""
    lsoa = load_areas("lsoa")
    d = lsoa[lsoa["lad_code"] == "E06000005"].head(5).reset_index(drop=True)
    pts = d.geometry.representative_point()
    lon, lat = to_crs_xy(pts.x.to_numpy(), pts.y.to_numpy(), BNG, WGS84)
    return pd.DataFrame({"code": d["code"], "e": pts.x.round(2), "n": pts.y.round(2),
                         "lon": np.round(lon, 6), "lat": np.round(lat, 6)})


def write(tmp_path: Path, header: str, rows: list[str], name: str = "records.csv") -> Path:
    p = tmp_path / name
    p.write_bytes((header + "\n" + "\n".join(rows) + "\n").encode("utf-8"))
    return p


def imp(path: Path, **kw):
    kw.setdefault("today", TODAY)
    res = read_incident_file(path, **kw)
    rep = res.report
    assert rep.rows_read == rep.rows_accepted + rep.rows_rejected
    assert int(res.counts["count"].sum()) == rep.rows_accepted  # every accepted record counted once
    assert list(res.counts.columns) == list(COUNTS_COLUMNS)
    return res


def test_lonlat_records_aggregate_to_lsoa_month_category(tmp_path: Path, places: pd.DataFrame) -> None:
    p0, p1 = places.iloc[0], places.iloc[1]
    rows = [
        f"1,2023-04-03,{p0.lon},{p0.lat},DA,Y",
        f"2,2023-04-20,{p0.lon},{p0.lat},DA,no",
        f"3,2023-04-21,{p0.lon},{p0.lat},Stalking,0",
        f"4,2023-05-01,{p1.lon},{p1.lat},DA,TRUE",
        f"5,2023-05-02,{p1.lon},{p1.lat},DA,yes",
    ]
    res = imp(write(tmp_path, "incident_id,date,longitude,latitude,category,repeat_victim", rows))
    assert res.report.kind == "records"
    c = res.counts.set_index(["area_code", "period", "category"])
    assert c.loc[(p0.code, "2023-04", "DA"), "count"] == 2
    assert c.loc[(p0.code, "2023-04", "DA"), "repeat_count"] == 1
    assert c.loc[(p0.code, "2023-04", "Stalking"), "count"] == 1
    assert c.loc[(p0.code, "2023-04", "Stalking"), "repeat_count"] == 0
    assert c.loc[(p1.code, "2023-05", "DA"), "count"] == 2
    assert c.loc[(p1.code, "2023-05", "DA"), "repeat_count"] == 2
    assert set(res.counts["level"]) == {"lsoa"} and set(res.counts["grain"]) == {"month"}


def test_no_coordinates_or_ids_survive(tmp_path: Path, places: pd.DataFrame) -> None:
    p0 = places.iloc[0]
    rows = [f"X-1,2023-04,{p0.e},{p0.n},DA,secret free text"]
    res = imp(write(tmp_path, "Crime Ref,Month,Easting,Northing,Offence,Notes", rows))
    assert res.report.dropped_columns == ["Crime Ref", "Easting", "Northing", "Notes"]
    flat = res.counts.astype(str).to_numpy().ravel().tolist()
    for secret in (str(p0.e), str(p0.n), "X-1", "secret free text"):
        assert secret not in flat
    assert res.counts["category"].tolist() == ["DA"]
    assert res.counts["repeat_count"].isna().all()


def test_easting_northing_preferred_when_both_present(tmp_path: Path, places: pd.DataFrame) -> None:
    p0, p1 = places.iloc[0], places.iloc[1]
    res = imp(write(tmp_path, "date,x,y,lon,lat", [f"2023-01-01,{p0.e},{p0.n},{p1.lon},{p1.lat}"]))
    assert res.counts["area_code"].tolist() == [p0.code]
    assert any("easting/northing used" in n for n in res.report.notes)


def test_point_on_shared_lsoa_edge_is_counted_once_in_the_lowest_code(tmp_path: Path) -> None:
    lsoa = load_areas("lsoa")
    d = lsoa[lsoa["lad_code"] == "E06000005"].reset_index(drop=True)
    a = d.geometry.iloc[0]
    coords = {tuple(c) for c in shapely.get_coordinates(a)}
    for j in range(1, len(d)):
        shared = coords & {tuple(c) for c in shapely.get_coordinates(d.geometry.iloc[j])}
        if shared:
            vx, vy = sorted(shared)[0]
            break
    touching = sorted(lsoa.loc[lsoa.geometry.intersects(shapely.Point(vx, vy)), "code"])
    assert len(touching) >= 2
    res = imp(write(tmp_path, "date,easting,northing", [f"2023-02-01,{float(vx)!r},{float(vy)!r}"]))
    assert res.counts["area_code"].tolist() == [touching[0]]
    assert res.counts["count"].tolist() == [1]


REJECTS = [
    ("1,2023-04,{lon},{lat},DA,Y", None),
    ("2,2023-04,,,DA,Y", "missing coordinates"),
    ("3,2023-04,{lon},,DA,Y", "missing coordinates"),
    ("4,,{lon},{lat},DA,Y", "missing required field"),
    ("5,2023-04,{lon},{lat},,Y", "missing required field"),
    ("6,2023-04,abc,{lat},DA,Y", "unparseable coordinates"),
    ("7,2023-04,{e},{n},DA,Y", "coordinates look like easting/northing in longitude/latitude columns"),
    ("8,2023-04,{lat},{lon},DA,Y", "longitude and latitude look swapped"),
    ("9,2023-04,200,95,DA,Y", "coordinates out of range"),
    ("10,2023-04,-0.1276,51.5072,DA,Y", "point outside the boundaries"),
    ("11,2023-13,{lon},{lat},DA,Y", "invalid month (not 01-12)"),
    ("12,2030-01-01,{lon},{lat},DA,Y", "future date"),
    ("13,2023,{lon},{lat},DA,Y", "period not a date or month"),
    ("14,2023-04,{lon},{lat},DA,maybe", "invalid repeat flag"),
    ("15,2023-04,{lon},{lat},DA,", "invalid repeat flag"),
    ("1,2023-05,{lon},{lat},DA,N", "duplicate key"),
    ("16,03/04/2023,{lon},{lat},DA,N", "ambiguous date"),
    (",2023-04,{lon},{lat},DA,N", None),  # blank ids are never duplicates
    (",2023-04,{lon},{lat},DA,N", None),
]


def test_each_record_rejection_reason(tmp_path: Path, places: pd.DataFrame) -> None:
    p = places.iloc[0]
    rows = [r.format(lon=p.lon, lat=p.lat, e=p.e, n=p.n) for r, _ in REJECTS]
    res = imp(write(tmp_path, "id,month,lon,lat,type,repeat", rows))
    got = dict(zip(res.report.rejected["row_number"], res.report.rejected["reason"]))
    assert got == {i + 1: r for i, (_, r) in enumerate(REJECTS) if r}
    assert res.report.rows_accepted == 3
    assert res.counts["count"].tolist() == [3]
    # Rejected rows keep their original text, coordinates included, for the user to fix.
    assert res.report.rejected.loc[res.report.rejected["reason"] == "unparseable coordinates", "lon"].tolist() == ["abc"]


@pytest.mark.parametrize(
    "row,reason",
    [
        ("2023-04,{lon},{lat}", "coordinates look like longitude/latitude in easting/northing columns"),
        ("2023-04,{n},{e}", "easting and northing look swapped"),
        ("2023-04,-5,100", "coordinates out of range"),
        ("2023-04,530000,180000", "point outside the boundaries"),
    ],
)
def test_easting_northing_checks(tmp_path: Path, places: pd.DataFrame, row: str, reason: str) -> None:
    p = places.iloc[0]
    res = imp(write(tmp_path, "month,easting,northing", [row.format(lon=p.lon, lat=p.lat, e=p.e, n=p.n)]))
    assert res.report.reasons == {reason: 1}
    assert res.report.rejected["row_number"].tolist() == [1]


def test_row_order_irrelevant(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    lsoa = load_areas("lsoa")
    minx, miny, maxx, maxy = lsoa[lsoa["lad_code"] == "E06000005"].total_bounds
    n = 400
    e, nn = rng.uniform(minx, maxx, n).round(1), rng.uniform(miny, maxy, n).round(1)
    months = rng.choice(["2023-01", "2023-02", "2023-03"], n)
    cats = rng.choice(["DA", "Stalking"], n)
    flags = rng.choice(["Y", "N"], n)
    rows = [f"{m},{a},{b},{c},{f}" for m, a, b, c, f in zip(months, e, nn, cats, flags)]
    header = "month,easting,northing,category,repeat"
    r1 = imp(write(tmp_path, header, rows, "a.csv"))
    r2 = imp(write(tmp_path, header, [rows[i] for i in rng.permutation(n)], "b.csv"))
    pd.testing.assert_frame_equal(r1.counts, r2.counts)
    assert r1.report.reasons == r2.report.reasons
    assert r1.report.rows_accepted > 200  # most of Darlington's box is Darlington


def test_records_need_coordinates(tmp_path: Path) -> None:
    p = write(tmp_path, "id,date,category", ["1,2023-01-01,DA"])
    with pytest.raises(InputError, match=r"no coordinates column found for a records file"):
        imp(p, kind="records")
