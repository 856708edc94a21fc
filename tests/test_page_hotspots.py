"""Hotspots over time page: emerging categories, Gi* small multiples, transitions (AppTest on the demo store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_page_map import metric, open_page, run


@pytest.fixture
def page(demo_store: Path, atlas_home: Path) -> AppTest:
    return open_page(demo_store, atlas_home, "views/hotspots.py")


def _categories(at: AppTest) -> dict[str, int]:
    table = at.dataframe[0].value
    return dict(zip(table["Category"], table["Areas"]))


def test_categories_small_multiples_and_transitions(page: AppTest):
    cats = _categories(page)
    assert sum(cats.values()) == 87
    assert any("Hot Spot" in c for c in cats)  # the demo plants persistent and emerging clusters
    assert [h.value for h in page.subheader][0] == "Gi* hot and cold spots, last 6 periods"
    moves = page.dataframe[2].value
    became, stopped = int(metric(page, "Became hot")), int(metric(page, "Stopped being hot"))
    assert len(moves) == became + stopped
    assert set(moves["Change"]) <= {"became hot", "stopped being hot", "cold to hot", "hot to cold"}


def test_period_grain_and_level_change_the_analysis(page: AppTest):
    latest = _categories(page)
    page.selectbox(key="frame_period").set_value("2021/22")
    run(page)
    assert any("2019/20 to 2021/22" in c.value for c in page.caption)
    assert _categories(page) != latest
    page.selectbox(key="frame_grain").set_value("quarter")
    run(page)
    assert any("24 periods 2019-Q2 to 2025-Q1" in c.value for c in page.caption)
    page.selectbox(key="frame_level").set_value("msoa")
    assert sum(_categories(run(page)).values()) == 66 + 15


def test_first_period_explains_instead_of_failing(page: AppTest):
    page.selectbox(key="frame_period").set_value("2019/20")
    run(page)
    assert any("first period" in i.value for i in page.info)


def test_small_multiples_png_draws_one_panel_per_period():
    import io

    import pandas as pd
    from matplotlib import image

    from analysis.hotspots import GI_COLOURS
    from boundaries.load import load_areas

    wards = load_areas("ward", lad_codes=["E06000005"])
    labels = pd.DataFrame({"area_code": list(wards["code"]) * 2, "period": ["a"] * len(wards) + ["b"] * len(wards),
                           "gi_label": ["Hot spot 99%"] * len(wards) + ["Not significant"] * len(wards)})
    from geo.maps import small_multiples_png

    png = small_multiples_png(wards, labels, "gi_label", GI_COLOURS, ["a", "b"], ncols=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(io.BytesIO(png))[..., :3]
    hot = (abs(pixels - [0xD6 / 255, 0x2F / 255, 0x27 / 255]).sum(axis=-1) < 0.05)
    assert hot[:, : pixels.shape[1] // 2].sum() > 1000 and hot[:, pixels.shape[1] // 2:].sum() < 50  # left panel hot
