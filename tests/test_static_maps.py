"""Static maps: valid PNG/SVG/PDF files, furniture and wording present, classes identical to the screen map."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.hotspots import GI_COLOURS
from boundaries.load import load_areas
from geo._cartography import nice_length_km
from geo.attribution import ATTRIBUTION, UNSUPPRESSED_TEXT, disclosure_text
from geo.classify import classify
from geo.maps import Legend, NO_DATA_COLOUR, build_categorical_map, build_choropleth, palette_colours
from geo.schema import AREA_CODE, CODE, PERIOD, AtlasError
from geo.print_page import page_size, save_figure
from geo.static_maps import SUPPRESSED_LABEL, render_map, render_small_multiples

DURHAM = "E06000047"


def pdf_text(data: bytes) -> str:
    """ASCII text of a matplotlib PDF (Type 3 fonts): the strings of every TJ/Tj in the inflated streams."""
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:  # a decompressor object tolerates the stream's last byte being taken for the line end
            raw = zlib.decompressobj().decompress(m.group(1))
        except zlib.error:
            raw = m.group(1)
        for arr in re.finditer(rb"\[(.*?)\]\s*TJ|\((.*?)(?<!\\)\)\s*Tj", raw, re.S):
            parts = re.findall(rb"\(((?:\\.|[^\\)])*)\)", arr.group(1)) if arr.group(1) is not None else [arr.group(2)]
            out.append(re.sub(rb"\\([()\\])", rb"\1", b"".join(parts)).decode("latin-1"))
    return "\n".join(out)


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))


@pytest.fixture(scope="module")
def wards():
    return load_areas("ward", lad_codes=[DURHAM])


@pytest.fixture(scope="module")
def values(wards) -> pd.DataFrame:
    """Three periods of made-up counts and rates per ward (a few small counts among them)."""
    rng = np.random.default_rng(7)
    codes = wards[CODE].astype(str).to_numpy()
    frames = []
    for i, p in enumerate(["2022/23", "2023/24", "2024/25"]):
        count = rng.poisson(40 + 10 * i, len(codes))
        count[:3] = [0, 2, 4]
        frames.append(pd.DataFrame({AREA_CODE: codes, PERIOD: p, "count": count, "value": count / 7.5 + i}))
    return pd.concat(frames, ignore_index=True)


def _legend_of(fmap) -> Legend:
    return fmap.legend


def test_classes_and_colours_match_the_screen_map(wards, values):
    classes = classify(values["value"], "quantiles", 5)  # over every period, as pages/_cache.map_classes
    one = values[values[PERIOD] == "2024/25"]
    m = render_map(wards, one, "rate", title="Rate map", classes=classes)
    screen = _legend_of(build_choropleth(wards, one, "value", classes=classes))
    assert [e.label for e in m.legend] == list(screen.labels) == classes.labels()
    assert [e.colour for e in m.legend] == list(screen.colours) == list(palette_colours("YlOrRd", classes.k))
    expected = np.array(palette_colours("YlOrRd", classes.k))[classes.assign(one["value"])]
    drawn = m.area_colours.reindex(one[AREA_CODE]).to_numpy()
    assert (drawn == expected).all()
    assert sum(e.n for e in m.legend) == len(one)


def test_categorical_measure_uses_the_hot_spot_colours(wards):
    labels = ["Hot spot 99%", "Cold spot 95%", "Not significant"]
    codes = wards[CODE].astype(str)
    vals = pd.DataFrame({AREA_CODE: codes, "value": [labels[i % 3] for i in range(len(codes))]})
    vals.loc[0, "value"] = None
    m = render_map(wards, vals, "gi_bin", title="Gi*")
    screen = _legend_of(build_categorical_map(wards, vals, "value", GI_COLOURS))
    assert [e.label for e in m.legend] == list(screen.labels)
    assert m.area_colours[codes.iloc[1]] == GI_COLOURS[labels[1]]
    assert m.area_colours[codes.iloc[0]] == NO_DATA_COLOUR


def test_png_is_300_dpi_with_metadata(tmp_path: Path, wards, values):
    m = render_map(wards, values[values[PERIOD] == "2024/25"], "rate", title="Rate per 1,000, 2024/25",
                   synthetic=True)
    path = m.save(tmp_path / "map.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        assert img.info["dpi"][0] == pytest.approx(300, abs=1)
        assert img.size == (round(11.69 * 300), round(8.27 * 300))  # A4 landscape
        assert img.info["Title"] == "Rate per 1,000, 2024/25"
        assert UNSUPPRESSED_TEXT in img.info["Description"] and "synthetic demo data" in img.info["Description"]
        assert img.info["Copyright"] == ATTRIBUTION


def test_svg_holds_title_legend_scale_bar_attribution_and_mode(tmp_path: Path, wards, values):
    one = values[values[PERIOD] == "2024/25"]
    classes = classify(values["value"])
    m = render_map(wards, one, "rate", title="Rate per 1,000 by ward", subtitle="County Durham · Ward · 2024/25",
                   classes=classes, label_top=3, synthetic=True, source="Source: test data")
    text = m.save(tmp_path / "map.svg").read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for needle in ("Rate per 1,000 by ward", "County Durham · Ward · 2024/25", " km", "N",
                   "incidents per 1,000 residents", "Contains Ordnance Survey data", "Open Government",
                   UNSUPPRESSED_TEXT, "synthetic demo data", "Source: test data", *classes.labels()):
        assert needle in text, needle
    top3 = one.sort_values("value", ascending=False).head(1)[AREA_CODE].iloc[0]
    assert wards.set_index(CODE).loc[top3, "name"] in text  # the top area is named


def test_pdf_is_one_page_with_text(tmp_path: Path, wards, values):
    m = render_map(wards, values[values[PERIOD] == "2024/25"], "count", title="Incidents by ward",
                   paper="a3", orientation="portrait", publication=True)
    data = m.save(tmp_path / "map.pdf").read_bytes()
    assert data[:5] == b"%PDF-" and pdf_pages(data) == 1
    text = pdf_text(data)
    assert "Incidents by ward" in text and " km" in text and "Publication mode: counts perturbed, 0-4 suppressed" in text
    assert m.figure.get_size_inches() == pytest.approx(page_size("a3", "portrait"))


def test_publication_mode_hatches_suppressed_areas(wards, values):
    one = values[values[PERIOD] == "2024/25"].copy()
    one["suppressed"] = one["count"].between(1, 4)
    one.loc[one["suppressed"], "value"] = np.nan
    m = render_map(wards, one, "rate", title="t", classes=classify(values["value"]), publication=True)
    hidden = one.loc[one["suppressed"], AREA_CODE]
    assert len(hidden) == 2
    assert (m.area_colours[hidden] == "#ffffff").all()
    entry = next(e for e in m.legend if e.label == SUPPRESSED_LABEL)
    assert entry.n == 2 and entry.hatch
    assert "no data" not in [e.label for e in m.legend]  # hidden areas are not "no data"
    assert disclosure_text(True) == "Publication mode: counts perturbed, 0-4 suppressed"


def test_small_multiples_share_one_set_of_classes(tmp_path: Path, wards, values):
    periods = ["2022/23", "2023/24", "2024/25"]
    m = render_small_multiples(wards, values, "rate", periods, title="Rate by year")
    assert m.classes == classify(values["value"], "quantiles", 5)
    assert sum(e.n for e in m.legend) == len(values)  # counted over every panel
    titles = [ax.get_title() for ax in m.figure.axes if ax.get_title()]
    assert titles == periods
    text = m.save(tmp_path / "multi.svg").read_text(encoding="utf-8")
    assert all(p in text for p in periods) and " km" in text
    with pytest.raises(AtlasError, match="2019/20"):
        render_small_multiples(wards, values, "rate", ["2019/20"], title="x")


def test_errors_and_helpers(tmp_path: Path, wards, values):
    m = render_map(wards, values[values[PERIOD] == "2024/25"], "rate", title="t")
    with pytest.raises(AtlasError, match="map.jpg"):
        save_figure(m.figure, tmp_path / "map.jpg")
    with pytest.raises(AtlasError, match="more than one row"):
        render_map(wards, values, "rate", title="t")
    with pytest.raises(AtlasError, match="unknown map measure"):
        render_map(wards, values, "colour", title="t")
    with pytest.raises(AtlasError, match="paper"):
        page_size("letter")
    assert nice_length_km(60_000) == 10.0 and nice_length_km(9_000) == 1.0 and nice_length_km(25_000) == 5.0


# Names from user files (areas, localities, categories, datasets) as they might arrive: HTML, markdown, TeX.
HOSTILE_NAMES = ("<img src=x onerror=alert(1)>", "<script>window.__pwned=1</script>", "Ward $x^2$ & <b>bold</b>",
                 r"Ward $\frac{$ cost", "javascript:alert(1)")


def _drawn_literally(fig, text: str) -> list:
    """The figure's Text objects showing ``text``, each checked to be drawn as typed (no mathtext parse)."""
    from matplotlib.text import Text

    hits = [t for t in fig.findobj(Text) if text in t.get_text()]
    for t in hits:
        assert t._preprocess_math(t.get_text()) == (t.get_text(), False), t.get_text()  # what draw() renders
    return hits


