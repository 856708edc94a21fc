"""Audit: Emerging Hot Spot categories against ArcGIS Pro's published definitions, and a priority score
worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import emerging, priority

# One row per category; 10 periods; "H" hot, "C" cold, "." neither; trend: +1 rising, -1 falling, 0 none.
# Definitions: ArcGIS Pro "How Emerging Hot Spot Analysis works" (90% of 10 periods = 9).
CASES = [
    (".........H", 0, "New Hot Spot"),
    (".......HHH", 0, "Consecutive Hot Spot"),
    (".HHHHHHHHH", 1, "Intensifying Hot Spot"),
    ("HHHHHHHHHH", 0, "Persistent Hot Spot"),
    ("HHHHHHHHHH", -1, "Diminishing Hot Spot"),
    (".H......HH", 0, "Sporadic Hot Spot"),  # earlier hot period separated from the final run
    ("C.......HH", 0, "Consecutive Hot Spot"),  # earlier cold allowed: never hot before the run
    ("C..H.....H", 0, "Oscillating Hot Spot"),
    ("HHHHHHHHH.", 0, "Historical Hot Spot"),
    ("HHHHHHHHHC", 0, "New Cold Spot"),  # the final state wins over the hot history
    (".........C", 0, "New Cold Spot"),
    ("CCCCCCCCCC", -1, "Intensifying Cold Spot"),  # cold spots intensify as z falls
    ("....H.....", 0, "No Pattern Detected"),
]


def test_ehsa_categories_follow_arcgis_definitions():
    hot = np.array([[ch == "H" for ch in s] for s, _, _ in CASES])
    cold = np.array([[ch == "C" for ch in s] for s, _, _ in CASES])
    trend = np.array([t for _, t, _ in CASES], dtype=float)
    got = emerging.classify_emerging_hotspots(hot, cold, trend, np.where(trend != 0, 0.01, 0.9), 0.10)
    assert got.tolist() == [c for _, _, c in CASES]


def test_priority_score_by_hand():
    areas = pd.DataFrame({
        "area_code": ["A", "B", "C"], "count": [30, 10, 0], "population": [1000.0, 2000.0, 1000.0],
        "hot_recent": [4, 1, 0], "n_recent": [4, 4, 4],
        "ehsa_category": ["Persistent Hot Spot", "New Hot Spot", None], "count_last_year": [15, 10, 0],
    })
    out = priority.priority_scores(areas).set_index("area_code")
    # whole-area rate 40 / 4000; A at 3x (rate score 1), B at 0.5x (0)
    assert out.loc["A", "rate_ratio"] == pytest.approx(3.0) and out.loc["B", "rate_ratio"] == pytest.approx(0.5)
    assert out.loc["A", "change_p_value"] == pytest.approx(stats.binomtest(30, 45, 0.5).pvalue)  # < 0.05
    # weights 3 rate, 2 volume, 3 hotspot, 2 trend
    b = (3 * 0 + 2 * (10 / 30) + 3 * (0.25 + 0.5) / 2 + 2 * 0) / 10
    assert out.loc["A", "score"] == pytest.approx(1.0) and out.loc["B", "score"] == pytest.approx(b)
    assert out["rank"].tolist() == [1, 2, 3]
