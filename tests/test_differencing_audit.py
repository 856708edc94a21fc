"""Differencing across the tables one publication can hold (issue 12): the attack, before and after perturbation.

The publication-mode rates tables of the synthetic demo's Darlington, financial year 2024/25, at LSOA, ward and
local authority level, by month, quarter and year, for all categories and for one category (so "one category
against all" is in), with the whole-area total each table reveals (whole-area rate x population), are turned
into sums over the finest cells (LSOA x month x {the category, every other category}).

The reader knows: a complementary count ("*") is 5 or more; with exact counts (before) a hidden count ("<5") is
0-4 and a shown count is the true one; with perturbed counts (after, analysis.perturbation) a hidden count is
0-6 and a shown count lies in the perturbation table's range of it. The attack is a linear
program per hidden count (scipy's HiGHS: its least and greatest value over every set of finest counts consistent
with everything shown); a count is recovered when that range holds one whole number. With exact counts
hundreds are recovered; with perturbed counts none is. The counts are reported in docs/trust.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.differencing import determined_by_sums, pinned_counts
from analysis.perturbation import possible_true_counts
from analysis.periods import first_month_index, months_per_period

DARLINGTON = "E06000005"
CATEGORY = "Stalking and harassment"
MONTHS = [f"{y}-{m:02d}" for y, m in [(2024, m) for m in range(4, 13)] + [(2025, m) for m in range(1, 4)]]
TABLES = [(level, grain, category) for level in ("lsoa", "ward", "lad") for grain in ("month", "fyquarter", "fy")
          for category in (None, CATEGORY)]
HIDDEN = (0, 4)  # what "<5" tells a reader of exact counts (publication mode hides zeros too)
PERTURBED_HIDDEN = possible_true_counts(0, below=5)  # ... and of perturbed counts: 0-6
COMPLEMENT = (5, 10**6)  # "*": a count of 5 or more hidden so that no "<5" can be worked out within its table


def test_a_cell_is_determined_by_a_total_less_its_shown_sibling():
    # cells a, b; shown: a + b and b -> a is determined; shown: a + b only -> a is not, a + b is
    assert determined_by_sums(np.array([[1, 1], [0, 1]]), np.array([[1, 0]])).tolist() == [True]
    assert determined_by_sums(np.array([[1, 1]]), np.array([[1, 0], [1, 1]])).tolist() == [False, True]
    assert determined_by_sums(np.zeros((0, 2)), np.array([[1, 0]])).tolist() == [False]


def test_a_two_by_two_with_every_margin_shown_keeps_its_inner_cells():
    """The classic pattern: four hidden inner cells under shown row and column totals are not determined,
    although each row's and the grand total are (a 2 x 2 has a one-dimensional family of solutions)."""
    margins = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 1, 0, 1]])
    assert determined_by_sums(margins, np.eye(4)).tolist() == [False] * 4
    assert determined_by_sums(margins, np.array([[1, 1, 1, 1], [1, 1, 0, 0]])).tolist() == [True, True]


def test_the_attack_recovers_a_hidden_count_from_a_total_less_its_shown_part():
    """Hand-worked: cells a (3, hidden) and b (9, shown) under a total of 12. Exact: a = 12 - 9 = 3. Perturbed
    (the reader sees b as 10 and the total as 11, so b is 8..12 and the total 9..13): a could be 0..5."""
    matrix = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    exact = pinned_counts(matrix, np.array([False, True, True]), np.array([HIDDEN, [9, 9], [12, 12]]))
    assert exact.tolist() == [3]
    bounds = np.array([PERTURBED_HIDDEN, possible_true_counts(10), possible_true_counts(11)])
    assert bounds.tolist() == [[0, 6], [8, 12], [9, 13]]
    assert pinned_counts(matrix, np.array([False, True, True]), bounds).tolist() == [None]


@pytest.fixture(scope="module")
def published(demo_store, demo_dataset):
    """{"exact": rows, "perturbed": rows}; rows = [(level, grain, category, area_code, period, kind, value)] of the
    publication-mode rates tables and the whole-area totals they reveal, for Darlington in 2024/25."""
    from atlas.analyses import frame_cache

    out = _publication(demo_store, demo_dataset[0], TABLES)
    frame_cache.clear()
    return out


def _publication(store_path, name: str, tables) -> dict[str, list[tuple]]:
    from atlas.analyses import rates_table
    from atlas.publication import publish
    from store import Store

    start = first_month_index([MONTHS[0]], "month")[0]
    out = {}
    for mode, store in (("exact", Store(store_path)), ("perturbed", Store(store_path).for_publication())):
        rows = []
        for level, grain, category in tables:
            table = publish(rates_table(store, name, level, grain, area_filter=DARLINGTON, category=category), "rates")
            first = first_month_index(table["period"].astype(str).tolist(), grain)
            table = table[(first >= start) & (first + months_per_period(grain) <= start + len(MONTHS))]
            for code, period, count in zip(table["area_code"], table["period"], table["count"]):
                value = pd.to_numeric(pd.Series([count]), errors="coerce").iloc[0]
                kind = "shown" if pd.notna(value) else "hidden" if str(count).startswith("<") else "complement"
                rows.append((level, grain, category, str(code), str(period), kind, None if pd.isna(value) else int(value)))
            # The whole-area rate with the shown populations gives the table's total of each period.
            for period, part in table.groupby("period"):
                rate = part["whole_area_rate"].iloc[0]
                if pd.notna(rate):
                    total = int(round(rate * part["population"].sum() / 1000))
                    rows.append(("total", grain, category, DARLINGTON, str(period), "shown", total))
        out[mode] = rows
    return out


