"""Streamlit app smoke and behaviour tests with AppTest (no browser), each on its own store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from geo.schema import COUNT, GRAIN, PERIOD, PROJECT_ROOT, SYNTHETIC_LABEL

APP = str(PROJECT_ROOT / "app.py")
TIMEOUT = 60  # first run builds the map and, on an empty store, the demo dataset
# Areas of County Durham (E06000047) + Darlington (E06000005) in the shipped boundary set.
# Localities: the 12 example localities of County Durham; Darlington has none, so it is one.
AREAS_BY_LEVEL = {"lsoa": 324 + 65, "msoa": 66 + 15, "ward": 63 + 24, "locality": 12 + 1, "lad": 2}


@pytest.fixture(scope="session")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[AppTest, Path]:
    """The app's first start on an empty store (it creates the demo dataset), done once.

    Returns the finished AppTest and the store file, which later tests copy into their own
    ATLAS_STORE so the demo data is generated once per session.
    """
    home = tmp_path_factory.mktemp("first_start")
    store_path = home / "atlas.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATLAS_HOME", str(home))
        mp.setenv("ATLAS_STORE", str(store_path))
        at = AppTest.from_file(APP, default_timeout=180).run()
    return at, store_path


@pytest.fixture
def app(first_start: tuple[AppTest, Path], atlas_home: Path) -> AppTest:
    """The app, run once on a private copy of the demo store."""
    shutil.copy(first_start[1], atlas_home / "atlas.duckdb")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _rerun(at: AppTest) -> AppTest:
    """Run again from app.py, as the browser does after a widget change.

    AppTest remembers the page the last run finished on and would run that file alone, skipping
    the router and its sidebar. Clearing the finished-page hash makes it start at the entry script.
    """
    at._finished_page_script_hash = ""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    (m,) = [m for m in at.metric if m.label == label]
    return m.value


def _fy_totals(store_path: Path, dataset: str) -> pd.Series:
    """Incidents per financial year computed here from the stored monthly counts (independent of the app)."""
    from store import Store

    c = Store(store_path).counts(dataset)
    assert set(c[GRAIN]) == {"month"}
    ym = c[PERIOD].str.split("-", expand=True).astype(int)
    start = ym[0] - (ym[1] < 4)
    fy = start.astype(str) + "/" + ((start + 1) % 100).astype(str).str.zfill(2)
    return c.groupby(fy.to_numpy())[COUNT].sum()


def test_first_start_creates_demo_dataset_and_flags_it_synthetic(first_start: tuple[AppTest, Path]):
    from store import Store

    at, store_path = first_start
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    datasets = Store(store_path).datasets()
    assert len(datasets) == 1 and bool(datasets["synthetic"].iloc[0]) and datasets["total_count"].iloc[0] > 0
    assert any(SYNTHETIC_LABEL in w.value for w in at.warning)
    assert any("Contains Ordnance Survey data" in c.value and "Open Government Licence v3.0" in c.value
               for c in at.caption)


def _open(app: AppTest, page: str) -> AppTest:
    app.switch_page(page)
    return _rerun(app)


def test_every_registered_page_renders_in_the_router(app: AppTest):
    pages = [p for p in ("overview", "map", "hotspots", "compare", "priority", "monitoring", "reporting_gap",
                                "services", "data", "about")
             if (PROJECT_ROOT / "views" / f"{p}.py").is_file()]
    for page in pages:
        _open(app, f"views/{page}.py")
        assert app.selectbox(key="frame_level").value == "ward", page  # the shared sidebar is drawn
        assert any("Contains Ordnance Survey data" in c.value for c in app.caption), page


def test_default_page_is_the_overview_for_the_latest_financial_year(app: AppTest, atlas_home: Path):
    dataset = app.selectbox(key="frame_dataset").value
    totals = _fy_totals(atlas_home / "atlas.duckdb", dataset)
    options = app.selectbox(key="frame_period").options
    assert options == sorted(totals.index, reverse=True)  # newest first
    assert app.selectbox(key="frame_period").value == options[0]
    assert app.header[0].value.startswith("Overview")
    assert _metric(app, "Incidents") == f"{totals[options[0]]:,}"


def test_choices_are_written_to_the_url(app: AppTest):
    assert app.query_params["grain"] == ["fy"] or app.query_params["grain"] == "fy"
    app.selectbox(key="frame_level").set_value("msoa")
    app.selectbox(key="frame_area").set_value("E06000047")
    app.toggle(key="frame_publication").set_value(True)
    _rerun(app)
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in app.query_params.items()}
    assert params["level"] == "msoa" and params["area"] == "E06000047" and params["publication"] == "1"
    assert "denominator" not in params  # defaults are left out of the link


def test_a_shared_link_reopens_the_view(first_start: tuple[AppTest, Path], atlas_home: Path):
    shutil.copy(first_start[1], atlas_home / "atlas.duckdb")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"level": "lsoa", "grain": "quarter", "period": "2024-Q3", "area": "E06000005",
                            "denominator": "18plus", "publication": "1", "category": "Violence with injury"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    got = {k: at.selectbox(key=f"frame_{k}").value for k in ("level", "grain", "period", "area", "denominator", "category")}
    assert got == {"level": "lsoa", "grain": "quarter", "period": "2024-Q3", "area": "E06000005",
                   "denominator": "18plus", "category": "Violence with injury"}
    assert at.toggle(key="frame_publication").value is True
    assert not [w for w in at.warning if "link asked" in w.value]


def test_invalid_link_values_fall_back_with_a_warning(first_start: tuple[AppTest, Path], atlas_home: Path):
    shutil.copy(first_start[1], atlas_home / "atlas.duckdb")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"level": "county", "period": "1999/00", "area": "E99999999", "grain": "fy"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="frame_level").value == "ward"
    assert at.selectbox(key="frame_period").value == at.selectbox(key="frame_period").options[0]
    assert at.selectbox(key="frame_area").value == ""
    warned = " ".join(w.value for w in at.warning if "link asked" in w.value)
    assert "'county'" in warned and "'1999/00'" in warned and "'E99999999'" in warned


def test_sign_in_configured_hides_every_page_and_all_data(atlas_home: Path) -> None:
    """With an [auth] block in secrets and no signed-in user, the app stops before reading the store."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "council": {"client_id": "id", "client_secret": "s",
                    "server_metadata_url": "http://localhost:9/.well-known/openid-configuration"},
    }
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [b.label for b in at.button] == ["Sign in with council"]
    assert not at.metric and not at.dataframe and not at.selectbox  # no data, no frame controls
    assert not (atlas_home / "atlas.duckdb").exists()  # the store was never opened, let alone filled
    text = " ".join(m.value for m in at.markdown)
    assert SYNTHETIC_LABEL not in text


def test_without_sign_in_configured_the_app_opens(app: AppTest) -> None:
    assert not [b for b in app.button if b.label.startswith("Sign in")]
    assert app.selectbox  # the shared frame is there


def test_router_and_browser_tests_cover_every_page_in_app_py():
    import re

    from test_browser import PAGES as BROWSER_PAGES

    registered = re.findall(r'\("views/(\w+)\.py", "([^"]+)"', (PROJECT_ROOT / "app.py").read_text())
    assert len(registered) >= 9
    assert {title: name for name, title in registered} == {t: v[0] for t, v in BROWSER_PAGES.items()}
