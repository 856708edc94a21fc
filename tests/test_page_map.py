"""Map explorer page (AppTest on a private copy of the session's demo store, tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo.schema import PROJECT_ROOT

APP = str(PROJECT_ROOT / "app.py")
PAGE = "views/map.py"


def open_page(demo_store: Path, atlas_home: Path, page: str = PAGE, **query: str) -> AppTest:
    """The app on `page` (through the router, with its sidebar), optionally opened from a URL query."""
    shutil.copy(demo_store, atlas_home / "atlas.duckdb")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    at.run()
    at.switch_page(page)
    return run(at)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def legend(at: AppTest) -> str:
    (text,) = [c.value for c in at.caption if c.value.startswith("Legend (")]
    return text


def metric(at: AppTest, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label == label]
    return value


@pytest.fixture
def page(demo_store: Path, atlas_home: Path) -> AppTest:
    return open_page(demo_store, atlas_home)


def _areas_in_legend(text: str) -> int:
    return sum(int(part.rsplit(": ", 1)[1]) for part in text.split("): ", 1)[1].split("; "))


def test_map_renders_with_sidebar_and_counts_every_ward(page: AppTest):
    assert page.selectbox(key="frame_level").value == "ward"
    assert _areas_in_legend(legend(page)) == 63 + 24
    assert any(c.value.startswith("87 areas (Ward) in 2024/25") for c in page.caption)


def test_each_measure_changes_the_legend(page: AppTest):
    seen = {}
    for measure in ("count", "rate", "eb_rate", "lisa", "gi_bin", "ehsa"):
        page.selectbox(key="map_measure").set_value(measure)
        seen[measure] = legend(run(page))
        assert _areas_in_legend(seen[measure]) == 87, measure
    assert len(set(seen.values())) == 6
    assert "High-High" in seen["lisa"] or "Low-Low" in seen["lisa"]
    assert "Hot spot" in seen["gi_bin"] and "Hot Spot" in seen["ehsa"]


def test_scheme_and_fixed_breaks_change_classes_and_hold_across_periods(page: AppTest):
    quantiles = legend(page)
    page.selectbox(key="map_scheme").set_value("equal_interval")
    equal = legend(run(page))
    assert equal != quantiles
    page.selectbox(key="map_scheme").set_value("natural_breaks")
    assert legend(run(page)) not in (equal, quantiles)
    page.selectbox(key="map_scheme").set_value("fixed")
    run(page).text_input(key="map_breaks").set_value("50, 100")
    fixed = legend(run(page))
    labels = [p.rsplit(": ", 1)[0] for p in fixed.split("): ", 1)[1].split("; ")]
    assert labels[0].endswith(" – 50") and labels[1] == "51 – 100"
    # Classes are computed over all periods: stepping back in time keeps the same class labels.
    page.select_slider(key="map_period").set_value("2019/20")
    earlier = legend(run(page))
    assert page.selectbox(key="frame_period").value == "2019/20"  # the slider moves the shared period
    assert [p.rsplit(": ", 1)[0] for p in earlier.split("): ", 1)[1].split("; ")] == labels
    assert earlier != fixed  # but the areas per class differ
    page.text_input(key="map_breaks").set_value("50, lots")
    page.run()
    assert any("'lots' is not a number" in e.value for e in page.error)


def test_level_area_filter_and_grain_change_the_map(page: AppTest):
    page.selectbox(key="frame_level").set_value("lsoa")
    assert _areas_in_legend(legend(run(page))) == 324 + 65
    page.selectbox(key="frame_area").set_value("E06000005")  # Darlington
    assert _areas_in_legend(legend(run(page))) == 65
    page.selectbox(key="frame_grain").set_value("month")
    run(page)
    assert page.selectbox(key="frame_period").value == "2025-03"
    assert any(c.value.startswith("65 areas (LSOA) in 2025-03") for c in page.caption)


def test_publication_mode_greys_small_counts(page: AppTest):
    page.selectbox(key="frame_level").set_value("lsoa")
    page.selectbox(key="frame_grain").set_value("month")
    before = legend(run(page))
    assert "no data" not in before
    page.toggle(key="frame_publication").set_value(True)
    after = legend(run(page))
    assert "no data:" in after  # counts of 1–4 are not coloured
    (note,) = [c.value for c in page.caption if c.value.startswith("Publication mode: ")]
    n_small = int(note.split()[2].replace(",", ""))
    assert n_small == int(after.split("no data: ")[1].split(";")[0]) and "shown as “<5”" in note
    assert any("Publication mode" in i.value for i in page.info)


def test_area_profile_shows_rank_neighbours_and_history(page: AppTest):
    options = page.selectbox(key="map_area").options
    darlington_central = next(o for o in options if "Central" in o)
    code = darlington_central.rsplit("(", 1)[1].rstrip(")")
    page.selectbox(key="map_area").set_value(code)
    run(page)
    rank = metric(page, "Rank by rate")
    assert rank.endswith(" of 87") and 1 <= int(rank.split()[0]) <= 87
    assert any(c.value.startswith("Neighbours: ") and len(c.value) > 20 for c in page.caption)
    history = page.dataframe[-1].value
    assert list(history.columns) == ["2019/20", "2020/21", "2021/22", "2022/23", "2023/24", "2024/25"]
    assert history.index.tolist() == ["Gi* hot spot", "Gi* before correction"]
    labels = set(history.to_numpy().ravel())
    assert labels <= {"Not significant", "Isolated"} | {f"{k} spot {c}%" for k in ("Hot", "Cold") for c in (90, 95, 99)}
    assert any("false discovery rate" in c.value and "Before correction" in c.value for c in page.caption)


def test_map_image_download_is_a_300_dpi_png_with_the_screen_classes(page: AppTest, atlas_home: Path):
    """One click makes the PNG (atlas.exports.build_map); its classes are the screen map's own."""
    import io

    from PIL import Image

    from atlas.exports import build_map
    from store import Store

    assert not page.get("download_button")  # nothing is drawn until asked for
    page.selectbox(key="map_scheme").set_value("equal_interval")
    page.number_input(key="map_k").set_value(4)
    (make,) = [b for b in page.button if b.key == "map_image_make"]
    make.click()
    run(page)
    (button,) = page.get("download_button")
    assert button.proto.label == "Download map image"
    wanted, png = page.session_state["map_image"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as img:
        assert round(img.info["dpi"][0]) == 300
    store = Store(atlas_home / "atlas.duckdb")
    smap = build_map(store, store.datasets()["name"].iloc[0], level="ward", measure="count", period="2024/25",
                     grain="fy", scheme="equal_interval", k=4)
    screen = legend(page)
    assert [f"{lab}: " in screen for lab in smap.classes.labels()] == [True] * 4  # the screen map's classes
    smap.close()
    page.selectbox(key="map_measure").set_value("rate")  # a different map: the old image is not offered
    assert not run(page).get("download_button")


def test_measure_from_a_shared_link_opens_that_map(demo_store: Path, atlas_home: Path):
    at = open_page(demo_store, atlas_home, measure="gi_bin")
    assert at.selectbox(key="map_measure").value == "gi_bin"
    assert "Hot spot" in legend(at)
    at.selectbox(key="map_measure").set_value("count")
    run(at)
    assert "measure" not in at.query_params  # the default is left out of the link
    bad = open_page(demo_store, atlas_home, measure="bogus")
    assert bad.selectbox(key="map_measure").value == "count"
    assert any("bogus" in w.value for w in bad.warning)


@pytest.mark.parametrize("statistic", ["gi_star", "local_moran"])
def test_one_period_of_hot_spots_equals_that_period_of_all(demo_store: Path, statistic: str):
    """The map computes a category measure for its period alone (views/_cache.hotspots with a period); the rows must
    be those of the every-period table: the permutation draws do not depend on which periods run."""
    import numpy as np
    import pandas as pd

    from atlas.analyses import hotspots_table
    from store import Store

    store = Store(demo_store)
    name = store.datasets()["name"].iloc[0]
    kw = dict(dataset=name, level="lsoa", grain="month", area_filter="E06000005")
    full = hotspots_table(store, **kw, statistic=statistic)
    for period in ("2021-03", "2024-11"):
        one = hotspots_table(store, **kw, statistic=statistic, period=period).reset_index(drop=True)
        same = full[full["period"] == period].reset_index(drop=True)
        assert len(one) == len(same) == 65  # Darlington's LSOAs
        numeric = [c for c in one.columns if pd.api.types.is_float_dtype(one[c])]
        pd.testing.assert_frame_equal(one.drop(columns=numeric), same.drop(columns=numeric))
        # Statistics equal up to floating-point summation order; p-values and labels exactly.
        np.testing.assert_allclose(one[numeric].to_numpy(float), same[numeric].to_numpy(float), rtol=1e-12,
                                   atol=1e-12, equal_nan=True)
        # Not a vacuous comparison: the bins vary (for Gi*, before FDR, which leaves a month of 65 LSOAs blank).
        label = "gi_bin_uncorrected" if statistic == "gi_star" else "lisa_label"
        assert (one[label] != one[label].iloc[0]).any() or statistic == "local_moran"