def _finest(rows, boundary_set: str) -> np.ndarray:
    """Each published row as a 0/1 vector over LSOA x month x {CATEGORY, the other categories}."""
    from boundaries.hierarchy import parent_map
    from boundaries.load import load_area_table

    lsoas = load_area_table("lsoa", boundary_set, lad_codes=[DARLINGTON])["code"].astype(str).tolist()
    ward_of = parent_map("lsoa", "ward", boundary_set).reindex(lsoas).astype(str).to_numpy()
    start = first_month_index([MONTHS[0]], "month")[0]
    vectors = []
    for level, grain, category, code, period, _, _ in rows:
        area = (np.array([c == code for c in lsoas]) if level == "lsoa" else ward_of == code if level == "ward"
                else np.ones(len(lsoas), dtype=bool))
        m0 = first_month_index([period], grain)[0] - start
        month = np.zeros(len(MONTHS), dtype=bool)
        month[m0:m0 + months_per_period(grain)] = True
        part = np.array([True, category is None])
        vectors.append((area[:, None, None] & month[None, :, None] & part[None, None, :]).ravel())
    return np.array(vectors, dtype=float)


def _reader_bounds(rows, perturbed: bool) -> np.ndarray:
    """[low, high] of each row's true count as a reader of the publication knows it."""
    def bounds(kind, value):
        if kind != "shown":
            return (PERTURBED_HIDDEN if perturbed else HIDDEN) if kind == "hidden" else COMPLEMENT
        return possible_true_counts(value) if perturbed else (value, value)
    return np.array([bounds(kind, value) for *_, kind, value in rows], dtype=float)


def _attack(rows, boundary_set: str, perturbed: bool, stop_after: int | None = None) -> tuple[int, int]:
    matrix = _finest(rows, boundary_set)
    shown = np.array([kind == "shown" for *_, kind, _ in rows])
    found = pinned_counts(matrix, shown, _reader_bounds(rows, perturbed), stop_after)
    return int(sum(v is not None for v in found)), int((~shown).sum())


def test_with_exact_counts_the_attack_recovers_hidden_counts(published, demo_dataset):
    """Before: suppression protects each table, but across the tables of one publication it does not (the whole
    attack recovers 345 of 2,229; it stops here at 50, to keep the suite fast)."""
    found, hidden = _attack(published["exact"], demo_dataset[1], perturbed=False, stop_after=50)
    assert hidden > 500 and found == 50, (found, hidden)


def test_with_perturbed_counts_the_attack_recovers_no_hidden_count(published, demo_dataset):
    """After (publication mode): no hidden count is recovered from the tables together."""
    found, hidden = _attack(published["perturbed"], demo_dataset[1], perturbed=True)
    assert hidden > 500, hidden
    assert found == 0, f"{found} of {hidden} hidden published counts are recovered"


def test_a_hand_made_set_whose_quarter_gives_its_months_away_keeps_them_when_perturbed(tmp_path):
    """Hand-made: one Darlington LSOA has 4, 4 and 4 in April-June 2024 (a quarter of 12 over three hidden months:
    exactly, each must be 4), a second 9 and a third 3 in April. Published at LSOA and ward level by month and
    quarter. With exact counts the attack finds the three 4s; with perturbed counts (a hidden count may be 0-6)
    it finds nothing."""
    from atlas.analyses import frame_cache
    from atlas.importing import import_file
    from boundaries.load import load_areas
    from boundaries.registry import DEFAULT_SET
    from store import Store

    codes = load_areas("lsoa", DEFAULT_SET, lad_codes=[DARLINGTON])["code"].astype(str).tolist()
    rows = [(codes[0], "2024-04", 4), (codes[0], "2024-05", 4), (codes[0], "2024-06", 4), (codes[1], "2024-04", 9),
            (codes[2], "2024-04", 3), (codes[3], "2025-03", 1)]  # (March 2025: the year is whole)
    pd.DataFrame(rows, columns=["area_code", "period", "count"]).assign(category="Domestic abuse").to_csv(
        tmp_path / "hand.csv", index=False)
    store = Store(tmp_path / "hand.duckdb")
    import_file(store, tmp_path / "hand.csv", "Hand", boundary_set=DEFAULT_SET, rejected_out=tmp_path / "rej.csv")
    tables = [(level, grain, None) for level in ("lsoa", "ward") for grain in ("month", "fyquarter")]
    rows = _publication(tmp_path / "hand.duckdb", "Hand", tables)
    frame_cache.clear()
    matrix = _finest(rows["exact"], DEFAULT_SET)
    shown = np.array([kind == "shown" for *_, kind, _ in rows["exact"]])
    found = pinned_counts(matrix, shown, _reader_bounds(rows["exact"], perturbed=False))
    hidden = [r for r, s in zip(rows["exact"], shown) if not s]
    recovered = {(r[0], r[3], r[4]): v for r, v in zip(hidden, found) if v is not None}
    for month in ("2024-04", "2024-05", "2024-06"):
        assert recovered[("lsoa", codes[0], month)] == 4
    assert _attack(rows["perturbed"], DEFAULT_SET, perturbed=True)[0] == 0
