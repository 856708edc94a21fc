"""About / method page: it renders docs/method.md, and the document agrees with the code it describes."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from streamlit.testing.v1 import AppTest

from analysis.emerging import EHSA_CATEGORIES, PATTERNS
from analysis.intervals import BYAR_MIN_COUNT
from analysis.priority import EHSA_SCORES, RATE_RATIO_FULL, TREND_FULL_PCT, PriorityWeights
from geo.schema import PROJECT_ROOT, SYNTHETIC_LABEL
from views.about import method_text

PAGE = str(PROJECT_ROOT / "views" / "about.py")


@pytest.fixture(scope="module")
def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_renders_the_method_document(page: AppTest):
    shown = "\n".join(m.value for m in page.markdown)
    assert shown.strip() == method_text().strip()
    for phrase in ("Byar's method", "exact", "Getis-Ord Gi*", "Local Moran's I", "Benjamini & Hochberg",
                   "Bonferroni", "funnel", "empirical Bayes", "Spatial EB", "publication mode", "<5",
                   SYNTHETIC_LABEL, "not domestic abuse", "best-fit lookup", "December 2013",
                   "Open Government Licence v3.0", "Contains Ordnance Survey data"):
        assert phrase.lower() in shown.lower(), phrase


def test_document_matches_the_interval_and_gi_rules():
    text = method_text()
    assert f"**below {BYAR_MIN_COUNT} events**" in text and f"**{BYAR_MIN_COUNT} events or more**" in text
    for row in ("| +3 / −3 | Hot / Cold spot, 99% confidence | p ≤ 0.01 |",
                "| +2 / −2 | Hot / Cold spot, 95% confidence | p ≤ 0.05 |",
                "| +1 / −1 | Hot / Cold spot, 90% confidence | p ≤ 0.10 |"):
        assert row in text


def test_document_lists_all_17_emerging_categories():
    text = method_text()
    assert len(EHSA_CATEGORIES) == 17 and "**17 categories**" in text
    for pattern in PATTERNS:
        assert f"| **{pattern}** |" in text, pattern
    assert "| **No Pattern Detected** |" in text
    # The precedence sentence names the patterns in the code's order.
    assert ", ".join(p.lower() for p in PATTERNS) + ", then No Pattern Detected" in " ".join(text.split())


def test_document_matches_priority_weights_and_scaling():
    text = method_text()
    label = {"rate": "rate", "volume": "volume", "hotspot": "hot spot", "trend": "trend", "deprivation": "deprivation"}
    for component, weight in asdict(PriorityWeights()).items():
        shown = f"{weight:g}" + (" (off)" if weight == 0 else "")
        assert f"| **{label[component]}** | {shown} |" in text, component
    assert f"rising to 1 at {RATE_RATIO_FULL:g} times" in text
    assert f"% rise ÷ {TREND_FULL_PCT:g}%" in text
    assert "Persistent / Intensifying 1, Consecutive 0.75, New / Oscillating / Sporadic / Diminishing 0.5, " \
           "Historical 0.25" in text
    assert EHSA_SCORES == {"Persistent Hot Spot": 1.0, "Intensifying Hot Spot": 1.0, "Consecutive Hot Spot": 0.75,
                           "New Hot Spot": 0.5, "Oscillating Hot Spot": 0.5, "Sporadic Hot Spot": 0.5,
                           "Diminishing Hot Spot": 0.5, "Historical Hot Spot": 0.25}
