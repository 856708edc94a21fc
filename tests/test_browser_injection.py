"""Real browser test: area, locality, category and dataset names holding HTML, script, markdown or TeX show
as text in every place the app shows them (folium tooltips, legend, headings, lists, captions) and run nothing."""

from __future__ import annotations

import re
import shutil
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from test_browser import CHROMIUM, CHROMIUM_ARGS, _map_frame, _open, server  # noqa: F401  (server: a fixture)

pytestmark = pytest.mark.browser

# Each would run script, draw markup, make a link or typeset a formula if a page inserted it unescaped.
PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=window.__pwned=1>",
    "<script>window.__pwned=1</script>",
    '"><svg onload=alert(1)>',
    "'><svg onload=window.__pwned=1>",
    "javascript:alert(1)",
    "[click me](javascript:alert(1))",
    "Ward $x^2$ & <b>bold</b>",
    "Ward _italic_ *star* :red[red] &amp; `code` www.example.org https://example.org a@example.org",
)
LAD_NAME = "<img src=x onerror=window.__pwned=1> Darlington"  # a user boundary file names its authority too
CATEGORIES = ("<img src=x onerror=alert(1)>", "Cat $x^2$ & <b>bold</b>")
DATASET = "javascript:alert(1) & _x_ (test)"  # dataset names allow letters, digits and - _ . ( ) & , : '
SET_NAME = "hostile-lsoa"
DARLINGTON = "E06000005"
DURHAM = "E06000047"

# Anything the payloads could have made, in one frame (the app page or a map iframe).
_INJECTED_JS = """() => ({
    pwned: typeof window.__pwned,
    img_x: document.querySelectorAll('img[src="x"]').length,
    handlers: document.querySelectorAll('[onerror], [onload]').length,
    svg_payload: [...document.querySelectorAll('svg')].filter(s => s.getAttribute('onload') !== null).length,
    scripts: [...document.scripts].filter(s => s.textContent.trim() === 'window.__pwned=1').length,
    bold: [...document.querySelectorAll('b, strong')].filter(e => e.textContent === 'bold').length,
    links: [...document.querySelectorAll('a')].filter(a => a.textContent === 'click me'
        || /^(javascript|mailto):/i.test(a.getAttribute('href') || '')
        || (a.getAttribute('href') || '').includes('example.org')).map(a => a.outerHTML),
    emphasis: [...document.querySelectorAll('em, code, del')].filter(
        e => ['italic', 'star', 'code', 'x'].includes(e.textContent)).length,
    math: document.querySelectorAll('.katex, math').length,
})"""
_CLEAN = {"pwned": "undefined", "img_x": 0, "handlers": 0, "svg_payload": 0, "scripts": 0, "bold": 0, "links": [],
          "emphasis": 0, "math": 0}


@pytest.fixture
def hostile(atlas_home: Path, demo_store: Path, tmp_path: Path) -> Path:
    """The demo store plus a dataset on a user LSOA set with hostile area, authority and category names, and
    hostile locality names for the shipped set (the demo dataset's localities); registered with `atlas`."""
    from atlas.cli import main
    from boundaries.hierarchy import set_localities
    from boundaries.load import load_areas
    from geo.schema import data_dir

    shutil.copy(demo_store, atlas_home / "atlas.duckdb")
    lsoas = load_areas("lsoa", lad_codes=[DARLINGTON]).sort_values("code").head(len(PAYLOADS) + 3)
    names = [*PAYLOADS, *(f"Plain {i}" for i in range(len(lsoas) - len(PAYLOADS)))]
    gpkg = tmp_path / "hostile.gpkg"
    lsoas.assign(name=names, lad_name=LAD_NAME)[["code", "name", "lad_code", "lad_name", "geometry"]].to_file(
        gpkg, layer="lsoa")
    assert main(["boundaries", "add", str(gpkg), "--name", SET_NAME, "--level", "lsoa"]) == 0
    pop = pd.read_csv(data_dir() / "population" / "lsoa_population_mid2019.csv")
    pop = pop[pop["lsoa_code"].isin(lsoas["code"])]
    pop_csv = tmp_path / "pop.csv"
    pop.rename(columns={"lsoa_code": "code", "population_total": "population"})[["code", "population"]].to_csv(
        pop_csv, index=False)
    assert main(["population", "add", str(pop_csv), "--boundaries", SET_NAME]) == 0
    rows = [(code, f"2024-{m:02d}", cat, (i * 7 + m * 3 + k) % 9 + 1)
            for i, code in enumerate(lsoas["code"]) for m in range(1, 13) for k, cat in enumerate(CATEGORIES)]
    counts = tmp_path / "counts.csv"
    pd.DataFrame(rows, columns=["area_code", "period", "category", "count"]).to_csv(counts, index=False)
    assert main(["import", str(counts), "--dataset", DATASET, "--boundaries", SET_NAME]) == 0
    wards = load_areas("ward", lad_codes=[DURHAM]).sort_values("code")
    localities = tmp_path / "localities.csv"
    pd.DataFrame({"ward_code": wards["code"], "locality": [PAYLOADS[i % len(PAYLOADS)] for i in range(len(wards))]}
                 ).to_csv(localities, index=False)
    set_localities("ons2011-ne-medway", localities)
    return atlas_home


