"""Audit: the service layer (atlas.analyses) recomputed independently from the shipped lookup and
population CSVs, plus the demo dataset's headline figures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from analysis.periods import period_range
from atlas import analyses
from boundaries.load import load_areas
from geo.schema import data_dir
from store import NewDataset, Store

DARLINGTON = "E06000005"
DURHAM = "E06000047"


@dataclass
class _Report:
    file_name: str
    sha256: str
    kind: str = "counts"
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    reasons: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("file_name", "sha256", "kind", "rows_read", "rows_accepted",
                                              "rows_rejected", "reasons")}


@dataclass
class _Result:
    counts: pd.DataFrame
    report: _Report


def _store(counts: pd.DataFrame, name: str) -> Store:
    store = Store()
    sha = hashlib.sha256(pd.util.hash_pandas_object(counts, index=False).values.tobytes()).hexdigest()
    store.commit_import(name, _Result(counts, _Report(f"{name}.csv", sha, rows_read=len(counts),
                                                      rows_accepted=len(counts))), create=NewDataset("ons2011-ne-medway"))
    return store


def _lsoa_months(months: list[str], seed: int = 1) -> pd.DataFrame:
    """Random LSOA x month x 2-category counts for Darlington (sparse: zero rows dropped, as records give)."""
    lsoas = load_areas("lsoa", lad_codes=[DARLINGTON])["code"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    rows = [pd.DataFrame({"area_code": lsoas, "level": "lsoa", "period": m, "grain": "month", "category": cat,
                          "count": rng.poisson(lam, len(lsoas)).astype("int64")})
            for m in months for cat, lam in (("Violence", 1.2), ("Other", 0.9))]
    df = pd.concat(rows, ignore_index=True)
    df["repeat_count"] = pd.array(df["count"] // 3, dtype="Int64")
    return df[df["count"] > 0].reset_index(drop=True)


def _fy(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    start = y if m >= 4 else y - 1
    return f"{start}/{str(start + 1)[2:]}"


def _lookup() -> pd.DataFrame:
    return pd.read_csv(data_dir() / "lookups" / "lsoa_to_ward.csv", dtype=str)[["lsoa_code", "ward_code"]]


def _lsoa_population() -> pd.Series:
    pop = pd.read_csv(data_dir() / "population" / "lsoa_population_mid2019.csv", dtype={"lsoa_code": str})
    return pop.set_index("lsoa_code")["population_total"]


def test_ward_rates_are_sum_of_lsoa_counts_over_sum_of_lsoa_population():
    counts = _lsoa_months(period_range("2021-04", "2023-03", "month"))
    store = _store(counts, "wards")
    table = analyses.rates_table(store, "wards", "ward", "fy").set_index(["area_code", "period"])
    # Independent: the shipped LSOA -> ward lookup and LSOA populations, summed by hand.
    ward_of = _lookup().set_index("lsoa_code")["ward_code"]
    pop = _lsoa_population()
    ward_pop = pop.groupby(pop.index.map(ward_of)).sum()
    c = counts.assign(ward=counts["area_code"].map(ward_of), fy=counts["period"].map(_fy))
    expected = c.groupby(["ward", "fy"])["count"].sum().reindex(table.index, fill_value=0)
    assert (table["count"] == expected).all()
    wards = table.index.get_level_values(0)
    np.testing.assert_allclose(table["rate_per_1000"], expected / wards.map(ward_pop).to_numpy() * 1000)
    # Whole-area rate: all Darlington wards pooled (= Darlington's count / Darlington's population).
    darlington_pop = pop[pop.index.map(ward_of).isin(set(wards))].sum()
    for fy, total in c.groupby("fy")["count"].sum().items():
        got = table.xs(fy, level="period")["whole_area_rate"].unique()
        assert got == pytest.approx([total / darlington_pop * 1000])


def test_category_filter_counts_only_that_category():
    counts = _lsoa_months(period_range("2022-04", "2023-03", "month"))
    store = _store(counts, "cats")
    table = analyses.rates_table(store, "cats", "lsoa", "quarter", category="Violence")
    expected = counts[counts["category"] == "Violence"]["count"].sum()
    assert table["count"].sum() == expected and set(table["category"]) == {"Violence"}
    assert analyses.rates_table(store, "cats", "lsoa", "quarter")["count"].sum() == counts["count"].sum()


def test_partly_covered_year_is_not_a_significant_decrease_everywhere():
    """Audit finding: compare treated 2023/24 (data to September, 6 of 12 months) as a whole year, so the
    exact test called a steady rate a significant fall. Exposure must be the months covered."""
    months = period_range("2021-04", "2023-09", "month")
    lsoas = load_areas("lsoa", lad_codes=[DARLINGTON])["code"].astype(str).to_numpy()
    steady = pd.concat([pd.DataFrame({"area_code": lsoas, "level": "lsoa", "period": m, "grain": "month",
                                      "category": "All", "count": np.int64(3)}) for m in months], ignore_index=True)
    steady["repeat_count"] = pd.array([pd.NA] * len(steady), dtype="Int64")
    store = _store(steady, "partial")
    table = analyses.compare_table(store, "partial", "ward", "fy", period="2023/24", against="2022/23")
    assert any("2023/24 is only partly covered" in n for n in table.attrs["notes"])
    assert (table["pct_change"] == -50).all()  # counts are as recorded ...
    assert (table["change_label"] == "no significant change").all()  # ... but the monthly rate did not move
    assert (table["p_value"] > 0.5).all()


def test_partial_coverage_is_a_property_of_the_extract_not_of_a_category():
    """Audit finding: a rare category with no incident in the final months made those months look
    uncovered (note and exposure) although the extract covers them."""
    counts = _lsoa_months(period_range("2021-04", "2023-03", "month"))
    rare = counts.iloc[[0]].assign(category="Rare", period="2022-05", count=np.int64(4))
    store = _store(pd.concat([counts, rare], ignore_index=True), "rare")
    table = analyses.rates_table(store, "rare", "ward", "fy", category="Rare")
    assert not any("partly covered" in n for n in table.attrs["notes"])


def test_periods_are_chronological_for_every_grain():
    counts = _lsoa_months(period_range("2021-10", "2023-03", "month"))
    store = _store(counts, "order")
    for grain, first in (("month", "2021-10"), ("quarter", "2021-Q4"), ("fyquarter", "2021/22-Q3"),
                         ("fy", "2021/22"), ("year", "2021")):
        f = analyses.load_frame(store, "order", "ward", grain)
        assert f.periods[0] == first
        keys = [analyses.period_sort_key([p], grain)[0] for p in f.periods]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        per_area = f.counts[f.counts["area_code"] == f.codes[0]]["period"].tolist()
        assert per_area == list(f.periods)


def test_demo_headline_county_durham_about_16_per_1000():
    from demo.dataset import ensure_demo_dataset

    store = Store()
    name = ensure_demo_dataset(store)
    table = analyses.rates_table(store, name, "lad", "fy")
    durham = table[table["area_code"] == DURHAM]
    assert (durham["population"] == 530_094).all()  # ONS mid-2019 estimate for County Durham
    np.testing.assert_allclose(durham["rate_per_1000"], durham["count"] / 530_094 * 1000)
    assert durham["rate_per_1000"].between(15.0, 17.0).all()
    # the LSOA table of the same data adds up to the district figure
    lsoa = analyses.rates_table(store, name, "lsoa", "fy", period="2024/25", area_filter=DURHAM)
    assert lsoa["count"].sum() == durham.loc[durham["period"] == "2024/25", "count"].iloc[0]
    assert lsoa["whole_area_rate"].iloc[0] == pytest.approx(durham.loc[durham["period"] == "2024/25",
                                                                       "rate_per_1000"].iloc[0])
