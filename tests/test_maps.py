"""Choropleth builder: offline assets only, payload size, classes, tooltips, topology."""

from __future__ import annotations

import html
import json
import re

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo import offline_assets
from geo.maps import (
    CANVAS_THRESHOLD,
    MAX_DISPLAY_TOLERANCE_M,
    NO_DATA_COLOUR,
    PALETTES,
    AtlasMap,
    build_categorical_map,
    build_choropleth,
    display_areas,
    display_tolerance,
    encode_outlines,
    simplify_for_display,
    to_display_wgs84,
)
from geo.map_layers import AreaOutlines, AreaStyle
from geo.schema import AREA_CODE, BNG, CODE, COUNT, NAME, AtlasError, BoundaryError, data_dir

GPKG = data_dir() / "boundaries" / "north_east_and_medway.gpkg"
DURHAM = "E06000047"
DARLINGTON = "E06000005"


@pytest.fixture(scope="module")
def lsoa() -> gpd.GeoDataFrame:
    return gpd.read_file(GPKG, layer="lsoa")


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    return gpd.read_file(GPKG, layer="wards")


def _counts(areas: gpd.GeoDataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({AREA_CODE: areas[CODE].to_numpy(), COUNT: rng.poisson(6, len(areas))})


def _html(m: AtlasMap) -> str:
    return m.standalone().get_root().render()


def _decode_rings(shape: list) -> list:
    """One area of encode_outlines() decoded as the page does (geo.map_layers.AreaOutlines): running sums."""
    return [[np.cumsum(np.asarray(ring).reshape(-1, 2), axis=0) for ring in polygon] for polygon in shape]


def _sent(m: AtlasMap) -> tuple[dict[str, str], dict[str, list[str]], list[str]]:
    """What the page applies, decoded as the browser does: code -> fill colour, code -> tooltip texts, labels.

    Checks that the arrays are in the rendered page and that the style is for these outlines (same key).
    """
    from jinja2.utils import htmlsafe_json_dumps

    outlines = next(c for c in m.base._children.values() if isinstance(c, AreaOutlines))
    style = next(c for c in m.layer._children.values() if isinstance(c, AreaStyle))
    src = json.loads(outlines.outlines)
    assert src["key"] == style.key and len(style.fill_index) == len(src["ids"])
    html = _html(m)
    for sent in (style.palette, style.fill_index, style.columns, style.labels):
        assert str(htmlsafe_json_dumps(sent)) in html
    fills = {code: style.palette[style.fill_index[i]] for i, code in enumerate(src["ids"])}
    rows = {code: [col[i] for col in style.columns] for i, code in enumerate(src["ids"])}
    return fills, rows, style.labels


def test_rendered_map_has_no_internet_url(lsoa):
    """No http(s) URL anywhere in the page (no tiles, CDN links, attribution or xmlns URLs)."""
    darl = lsoa[lsoa["lad_code"] == DARLINGTON]
    m = build_choropleth(darl, _counts(darl), COUNT, attribution="Contains OS data © Crown copyright")
    html = _html(m)
    assert re.search(r"https?://", html) is None
    assert re.search(r"//[a-z0-9.-]+\.[a-z]{2,}/", html, re.IGNORECASE) is None  # protocol-relative
    # What the browser fetches: exactly the vendored Leaflet, same origin, and the files exist.
    assert offline_assets.asset_urls(html) == ["/app/static/leaflet/leaflet.js", "/app/static/leaflet/leaflet.css"]
    assert offline_assets.missing_static_files() == []
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower() and "d3" not in offline_assets.asset_urls(html)
    # Default icon path set explicitly (Leaflet guesses a wrong relative path inside st_folium).
    assert 'L.Icon.Default.imagePath = "/app/static/leaflet/images/"' in html
    assert "Contains OS data" in html


def test_folium_class_defaults_are_left_alone(lsoa):
    """The override is per map: folium's own class lists (other users in the process) keep their CDN URLs."""
    darl = lsoa[lsoa["lad_code"] == DARLINGTON]
    before = list(folium.Map.default_js)
    build_choropleth(darl, _counts(darl), COUNT)
    assert folium.Map.default_js == before
    assert offline_assets.external_assets(folium.Map(tiles=None))  # a plain map is not offline


def test_plugin_with_cdn_assets_is_refused():
    m = offline_assets.offline_map()
    assert offline_assets.external_assets(m) == []
    folium.plugins.Fullscreen().add_to(m)
    with pytest.raises(ValueError, match="not vendored"):
        offline_assets.assert_offline(m)
    with pytest.raises(ValueError, match="tiles=None"):
        offline_assets.offline_map(tiles="OpenStreetMap")


def test_county_durham_lsoa_payload_is_small(lsoa):
    durham = lsoa[lsoa["lad_code"] == DURHAM]
    assert len(durham) == 324
    html = _html(build_choropleth(durham, _counts(durham), COUNT))
    size_mb = len(html.encode("utf-8")) / 1e6
    assert 0.1 < size_mb <= 0.6, size_mb


def test_colours_follow_counts_and_missing_areas_are_grey(lsoa):
    darl = lsoa[lsoa["lad_code"] == DARLINGTON].reset_index(drop=True)
    values = pd.DataFrame({AREA_CODE: darl[CODE], COUNT: np.arange(len(darl))}).iloc[1:]  # first area missing
    m = build_choropleth(darl, values, COUNT, k=5, palette="YlOrRd")
    assert len(m.fills) == len(darl)
    ramp = PALETTES["YlOrRd"][5]
    assert m.fills[darl[CODE].iloc[-1]] == ramp[-1]  # largest count: darkest class
    assert m.fills[darl[CODE].iloc[1]] == ramp[0]  # smallest count: lightest class
    assert m.fills[darl[CODE].iloc[0]] == NO_DATA_COLOUR
    assert m.tooltip[darl[CODE].iloc[0]][COUNT] == "no data"
    assert m.tooltip[darl[CODE].iloc[5]][COUNT] == 5  # counts stay whole numbers in tooltips
    fills = [m.fills[c] for c in darl[CODE].iloc[1:]]
    assert sorted(set(fills), key=ramp.index) == list(ramp)  # quantiles use every class
    # Monotone: a larger count never gets a lighter class.
    ranks = [ramp.index(f) for f in fills]
    assert ranks == sorted(ranks)
    # What the browser gets: each area's colour in the style layer, in the outlines' order.
    assert _sent(m)[0] == m.fills


def test_tooltip_shows_name_code_and_count(lsoa):
    darl = lsoa[lsoa["lad_code"] == DARLINGTON].reset_index(drop=True)
    values = _counts(darl).assign(**{COUNT: lambda t: t[COUNT] + 1000})
    m = build_choropleth(darl, values, COUNT, aliases=["Area", "Code", "Incidents"])
    code = darl[CODE].iloc[0]
    assert list(m.tooltip[code]) == [NAME, CODE, COUNT]  # nothing else (lad columns) is sent
    assert m.tooltip[code][NAME] == darl[NAME].iloc[0]
    _, rows, labels = _sent(m)
    shown = values.set_index(AREA_CODE)[COUNT][code]
    assert rows[code] == [darl[NAME].iloc[0], code, f"{shown:,}"]  # sent as text, by position of the outline
    assert labels == ["Area", "Code", "Incidents"]
    assert "lad_name" not in _html(m)


def test_tooltip_values_are_text_and_names_cannot_inject_markup(lsoa):
    from geo.maps import _tooltip_text

    assert [_tooltip_text(v) for v in (1234, 12.3456, "no data")] == ["1,234", "12.35", "no data"]
    darl = lsoa[lsoa["lad_code"] == DARLINGTON].reset_index(drop=True)
    hostile = darl.assign(**{NAME: "<img src=x onerror=alert(1)>"})
    html = _html(build_choropleth(hostile, _counts(hostile), COUNT))
    assert "<img src=x" not in html  # tojson escapes < in the page; the browser escapes again (esc)
    assert "esc(label)" in html and "esc(columns[c][i])" in html


def test_legend_is_plain_html_without_d3(lsoa):
    darl = lsoa[lsoa["lad_code"] == DARLINGTON]
    values = pd.DataFrame({AREA_CODE: darl[CODE], COUNT: np.arange(len(darl))})
    m = build_choropleth(darl, values, COUNT, k=4, legend_title="Incidents 2019/20")
    assert m.legend.colours == PALETTES["YlOrRd"][4]
    # 65 areas with counts 0..64 in 4 quantile classes: upper bounds 16, 32, 48, 64.
    assert m.legend.labels == ("0 – 16", "17 – 32", "33 – 48", "49 – 64")
    assert "Incidents 2019/20" in m.legend.html
    html = _html(m)
    assert "atlas-legend" in html and "d3" not in offline_assets.asset_urls(html)
    assert not any(isinstance(c, folium.branca.colormap.ColorMap) for c in m.base._children.values())


def test_base_is_the_same_for_every_period_and_measure(lsoa):
    """st_folium keeps its map while only the style layer changes: the base script must not depend on values."""
    import streamlit_folium

    darl = lsoa[lsoa["lad_code"] == DARLINGTON].reset_index(drop=True)
    shown = display_areas(darl)
    a = build_choropleth(shown, _counts(darl, 1), COUNT, legend_title="Incidents 2020")
    b = build_categorical_map(shown, _counts(darl, 2).assign(label="Hot Spot - 99% Confidence"), "label",
                              {"Hot Spot - 99% Confidence": "#d62f27"}, legend_title="Gi* 2021")
    script_a = streamlit_folium._get_map_string(a.base)
    script_b = streamlit_folium._get_map_string(b.base)
    assert streamlit_folium.generate_js_hash(script_a, "k") == streamlit_folium.generate_js_hash(script_b, "k")
    assert a.fills != b.fills and set(b.fills.values()) == {"#d62f27"}
    assert "#d62f27" not in script_b and "Gi* 2021" not in script_b  # colours and legend travel in the layer


def test_legend_labels_for_counts_are_whole_and_do_not_overlap():
    from geo.classify import Classes

    # Quantile bounds of counts are often fractional; class (67.2, 96] holds the counts 68..96.
    assert Classes((67.2, 96, 127.6, 165, 369), 18, integer=True).labels() == [
        "18 – 67", "68 – 96", "97 – 127", "128 – 165", "166 – 369"]
    assert Classes((0, 1, 3), 0, integer=True).labels() == ["0", "1", "2 – 3"]
    assert Classes((1.5, 2.25), 0.1, integer=False).labels() == ["0.10 – 1.50", "1.50 – 2.25"]


def test_simplification_keeps_wards_a_coverage(wards):
    simplified = simplify_for_display(wards, 25.0)
    before, after = wards.geometry.to_numpy(), simplified.geometry.to_numpy()
    assert bool(shapely.coverage_is_valid(before))
    assert bool(shapely.coverage_is_valid(after))  # no gaps or overlaps introduced
    assert shapely.get_num_coordinates(after).sum() < shapely.get_num_coordinates(before).sum()
    np.testing.assert_allclose(shapely.area(after).sum(), shapely.area(before).sum(), rtol=0.005)
    assert simplified.crs.equals(BNG) and (simplified[CODE].to_numpy() == wards[CODE].to_numpy()).all()


def test_lsoa_set_simplified_per_local_authority(lsoa):
    """LSOAs are one coverage per LAD only: each LAD stays a coverage after simplification."""
    simplified = simplify_for_display(lsoa, 25.0)
    for _, part in simplified.groupby("lad_code"):
        assert bool(shapely.coverage_is_valid(part.geometry.to_numpy()))
    assert shapely.is_valid(simplified.geometry.to_numpy()).all()


def test_display_coordinates_are_wgs84_rounded(lsoa):
    out = to_display_wgs84(lsoa.iloc[:20])
    coords = shapely.get_coordinates(out.geometry.to_numpy())
    assert out.crs.to_epsg() == 4326
    assert ((coords[:, 0] > -3) & (coords[:, 0] < 1) & (coords[:, 1] > 51) & (coords[:, 1] < 55.5)).all()
    np.testing.assert_array_equal(coords, np.round(coords, 5))


def test_outlines_decode_to_the_display_coordinates(lsoa):
    """encode_outlines: delta-coded integers that the page's running sums turn back into the rounded vertices."""
    darl = to_display_wgs84(simplify_for_display(lsoa[lsoa["lad_code"] == DARLINGTON], 25.0)).reset_index(drop=True)
    src = json.loads(encode_outlines(darl[CODE].to_numpy(), darl.geometry.to_numpy(), 5, "k"))
    assert src["ids"] == darl[CODE].tolist() and src["scale"] == 100_000 and src["key"] == "k"
    for shape, geom in zip(src["shapes"], darl.geometry):
        rings = _decode_rings(shape)
        polygons = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
        assert len(rings) == len(polygons)
        for got, polygon in zip(rings, polygons):
            want = [polygon.exterior, *polygon.interiors]
            assert len(got) == len(want)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g / 1e5, np.asarray(w.coords), atol=1e-9)
    # Neighbours keep identical shared vertices (same integers), as the rounded coordinates did.
    shown = display_areas(lsoa[lsoa["lad_code"] == DARLINGTON])
    assert json.loads(shown.outlines)["key"] == shown.key and len(shown) == len(darl)


