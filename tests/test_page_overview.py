"""Overview page: headline figures, change, top five, small map (AppTest on the demo store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_page_map import metric, open_page, run

from geo.schema import COUNT, GRAIN, PERIOD


@pytest.fixture
def page(demo_store: Path, atlas_home: Path) -> AppTest:
    return open_page(demo_store, atlas_home, "views/overview.py")


def _fy_totals(store_path: Path) -> dict[str, int]:
    """Incidents per financial year computed here from the stored months (independent of the app)."""
    from store import Store

    s = Store(store_path)
    c = s.counts(s.datasets()["name"].iloc[0])
    assert set(c[GRAIN]) == {"month"}
    ym = c[PERIOD].str.split("-", expand=True).astype(int)
    start = ym[0] - (ym[1] < 4)
    fy = start.astype(str) + "/" + ((start + 1) % 100).astype(str).str.zfill(2)
    return c.groupby(fy.to_numpy())[COUNT].sum().to_dict()


def test_headline_figures_match_the_stored_counts(page: AppTest, atlas_home: Path):
    totals = _fy_totals(atlas_home / "atlas.duckdb")
    assert metric(page, "Incidents") == f"{totals['2024/25']:,}"
    pct = (totals["2024/25"] - totals["2023/24"]) / totals["2023/24"] * 100
    assert metric(page, "On previous period") == f"{pct:+.1f}%"
    rate = float(metric(page, "Rate per 1,000"))
    assert 5 < rate < 40
    assert any(c.value.startswith("95% interval of the rate: ") for c in page.caption)
    top = page.dataframe[0].value
    assert len(top) == 5 and list(top["Rank"]) == [1, 2, 3, 4, 5]
    assert top["Rate per 1,000"].is_monotonic_decreasing

    page.selectbox(key="frame_period").set_value("2019/20")
    run(page)
    assert metric(page, "Incidents") == f"{totals['2019/20']:,}"
    assert metric(page, "On previous period") == "–"  # the first year has none


def test_area_filter_category_denominator_and_grain_change_the_headline(page: AppTest):
    everything = metric(page, "Incidents")
    page.selectbox(key="frame_area").set_value("E06000005")
    darlington = metric(run(page), "Incidents")
    assert int(darlington.replace(",", "")) < int(everything.replace(",", ""))
    assert page.header[0].value.startswith("Overview: Darlington")
    page.selectbox(key="frame_category").set_value("Stalking and harassment")
    assert int(metric(run(page), "Incidents").replace(",", "")) < int(darlington.replace(",", ""))
    rate_total = metric(page, "Rate per 1,000")
    page.selectbox(key="frame_denominator").set_value("female16plus")
    assert float(metric(run(page), "Rate per 1,000")) > float(rate_total)  # smaller population, higher rate
    page.selectbox(key="frame_grain").set_value("quarter")
    run(page)
    assert page.selectbox(key="frame_period").value == "2025-Q1"
    assert any("2024-Q1 → 2025-Q1" in c.value for c in page.caption)  # same quarter last year


def test_publication_mode_ranks_the_top_five_on_what_is_shown(page: AppTest):
    """A suppressed area never tops the list with a blank rate: the top five rank on the shown rates."""
    page.selectbox(key="frame_grain").set_value("month")
    page.selectbox(key="frame_category").set_value("Other domestic abuse")
    before = run(page).dataframe[0].value
    assert before["Incidents"].str.isdigit().all()
    assert (before["Incidents"].astype(int) < 5).any()  # one category by ward and month: small counts rank high
    page.toggle(key="frame_publication").set_value(True)
    after = run(page).dataframe[0].value
    assert len(after) == 5 and after["Incidents"].str.isdigit().all()
    assert (after["Incidents"].astype(int) >= 5).all() and after["Rate per 1,000"].notna().all()
    assert after["Rate per 1,000"].is_monotonic_decreasing and list(after["Rank"]) == [1, 2, 3, 4, 5]
    note = next(c.value for c in page.caption if c.value.startswith("Publication mode: "))
    assert "shown as “<5”" in note and "left out of the top five" in note
    n_small = int(note.split("Publication mode: ")[1].split(" ")[0].replace(",", ""))
    assert n_small > 0


def test_publication_mode_with_every_count_hidden_lists_no_top_five(page: AppTest):
    """LSOAs, one category, one month: every count is small, so nothing is ranked (no list of zeros)."""
    page.selectbox(key="frame_level").set_value("lsoa")
    page.selectbox(key="frame_grain").set_value("month")
    page.selectbox(key="frame_category").set_value("Criminal damage and arson")
    page.toggle(key="frame_publication").set_value(True)
    run(page)
    assert len(page.dataframe) == 0
    assert any("No area can be ranked" in i.value and "publication mode" in i.value for i in page.info)
