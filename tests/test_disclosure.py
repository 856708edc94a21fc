"""Publication mode: counts 1-4 become "<5" and the figures derived from them are blanked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.disclosure import suppress_small_counts
from geo.schema import AtlasError


def table() -> pd.DataFrame:
    return pd.DataFrame({
        "area_code": ["a", "b", "c", "d", "e"],
        "count": [0, 1, 4, 5, 12],
        "rate_per_1000": [0.0, 0.5, 2.0, 2.5, 6.0],
        "rate_lower_95": [0.0, 0.1, 0.5, 0.8, 3.1],
        "whole_area_rate": [2.2] * 5,
    })


def test_small_counts_replaced_and_dependents_blanked():
    out = suppress_small_counts(table(), 5, ["count"], ["rate_per_1000", "rate_lower_95"])
    assert out["count"].tolist() == ["0", "<5", "<5", "5", "12"]
    assert out["rate_per_1000"].isna().tolist() == [False, True, True, False, False]
    assert out["rate_lower_95"].isna().tolist() == [False, True, True, False, False]
    assert out["whole_area_rate"].tolist() == [2.2] * 5  # not derived from the area's count
    assert out["suppressed"].tolist() == [False, True, True, False, False]
    assert table()["count"].tolist() == [0, 1, 4, 5, 12]  # input untouched


def test_mapping_blanks_only_each_counts_own_dependents():
    df = pd.DataFrame({"count_2022_23": [3, 10], "rate_2022_23": [1.0, 2.0],
                       "count_2023_24": [10, 2], "rate_2023_24": [3.0, 4.0], "pct_change": [5.0, 6.0]})
    deps = {"count_2022_23": ["rate_2022_23", "pct_change"], "count_2023_24": ["rate_2023_24", "pct_change"]}
    out = suppress_small_counts(df, 5, list(deps), deps)
    assert out["count_2022_23"].tolist() == ["<5", "10"]
    assert out["count_2023_24"].tolist() == ["10", "<5"]
    assert out["rate_2022_23"].isna().tolist() == [True, False]
    assert out["rate_2023_24"].isna().tolist() == [False, True]
    assert out["pct_change"].isna().all()


def test_other_threshold_and_missing_columns_ignored():
    out = suppress_small_counts(table(), 10, ["count", "repeat_count"], ["rate_per_1000", "not_there"])
    assert out["count"].tolist() == ["0", "<10", "<10", "<10", "12"]
    np.testing.assert_array_equal(out["rate_per_1000"].isna(), [False, True, True, True, False])


def test_bad_threshold_refused():
    with pytest.raises(AtlasError, match="threshold"):
        suppress_small_counts(table(), 1)