def test_tolerance_follows_the_zoom_the_map_opens_at(lsoa):
    """A quarter of a pixel where the whole selection fits the map, 25..100 m: wider maps are coarser."""
    durham = lsoa[lsoa["lad_code"] == DURHAM]
    darl = lsoa[lsoa["lad_code"] == DARLINGTON]
    assert 25.0 == display_tolerance(darl) <= display_tolerance(durham) < 35
    # Every shipped LSOA (County Durham to Medway, ~400 km) opens ~3 zoom levels out: the 100 m cap.
    assert display_tolerance(lsoa) == MAX_DISPLAY_TOLERANCE_M
    wide, narrow = display_areas(lsoa), display_areas(durham)
    assert len(wide.outlines) < 1.5 * len(narrow.outlines)  # 904 areas in not much more than 324's bytes


def test_canvas_only_for_large_layers(lsoa):
    darl = lsoa[lsoa["lad_code"] == DARLINGTON]
    assert build_choropleth(darl, _counts(darl), COUNT).base.options.get("prefer_canvas") in (None, False)
    canvas = build_choropleth(darl, _counts(darl), COUNT, prefer_canvas=True)
    assert canvas.base.options["prefer_canvas"] is True
    assert '"preferCanvas": true' in _html(canvas)
    assert CANVAS_THRESHOLD > len(lsoa)  # the shipped LSOAs stay SVG (clickable, testable paths)


