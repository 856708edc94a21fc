"""Priority areas page (pages/priority.py) with AppTest on the synthetic demo data.

The page runs on its own with a Frame placed in session state, as app.py leaves it; the last test
goes through app.py and the real sidebar. Expected tables come from atlas.analyses.priority_table.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.priority import PriorityWeights
from atlas.analyses import priority_table
from geo.schema import AREA_CODE, COUNT, PROJECT_ROOT
from views._frame import Frame
from store import Store

PAGE = str(PROJECT_ROOT / "views" / "priority.py")
APP = str(PROJECT_ROOT / "app.py")
TIMEOUT = 60
LATEST, EARLIER = "2024/25", "2023/24"
BRIEFING = "Make briefing pack (PDF) for "


@pytest.fixture
def store(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("ATLAS_STORE", str(demo_store))
    return Store(demo_store)


@pytest.fixture
def frame(demo_dataset, store) -> Frame:
    return Frame(*demo_dataset, True, "ward", "fy", LATEST)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _page(frame: Frame) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["atlas_frame"] = frame
    return _run(at)


def _listed(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def _expected(store: Store, frame: Frame, period: str = LATEST, top_n: int = 10, **weights) -> pd.DataFrame:
    return priority_table(store, frame.dataset, frame.level, frame.grain, period=period,
                          weights=PriorityWeights(**weights), top_n=top_n)


def test_renders_ranked_list_with_reasons_status_and_briefing_button(store, frame):
    at = _page(frame)
    exp = _expected(store, frame)
    shown = _listed(at)
    top = exp.head(10)
    assert shown["Code"].tolist() == top[AREA_CODE].tolist()
    assert shown["Rank"].tolist() == list(range(1, 11))
    np.testing.assert_allclose(shown["Score"], top["score"])
    assert shown["Reasons"].tolist() == top["reasons"].tolist()
    assert shown["Change"].tolist() == top["change_status"].tolist()
    # status counts: listed areas by status, plus areas that dropped off the list under "Easing"
    metrics = {m.label: int(m.value) for m in at.metric}
    dropped = int(((exp["rank"] > 10) & (exp["change_status"] == "easing")).sum())
    assert metrics == {
        "New": int((top["change_status"] == "new").sum()),
        "Escalating": int((top["change_status"] == "escalating").sum()),
        "Easing": int((top["change_status"] == "easing").sum()) + dropped,
        "Steady": int((top["change_status"] == "steady").sum()),
    }
    (button,) = [b for b in at.button if b.label.startswith(BRIEFING)]
    assert not button.disabled
    assert not [d for d in at.get("download_button") if "briefing" in d.proto.label.lower()]  # made only on click


def test_weight_slider_changes_scores_and_ranking(store, frame):
    at = _page(frame)
    before = _listed(at)
    at.slider(key="priority_w_volume").set_value(0.0)
    at.slider(key="priority_w_rate").set_value(5.0)
    after = _listed(_run(at))
    exp = _expected(store, frame, volume=0.0, rate=5.0).head(10)
    np.testing.assert_allclose(after["Score"], exp["score"])
    assert after["Code"].tolist() == exp[AREA_CODE].tolist() != before["Code"].tolist()
    assert not any("of all incidents" in r for r in after["Reasons"])  # volume no longer gives a reason


def test_all_weights_zero_is_a_clear_error(frame):
    at = _page(frame)
    for name in ("rate", "volume", "hotspot", "trend", "deprivation"):
        at.slider(key=f"priority_w_{name}").set_value(0.0)
    _run(at)
    assert any("at least one priority weight must be above 0" in e.value for e in at.error)


def test_list_length_slider(store, frame):
    at = _page(frame)
    at.slider(key="priority_top").set_value(5)
    shown = _listed(_run(at))
    exp = _expected(store, frame, top_n=5)
    assert shown["Code"].tolist() == exp.head(5)[AREA_CODE].tolist()
    assert shown["Change"].tolist() == exp.head(5)["change_status"].tolist()


def test_changing_period_changes_figures(store, frame):
    at = _page(frame)
    at.session_state["atlas_frame"] = replace(frame, period=EARLIER)
    shown = _listed(_run(at))
    exp = _expected(store, frame, period=EARLIER).head(10)
    latest = _expected(store, frame).head(10)
    assert shown["Code"].tolist() == exp[AREA_CODE].tolist()
    assert shown["Incidents"].astype(int).tolist() == exp[COUNT].tolist() != latest[COUNT].tolist()
    assert any(s.value == f"Top 10 ward areas, {EARLIER}" for s in at.subheader)


def test_download_names_the_mode_and_holds_every_area(store, frame, downloads):
    _page(frame)
    name = "priority_ward_2024-25_unsuppressed.csv"
    csv = pd.read_csv(io.BytesIO(downloads[name]))
    exp = _expected(store, frame)
    assert csv[AREA_CODE].tolist() == exp[AREA_CODE].tolist()
    np.testing.assert_allclose(csv["score"], exp["score"])


def test_publication_mode_suppresses_small_counts(store, demo_dataset, downloads):
    """One category at LSOA level: small counts reach the list, and are shown as "<5" with blank figures."""
    category = "Criminal damage and arson"
    frame = Frame(*demo_dataset, True, "lsoa", "fy", LATEST, category=category, publication=True)
    # publication mode ranks on perturbed counts (analysis.perturbation) and hides 0-4
    full = priority_table(store.for_publication(), frame.dataset, "lsoa", "fy", period=LATEST, category=category)
    exp = full.head(10)
    small = exp[COUNT].between(0, 4)
    assert small.any() and (~small).any()
    at = _page(frame)
    shown = _listed(at)
    assert shown["Code"].tolist() == exp[AREA_CODE].tolist()
    assert (shown.loc[small.to_numpy(), "Incidents"] == "<5").all()
    assert shown.loc[small.to_numpy(), ["Rate per 1,000", "Rate ratio"]].isna().all().all()
    assert shown.loc[small.to_numpy(), "Reasons"].isna().all()
    big = ~small.to_numpy()
    assert shown.loc[big, "Incidents"].tolist() == exp.loc[big, COUNT].astype(str).tolist()
    np.testing.assert_allclose(shown.loc[big, "Rate per 1,000"].astype(float), exp.loc[big, "rate_per_1000"])
    assert shown.loc[big, "Reasons"].tolist() == exp.loc[big, "reasons"].tolist()
    # The ranking itself is unchanged; a score is shown only where neither count it uses is hidden (its
    # volume and trend components give a count back: atlas.publication).
    scored = (~small & ~exp["count_last_year"].between(0, 4)).to_numpy()
    assert scored.any() and (~scored & big).any()
    np.testing.assert_allclose(shown.loc[scored, "Score"].astype(float), exp.loc[scored, "score"])
    assert shown.loc[~scored, "Score"].isna().all()
    raw = pd.read_csv(io.BytesIO(downloads["priority_lsoa_2024-25_publication.csv"]), dtype={COUNT: str})
    assert (raw[COUNT] == "<5").sum() == full[COUNT].between(0, 4).sum()
    assert raw.loc[raw[COUNT] == "<5", "reasons"].isna().all()
    assert any("Publication mode" in c.value for c in at.caption)


def test_briefing_button_offers_the_pdf_of_the_chosen_authority(frame, downloads):
    """No area filter: the user picks the authority; one click makes the pack, offered with the mode in its name."""
    at = _page(frame)
    at.selectbox(key="priority_briefing_lad").set_value("E06000005")
    _run(at)
    (button,) = [b for b in at.button if b.label.startswith(BRIEFING)]
    assert button.label.endswith("Darlington")
    button.click()
    _run(at)
    name = "briefing_E06000005_ward_2024-25_unsuppressed.pdf"
    assert downloads[name][:5] == b"%PDF-"
    (made,) = [d for d in at.get("download_button") if d.proto.label == "Download briefing pack (PDF)"]
    wanted, pdf = at.session_state["priority_briefing_pdf"]
    assert pdf == downloads[name] and wanted[2:] == ("E06000005", LATEST, False)
    assert any("Not suppressed" in c.value for c in at.caption)
    # another period: the old pack is no longer offered until asked for again
    at.session_state["atlas_frame"] = replace(frame, period=EARLIER)
    _run(at)
    assert not [d for d in at.get("download_button") if d.proto.label == "Download briefing pack (PDF)"]


def test_briefing_in_publication_mode_uses_the_area_filter(demo_dataset, store, downloads):
    frame = Frame(*demo_dataset, True, "ward", "fy", LATEST, area_filter="E06000047",
                  publication=True)
    at = _page(frame)
    assert not at.error, [e.value for e in at.error]
    assert not [s for s in at.selectbox if s.key == "priority_briefing_lad"]  # the sidebar's authority is used
    [b for b in at.button if b.label.startswith(BRIEFING)][0].click()
    _run(at)
    pdf = downloads["briefing_E06000047_ward_2024-25_publication.pdf"]
    from test_briefing import pdf_text

    assert pdf.startswith(b"%PDF-")
    assert "Publication mode" in pdf_text(pdf) and "Unsuppressed" not in pdf_text(pdf)


def test_through_the_app_sidebar():
    """The real frame: a link asking for localities, then the Priority page."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["level"] = "locality"
    _run(at)
    at.switch_page(PAGE)
    _run(at)
    assert [h.value for h in at.header] == ["Priority areas"]
    assert any(s.value.startswith("Top 10 locality areas") for s in at.subheader)
    assert len(_listed(at)) == 10
