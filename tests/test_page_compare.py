"""Compare localities page (pages/compare.py) with AppTest on the synthetic demo data.

Most tests run the page script on its own with a Frame placed in session state, as app.py leaves
it; the last one goes through app.py and the real sidebar. Expected figures come from the
atlas.analyses services, called here directly.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from analysis.rates import funnel_limits
from atlas.analyses import rates_table, seed_rates
from geo.schema import AREA_CODE, COUNT, PROJECT_ROOT, RATE_PER_1000
from views._frame import Frame
from store import Store

PAGE = str(PROJECT_ROOT / "views" / "compare.py")
APP = str(PROJECT_ROOT / "app.py")
TIMEOUT = 60
LATEST, EARLIER = "2024/25", "2022/23"


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


def _side(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def _seed(at: AppTest) -> pd.DataFrame:
    return at.dataframe[1].value


def _expected(store: Store, frame: Frame, period: str) -> pd.DataFrame:
    t = rates_table(store, frame.dataset, frame.level, frame.grain, period=period)
    return t.set_index(AREA_CODE)


def test_renders_top_four_by_rate_with_service_figures(store, frame):
    at = _page(frame)
    exp = _expected(store, frame, LATEST)
    top = exp.sort_values(RATE_PER_1000, ascending=False).index[:4].tolist()
    side = _side(at)
    assert at.multiselect(key="compare_areas").value == top
    assert side["Code"].tolist() == top
    np.testing.assert_allclose(side["Incidents"].astype(float), exp.loc[top, COUNT].astype(float))
    np.testing.assert_allclose(side["Rate per 1,000"], exp.loc[top, RATE_PER_1000])
    np.testing.assert_allclose(side["95% lower"], exp.loc[top, "rate_lower_95"])
    assert side["Compared with whole area"].tolist() == exp.loc[top, "compared_to_whole_area"].tolist()
    # share of population: the area's population over the whole selection's
    pop = exp["population"]
    np.testing.assert_allclose(side["Share of population"], (pop / pop.sum()).loc[top])
    np.testing.assert_allclose(side["Repeat share"], (exp["repeat_count"] / exp[COUNT]).loc[top].astype(float))
    whole = exp["whole_area_rate"].iloc[0]
    assert any(c.value.startswith(f"Whole area: {whole:.1f} per 1,000 in {LATEST}") for c in at.caption)


def test_changing_selection_changes_rows(store, frame):
    at = _page(frame)
    exp = _expected(store, frame, LATEST)
    picks = exp.sort_values(RATE_PER_1000).index[:3].tolist()  # the three lowest rates: not in the default
    at.multiselect(key="compare_areas").set_value(picks)
    side = _side(_run(at))
    assert side["Code"].tolist() == picks
    assert side["Incidents"].astype(int).tolist() == exp.loc[picks, COUNT].astype(int).tolist()
    # the time series chart follows the selection (plus the whole-area line)
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["color"]["sort"] == [*exp.loc[picks, "area_name"].tolist(), "Whole area"]


def test_one_area_asks_for_another(frame):
    at = _page(frame)
    at.multiselect(key="compare_areas").set_value([at.multiselect(key="compare_areas").value[0]])
    _run(at)
    assert any("at least two" in i.value for i in at.info)
    assert not at.dataframe


def test_changing_period_changes_figures(store, frame):
    at = _page(frame)
    chosen = at.multiselect(key="compare_areas").value
    before = _side(at)["Incidents"].astype(int).tolist()
    at.session_state["atlas_frame"] = replace(frame, period=EARLIER)
    side = _side(_run(at))
    assert at.multiselect(key="compare_areas").value == chosen  # the choice survives a period change
    expected = _expected(store, frame, EARLIER).loc[chosen, COUNT].astype(int).tolist()
    assert side["Incidents"].astype(int).tolist() == expected != before


def test_category_and_denominator_follow_the_frame(store, frame):
    at = _page(frame)
    chosen = at.multiselect(key="compare_areas").value
    category = "Stalking and harassment"
    at.session_state["atlas_frame"] = replace(frame, category=category, denominator="female16plus")
    side = _side(_run(at))
    exp = rates_table(store, frame.dataset, "ward", "fy", period=LATEST, category=category,
                      denominator="female16plus").set_index(AREA_CODE).loc[chosen]
    assert side["Incidents"].astype(int).tolist() == exp[COUNT].astype(int).tolist()
    np.testing.assert_allclose(side["Rate per 1,000"], exp[RATE_PER_1000])


def test_seed_table_equals_seed_rates_for_three_financial_years(store, frame, downloads):
    at = _page(frame)
    shown = _seed(at)
    exp = seed_rates(store, frame.dataset, level="ward", last_fy=LATEST)
    rate_cols = [c for c in shown.columns if c.startswith("rate_")]
    pct = [c for c in shown.columns if c.startswith("pct_change_")]
    assert rate_cols == ["rate_2022_23", "rate_2023_24", "rate_2024_25"]
    assert pct == ["pct_change_2022_23_to_2024_25"]
    assert shown[AREA_CODE].tolist() == exp[AREA_CODE].tolist()
    for col in [*rate_cols, *pct]:
        np.testing.assert_allclose(shown[col].astype(float), exp[col].astype(float))
    (name,) = [n for n in downloads if n.startswith("rates_by_financial_year")]
    assert name == "rates_by_financial_year_ward_2024-25_unsuppressed.csv"
    csv = pd.read_csv(io.BytesIO(downloads[name]))
    np.testing.assert_allclose(csv["rate_2024_25"], exp["rate_2024_25"])

    # an earlier period moves the three-year window back
    at.session_state["atlas_frame"] = replace(frame, period="2021/22")
    shown = _seed(_run(at))
    assert [c for c in shown.columns if c.startswith("rate_")] == ["rate_2019_20", "rate_2020_21", "rate_2021_22"]


def test_funnel_plot_has_every_area_and_both_limits(store, frame):
    at = _page(frame)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    funnel = json.loads(charts[1].proto.spec)
    assert len(funnel["layer"]) == 3  # limits, whole-area line, areas
    # Offline: every dataset is inline (named), nothing is fetched by URL.
    for chart in charts:
        spec = json.loads(chart.proto.spec)
        for part in [spec, *spec.get("layer", [])]:
            assert "url" not in part.get("data", {})
    data = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in charts[1].proto.datasets]
    (dots,) = [d for d in data if "Chosen" in d.columns]
    (limits,) = [d for d in data if "upper_998" in d.columns]
    exp = _expected(store, frame, LATEST)
    assert len(dots) == len(exp) and dots["Chosen"].sum() == 4
    assert set(dots.loc[dots["Chosen"], AREA_CODE]) == set(at.multiselect(key="compare_areas").value)
    whole = exp["whole_area_rate"].iloc[0]
    again = funnel_limits(whole, limits["population"])
    for col in ("lower_95", "upper_95", "lower_998", "upper_998"):
        np.testing.assert_allclose(limits[col], again[col])
    assert limits["population"].min() < exp["population"].min() and limits["population"].max() > exp["population"].max()
    assert (limits["upper_998"] > limits["upper_95"]).all() and (limits["upper_95"] > whole).all()


def test_publication_mode_suppresses_small_counts(store, demo_dataset, downloads):
    frame = Frame(*demo_dataset, True, "lsoa", "fy", LATEST, publication=True)
    exp = _expected(store, frame, LATEST)
    small = exp.index[(exp[COUNT] >= 1) & (exp[COUNT] <= 4)].tolist()
    assert small, "the demo data has LSOAs with 1-4 incidents in the latest year"
    big = exp.sort_values(RATE_PER_1000, ascending=False).index[0]
    at = _page(frame)
    at.multiselect(key="compare_areas").set_value([big, small[0]])
    side = _side(_run(at)).set_index("Code")
    assert side.loc[small[0], "Incidents"] == "<5"
    assert pd.isna(side.loc[small[0], "Rate per 1,000"]) and pd.isna(side.loc[small[0], "95% upper"])
    assert pd.isna(side.loc[small[0], "Share of incidents"])
    assert side.loc[big, "Incidents"] == str(int(exp.loc[big, COUNT]))
    assert side.loc[big, "Rate per 1,000"] == pytest.approx(exp.loc[big, RATE_PER_1000])
    seed = _seed(at).set_index(AREA_CODE)
    assert seed.loc[small[0], "count_2024_25"] == "<5" and pd.isna(seed.loc[small[0], "rate_2024_25"])
    assert any("Publication mode" in c.value for c in at.caption)
    assert "rates_by_financial_year_lsoa_2024-25_publication.csv" in downloads


def test_through_the_app_sidebar(demo_dataset, store):
    """The real frame: a link opening LSOAs in publication mode, then the Compare page."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["level"] = "lsoa"
    at.query_params["publication"] = "1"
    _run(at)
    at.switch_page(PAGE)
    _run(at)
    assert [h.value for h in at.header] == ["Compare localities"]
    seed = _seed(at)
    assert len(seed) == len(_expected(store, Frame(*demo_dataset, True, "lsoa", "fy", LATEST), LATEST))
    assert (seed["count_2024_25"] == "<5").any()
