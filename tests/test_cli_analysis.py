"""`atlas rates|hotspots|emerging|compare|priority|seed` against a temp store: CSV columns and values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from atlas.cli import main
from boundaries.population import population_table
from test_analyses import DATASET, HOT_WARD, RISING_WARD, darlington_counts, store_dataset

RATES_COLUMNS = [
    "area_code", "area_name", "lad_code", "period", "category", "count", "repeat_count", "population",
    "denominator", "rate_per_1000", "rate_lower_95", "rate_upper_95", "rate_lower_998", "rate_upper_998",
    "whole_area_rate", "rate_ratio", "compared_to_whole_area", "incident_share", "rate_note",
]
GI_COLUMNS = [
    "area_code", "area_name", "period", "statistic", "count", "population", "rate_per_1000", "n_neighbours",
    "gi_star", "gi_z", "gi_p", "gi_p_adjusted", "gi_p_sim", "gi_bin", "gi_label", "gi_bin_uncorrected", "gi_inference",
]
EMERGING_COLUMNS = [
    "area_code", "area_name", "first_period", "last_period", "n_periods", "count", "total_count", "ehsa_category",
    "n_hot", "n_cold", "share_hot", "final_z", "final_p", "trend_tau", "trend_z", "trend_p", "trend_direction",
]
COMPARE_COLUMNS = [
    "area_code", "area_name", "period_from", "period_to", "count_from", "count_to", "count_change", "pct_change",
    "rate_from", "rate_to", "rate_change", "p_value", "change_label", "gi_bin_from", "gi_bin_to", "hot_spot_transition",
    "gi_inference",
]
PRIORITY_COLUMNS = [
    "rank", "area_code", "area_name", "period", "score", "reasons", "count", "population", "rate_per_1000",
    "rate_ratio", "rate_score", "rate_weight", "incident_share", "volume_score", "volume_weight", "hot_recent",
    "n_recent", "hot_share", "ehsa_category", "hotspot_score", "hotspot_weight", "count_last_year", "pct_change_on_last_year",
    "change_p_value", "trend_score", "trend_weight", "imd_score", "deprivation_score", "deprivation_weight",
    "previous_rank", "previous_score", "score_change", "change_status", "gi_inference",
]


@pytest.fixture
def stored() -> None:
    store_dataset(darlington_counts())


def run(tmp_path: Path, *args: str) -> pd.DataFrame:
    out = tmp_path / "out.csv"
    assert main([*args, "--dataset", DATASET, "--out", str(out)]) == 0
    return pd.read_csv(out, dtype={"area_code": str, "period": str, "count": str})


def test_rates_csv(stored, tmp_path, capsys):
    table = run(tmp_path, "rates", "--level", "ward", "--grain", "fy", "--period", "2022/23")
    assert table.columns.tolist() == RATES_COLUMNS
    assert len(table) == 24
    row = table.set_index("area_code").loc[HOT_WARD]
    pop = population_table("ward").set_index("code").loc[HOT_WARD, "population_total"]
    assert row["rate_per_1000"] == pytest.approx(int(row["count"]) / pop * 1000)
    err = capsys.readouterr().err
    assert "note: areas limited to the local authorities with incidents in the data: Darlington" in err
    assert "wrote 24 rows" in err


def test_rates_csv_to_stdout(stored, capsys):
    assert main(["rates", "--dataset", DATASET, "--level", "lad", "--grain", "fy"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == ",".join(RATES_COLUMNS)
    assert len(lines) == 1 + 3 and all(line.startswith("E06000005,Darlington") for line in lines[1:])


def test_hotspots_reproducible_with_seed(stored, tmp_path):
    args = ["hotspots", "--level", "ward", "--grain", "fy", "--permutations", "99", "--seed", "11"]
    a = run(tmp_path, *args)
    b = run(tmp_path, *args)
    pd.testing.assert_frame_equal(a, b)
    assert a.columns.tolist() == GI_COLUMNS
    # North Road (x4, two x3 neighbours) is hot at z 2.6 (p 0.009), but FDR across 24 wards makes it p 0.23.
    assert (a.loc[a["area_code"] == HOT_WARD, "gi_bin_uncorrected"] > 0).all() and (a["gi_bin"] == 0).all()
    c = run(tmp_path, "hotspots", "--level", "ward", "--grain", "fy", "--permutations", "99", "--seed", "12")
    assert not a["gi_p_sim"].equals(c["gi_p_sim"])  # the seed drives the permutations
    assert a["gi_p"].equals(c["gi_p"])  # the default z-based p does not depend on it
    pd.testing.assert_series_equal(a["gi_z"], c["gi_z"])  # the analytical z does not depend on it


def test_hotspots_local_moran_options(stored, tmp_path):
    t = run(tmp_path, "hotspots", "--statistic", "local_moran", "--weights", "rook", "--correction", "fdr",
            "--permutations", "99", "--period", "2023/24")
    assert {"lisa_i", "lisa_z", "lisa_p", "lisa_p_adjusted", "lisa_quadrant", "lisa_label"} <= set(t.columns)
    assert set(t["statistic"]) == {"local_moran"} and set(t["period"]) == {"2023/24"}
    assert (t["lisa_p_adjusted"] >= t["lisa_p"]).all()


def test_emerging_csv(stored, tmp_path):
    t = run(tmp_path, "emerging", "--level", "ward", "--grain", "quarter")
    assert t.columns.tolist() == EMERGING_COLUMNS
    assert len(t) == 24
    assert t.set_index("area_code").loc[HOT_WARD, "ehsa_category"] == "Persistent Hot Spot"


def test_compare_csv_and_error(stored, tmp_path, capsys):
    t = run(tmp_path, "compare", "--period", "2023/24", "--against", "2022/23")
    assert t.columns.tolist() == COMPARE_COLUMNS
    row = t.set_index("area_code").loc[RISING_WARD]
    assert row["pct_change"] == pytest.approx(200.0) and row["change_label"] == "significant increase"
    assert main(["compare", "--dataset", DATASET, "--period", "2030/31", "--against", "2022/23"]) == 1
    assert "atlas: error: period '2030/31' is not in dataset" in capsys.readouterr().err


def test_priority_csv_ranks_planted_ward_first(stored, tmp_path):
    t = run(tmp_path, "priority", "--permutations", "99")
    assert t.columns.tolist() == PRIORITY_COLUMNS
    assert t["area_code"].iloc[0] == HOT_WARD and t["rank"].iloc[0] == 1
    trend = run(tmp_path, "priority", "--permutations", "99", "--w-rate", "0", "--w-volume", "0", "--w-hotspot", "0")
    assert trend["area_code"].iloc[0] == RISING_WARD
    assert trend["reasons"].iloc[0] == "up 200% on last year"


def test_priority_bad_weights_are_a_clear_error(stored, capsys):
    code = main(["priority", "--dataset", DATASET, "--w-rate", "0", "--w-volume", "0", "--w-hotspot", "0",
                 "--w-trend", "0"])
    assert code == 1
    assert "at least one priority weight must be above 0" in capsys.readouterr().err


def test_seed_csv(stored, tmp_path):
    t = run(tmp_path, "seed", "--level", "ward")
    assert t.columns.tolist()[:4] == ["area_code", "area_name", "population", "denominator"]
    assert "pct_change_2021_22_to_2023_24" in t.columns and t["rank"].tolist()[0] == 1
    t2 = run(tmp_path, "seed", "--level", "ward", "--last-fy", "2022/23", "--years", "2")
    assert [c for c in t2.columns if c.startswith("rate_")] == ["rate_2021_22", "rate_2022_23"]


def test_publication_mode_suppresses_small_counts(stored, tmp_path, capsys):
    plain = run(tmp_path, "rates", "--level", "lsoa", "--grain", "month", "--period", "2023-05")
    published = run(tmp_path, "rates", "--level", "lsoa", "--grain", "month", "--period", "2023-05",
                    "--publication")
    true = pd.to_numeric(plain["count"])
    shown = pd.to_numeric(published["count"], errors="coerce")
    small = true.between(0, 4)  # zeros too
    assert small.any() and (~small).any()
    assert (published.loc[small, "count"] == "<5").all()
    assert published.loc[small, "rate_per_1000"].isna().all()
    assert published.loc[small, "rate_upper_95"].isna().all()
    # Counts of 5 or more are perturbed by at most 2; a true 5 or 6 published as 3 or 4 is hidden too.
    big = true >= 5
    assert ((shown[big] - true[big]).abs().dropna() <= 2).all() and (shown[big].dropna() >= 5).all()
    assert (published.loc[big & shown.isna(), "count"] == "<5").all() and true[big & shown.isna()].le(6).all()
    assert (shown[big] != true[big]).any()
    assert published.loc[shown.notna(), "rate_per_1000"].to_numpy() == pytest.approx(
        (shown / published["population"] * 1000)[shown.notna()].to_numpy())
    repeat = pd.to_numeric(published["repeat_count"], errors="coerce")
    small_repeat = published["repeat_count"] == "<5"
    assert (small_repeat | repeat.ge(5)).all()
    assert pd.to_numeric(plain["repeat_count"]).between(0, 4).le(small_repeat).all()
    assert published["suppressed"].tolist() == (shown.isna() | small_repeat).tolist()
    assert "publication mode:" in capsys.readouterr().err


def test_publication_mode_blanks_priority_reasons_of_small_counts(stored, tmp_path):
    t = run(tmp_path, "priority", "--level", "lsoa", "--grain", "month", "--permutations", "99", "--publication")
    small = t["count"] == "<5"
    assert small.any() and (~small).any()
    assert t.loc[small, "reasons"].isna().all() and t.loc[small, "rate_ratio"].isna().all()
    assert t.loc[~small, "reasons"].notna().all()


# ---------------------------------------------------------------------------- end to end on the demo dataset


def test_demo_planted_persistent_hot_spot_is_flagged(tmp_path):
    pytest.importorskip("ingest")
    from demo.dataset import DEMO_DATASET, ensure_demo_dataset
    from demo.model import PLANTED_PATTERNS, PLANTED_WARDS
    from store import Store

    ensure_demo_dataset(Store())
    common = ["--dataset", DEMO_DATASET, "--area-filter", "E06000047", "--level", "ward", "--grain", "fy"]
    ward = PLANTED_WARDS["persistent"]

    def csv(*args: str) -> pd.DataFrame:
        out = tmp_path / "demo.csv"
        assert main([*args, *common, "--out", str(out)]) == 0
        return pd.read_csv(out, dtype={"area_code": str, "period": str})

    hot = csv("hotspots")
    mine = hot[hot["area_name"] == ward]
    assert len(mine) == 6 and (mine["gi_z"] > 2).all()
    # FDR across 63 wards (the default) flags it in four years; before correction in all six.
    assert mine["gi_bin"].tolist() == [1, 1, 2, 1, 0, 0] and (mine["gi_bin_uncorrected"] > 0).all()
    em = csv("emerging").set_index("area_name")
    assert em.loc[ward, "ehsa_category"] == "Persistent Hot Spot"
    pri = csv("priority")
    assert pri["area_name"].iloc[0] == ward
    assert "persistent hot spot" in pri["reasons"].iloc[0]
    # LSOA level by quarter: every planted persistent LSOA is a hot spot category.
    out = tmp_path / "lsoa.csv"
    assert main(["emerging", "--dataset", DEMO_DATASET, "--area-filter", "E06000047", "--level", "lsoa",
                 "--grain", "quarter", "--out", str(out)]) == 0
    lsoa = pd.read_csv(out, dtype={"area_code": str}).set_index("area_code")
    cats = lsoa.loc[PLANTED_PATTERNS["persistent"], "ehsa_category"]
    assert cats.str.endswith("Hot Spot").all() and (cats == "Persistent Hot Spot").sum() >= 4
