"""Reporting gap page (estimate): the figures shown equal atlas.cli_prevalence.reporting_gap_for's.

The page is not yet in app.py's menu, so the test runs the shared sidebar (views._frame.render_frame)
and then the page script, as app.py does for a registered page.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis import prevalence as pv
from geo.schema import AREA_CODE


def _app() -> None:
    import runpy

    from geo.schema import PROJECT_ROOT
    from views._frame import render_frame

    render_frame()
    runpy.run_path(str(PROJECT_ROOT / "views" / "reporting_gap.py"), run_name="__main__")


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture
def page(demo_store: Path, atlas_home: Path) -> AppTest:
    shutil.copy(demo_store, atlas_home / "atlas.duckdb")
    return run(AppTest.from_function(_app, default_timeout=60))


def test_values_shown_equal_the_analysis_and_say_estimate(page: AppTest):
    from atlas.cli_prevalence import reporting_gap_for
    from store import Store

    (name,) = Store().datasets()["name"].tolist()
    period = page.selectbox(key="frame_period").value
    table = reporting_gap_for(Store(), name, "ward", period)
    assert "estimate" in page.header[0].value.lower()
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Recorded incidents"] == f"{int(table[pv.RECORDED].sum()):,}"
    assert metrics["Expected victims (estimate)"] == f"{table[pv.EXPECTED].sum():,.0f}"
    assert metrics["Recorded per expected, whole area (estimate)"] == f"{table[pv.WHOLE_AREA_RATIO].iloc[0]:.2f}"

    shown = page.dataframe[0].value
    low = pv.lowest_ratio(table, 10)
    assert shown["Code"].tolist() == low[AREA_CODE].tolist()
    assert shown["Recorded per expected (estimate)"].tolist() == low[pv.RATIO].round(3).tolist()
    assert shown["Upper 95% (estimate)"].tolist() == low[pv.RATIO_UPPER].round(3).tolist()
    flags = low[pv.UPPER_BELOW_WHOLE].map({True: "yes", False: "no"}).tolist()
    assert shown["Upper limit below whole area (estimate)"].tolist() == flags
    assert all("estimate" in c.lower() for c in shown.columns if c not in ("Ward", "Code", "Recorded incidents"))
    captions = [c.value for c in page.caption]
    assert any(c.startswith("Legend: Recorded per expected victim (estimate)") for c in captions)
    assert any(c.startswith("Estimate, financial year") for c in captions)


def test_publication_mode_is_refused(page: AppTest):
    page.toggle(key="frame_publication").set_value(True)
    run(page)
    assert any("not available in publication mode" in w.value for w in page.warning)
    assert not page.dataframe
