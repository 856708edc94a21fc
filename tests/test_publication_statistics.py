"""Publication mode: whole-period statistics (Gi*, local Moran, EB rates) must not give a hidden count back.

Gi* is the share of the period's total in an area's neighbourhood (itself included): with the shown
counts and the queen weights (public: they follow from the boundaries), every shown Gi* value is a
linear equation in the hidden counts and the period total, and a few of them solve it. The attack
below does exactly that on the old rules (counts suppressed, statistics shown) and must recover a
hidden count; under the current rules (statistics blanked in periods with a hidden count) it has
nothing to work with. Bins stay: they only say on which side of a threshold a z-score falls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from atlas.publication import PERIOD_STATISTICS, blank_period_statistics, publish

DARLINGTON = "E06000005"


@pytest.fixture(scope="module")
def hotspots(demo_store, demo_dataset):
    from analysis.hotspots import HotspotParams
    from atlas import analyses
    from store import Store

    store = Store(demo_store)
    table = analyses.hotspots_table(store, demo_dataset[0], "ward", "quarter", area_filter=DARLINGTON,
                                    params=HotspotParams(permutations=99, seed=1))
    sw, _ = analyses.area_weights(demo_dataset[1], "ward", (DARLINGTON,))
    return table, sw


def gi_star_attack(published: pd.DataFrame, sw) -> tuple[int, int]:
    """(hidden counts recovered exactly, hidden counts) from shown counts + shown Gi* values, per period.

    Unknowns per period: the hidden counts and the period total T. Each area i with a shown Gi* gives
    gi_star_i * T - mean over i's neighbourhood of the hidden x_j = that of the shown x_j.
    Least squares, then a hidden count is recovered when the system pins it (full column rank) and
    the solution rounds to the true value.
    """
    w = neighbourhood(sw)
    pos = sw.index.get_indexer(published["area_code"])
    recovered = hidden_total = 0
    for _, rows in published.groupby("period").groups.items():
        t = published.loc[rows]
        idx = pos[published.index.get_indexer(rows)]
        text = t["count"].astype("string")
        hidden = (text.str.startswith("<") | (text == "*")).to_numpy()
        hidden_total += int(hidden.sum())
        g = pd.to_numeric(t["gi_star"], errors="coerce").to_numpy()
        if not hidden.any() or np.isnan(g).all():
            continue
        x_shown = np.zeros(sw.n)
        x_shown[idx[~hidden]] = pd.to_numeric(text[~hidden]).to_numpy()
        h_areas = idx[hidden]
        eq = np.flatnonzero(~np.isnan(g))
        a = np.zeros((len(eq), len(h_areas) + 1))
        b = np.zeros(len(eq))
        dense = w.toarray()
        for k, r in enumerate(eq):
            i = idx[r]
            a[k, 0] = g[r]
            a[k, 1:] = -dense[i, h_areas]
            b[k] = dense[i] @ x_shown
        if np.linalg.matrix_rank(a) < a.shape[1]:
            continue
        sol, *_ = np.linalg.lstsq(a, b, rcond=None)
        truth = t["true_count"].to_numpy()[hidden]
        recovered += int((np.abs(sol[1:] - truth) < 0.5).sum())
    return recovered, hidden_total


def neighbourhood(sw):
    """Gi*'s weights: the area and its queen neighbours, each row averaged (as analysis.hotspots shows it)."""
    from scipy import sparse

    w = (sw.binary + sparse.identity(sw.n, format="csr")).tocsr()
    return sparse.diags(1.0 / np.asarray(w.sum(axis=1)).ravel()) @ w


def test_gi_star_equation_holds_on_the_raw_table(hotspots):
    """The attacker's model is right: Gi* * total == neighbourhood mean (itself included), every area."""
    table, sw = hotspots
    w = neighbourhood(sw)
    for _, t in table.groupby("period"):
        x = np.zeros(sw.n)
        x[sw.index.get_indexer(t["area_code"])] = t["count"].to_numpy(dtype=float)
        g = t["gi_star"].to_numpy(dtype=float)
        lag = (w @ x)[sw.index.get_indexer(t["area_code"])]
        np.testing.assert_allclose(g * x.sum(), lag, rtol=1e-9, atol=1e-9)