def _seen(text: str) -> str:
    """Text as a reader sees it: views._frame.plain splits autolinks (www., http://, @) with U+2060, invisible."""
    return text.replace("\u2060", "")


def _assert_inert(page, dialogs: list, where: str) -> None:
    """No dialog opened, no payload global set and no payload element made, in the page or any of its frames."""
    assert dialogs == [], f"{where}: dialogs opened: {dialogs}"
    for frame in page.frames:
        found = frame.evaluate(_INJECTED_JS)
        assert found == _CLEAN, f"{where}, frame {frame.url[:80]}: {found}"


def _tooltips(frame) -> list[str]:
    """The text of every area's tooltip, each opened by the mouseover a hover sends (Leaflet's bindTooltip)."""
    return frame.evaluate("""() => {
        const areas = window.atlasAreas, texts = [];
        areas.eachLayer(layer => {
            layer.fire('mouseover', {latlng: layer.getCenter()}, true);  // as the mouse does: to the group
            const tip = document.querySelector('.leaflet-tooltip');
            texts.push(tip ? tip.innerText : '');
            layer.fire('mouseout', {}, true);
        });
        return texts;
    }""")


def _hover_tooltip(page, frame) -> str:
    """Hover the first area a real mouse can reach and return its tooltip's text."""
    polygons = frame.locator("path.leaflet-interactive")
    for i in range(polygons.count()):
        polygons.nth(i).hover(force=True)
        page.wait_for_timeout(200)
        tip = frame.locator(".leaflet-tooltip")
        if tip.count():
            return tip.first.inner_text()
    raise AssertionError("no area showed a tooltip on hover")


