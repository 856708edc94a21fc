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

    Streamlit 1.67's AppTest re-detects the legacy pages/ directory on every run and, given the
    hash of the page the last run finished on (pages/map.py), runs that file alone, skipping the
    router and its sidebar. Clearing the finished-page hash makes it start at the entry script.
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


def test_changing_level_changes_areas_but_not_total(app: AppTest):
    before = _metric(app, "Incidents")
    for level in ("lsoa", "msoa", "locality", "lad", "ward"):
        app.selectbox(key="frame_level").set_value(level)
        _rerun(app)
        assert _metric(app, "Areas") == str(AREAS_BY_LEVEL[level]), level
        assert _metric(app, "Incidents") == before  # rolling up conserves counts
        assert any(c.value.startswith(f"{AREAS_BY_LEVEL[level]:,} ") for c in app.caption)


def test_default_is_latest_financial_year_and_changing_period_changes_total(app: AppTest, atlas_home: Path):
    dataset = app.selectbox(key="frame_dataset").value
    totals = _fy_totals(atlas_home / "atlas.duckdb", dataset)
    options = app.selectbox(key="frame_period").options
    assert options == sorted(totals.index, reverse=True)  # newest first
    latest, earliest = options[0], options[-1]
    assert app.selectbox(key="frame_period").value == latest
    assert app.selectbox(key="frame_level").value == "ward"
    assert _metric(app, "Financial year") == latest
    assert _metric(app, "Areas") == str(AREAS_BY_LEVEL["ward"])
    assert _metric(app, "Incidents") == f"{totals[latest]:,}"

    app.selectbox(key="frame_period").set_value(earliest)
    _rerun(app)
    assert _metric(app, "Financial year") == earliest
    assert _metric(app, "Incidents") == f"{totals[earliest]:,}"
    assert totals[earliest] != totals[latest]
