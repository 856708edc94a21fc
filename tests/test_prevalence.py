"""Known-answer tests of the reporting-gap estimate (analysis.prevalence, atlas.cli_prevalence).

Source of the shipped rates (data/reference/csew_domestic_abuse_prevalence.csv), quoted from
ONS, "Domestic abuse victim characteristics, England and Wales: year ending March 2019", section 1
Main points, https://www.ons.gov.uk/peoplepopulationandcommunity/crimeandjustice/articles/
domesticabusevictimcharacteristicsenglandandwales/yearendingmarch2019 :
"an estimated 7.5% of women (1.6 million) and 3.8% of men (786,000) experienced domestic abuse in
the last year" (CSEW, adults aged 16 to 74 in households). No confidence interval or unweighted
base is given there, so lower_95/upper_95 are blank.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import prevalence as pv
from geo.schema import AREA_CODE, AREA_NAME, CODE, COUNT, PROJECT_ROOT, data_dir


@pytest.fixture(scope="module")
def rates() -> pd.DataFrame:
    return pv.read_prevalence()


def test_rate_file_rows_are_the_quoted_source_values(rates: pd.DataFrame):
    got = rates[["sex", "age_from", "age_to", "percent", "published_victims"]].to_dict("records")
    assert got == [
        {"sex": "F", "age_from": 16, "age_to": 74, "percent": 7.5, "published_victims": 1_600_000},
        {"sex": "M", "age_from": 16, "age_to": 74, "percent": 3.8, "published_victims": 786_000},
    ]
    assert rates["lower_95"].isna().all() and rates["upper_95"].isna().all()  # none published
    assert set(rates["survey_year"]) == {"year ending March 2019"}
    assert set(rates["source_url"]) == {
        "https://www.ons.gov.uk/peoplepopulationandcommunity/crimeandjustice/articles/"
        "domesticabusevictimcharacteristicsenglandandwales/yearendingmarch2019"}
    assert rates["population_covered"].str.contains("16 to 74 living in households").all()


def test_expected_victims_of_one_lsoa_by_hand(rates: pd.DataFrame):
    # Darlington LSOA E01012304 (shipped file): women 16-74 = 405, men 16-74 = 409 (ONS mid-2019).
    # Expected = 405 x 0.075 + 409 x 0.038 = 30.375 + 15.542 = 45.917 victims a year (estimate).
    band_pop = pd.read_csv(data_dir() / pv.SHIPPED_POPULATION_FILE, dtype={"lsoa_code": str})
    one = band_pop[band_pop["lsoa_code"] == "E01012304"]
    assert dict(zip(one["sex"], one["population"])) == {"F": 405, "M": 409}
    row = pv.expected_victims(one, rates).iloc[0]
    assert row[CODE] == "E01012304"
    assert row[pv.POPULATION_COVERED] == 814
    assert row[pv.EXPECTED] == pytest.approx(45.917, abs=1e-9)
    # No survey interval: both bounds equal the point estimate.
    assert row[pv.EXPECTED_LOWER] == row[pv.EXPECTED_UPPER] == pytest.approx(45.917, abs=1e-9)


def test_band_population_sums_single_years_into_bands_and_drops_the_rest():
    bands = pd.DataFrame({"sex": ["F", "F", "M"], "age_from": [16, 20, 16], "age_to": [19, 74, 74]})
    syoa = pd.DataFrame({
        "lsoa_code": ["A"] * 6, "sex": ["F", "F", "F", "F", "M", "M"],
        "age": [15, 16, 19, 75, 40, 90], "population": [5, 2, 3, 7, 11, 13],
    })
    out = pv.band_population(syoa, bands)
    # F 16-19 = 2 + 3; F 20-74 has nobody (no row); ages 15, 75 and 90 are outside every band.
    assert out.to_dict("records") == [
        {"lsoa_code": "A", "sex": "F", "age_from": 16, "age_to": 19, "population": 5},
        {"lsoa_code": "A", "sex": "M", "age_from": 16, "age_to": 74, "population": 11},
    ]


def test_ratio_and_limits_hand_made():
    # 4 recorded, 10 expected: ratio 0.4. Exact Poisson limits of 4 (Garwood): chi2(0.025, 8)/2 =
    # 1.089865 and chi2(0.975, 10)/2 = 10.241589, so the limits are 0.1089865 and 1.0241589.
    r, lo, hi = pv.reporting_ratio([4], [10])
    assert r[0] == pytest.approx(0.4)
    assert lo[0] == pytest.approx(0.1089865, abs=1e-6) and hi[0] == pytest.approx(1.0241589, abs=1e-6)
    # With a survey interval putting expected at 8-12: lower = 1.089865 / 12, upper = 10.241589 / 8.
    r, lo, hi = pv.reporting_ratio([4], [10], [8], [12])
    assert lo[0] == pytest.approx(1.089865 / 12, abs=1e-6) and hi[0] == pytest.approx(10.241589 / 8, abs=1e-6)
    # 0 recorded: ratio 0, lower 0, upper 3.688879 / 10; expected 0 or missing: no ratio.
    r, lo, hi = pv.reporting_ratio([0, 3, 3], [10, 0, np.nan])
    assert (r[0], lo[0]) == (0.0, 0.0) and hi[0] == pytest.approx(0.3688879, abs=1e-6)
    assert np.isnan(r[1:]).all() and np.isnan(lo[1:]).all() and np.isnan(hi[1:]).all()


def test_roll_up_sums_children_and_blanks_incomplete_parents():
    lsoa = pd.DataFrame({CODE: ["a", "b", "c"], pv.POPULATION_COVERED: [100.0, 200.0, 50.0],
                         pv.EXPECTED: [5.0, 7.5, 2.0], pv.EXPECTED_LOWER: [5.0, 7.5, 2.0],
                         pv.EXPECTED_UPPER: [5.0, 7.5, 2.0]})
    parents = pd.Series({"a": "W1", "b": "W1", "c": "W2", "d": "W2"})  # d has no population
    out = pv.roll_up(lsoa, parents).set_index(CODE)
    assert out.loc["W1", pv.EXPECTED] == 12.5 and out.loc["W1", pv.POPULATION_COVERED] == 300.0
    assert out[pv.EXPECTED_COLUMNS].loc["W2"].isna().all()  # a part-sum would understate W2


def test_reporting_gap_whole_area_ratio_and_flag():
    recorded = pd.DataFrame({AREA_CODE: ["W1", "W2", "W3"], AREA_NAME: ["One", "Two", "Three"], COUNT: [2, 60, 5]})
    expected = pd.DataFrame({CODE: ["W1", "W2"], pv.POPULATION_COVERED: [1000.0, 1000.0],
                             pv.EXPECTED: [50.0, 50.0], pv.EXPECTED_LOWER: [50.0, 50.0],
                             pv.EXPECTED_UPPER: [50.0, 50.0]})
    out = pv.reporting_gap(recorded, expected).set_index(AREA_CODE)
    # Whole area over the areas with an estimate: (2 + 60) / (50 + 50) = 0.62 (W3 left out).
    assert out[pv.WHOLE_AREA_RATIO].iloc[0] == pytest.approx(0.62)
    # W1: 2 / 50 = 0.04, upper = exact upper of 2 (7.224688) / 50 = 0.1445 < 0.62 -> flagged.
    assert out.loc["W1", pv.RATIO] == pytest.approx(0.04)
    assert out.loc["W1", pv.RATIO_UPPER] == pytest.approx(7.224688 / 50, abs=1e-6)
    assert bool(out.loc["W1", pv.UPPER_BELOW_WHOLE]) is True
    assert bool(out.loc["W2", pv.UPPER_BELOW_WHOLE]) is False
    assert pd.isna(out.loc["W3", pv.RATIO]) and pd.isna(out.loc["W3", pv.UPPER_BELOW_WHOLE])
    assert pv.lowest_ratio(out.reset_index(), 2)[AREA_CODE].tolist() == ["W1", "W2"]


def test_every_output_is_labelled_estimate():
    recorded = pd.DataFrame({AREA_CODE: ["W1", "W2"], AREA_NAME: ["One", "Two"], COUNT: [2, 3]})
    expected = pd.DataFrame({CODE: ["W1"], pv.POPULATION_COVERED: [10.0], pv.EXPECTED: [1.0],
                             pv.EXPECTED_LOWER: [1.0], pv.EXPECTED_UPPER: [1.0]})
    out = pv.reporting_gap(recorded, expected)
    derived = [c for c in out.columns if c not in (AREA_CODE, AREA_NAME, pv.RECORDED, pv.POPULATION_COVERED)]
    assert derived and all("estimate" in c for c in derived)
    assert out[pv.ESTIMATE_LABEL].str.startswith("Estimate:").all()
    assert out.attrs["notes"] and all(n.startswith("estimate:") for n in out.attrs["notes"])


def test_shipped_population_is_the_shared_file_banded(shared_data: Path, rates: pd.DataFrame):
    syoa = pd.read_csv(shared_data / pv.SHARED_SYOA_FILE, dtype={"lsoa_code": str})
    want = pv.band_population(syoa[syoa["lad_code_2019"].isin(pv.SHIPPED_LADS)], rates)
    shipped = pd.read_csv(data_dir() / pv.SHIPPED_POPULATION_FILE, dtype={"lsoa_code": str})
    assert shipped["lsoa_code"].nunique() == 389  # County Durham 324 + Darlington 65
    pd.testing.assert_frame_equal(shipped[want.columns].reset_index(drop=True), want, check_dtype=False)
    # The product reads the shared file when present: same numbers for the shipped authorities.
    banded, source = pv.band_population_for(rates, shared_data)
    assert "7 local authorities" in source and banded["lsoa_code"].nunique() == 904


def test_headline_national_check(shared_data: Path, rates: pd.DataFrame):
    """Published victims ~ rate x England and Wales people aged 16-74, to within 5%.

    Our files hold England's 16+ by sex (not 16-74, not Wales), so the base is approximated: England
    16+ x (England and Wales / England all ages, 59,439,840 / 56,286,961, data's SOURCES.md) x the
    7 authorities' share of 16-74 among 16+ (single-year file). CSEW covers households only (no
    communal establishments), so the approximate base runs slightly high: women 1.62m vs 1.6m
    published, men 0.81m vs 786,000.
    """
    england = pd.read_csv(shared_data / "population" / "lsoa_population.csv")
    syoa = pd.read_csv(shared_data / pv.SHARED_SYOA_FILE)
    adults = syoa[syoa["age"] >= 16]
    share = adults[adults["age"] <= 74].groupby("sex")["population"].sum() / adults.groupby("sex")["population"].sum()
    scale = 59_439_840 / 56_286_961
    for sex, col in (("F", "population_16_plus_female"), ("M", "population_16_plus_male")):
        row = rates.set_index("sex").loc[sex]
        expected = england[col].sum() * scale * share[sex] * row["percent"] / 100
        assert expected == pytest.approx(row["published_victims"], rel=0.05), sex


def test_cli_module_imports_without_pandas_and_writes_the_service_table(
        demo_store: Path, atlas_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    code = "import sys, atlas.cli_prevalence; sys.exit('pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT).returncode == 0
    import argparse
    import shutil

    from atlas.cli_prevalence import register, reporting_gap_for
    from store import Store

    shutil.copy(demo_store, atlas_home / "atlas.duckdb")
    (name,) = Store().datasets()["name"].tolist()
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "gap.csv"
    args = parser.parse_args(["reporting-gap", "--dataset", name, "--level", "lad", "--out", str(out)])
    assert args.run(args) == 0
    written = pd.read_csv(out)
    table = reporting_gap_for(Store(), name, "lad")
    assert written[AREA_CODE].tolist() == table[AREA_CODE].tolist() == ["E06000005", "E06000047"]
    np.testing.assert_allclose(written[pv.RATIO], table[pv.RATIO])
    assert written[pv.RECORDED].tolist() == table[pv.RECORDED].tolist()
    # Ward figures sum to the authority figures (recorded and expected both roll up by summing).
    wards = reporting_gap_for(Store(), name, "ward", year=str(table["period"].iloc[0]))
    by_lad = wards.groupby("lad_code")[[pv.RECORDED, pv.EXPECTED]].sum()
    np.testing.assert_allclose(by_lad.loc[table[AREA_CODE], pv.EXPECTED], table[pv.EXPECTED])
    assert by_lad.loc[table[AREA_CODE], pv.RECORDED].tolist() == table[pv.RECORDED].tolist()


def test_fresh_clone_reads_the_shipped_subset(rates: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ATLAS_SHARED_DATA", str(tmp_path / "absent"))
    banded, source = pv.band_population_for(rates)
    assert "County Durham and Darlington only" in source
    assert banded["lsoa_code"].nunique() == 389 and int(banded["population"].sum()) == 466_879