def _options(page, label: str) -> list[str]:
    """The option texts of the selectbox labelled ``label`` (its list opened, then closed)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first
    box.locator("button[aria-label=Open]").click()
    page.locator('[role="option"]').first.wait_for(timeout=10_000)
    texts = [o.inner_text() for o in page.locator('[role="option"]').all()]
    page.keyboard.press("Escape")
    return texts


def _choose(page, label: str, text: str) -> None:
    """Pick the option of selectbox ``label`` that starts with ``text``; wait for the rerun."""
    box = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first
    box.locator("button[aria-label=Open]").click()
    page.locator('[role="option"]').filter(has_text=re.compile("^" + re.escape(text))).first.click()
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)


def test_hostile_names_show_as_text_and_run_nothing(hostile: Path, demo_dataset: tuple[str, str],
                                                     server: str):  # noqa: F811  (server: the fixture)
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            query = {"dataset": DATASET, "level": "lsoa", "grain": "month", "area": DARLINGTON}
            page.goto(f"{server}/?{urllib.parse.urlencode(query)}", wait_until="domcontentloaded")
            header = page.locator("h2").filter(has_text="Overview:").first
            header.wait_for(timeout=60_000)
            assert _seen(header.inner_text()) == f"Overview: {LAD_NAME}, 2024-12"  # a heading, in markdown
            assert _options(page, "Category")[1:] == list(CATEGORIES)
            assert f"{LAD_NAME} ({DARLINGTON})" in _options(page, "Local authority")
            _map_frame(page)
            _assert_inert(page, dialogs, "Overview")

            _open(page, "Map explorer")
            page.wait_for_timeout(2000)  # the new page's map replaces the overview's
            frame = _map_frame(page)
            assert _hover_tooltip(page, frame).startswith("LSOA\t")
            tips = _tooltips(frame)
            _assert_inert(page, dialogs, "Map explorer tooltips")  # first: a payload that ran says so plainly
            for name in PAYLOADS:
                assert any(t.startswith(f"LSOA\t{name}\nCode\t") for t in tips), (name, tips)
            assert frame.locator(".atlas-legend").inner_text().startswith("Incidents, 2024-12")
            listed = _options(page, "Area profile")
            for name in PAYLOADS:
                assert any(o.startswith(f"{name} (E0") for o in listed), (name, listed)
            _assert_inert(page, dialogs, "Map explorer")
            for name in PAYLOADS:  # the profile's heading and the neighbours caption are markdown
                _choose(page, "Area profile", name)
                heading = page.locator("h3").filter(has_text="(E0").first
                assert _seen(heading.inner_text()).startswith(f"{name} (E0"), heading.inner_text()
                _assert_inert(page, dialogs, f"profile of {name}")
            neighbours = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Neighbours:").first
            assert any(n in _seen(neighbours.inner_text()) for n in PAYLOADS), neighbours.inner_text()

            _open(page, "Hotspots over time")
            page.wait_for_timeout(2000)
            tips = _tooltips(_map_frame(page))
            _assert_inert(page, dialogs, "Hotspots over time tooltips")
            assert all(any(t.startswith(f"LSOA\t{name}\n") for t in tips) for name in PAYLOADS), tips
            _assert_inert(page, dialogs, "Hotspots over time")

            _open(page, "Compare localities")
            page.get_by_text("Side by side").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # the charts draw after the script ends
            _assert_inert(page, dialogs, "Compare localities")

            _open(page, "Priority areas")
            button = page.get_by_role("button", name="Make briefing pack").first
            button.wait_for(timeout=60_000)
            # widget labels are markdown too
            assert _seen(button.inner_text()) == f"Make briefing pack (PDF) for {LAD_NAME}"
            _assert_inert(page, dialogs, "Priority areas")

            _open(page, "Data")
            page.get_by_role("tab", name="Datasets").click()
            _choose(page, "Dataset to delete", DATASET)
            page.get_by_role("button", name="Delete dataset…").click()
            warning = page.locator('[data-testid="stAlertContentWarning"]').filter(has_text="cannot be undone").first
            warning.wait_for(timeout=30_000)
            assert _seen(warning.inner_text()).startswith(f"Delete {DATASET} with all its counts"), warning.inner_text()
            page.get_by_role("button", name="Cancel").click()
            _assert_inert(page, dialogs, "Data")

            # Localities of the demo dataset (County Durham's wards grouped under hostile names).
            query = {"dataset": demo_dataset[0], "level": "locality", "area": DURHAM}
            page.goto(f"{server}/?{urllib.parse.urlencode(query)}", wait_until="domcontentloaded")
            page.locator("h2").filter(has_text="Overview:").first.wait_for(timeout=60_000)
            _open(page, "Map explorer")
            page.wait_for_timeout(2000)
            frame = _map_frame(page)
            tips = _tooltips(frame)
            _assert_inert(page, dialogs, "Map explorer tooltips, localities")
            for name in PAYLOADS:
                assert any(t.startswith(f"Locality\t{name}\nCode\tLOC-") for t in tips), (name, tips)
            listed = _options(page, "Area profile")
            assert all(any(o.startswith(f"{name} (LOC-") for o in listed) for name in PAYLOADS), listed
            _choose(page, "Area profile", PAYLOADS[7])
            heading = page.locator("h3").filter(has_text="(LOC-").first.inner_text()
            assert _seen(heading).startswith(f"{PAYLOADS[7]} (LOC-"), heading
            _assert_inert(page, dialogs, "Map explorer, localities")
        finally:
            browser.close()