def test_user_names_draw_literally_in_static_maps(tmp_path: Path, wards, values):
    """A "$" in a name is a dollar sign (mathtext would draw a formula, or fail the export); SVG text stays text."""
    import xml.etree.ElementTree as ET

    hostile = wards.assign(name=[HOSTILE_NAMES[i % len(HOSTILE_NAMES)] for i in range(len(wards))])
    one = values[values[PERIOD] == "2024/25"]
    m = render_map(hostile, one, "rate", title="Rate in Ward $x^2$ & <b>bold</b>", subtitle=r"Ward $\frac{$ cost",
                   units="per $1,000$", label_top=len(hostile), source="Source: dataset “javascript:alert(1) $5$”")
    for text in ("Rate in Ward $x^2$ & <b>bold</b>", r"Ward $\frac{$ cost", "per $1,000$", "javascript:alert(1) $5$"):
        assert _drawn_literally(m.figure, text), text
    labels = {t.get_text() for t in m.figure.axes[0].texts}
    assert set(HOSTILE_NAMES) <= labels  # area labels exactly as named (each name labels several wards)
    for name in HOSTILE_NAMES:
        _drawn_literally(m.figure, name)
    m.save(tmp_path / "map.png")  # a mathtext parse error would raise here
    m.save(tmp_path / "map.pdf")
    root = ET.parse(m.save(tmp_path / "map.svg")).getroot()  # well-formed: names are escaped in the XML
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert not tags & {"script", "img", "b", "foreignObject"}, tags
    shown = "".join(root.itertext())
    for name in HOSTILE_NAMES:
        assert name in shown, name


def test_user_names_draw_literally_in_small_multiples_and_page_text(tmp_path: Path, wards, values):
    from geo.print_page import page_footer, page_header
    from matplotlib.figure import Figure

    m = render_small_multiples(wards, values, "rate", ["2023/24", "2024/25"], title=r"Ward $\frac{$ cost",
                               subtitle="Cat $x^2$ & <b>bold</b>", source="Source: “$a$”")
    for text in (r"Ward $\frac{$ cost", "Cat $x^2$ & <b>bold</b>", "Source: “$a$”"):
        assert _drawn_literally(m.figure, text), text
    m.save(tmp_path / "multiples.png")
    fig = Figure(figsize=page_size())
    page_header(fig, "$x$ title", "$y$ subtitle")
    page_footer(fig, "$z$ source", "$w$ attribution", publication=False, synthetic=False)
    for text in ("$x$ title", "$y$ subtitle", "$z$ source", "$w$ attribution"):
        assert _drawn_literally(fig, text), text
