"""Services and need page: the figures shown equal atlas.cli_services.services_for's, in normal and publication mode.

Publication mode shows distances only in bands, no service markers, names or raw rejected cells. The test
runs the shared sidebar (views._frame.render_frame) and then the page script, as app.py does.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import access as ac
from geo.schema import AREA_CODE

HOSTILE = ('name,type,easting,northing\n'
           '"<img src=x onerror=alert(1)>`${alert(2)}`",Refuge,427000,542000\n'
           '"=HYPERLINK(""http://x"",""y"")",</script><b>IDVA</b>,428000,520000\n'
           'no type,,427000,542000\n'
           'bad,Outreach,12a,542000\n')


def _app() -> None:
    import runpy

    from geo.schema import PROJECT_ROOT
    from views._frame import render_frame

    render_frame()
    runpy.run_path(str(PROJECT_ROOT / "views" / "services.py"), run_name="__main__")


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture
def page(demo_store: Path, atlas_home: Path) -> AppTest:
    shutil.copy(demo_store, atlas_home / "atlas.duckdb")
    return run(AppTest.from_function(_app, default_timeout=90))


def _map_args(at: AppTest) -> dict:
    (component,) = [c for c in at.get("component_instance") if c.proto.component_name.endswith("st_folium")]
    return json.loads(component.proto.json_args)


def _expected(at: AppTest, share: float = ac.HIGH_NEED_SHARE, publication: bool = False) -> pd.DataFrame:
    from atlas.cli_services import services_for
    from demo.services import demo_services_path
    from ingest.services import read_services
    from store import Store

    (name,) = Store().datasets()["name"].tolist()
    period = at.selectbox(key="frame_period").value
    store = Store().for_publication() if publication else Store()  # publication mode reads perturbed counts
    return services_for(store, name, read_services(demo_services_path()).services, "ward", "fy", period,
                        share=share)


def _table(at: AppTest, starts: str) -> pd.DataFrame:
    """The dataframe under the subheader starting with ``starts``."""
    heads = [h.value for h in at.subheader]
    return at.dataframe[[i for i, h in enumerate(heads) if h.startswith(starts)][0]].value


def test_demo_services_values_markers_and_captions(page: AppTest):
    assert page.header[0].value == "Services and need"
    assert page.checkbox(key="services_use_demo").value is True
    table = _expected(page)
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Services accepted"] == "26" and metrics["Rows rejected"] == "0"
    n_high = int(table[ac.HIGH_NEED].sum())
    assert metrics["High-need areas (top 20% by rate)"] == f"{n_high} of {len(table)}"
    high = ac.furthest_high_need(table)
    assert metrics["Furthest high-need area from any service"] == f"{high[ac.NEAREST_KM].iloc[0]:.1f} km"

    shown = _table(page, "High-need areas furthest")
    assert shown["Code"].tolist() == high[AREA_CODE].head(15).tolist()
    assert shown["Nearest service (km, straight line)"].tolist() == high[ac.NEAREST_KM].head(15).round(1).tolist()
    assert shown["Nearest service"].tolist() == high[ac.NEAREST_NAME].head(15).tolist()
    per_type = _table(page, "Nearest service of each type")
    assert per_type["Code"].tolist() == table[AREA_CODE].tolist()
    assert per_type["Refuge (km)"].tolist() == table[ac.km_column("Refuge")].round(1).tolist()
    assert per_type["Any service (km)"].tolist() == table[ac.NEAREST_KM].round(1).tolist()

    captions = " ".join(c.value for c in page.caption)
    assert "Straight-line distance, not travel time" in captions
    assert "it is not saved" in captions and "Synthetic demo services" in captions
    args = _map_args(page)
    script = args["feature_group"] + args["script"] + args["header"]
    assert script.count("L.circleMarker(") == 26  # one per service, drawn by Leaflet: no icon images
    assert "L.marker(" not in script and "L.icon" not in script
    assert not re.search(r"https?://", script), "offline: no remote URL in the map"


def test_publication_mode_bands_and_no_markers(page: AppTest):
    page.toggle(key="frame_publication").set_value(True)
    run(page)
    table = _expected(page, publication=True)
    shown = _table(page, "High-need areas furthest")
    bands = {label for _, label in ac.DISTANCE_BANDS}
    assert set(shown["Nearest service (km, straight line)"]) <= bands
    assert "Nearest service" not in shown.columns  # no service names
    per_type = _table(page, "Nearest service of each type")
    for col in [c for c in per_type.columns if c.endswith("(km)")]:
        assert set(per_type[col].dropna()) <= bands, col
    assert per_type["Any service (km)"].tolist() == ac.distance_band(table[ac.NEAREST_KM]).tolist()
    metric = {m.label: m.value for m in page.metric}["Furthest high-need area from any service"]
    assert metric in bands
    args = _map_args(page)
    assert "circleMarker" not in args["feature_group"] + args["script"]
    assert not re.search(r"\d+\.\d+ km", " ".join(c.value for c in page.caption))  # no exact distance in text
    page.radio(key="services_measure").set_value("distance")
    run(page)
    assert "circleMarker" not in _map_args(page)["feature_group"]
    assert any("service locations are not shown" in c.value for c in page.caption)


def test_uploaded_file_names_are_text_and_rejected_rows_download(page: AppTest, downloads):
    page.file_uploader(key="services_file").set_value(("my services.csv", HOSTILE.encode(), "text/csv"))
    run(page)
    metrics = {m.label: m.value for m in page.metric}
    assert (metrics["Rows read"], metrics["Services accepted"], metrics["Rows rejected"]) == ("4", "2", "2")
    script = _map_args(page)["feature_group"]
    assert script.count("L.circleMarker(") == 2
    # Tooltip texts escaped for HTML and for folium's JavaScript template literal.
    assert "<img" not in script and "</script>" not in script and "${" not in script
    assert "&lt;img src=x onerror=alert(1)&gt;&#96;&#36;{alert(2)}&#96;" in script
    names = set(_table(page, "High-need areas furthest")["Nearest service"])
    assert names and names <= {"<img src=x onerror=alert(1)>`${alert(2)}`", '=HYPERLINK("http://x","y")'}  # as typed
    assert "</script><b>IDVA</b> (km)" in _table(page, "Nearest service of each type").columns
    rejected = _table(page, "2 rejected rows")
    assert rejected["Row"].tolist() == [4, 5]
    assert rejected["Problem"].tolist() == ["missing service type", "coordinates are not numbers"]
    data = downloads["services_rejected_rows.csv"].decode("utf-8")
    assert "my services.csv, row 4: missing service type" in data
    table = downloads[next(n for n in downloads if n and n.startswith("services_need_"))].decode("utf-8")
    assert "'=HYPERLINK" in table and ",=HYPERLINK" not in table  # the nearest name, neutralised
    # In publication mode the raw cells (coordinates) of rejected rows are hidden.
    page.toggle(key="frame_publication").set_value(True)
    run(page)
    assert list(_table(page, "2 rejected rows").columns) == ["Row", "Problem"]


def test_a_file_with_no_usable_row_says_so(page: AppTest):
    page.file_uploader(key="services_file").set_value(("none.csv", b"type,easting,northing\n,1,1\n", "text/csv"))
    page.run()
    assert any("No row of none.csv could be used" in e.value for e in page.error)
    assert _table(page, "1 rejected rows")["Problem"].tolist() == ["missing service type"]


def test_a_file_that_cannot_be_read_is_an_error_not_a_crash(page: AppTest):
    page.file_uploader(key="services_file").set_value(("x.csv", b"a,b\n1,2\n", "text/csv"))
    page.run()
    assert not page.exception
    assert any("no service type column" in e.value for e in page.error)