def test_bad_inputs_raise_clear_errors(lsoa):
    darl = lsoa[lsoa["lad_code"] == DARLINGTON]
    dup = pd.concat([_counts(darl).iloc[:2], _counts(darl).iloc[:1]])
    with pytest.raises(AtlasError, match="more than one row for area"):
        build_choropleth(darl, dup, COUNT)
    with pytest.raises(AtlasError, match="lacks the column 'rate'"):
        build_choropleth(darl, _counts(darl), "rate")
    with pytest.raises(BoundaryError, match="no CRS"):
        build_choropleth(darl.set_crs(None, allow_override=True), _counts(darl), COUNT)


def test_outlines_inline_as_json_or_fetched_from_a_url(lsoa):
    """Standalone: the outlines are inlined as a JSON string (JSON.parse), safe inside <script>; with a URL
    (the app's media file) the page fetches them instead and the script carries only the URL and the key."""
    from geo.map_layers import _js_string

    darl = lsoa[lsoa["lad_code"] == DARLINGTON].head(20)
    shown = display_areas(darl)
    inline = _html(build_choropleth(shown, _counts(darl), COUNT))
    assert "JSON.parse(" in inline and _js_string(shown.outlines) in inline and "atlasFetchJson(url)" not in inline
    assert json.loads(json.loads(_js_string('{"a":"</script>"}'))) == {"a": "</script>"}
    assert "</script>" not in _js_string('{"a":"</script>"}')
    url = "/media/0123abcd.json"
    fetched = build_choropleth(shown, _counts(darl), COUNT, outlines_url=url)
    page = _html(fetched)
    assert "atlasFetchJson(url)" in page and json.dumps(url) in page and json.dumps(shown.key) in page
    assert shown.outlines not in page and _js_string(shown.outlines) not in page


