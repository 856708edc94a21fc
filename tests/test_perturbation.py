"""Cell-key perturbation (analysis.perturbation) and publication mode's perturbed frames (atlas.analyses)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.perturbation import KEY_MOD, PERTURBATION_TABLE, cell_keys, perturb, possible_true_counts, record_keys

DARLINGTON = "E06000005"


def test_every_row_of_the_table_has_mean_zero_and_moves_at_most_two():
    for start, changes, probs in PERTURBATION_TABLE:
        assert sum(probs) == pytest.approx(1.0)
        assert sum(c * p for c, p in zip(changes, probs)) == pytest.approx(0.0), start
        assert max(abs(c) for c in changes) <= 2


def test_the_table_read_at_every_key_keeps_small_counts_small_and_zeros_zero():
    t = np.repeat(np.arange(0, 60), 4000)
    keys = np.tile(np.linspace(0, KEY_MOD - 1, 4000).astype(np.int64), 60)
    p = perturb(t, keys)
    assert (p[t == 0] == 0).all() and (p[t == 1] == 1).all() and (p[t == 4] == 4).all()
    assert (p[t < 5] < 5).all() and (p[t < 5] >= 1).sum() == (t[t < 5] >= 1).sum()  # no false zero
    assert (np.abs(p - t) <= 2).all() and (p[t >= 5] >= 3).all()
    assert set(np.unique(p[t == 20] - 20)) == {-2, -1, 0, 1, 2}
    # the frequencies are the table's: at evenly spread keys, 50% unchanged, 5% at +2
    assert (p[t == 20] == 20).mean() == pytest.approx(0.5, abs=0.002)
    assert (p[t == 20] == 22).mean() == pytest.approx(0.05, abs=0.002)
    # so "<5" means 0-6: a 5 or 6 can be published as 3 or 4, a 7 never is
    assert (p[t == 5] < 5).any() and (p[t == 6] < 5).any() and not (p[t == 7] < 5).any()


def test_what_a_reader_knows_of_a_published_count():
    assert possible_true_counts(0) == (0, 0)
    assert possible_true_counts(5) == (5, 7)  # 3 and 4 stay below 5
    assert possible_true_counts(10) == (8, 12)
    assert possible_true_counts(0, below=5) == (0, 6)


def test_record_keys_depend_on_the_secret_and_the_row_and_are_zero_for_a_zero_count():
    labels = [["E01", "E02"], ["lsoa"], ["2024-04"], ["month"], ["A"]]
    codes = [np.array([0, 1, 0]), np.zeros(3, int), np.zeros(3, int), np.zeros(3, int), np.zeros(3, int)]
    a = record_keys(b"one", labels, codes, np.array([3, 3, 0]))
    assert a[2] == 0 and a[0] != a[1] and (0 < a[:2]).all() and (a[:2] < KEY_MOD).all()
    assert (record_keys(b"one", labels, codes, np.array([3, 3, 0])) == a).all()
    assert (record_keys(b"two", labels, codes, np.array([3, 3, 0]))[:2] != a[:2]).all()
    assert record_keys(b"one", labels, codes, np.array([4, 3, 0]))[0] != a[0]  # the count is part of the row
    assert cell_keys(np.array([KEY_MOD + 5, -1])).tolist() == [5, KEY_MOD - 1]


@pytest.fixture
def stores(demo_store):
    from atlas.analyses import frame_cache
    from store import Store

    frame_cache.clear()
    yield Store(demo_store), Store(demo_store).for_publication()
    frame_cache.clear()


def test_the_same_rows_give_the_same_published_count_at_every_level(stores, demo_dataset):
    """Darlington's count per year in the authority table equals the LSOA table's whole-area count: both are the
    same stored rows, so the same key and the same change (differencing the two gives nothing)."""
    from atlas.analyses import rates_table, whole_area_table

    exact, published = stores
    name = demo_dataset[0]
    lad = rates_table(published, name, "lad", "fy", area_filter=DARLINGTON).set_index("period")["count"]
    whole = whole_area_table(published, name, "lsoa", "fy", area_filter=DARLINGTON).set_index("period")["count"]
    true = rates_table(exact, name, "lad", "fy", area_filter=DARLINGTON).set_index("period")["count"]
    assert lad.to_dict() == whole.to_dict()
    assert (lad != true).any() and (lad - true).abs().max() <= 2


def test_publication_tables_compute_from_published_counts_and_totals_are_counts_of_their_own(stores, demo_dataset):
    from atlas.analyses import emerging_table, load_frame, rates_table

    exact, published = stores
    name = demo_dataset[0]
    rates = rates_table(published, name, "ward", "fy")
    np.testing.assert_allclose(rates["rate_per_1000"], rates["count"] / rates["population"] * 1000)
    f, g = load_frame(published, name, "ward", "fy"), load_frame(exact, name, "ward", "fy")
    assert f.perturbed and not g.perturbed and f is load_frame(published, name, "ward", "fy")
    assert (f.exact_cube == g.cube).all() and (np.abs(f.cube - g.cube) <= 2).all()
    # the whole-area total is perturbed as one count, not summed from the perturbed areas
    totals = f.area_totals()
    assert (np.abs(totals - g.cube.sum(axis=0)) <= 2).all() and (totals != f.cube.sum(axis=0)).any()
    emerging = emerging_table(published, name, "ward", "fy").set_index("area_code")
    true_total = pd.Series(g.cube.sum(axis=1), index=g.codes)
    assert ((emerging["total_count"] - true_total.reindex(emerging.index)).abs() <= 2).all()
    assert "perturbed" in " ".join(rates.attrs["notes"])


def test_the_counts_command_and_the_rates_command_publish_the_same_count(stores, demo_dataset, tmp_path,
                                                                          monkeypatch):
    from atlas.cli import main

    monkeypatch.setenv("ATLAS_STORE", str(stores[0].path))
    name, category = demo_dataset[0], "Stalking and harassment"
    args = ["--dataset", name, "--level", "ward", "--grain", "fy", "--category", category, "--publication"]
    assert main(["counts", *args, "--out", str(tmp_path / "c.csv")]) == 0
    assert main(["rates", *args, "--out", str(tmp_path / "r.csv")]) == 0
    counts = pd.read_csv(tmp_path / "c.csv", dtype={"count": str}).set_index(["area_code", "period"])["count"]
    rates = pd.read_csv(tmp_path / "r.csv", dtype={"count": str}).set_index(["area_code", "period"])["count"]
    both = counts.index.intersection(rates.index)
    both = both[(rates[both] != "*").to_numpy()]  # the rates table also hides complements (it shows totals)
    assert len(both) > 100, len(both)
    diff = counts[both] != rates[both]
    assert not diff.any(), pd.DataFrame({"counts": counts[both][diff], "rates": rates[both][diff]}).head()
    assert (counts == "<5").any() and pd.to_numeric(counts, errors="coerce").ge(5).any()


def test_two_stores_holding_the_same_import_publish_the_same_counts(tmp_path):
    """The secret is the dataset's name and its first file's sha256, not the machine: two analysts publishing
    the same table get the same numbers (two perturbations of one table could be averaged)."""
    from atlas.analyses import frame_cache, rates_table
    from atlas.importing import import_file
    from boundaries.load import load_areas
    from boundaries.registry import DEFAULT_SET
    from store import Store

    codes = load_areas("lsoa", DEFAULT_SET, lad_codes=[DARLINGTON])["code"].astype(str).tolist()
    rng = np.random.default_rng(4)
    pd.DataFrame({"area_code": codes, "period": "2024-04", "category": "Domestic abuse",
                  "count": rng.integers(0, 30, len(codes))}).to_csv(tmp_path / "c.csv", index=False)
    published = []
    for name in ("a", "b"):
        store = Store(tmp_path / f"{name}.duckdb")
        import_file(store, tmp_path / "c.csv", "Same", boundary_set=DEFAULT_SET, rejected_out=tmp_path / "rej.csv")
        published.append(rates_table(store.for_publication(), "Same", "lsoa", "month")["count"].to_numpy())
        frame_cache.clear()
    exact = rates_table(Store(tmp_path / "a.duckdb"), "Same", "lsoa", "month")["count"].to_numpy()
    assert (published[0] == published[1]).all() and (published[0] != exact).any()


def test_a_rolling_year_and_the_financial_year_it_covers_publish_the_same_count(stores, demo_dataset):
    """The rolling 12 months ending March 2025 are the rows of financial year 2024/25: one key, one published
    count, so the rolling table adds nothing a reader can subtract (each window is a count of its own)."""
    from atlas.analyses import rates_table
    from atlas.area_statistics import rolling_rates_table

    exact, published = stores
    name = demo_dataset[0]
    rolling = rolling_rates_table(published, name, "ward", area_filter=DARLINGTON)
    rolling = rolling[rolling["period"] == "2025-03"].set_index("area_code")["count"]
    year = rates_table(published, name, "ward", "fy", area_filter=DARLINGTON)
    year = year[year["period"] == "2024/25"].set_index("area_code")["count"]
    true = rates_table(exact, name, "ward", "fy", area_filter=DARLINGTON)
    true = true[true["period"] == "2024/25"].set_index("area_code")["count"]
    assert len(year) > 10 and rolling.reindex(year.index).tolist() == year.tolist()
    assert (year != true).any()