def test_shown_gi_star_gives_hidden_counts_back_under_the_old_rules_and_not_now(hotspots):
    table, sw = hotspots
    now = publish(table, "hotspots")
    old = now.copy()
    stats = [c for c in PERIOD_STATISTICS if c in table.columns]
    old[stats] = table[stats]  # the rules before: counts suppressed, statistics shown
    old["true_count"] = now["true_count"] = table["count"]
    rec_old, hidden = gi_star_attack(old, sw)
    rec_now, _ = gi_star_attack(now, sw)
    print(f"\nGi* attack, Darlington wards x quarters: {hidden} hidden counts; recovered {rec_old} under the old "
          f"rules, {rec_now} now")
    assert hidden > 0
    assert rec_old > 0  # the attack works
    assert rec_now == 0


def test_statistics_blanked_only_in_periods_with_a_hidden_count_and_bins_kept(hotspots):
    table, _ = hotspots
    out = publish(table, "hotspots")
    hidden_period = out.groupby("period")["suppressed"].transform("any").to_numpy()
    assert hidden_period.any() and (~hidden_period).any()
    assert out.loc[hidden_period, ["gi_star", "gi_z", "gi_p", "gi_p_sim"]].isna().all().all()
    pd.testing.assert_series_equal(out.loc[~hidden_period, "gi_z"], table.loc[~hidden_period, "gi_z"])
    pd.testing.assert_series_equal(out["gi_bin"], table["gi_bin"])
    assert "z-scores, p-values and smoothed rates blanked" in out.attrs["publication_note"]


def test_emerging_z_scores_blanked_in_the_whole_table_when_any_count_is_hidden():
    table = pd.DataFrame({"area_code": ["a", "b", "c"], "count": [2, 10, 12], "total_count": [40, 50, 60],
                          "final_z": [1.0, 2.0, -1.0], "final_p": [0.3, 0.04, 0.3],
                          "ehsa_category": ["new hot spot", "no pattern", "no pattern"]})
    out = publish(table, "emerging")
    assert out["final_z"].isna().all() and out["final_p"].isna().all()
    assert out["ehsa_category"].tolist() == table["ehsa_category"].tolist()
    shown = publish(table.assign(count=[6, 10, 12]), "emerging")
    assert shown["final_z"].tolist() == [1.0, 2.0, -1.0]


def test_blank_period_statistics_counts_rows_and_leaves_other_columns():
    t = pd.DataFrame({"period": ["p1", "p1", "p2"], "suppressed": [True, False, False], "gi_z": [1.0, 2.0, 3.0],
                      "eb_rate_per_1000": [5.0, 6.0, 7.0], "other": [1, 2, 3]})
    assert blank_period_statistics(t) == 2
    assert t["gi_z"].isna().tolist() == [True, True, False]
    assert t["eb_rate_per_1000"].isna().tolist() == [True, True, False]
    assert t["other"].tolist() == [1, 2, 3]


def test_map_class_breaks_in_publication_mode_come_from_shown_values_only(demo_store, demo_dataset):
    """Quantile breaks land on data values (many tie); raw, some are hidden LSOAs' rates (count = rate x pop)."""
    from atlas.exports import build_map, map_values
    from store import Store

    store = Store(demo_store)
    values = map_values(store, demo_dataset[0], "lsoa", "month", "rate", period="2024-03", area_filter=DARLINGTON)
    small = values["count"].between(1, 4)
    hidden_rates = set(values.loc[small, "value"].round(9))
    assert small.any()
    for publication, expect_hidden_break in ((False, True), (True, False)):
        m = build_map(store, demo_dataset[0], level="lsoa", measure="rate", period="2024-03", grain="month",
                      area_filter=DARLINGTON, publication=publication)
        tops = {round(b, 9) for b in m.classes.bins}
        m.close()
        assert bool(tops & hidden_rates) == expect_hidden_break