def test_tooltips_inline_or_served_as_a_file_the_page_fetches(lsoa):
    """With serve_tips (the app) the style script carries colours only; the served JSON holds the outlines' key
    and every tooltip column in outline order, as the inline arrays would; a None URL falls back to inline."""
    darl = lsoa[lsoa["lad_code"] == DARLINGTON].head(20).reset_index(drop=True)
    shown = display_areas(darl)
    counts = _counts(darl)
    inline = build_choropleth(shown, counts, COUNT, [NAME, CODE, COUNT])
    served: list[str] = []
    fetched = build_choropleth(shown, counts, COUNT, [NAME, CODE, COUNT],
                               serve_tips=lambda text: served.append(text) or "/media/tips.gz")
    page, inline_page = _html(fetched), _html(inline)
    data = json.loads(served[0])
    assert data["key"] == shown.key
    names = list(shown.table[NAME].astype(str))
    assert data["columns"][0] == names and data["columns"][1] == list(shown.table[CODE].astype(str))
    assert all(json.dumps(n) in inline_page for n in names)
    assert not any(json.dumps(n) in page for n in names) and json.dumps("/media/tips.gz") in page
    no_server = _html(build_choropleth(shown, counts, COUNT, [NAME, CODE, COUNT], serve_tips=lambda text: None))
    assert all(json.dumps(n) in no_server for n in names)  # no URL: inline, as standalone


