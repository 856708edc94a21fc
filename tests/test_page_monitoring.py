"""Monitoring page (views/monitoring.py) with AppTest on the synthetic demo data: figures equal spc_table's."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from atlas.analyses import WHOLE_AREA_CODE, spc_table
from geo.schema import AREA_CODE, PROJECT_ROOT
from store import Store
from views._frame import Frame, plain

PAGE = str(PROJECT_ROOT / "views" / "monitoring.py")


@pytest.fixture
def store(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("ATLAS_STORE", str(demo_store))
    return Store(demo_store)


def _page(frame: Frame) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["atlas_frame"] = frame
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_whole_area_figures_and_flagged_areas_match_spc_table(store, demo_dataset):
    at = _page(Frame(*demo_dataset, True, "ward", "month", "2025-03"))
    exp = spc_table(store, demo_dataset[0], "ward", "month")
    whole = exp[exp[AREA_CODE] == WHOLE_AREA_CODE].iloc[-1]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean"] == f"{whole['mean']:,.2f}"
    assert metrics["Upper process limit"] == f"{whole['upper_limit']:,.2f}"
    assert metrics["Lower process limit"] == f"{whole['lower_limit']:,.2f}"
    assert plain(whole["note"]) in " ".join(m.value for m in at.markdown)
    latest = exp.groupby(AREA_CODE, sort=False).tail(1)
    flagged = latest[(latest[AREA_CODE] != WHOLE_AREA_CODE) & latest["special_cause"]]
    assert len(flagged) > 0  # the demo data has some: the table is exercised
    shown = at.dataframe[-1].value  # the last table on the page
    assert sorted(shown["Code"]) == sorted(flagged[AREA_CODE])
    assert shown["Reading"].tolist() == flagged.set_index(AREA_CODE).loc[shown["Code"], "note"].tolist()
    assert any("XmR chart" in c.value for c in at.caption)


def test_one_area_rate_and_target(store, demo_dataset):
    at = _page(Frame(*demo_dataset, True, "ward", "month", "2025-03"))
    exp = spc_table(store, demo_dataset[0], "ward", "month", measure="rate", target=1.0)
    code = exp[AREA_CODE].iloc[-1]
    at.radio(key="spc_measure").set_value("rate")
    at.number_input(key="spc_target").set_value(1.0)
    at.selectbox(key="spc_area").set_value(code)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    row = exp[exp[AREA_CODE] == code].iloc[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean"] == f"{row['mean']:,.2f}"
    assert metrics["Assurance"] == row["assurance"]


def test_fy_grain_frame_charts_months(store, demo_dataset):
    at = _page(Frame(*demo_dataset, True, "ward", "fy", "2024/25"))
    assert at.radio(key="spc_grain").value == "month"
