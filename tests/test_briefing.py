"""Briefing pack: a valid multi-page PDF with every section, the mode and synthetic label on every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atlas.briefing import build_briefing
from geo.attribution import disclosure_text
from geo.schema import AtlasError
from store import Store
from test_static_maps import pdf_text


@pytest.fixture
def demo(demo_store: Path, demo_dataset: tuple[str, str]) -> tuple[Store, str]:
    """The session's demo store (tests/conftest.py); a briefing only reads it."""
    return Store(demo_store), demo_dataset[0]


def test_briefing_pack_has_every_section_and_footer(tmp_path: Path, demo):
    store, name = demo
    result = build_briefing(store, name, "County Durham", "2024-Q3", out=tmp_path / "brief.pdf")
    data = result.path.read_bytes()
    assert data[:5] == b"%PDF-"
    n = len(re.findall(rb"/Type\s*/Page\b(?!s)", data))
    assert n == len(result.pages) == 8
    text = pdf_text(data)
    for heading in ("County Durham", "At a glance", "Priority areas", "Rate per 1,000 by ward, 2024-Q3",
                    "Gi* hot and cold spots by ward", "Emerging hot spots", "Compare areas and localities",
                    "Trend", "Method notes, caveats and attribution", "Contains Ordnance Survey data"):
        assert heading in text, heading
    # every page footer: disclosure mode and the synthetic label
    # (the extractor reads ASCII only: matplotlib draws "—" as a glyph object, not a character)
    assert text.count("Unsuppressed ") >= 8 and text.count("not for publication · Data: synthetic demo data") == 8
    assert all(f"Page {i} of 8" in text for i in range(1, 9))
    assert " km" in text  # scale bars on the maps
    # The Gi* map and the method notes say the bins are after FDR; the headline counts the uncorrected ones too.
    flat = " ".join(text.split())  # wrapped lines
    assert flat.count("false discovery rate") >= 2
    assert "before the multiple-testing correction" in flat
    assert b"/Subject" in data and result.seconds < 60  # ~5 s on the demo data


def test_publication_pack_states_the_mode_and_hides_small_counts(tmp_path: Path, demo):
    store, name = demo
    result = build_briefing(store, name, "E06000005", "2024/25", level="lsoa", publication=True,
                            out=tmp_path / "pub.pdf")
    text = pdf_text(result.path.read_bytes())
    assert text.count(disclosure_text(True)) >= 8 and "Unsuppressed" not in text
    assert "Darlington" in text and "LSOA" in text


def test_briefing_errors_name_the_problem(tmp_path: Path, demo):
    store, name = demo
    with pytest.raises(AtlasError, match="no local authority 'Narnia'"):
        build_briefing(store, name, "Narnia", "2024-Q3", out=tmp_path / "x.pdf")
    with pytest.raises(AtlasError, match="the data runs"):
        build_briefing(store, name, "County Durham", "2018-Q3", out=tmp_path / "x.pdf")
    with pytest.raises(AtlasError, match=r"\.pdf"):
        build_briefing(store, name, "County Durham", "2024-Q3", out=tmp_path / "x.png")