def test_legend_and_tooltip_labels_from_user_names_are_escaped(lsoa):
    """Category names (legend rows), titles, notes and tooltip headings reach innerHTML only escaped."""
    darl = lsoa[lsoa["lad_code"] == DARLINGTON].reset_index(drop=True)
    cats = {"<img src=x onerror=alert(1)>": "#d62f27", "<script>window.__pwned=1</script>": "#4575b5"}
    values = _counts(darl).assign(label=[list(cats)[i % 2] for i in range(len(darl))])
    m = build_categorical_map(darl, values, "label", cats, [NAME, "label"], aliases=['"><svg onload=alert(1)>', "Cat"],
                              legend_title="Ward $x^2$ & <b>bold</b>", legend_note="<img src=x onerror=alert(2)>")
    legend = m.legend.html
    for raw in (*cats, "<b>bold</b>", "<img src=x onerror=alert(2)>"):
        assert raw not in legend and html.escape(raw) in legend, raw
    page = _html(m)
    for raw in ("<img src=x", "<script>window", "<svg onload", "<b>bold"):
        assert raw not in page, raw  # nothing a browser would parse as markup; JSON keeps "<" as \u003c
    assert _sent(m)[2] == ['"><svg onload=alert(1)>', "Cat"]  # headings sent as text, escaped by esc() in the page
